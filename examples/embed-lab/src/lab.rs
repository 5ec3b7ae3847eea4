//! The `Lab` kind and its controller: a profile per seat, `<lab>-seat-<n>`, owned by the Lab;
//! at `expiresAt` the seats are deleted (each VM cleans up under vm-operator's finalizer) and
//! the Lab says Expired.

use std::{future::Future, sync::Arc, time::Duration};

use futures::StreamExt;
use k8s_openapi::{
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time},
    jiff::Timestamp,
};
use kube::{
    Api, Client, CustomResource, Resource, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams},
    runtime::{Controller, controller::Action, watcher},
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use vmop_plugin::vmop_api::{VirtualMachineProfile, VirtualMachineProfileSpec};

/// Label on a seat's profile naming its Lab.
pub const SEAT_LABEL: &str = "training.example.com/lab";
const MANAGER: &str = "lab-controller";

/// A training session: `seats` VMs from `template`, until `expiresAt`.
#[derive(CustomResource, JsonSchema, Serialize, Deserialize, Clone, Debug)]
#[kube(
    group = "training.example.com",
    version = "v1",
    kind = "Lab",
    namespaced,
    status = "LabStatus"
)]
#[serde(rename_all = "camelCase")]
pub struct LabSpec {
    /// One VM per seat.
    pub seats: u16,
    /// When the seats' VMs are torn down.
    pub expires_at: Time,
    /// The VirtualMachineProfile spec of every seat.
    pub template: VirtualMachineProfileSpec,
}

/// What the Lab has.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LabStatus {
    /// `Running` while the session lasts, `Expired` after.
    pub phase: String,
    /// Seats whose VM runs.
    pub ready_seats: u16,
}

fn seat_name(lab: &str, seat: u16) -> String {
    format!("{lab}-seat-{seat}")
}

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error(transparent)]
    Kube(#[from] kube::Error),
}

/// Reconciles one Lab.
pub async fn reconcile_lab(lab: Arc<Lab>, client: Arc<Client>) -> Result<Action, LabError> {
    let namespace = lab.namespace().unwrap_or_default();
    let name = lab.name_any();
    let profiles: Api<VirtualMachineProfile> = Api::namespaced((*client).clone(), &namespace);
    let labs: Api<Lab> = Api::namespaced((*client).clone(), &namespace);
    let seats = ListParams::default().labels(&format!("{SEAT_LABEL}={name}"));
    let now = Timestamp::now();
    let expired = lab.spec.expires_at.0 <= now;
    let mut ready_seats = 0u16;
    if expired {
        for seat in profiles.list(&seats).await? {
            if seat.metadata.deletion_timestamp.is_none() {
                profiles
                    .delete(&seat.name_any(), &DeleteParams::default())
                    .await?;
            }
        }
    } else {
        let owner = lab.controller_owner_ref(&());
        for seat in 0..lab.spec.seats {
            let profile = VirtualMachineProfile {
                metadata: ObjectMeta {
                    name: Some(seat_name(&name, seat)),
                    namespace: Some(namespace.clone()),
                    labels: Some([(SEAT_LABEL.to_owned(), name.clone())].into()),
                    owner_references: owner.clone().map(|o| vec![o]),
                    ..ObjectMeta::default()
                },
                spec: lab.spec.template.clone(),
                status: None,
            };
            let mut body = serde_json::to_value(&profile).unwrap_or_default();
            body["apiVersion"] = json!("vmoperator.io/v1alpha1");
            body["kind"] = json!("VirtualMachineProfile");
            if let Some(map) = body.as_object_mut() {
                map.remove("status");
            }
            let applied = profiles
                .patch(
                    &seat_name(&name, seat),
                    &PatchParams::apply(MANAGER).force(),
                    &Patch::Apply(&body),
                )
                .await?;
            let running = applied
                .status
                .and_then(|s| s.phase)
                .is_some_and(|p| format!("{p:?}") == "Running");
            ready_seats += u16::from(running);
        }
    }
    let status = LabStatus {
        phase: if expired { "Expired" } else { "Running" }.into(),
        ready_seats,
    };
    if lab.status.as_ref() != Some(&status) {
        labs.patch_status(
            &name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(json!({
                "apiVersion": "training.example.com/v1",
                "kind": "Lab",
                "status": status,
            })),
        )
        .await?;
    }
    Ok(if expired {
        Action::await_change()
    } else {
        // Look again at expiry (or sooner, to count ready seats).
        let until_expiry = lab.spec.expires_at.0.duration_since(now);
        let seconds = until_expiry.as_secs().max(1);
        Action::requeue(Duration::from_secs(seconds.unsigned_abs().min(2)))
    })
}

fn lab_error(_lab: Arc<Lab>, error: &LabError, _client: Arc<Client>) -> Action {
    tracing::warn!(%error, "lab reconcile failed");
    Action::requeue(Duration::from_secs(2))
}

/// The Lab controller; ends with `shutdown`.
pub fn lab_controller(
    client: Client,
    namespace: Option<String>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> impl Future<Output = ()> + Send {
    let (labs, seats) = match namespace.as_deref() {
        Some(ns) => (
            Api::<Lab>::namespaced(client.clone(), ns),
            Api::<VirtualMachineProfile>::namespaced(client.clone(), ns),
        ),
        None => (Api::all(client.clone()), Api::all(client.clone())),
    };
    Controller::new(labs, watcher::Config::default())
        .owns(seats, watcher::Config::default().labels(SEAT_LABEL))
        .graceful_shutdown_on(shutdown)
        .run(reconcile_lab, lab_error, Arc::new(client))
        .for_each(|_| futures::future::ready(()))
}
