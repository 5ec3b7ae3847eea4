//! NetworkManager: applies what network plugins want — NADs owned by the profile, shared
//! cluster-scoped NMState policies reference-counted by a label per user — and reads each
//! network's readiness from the caches.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, Patch, PatchParams, Preconditions},
    runtime::reflector::ObjectRef,
};
use serde_json::json;
use vmop_api::{
    VirtualMachineProfile,
    external::{
        multus::NetworkAttachmentDefinition,
        nmstate::{ENACTMENT_POLICY_LABEL, NodeNetworkConfigurationPolicy},
    },
};
use vmop_plugin::{
    NetworkAttachment, ObservedNetwork, ObservedPolicy, Readiness, names::fnv1a,
    objects::MANAGED_POLICY_LABEL,
};

use crate::{
    apply::{ensure, kind_of},
    context::Context,
    error::Result,
    plan::PlannedNetwork,
};

/// Prefix of the label that marks a profile as a user of a shared policy.
pub const POLICY_USER_LABEL_PREFIX: &str = "vmoperator.io/user-";

/// The label a profile puts on every shared policy it uses.
pub fn policy_user_label(profile: &VirtualMachineProfile) -> String {
    let key = format!(
        "{}/{}",
        profile.namespace().unwrap_or_default(),
        profile.name_any()
    );
    format!("{POLICY_USER_LABEL_PREFIX}{:016x}", fnv1a(key.as_bytes()))
}

/// One network after the manager's pass.
#[derive(Debug, Clone)]
pub struct NetworkOutcome {
    pub name: String,
    pub plugin: String,
    pub attachment: NetworkAttachment,
    pub policies: Vec<String>,
    pub readiness: Readiness,
}

/// Applies every network's objects and reports readiness, in spec order.
pub async fn reconcile_networks(
    ctx: &Context,
    profile: &VirtualMachineProfile,
    owner: Option<OwnerReference>,
    planned: &[PlannedNetwork],
) -> Result<Vec<NetworkOutcome>> {
    let namespace = profile.namespace().unwrap_or_default();
    let nads: Api<NetworkAttachmentDefinition> = Api::namespaced(ctx.client.clone(), &namespace);
    let mut outcomes = Vec::with_capacity(planned.len());
    for network in planned {
        if let Some(nad) = &network.desired.nad {
            let cached = ctx
                .stores
                .nads
                .get(&ObjectRef::new(&nad.name_any()).within(&namespace));
            // The profile label is the managers' to set: the watches select on it, whatever
            // the plugin remembered.
            let mut nad = nad.clone();
            nad.labels_mut()
                .insert(vmop_api::PROFILE_LABEL.into(), profile.name_any());
            ensure(
                ctx,
                &nads,
                nad,
                owner.clone(),
                cached.as_ref().map(|m| &m.metadata),
                None,
                None,
            )
            .await?;
        }
        for policy in &network.desired.policies {
            ensure_shared_policy(ctx, profile, policy).await?;
        }
        let observed = observe(
            ctx,
            &network.desired.attachment.nad,
            &network.desired.policies,
        );
        outcomes.push(NetworkOutcome {
            name: network.config.network.name.clone(),
            plugin: network.plugin_name.clone(),
            attachment: network.desired.attachment.clone(),
            policies: network
                .desired
                .policies
                .iter()
                .map(ResourceExt::name_any)
                .collect(),
            readiness: network.plugin.readiness(&network.desired, &observed),
        });
    }
    Ok(outcomes)
}

