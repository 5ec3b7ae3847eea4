//! Offline rendering: the objects the controller would create for a profile or a pool, in the
//! order it applies them, with no cluster. It runs the reconcile's own pure steps (the plan,
//! the labels the managers set, the isolation builder, the template), so what it prints is
//! what a pass would apply, less what only a cluster knows: owner references (the profile's
//! UID), the applied-content hash, and the user data of a `userDataSecretRef` Secret.

use std::collections::BTreeMap;

use k8s_openapi::api::{core::v1::Secret, storage::v1::StorageClass};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde_json::Value;
use vmop_api::{VirtualMachineProfile, pool::VirtualMachineProfilePool};
use vmop_plugin::{Registries, StorageClassInfo, TemplateInput, VolumeObject};

use crate::{
    converge::{network::labelled_nad, storage::stamp_disk_labels, vm::pinned_macs},
    desired::{
        admin_policy::AdminPolicy,
        classes::class_info,
        isolation,
        plan::{Planned, TemplateExtras, plan, scope_node_policies},
    },
    pools::pool_plan::plan_pool,
};

/// What backends see of each StorageClass, as the controller reads them from its cache.
pub fn class_infos(classes: &[StorageClass]) -> Vec<StorageClassInfo> {
    classes.iter().map(class_info).collect()
}

/// Why a profile renders no objects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The spec is invalid: every reason, as `path: message`.
    #[error("invalid spec:\n{}", .0.join("\n"))]
    Invalid(Vec<String>),
    /// A valid spec that waits for something render was not given (a StorageClass), or that
    /// the administrator's policy does not allow.
    #[error("{reason}:\n{}", .messages.join("\n"))]
    Blocked {
        /// The condition reason the controller would show.
        reason: String,
        /// What is missing or refused, one message each.
        messages: Vec<String>,
    },
    /// The VM template refused the profile.
    #[error("the VM template refused it: {0}")]
    Template(String),
    /// An object could not be turned into JSON.
    #[error("serializing {0}: {1}")]
    Serialize(&'static str, String),
}

/// What render needs besides the profile: the plugins, the StorageClasses disks may name
/// (by name; `None` for the cluster's default), and the administrator's policy.
pub struct RenderContext<'a> {
    /// The plugin registries, as the controller has them.
    pub registries: &'a Registries,
    /// A StorageClass by name, or the default class for `None`.
    pub classes: &'a dyn Fn(Option<&str>) -> Option<StorageClassInfo>,
    /// The administrator's policy.
    pub policy: &'a AdminPolicy,
    /// The one namespace the operator watches, when it runs for one (`run --namespace`): its
    /// node policies are named for it.
    pub watch_namespace: Option<&'a str>,
}

impl std::fmt::Debug for RenderContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderContext")
            .field("policy", self.policy)
            .finish_non_exhaustive()
    }
}

fn json<K: Serialize>(what: &'static str, object: &K) -> Result<Value, RenderError> {
    serde_json::to_value(object).map_err(|e| RenderError::Serialize(what, e.to_string()))
}

/// The Secret with its values replaced by their size: user data carries keys and passwords.
fn redacted(secret: &Secret) -> Result<Value, RenderError> {
    let mut value = json("Secret", secret)?;
    let mut shown = BTreeMap::new();
    for (key, bytes) in secret.data.iter().flatten() {
        shown.insert(key.clone(), format!("<redacted: {} bytes>", bytes.0.len()));
    }
    for (key, text) in secret.string_data.iter().flatten() {
        shown.insert(key.clone(), format!("<redacted: {} bytes>", text.len()));
    }
    if let Some(object) = value.as_object_mut() {
        object.remove("data");
        object.insert("stringData".into(), json("Secret", &shown)?);
    }
    Ok(value)
}

