//! NetworkManager: applies what network plugins want — NADs owned by the profile, shared
//! cluster-scoped NMState policies whose users are counted in memory ([`crate::claims`]),
//! nothing written onto the policy per user — and reads each network's readiness from the
//! caches.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::{Api, ResourceExt, api::DeleteParams, runtime::reflector::ObjectRef};
use vmop_api::{
    VirtualMachineProfile,
    external::{
        multus::NetworkAttachmentDefinition,
        nmstate::{ENACTMENT_POLICY_LABEL, NodeNetworkConfigurationPolicy},
    },
};
use vmop_plugin::{NetworkAttachment, ObservedNetwork, ObservedPolicy, Readiness};

use crate::{
    apply::{ensure, kind_of},
    context::Context,
    error::Result,
    plan::PlannedNetwork,
};

/// One network after the manager's pass.
#[derive(Debug, Clone)]
pub struct NetworkOutcome {
    /// The spec network's name.
    pub name: String,
    /// The plugin that served it.
    pub plugin: String,
    /// How the VM attaches to it.
    pub attachment: NetworkAttachment,
    /// Names of the shared node policies it uses.
    pub policies: Vec<String>,
    /// Ready, in progress or failed, from what exists.
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
        // A NAD that was just applied exists, whether or not its watch event has arrived: its
        // network need not wait for another reconcile (and status write) to be ready.
        let mut applied = None;
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
            let metadata = nad.metadata.clone();
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
            applied = Some(metadata);
        }
        for policy in &network.desired.policies {
            ensure_shared_policy(ctx, policy).await?;
        }
        let observed = observe(
            ctx,
            &network.desired.attachment.nad,
            applied,
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

/// What exists for a network, from the caches, and the NAD `applied` in this reconcile.
fn observe(
    ctx: &Context,
    nad: &str,
    applied: Option<ObjectMeta>,
    policies: &[NodeNetworkConfigurationPolicy],
) -> ObservedNetwork {
    let (namespace, name) = nad.split_once('/').unwrap_or(("", nad));
    let nad = ctx
        .stores
        .nads
        .get(&ObjectRef::new(name).within(namespace))
        .map(|meta| meta.metadata.clone())
        .or_else(|| {
            applied.filter(|meta| {
                meta.name.as_deref() == Some(name) && meta.namespace.as_deref() == Some(namespace)
            })
        })
        .map(|metadata| NetworkAttachmentDefinition {
            metadata,
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
                    .index
                    .enactments
                    .names(None, &name)
                    .iter()
                    .filter_map(|e| ctx.stores.enactments.get(&ObjectRef::new(e)))
                    .filter(|e| e.labels().get(ENACTMENT_POLICY_LABEL) == Some(&name))
                    .map(|e| (*e).clone())
                    .collect(),
                name,
            }
        })
        .collect();
    ObservedNetwork { nad, policies }
}

/// Applies a shared policy (its users are counted in [`crate::claims`], not on the object).
async fn ensure_shared_policy(
    ctx: &Context,
    policy: &NodeNetworkConfigurationPolicy,
) -> Result<()> {
    let api: Api<NodeNetworkConfigurationPolicy> = Api::all(ctx.client.clone());
    let cached = ctx.stores.policies.get(&ObjectRef::new(&policy.name_any()));
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
    Ok(())
}

/// Deletes the shared policies nobody uses any more. A policy someone claims again meanwhile
/// is left alone; if a delete still crosses a new user's apply, the policy's delete event
/// requeues that user, which creates it again.
pub async fn delete_unused_policies(ctx: &Context) -> Result<()> {
    let api: Api<NodeNetworkConfigurationPolicy> = Api::all(ctx.client.clone());
    for name in ctx.claims.unused() {
        if ctx.claims.in_use(&name) {
            continue;
        }
        match api.delete(&name, &DeleteParams::background()).await {
            Ok(_) => ctx
                .metrics
                .wrote(kind_of::<NodeNetworkConfigurationPolicy>(), "delete"),
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
        ctx.claims.deleted(&name);
    }
    Ok(())
}
