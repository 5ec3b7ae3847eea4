//! CDI's DataSource controller (v1.66.0 `pkg/controller/datasource-controller.go`): a
//! DataSource is `Ready` when the claim it names exists and its DataVolume, if any, has
//! Succeeded; `status.source` then repeats the spec's source. CDI is woken by DataVolume and
//! claim events through field indexes; here a DataSource that is not Ready looks again after
//! a step, and a spec change (a cron moving it) wakes it.

use std::{sync::Arc, time::Duration};

use kube::{
    Api, Client, ResourceExt,
    api::{Patch, PatchParams},
    runtime::controller::Action,
};
use serde_json::json;

use super::{
    SimConfig, SimContext, SimError, controller, drive,
    kinds::{
        Condition,
        cdi::{DataSource, DataSourceStatus},
    },
    retry,
    upstream::{dv_phase as phase, import_cron as reasons},
};

/// How often a DataSource that is not Ready looks at its claim again.
const NOT_READY_RECHECK: Duration = Duration::from_millis(500);

/// Runs the DataSource controller.
pub async fn run(client: Client, config: Arc<SimConfig>) {
    let context = SimContext::new(&client, &config);
    let stream = controller::<DataSource>(&client).run(reconcile, retry, context);
    drive("data-source", stream).await;
}

async fn reconcile(source: Arc<DataSource>, ctx: Arc<SimContext>) -> Result<Action, SimError> {
    let namespace = source
        .namespace()
        .ok_or_else(|| SimError::Invalid("DataSource without namespace".into()))?;
    let (ready, reason, message) = match &source.spec.source.pvc {
        None if source.spec.source.data_source.is_some() => {
            // Followed by the clone itself (`data_source::resolve`); not simulated further.
            return Ok(Action::await_change());
        }
        None => (
            false,
            reasons::NO_SOURCE.to_owned(),
            "No source PVC set".to_owned(),
        ),
        Some(pvc) => {
            let claim_namespace = if pvc.namespace.is_empty() {
                namespace.clone()
            } else {
                pvc.namespace.clone()
            };
            let claim = ctx.claim(&claim_namespace, &pvc.name).await?;
            let dv = ctx.data_volume(&claim_namespace, &pvc.name).await?;
            match (dv, claim) {
                (None, None) => (
                    false,
                    reasons::NOT_FOUND.to_owned(),
                    "PVC not found".to_owned(),
                ),
                (None, Some(_)) => (true, reasons::READY.to_owned(), String::new()),
                (Some(dv), _) => {
                    let dv_phase = dv.status.and_then(|s| s.phase).unwrap_or_default();
                    if dv_phase == phase::SUCCEEDED {
                        (true, reasons::READY.to_owned(), String::new())
                    } else {
                        let message = format!("Import DataVolume phase {dv_phase}");
                        (false, dv_phase, message)
                    }
                }
            }
        }
    };
    let message = if ready {
        "DataSource is ready to be consumed".to_owned()
    } else {
        message
    };
    let status = DataSourceStatus {
        source: ready
            .then(|| serde_json::to_value(&source.spec.source).ok())
            .flatten(),
        conditions: vec![Condition {
            type_: "Ready".into(),
            status: if ready { "True" } else { "False" }.into(),
            reason: Some(reason),
            message: Some(message),
            rest: Default::default(),
        }],
        rest: Default::default(),
    };
    if source.status.as_ref() != Some(&status) {
        // No status subresource upstream: the status goes with the object.
        Api::<DataSource>::namespaced(ctx.client.clone(), &namespace)
            .patch(
                &source.name_any(),
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": status })),
            )
            .await?;
    }
    Ok(if ready {
        Action::await_change()
    } else {
        Action::requeue(NOT_READY_RECHECK)
    })
}