/// The objects the controller creates for `profile`, in the order it applies them: NADs and
/// NodeNetworkConfigurationPolicies, claims and DataVolumes, the isolation policies, the
/// cloud-init Secrets (values redacted), the VirtualMachine.
pub async fn render_profile(
    profile: &VirtualMachineProfile,
    context: &RenderContext<'_>,
) -> Result<Vec<Value>, RenderError> {
    let extras = TemplateExtras {
        macs: pinned_macs(profile, None),
        user_data: None,
    };
    let planned = plan(
        profile,
        context.registries,
        context.classes,
        extras,
        context.policy,
    )
    .await;
    let mut plan = match planned {
        Planned::Ready(plan) => plan,
        Planned::Invalid(errors) => return Err(RenderError::Invalid(errors)),
        Planned::Blocked { reason, messages } => {
            return Err(RenderError::Blocked { reason, messages });
        }
    };
    scope_node_policies(&mut plan, context.watch_namespace);
    let mut objects = Vec::new();
    let mut policies_seen = std::collections::BTreeSet::new();
    for network in &plan.networks {
        if let Some(nad) = &network.desired.nad {
            objects.push(json(
                "NetworkAttachmentDefinition",
                &labelled_nad(profile, nad),
            )?);
        }
        for policy in &network.desired.policies {
            if policies_seen.insert(policy.name_any()) {
                objects.push(json("NodeNetworkConfigurationPolicy", policy)?);
            }
        }
    }
    for disk in &plan.disks {
        let mut object = disk.desired.object.clone();
        let meta = match &mut object {
            VolumeObject::Claim(claim) => claim.meta_mut(),
            VolumeObject::DataVolume(dv) => dv.meta_mut(),
        };
        stamp_disk_labels(meta, profile, &disk.config.disk);
        objects.push(match &object {
            VolumeObject::Claim(claim) => json("PersistentVolumeClaim", claim)?,
            VolumeObject::DataVolume(dv) => json("DataVolume", dv)?,
        });
    }
    let attachments: Vec<_> = plan
        .networks
        .iter()
        .map(|n| n.desired.attachment.clone())
        .collect();
    let namespace = profile.namespace().unwrap_or_default();
    let default_egress = context.policy.default_egress(&namespace);
    if let Some(policies) = isolation::build(profile, &attachments, default_egress.as_ref()) {
        objects.push(json("NetworkPolicy", &policies.pod_network)?);
        if let Some(multi) = &policies.secondary {
            objects.push(json("MultiNetworkPolicy", multi)?);
        }
    }
    let input = TemplateInput {
        profile: profile.clone(),
        networks: attachments,
        volumes: plan
            .disks
            .iter()
            .map(|d| d.desired.attachment.clone())
            .collect(),
        macs: pinned_macs(profile, None),
        user_data: None,
    };
    plan.template
        .validate(&input)
        .map_err(|e| RenderError::Template(e.to_string()))?;
    let desired = plan
        .template
        .build(&input)
        .await
        .map_err(|e| RenderError::Template(e.to_string()))?;
    for secret in &desired.secrets {
        objects.push(redacted(secret)?);
    }
    objects.push(json("VirtualMachine", &desired.vm)?);
    Ok(objects)
}

/// The member profiles a pool creates (as the pool controller would, on a cluster with none
/// of them yet), each followed by its own objects.
pub async fn render_pool(
    pool: &VirtualMachineProfilePool,
    context: &RenderContext<'_>,
) -> Result<Vec<Value>, RenderError> {
    let mut pool = pool.clone();
    // The members' owner reference needs a UID; render's is a placeholder, and owner
    // references are left out of what it prints.
    pool.metadata
        .uid
        .get_or_insert_with(|| "00000000-0000-0000-0000-000000000000".into());
    let planned = plan_pool(&pool, &BTreeMap::new());
    if !planned.problems.is_empty() {
        return Err(RenderError::Invalid(
            planned.problems.into_iter().map(|(_, m)| m).collect(),
        ));
    }
    let mut objects = Vec::new();
    for mut member in planned.desired {
        member.metadata.owner_references = None;
        let mut value = json("VirtualMachineProfile", &member)?;
        if let Some(object) = value.as_object_mut() {
            object.remove("status");
        }
        objects.push(value);
        objects.extend(render_profile(&member, context).await?);
    }
    Ok(objects)
}