/// What exists for a network, from the caches.
fn observe(
    ctx: &Context,
    nad: &str,
    policies: &[NodeNetworkConfigurationPolicy],
) -> ObservedNetwork {
    let (namespace, name) = nad.split_once('/').unwrap_or(("", nad));
    let nad = ctx
        .stores
        .nads
        .get(&ObjectRef::new(name).within(namespace))
        .map(|meta| NetworkAttachmentDefinition {
            metadata: meta.metadata.clone(),
            spec: Default::default(),
        });
    let policies = policies
        .iter()
        .map(|desired| {
            let name = desired.name_any();
            ObservedPolicy {
                policy: ctx
                    .stores
                    .policies
                    .get(&ObjectRef::new(&name))
                    .map(|p| (*p).clone()),
                enactments: ctx
                    .stores
                    .enactments
                    .state()
                    .iter()
                    .filter(|e| e.labels().get(ENACTMENT_POLICY_LABEL) == Some(&name))
                    .map(|e| (**e).clone())
                    .collect(),
                name,
            }
        })
        .collect();
    ObservedNetwork { nad, policies }
}

/// Applies a shared policy and marks this profile as one of its users.
async fn ensure_shared_policy(
    ctx: &Context,
    profile: &VirtualMachineProfile,
    policy: &NodeNetworkConfigurationPolicy,
) -> Result<()> {
    let api: Api<NodeNetworkConfigurationPolicy> = Api::all(ctx.client.clone());
    let name = policy.name_any();
    let cached = ctx.stores.policies.get(&ObjectRef::new(&name));
    let cached_json = cached
        .as_ref()
        .and_then(|p| serde_json::to_value(&**p).ok());
    ensure(
        ctx,
        &api,
        policy.clone(),
        None,
        cached.as_ref().map(|p| &p.metadata),
        cached_json,
        None,
    )
    .await?;
    let user = policy_user_label(profile);
    if cached
        .as_ref()
        .is_none_or(|p| !p.labels().contains_key(&user))
    {
        // A merge patch adds this user without touching the others' labels (a server-side
        // apply by the shared field manager would drop them).
        let patch = json!({"metadata": {"labels": {user: profile.name_any()}}});
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        ctx.metrics
            .wrote(kind_of::<NodeNetworkConfigurationPolicy>(), "label");
    }
    Ok(())
}

/// Gives up this profile's share of every policy it no longer needs (all of them with an
/// empty `keep`), deleting a policy nobody uses any more. Returns how many are still held.
pub async fn release_policies(
    ctx: &Context,
    profile: &VirtualMachineProfile,
    keep: &[String],
) -> Result<usize> {
    let api: Api<NodeNetworkConfigurationPolicy> = Api::all(ctx.client.clone());
    let user = policy_user_label(profile);
    let held: Vec<_> = ctx
        .stores
        .policies
        .state()
        .into_iter()
        .filter(|p| p.labels().contains_key(&user) && p.labels().contains_key(MANAGED_POLICY_LABEL))
        .collect();
    let mut remaining = 0;
    for policy in held {
        let name = policy.name_any();
        if keep.contains(&name) {
            remaining += 1;
            continue;
        }
        let others = policy
            .labels()
            .keys()
            .filter(|k| k.starts_with(POLICY_USER_LABEL_PREFIX) && **k != user)
            .count();
        if others == 0 {
            // Nobody else uses it; the precondition loses a race with a new user, who then
            // keeps the policy alive and we try again.
            let params = DeleteParams {
                preconditions: Some(Preconditions {
                    resource_version: policy.resource_version(),
                    uid: None,
                }),
                ..DeleteParams::background()
            };
            match api.delete(&name, &params).await {
                Ok(_) => ctx
                    .metrics
                    .wrote(kind_of::<NodeNetworkConfigurationPolicy>(), "delete"),
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
        } else {
            let patch = json!({"metadata": {"labels": {user.clone(): null}}});
            api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
            ctx.metrics
                .wrote(kind_of::<NodeNetworkConfigurationPolicy>(), "label");
        }
    }
    Ok(remaining)
}

/// Policies named in `outcomes`, for release of the others.
pub fn policy_names(outcomes: &[NetworkOutcome]) -> Vec<String> {
    let mut names: Vec<String> = outcomes.iter().flat_map(|o| o.policies.clone()).collect();
    names.sort();
    names.dedup();
    names
}
