//! NetworkManager: applies what network plugins want — NADs owned by the profile, shared
//! cluster-scoped NMState policies whose users are counted in memory ([`crate::desired::claims`]),
//! nothing written onto the policy per user — and reads each network's readiness from the
//! caches.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, Preconditions},
    runtime::reflector::ObjectRef,
};
use vmop_api::{
    VirtualMachineProfile,
    external::{
        multus::NetworkAttachmentDefinition,
        nmstate::{ENACTMENT_POLICY_LABEL, NodeNetworkConfigurationPolicy},
    },
};
use vmop_plugin::{NetworkAttachment, ObservedNetwork, ObservedPolicy, Readiness};

use crate::{
    context::Context,
    converge::apply::{Applied, ensure, kind_of},
    desired::plan::PlannedNetwork,
    error::Result,
    report::events::child_recreated,
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

/// The NAD as it is applied: the profile label is the managers' to set (the watches select on
/// it), whatever the plugin remembered.
pub(crate) fn labelled_nad(
    profile: &VirtualMachineProfile,
    nad: &NetworkAttachmentDefinition,
) -> NetworkAttachmentDefinition {
    let mut nad = nad.clone();
    nad.labels_mut()
        .insert(vmop_api::PROFILE_LABEL.into(), profile.name_any());
    nad
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
            let nad = labelled_nad(profile, nad);
            let metadata = nad.metadata.clone();
            let name = nad.name_any();
            let done = ensure(
                ctx,
                &nads,
                nad,
                owner.clone(),
                cached.as_ref().map(|m| &m.metadata),
                None,
                None,
            )
            .await?;
            if done == Applied::Created && was_ready(profile, &network.config.network.name) {
                child_recreated(ctx, profile, "NetworkAttachmentDefinition", &name).await;
            }
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

/// Whether the profile's status says this network was ready: its NAD existed.
fn was_ready(profile: &VirtualMachineProfile, network: &str) -> bool {
    profile
        .status
        .iter()
        .flat_map(|s| &s.networks)
        .any(|n| n.name == network && n.ready)
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
                    .node_policies
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

/// Applies a shared policy (its users are counted in [`crate::desired::claims`], not on the object),
/// holding its gate so that no deletion of it runs meanwhile.
async fn ensure_shared_policy(
    ctx: &Context,
    policy: &NodeNetworkConfigurationPolicy,
) -> Result<()> {
    let api: Api<NodeNetworkConfigurationPolicy> = Api::all(ctx.client.clone());
    let name = policy.name_any();
    let mut gate = ctx.node_policy_gates.enter(&name).await;
    let cached = ctx.stores.node_policies.get(&ObjectRef::new(&name));
    let cached_uid = cached.as_ref().and_then(|p| p.metadata.uid.clone());
    gate.observed(cached_uid.as_deref());
    // A copy this operator deleted, still in a cache that has not seen the deletion, is gone.
    let cached = cached.filter(|_| !gate.deleted(cached_uid.as_deref()));
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

/// Deletes the shared policies nobody uses any more. Each is checked and deleted under its
/// gate (`node_policy_gate.rs`), with the cached copy's UID as precondition, so a profile that
/// claims it meanwhile applies it after the delete, and a copy this operator has not seen
/// is never deleted.
pub async fn delete_unused_node_policies(ctx: &Context) -> Result<()> {
    let api: Api<NodeNetworkConfigurationPolicy> = Api::all(ctx.client.clone());
    for name in ctx.claims.unused() {
        let mut gate = ctx.node_policy_gates.enter(&name).await;
        if ctx.claims.in_use(&name) {
            continue;
        }
        let cached = ctx.stores.node_policies.get(&ObjectRef::new(&name));
        let uid = cached.as_ref().and_then(|p| p.metadata.uid.clone());
        if gate.deleted(uid.as_deref()) {
            ctx.claims.deleted(&name);
            continue;
        }
        // Not cached yet (applied moments ago): by name. Nobody can apply it meanwhile: every
        // apply of it waits for this gate.
        let params = DeleteParams {
            // The UID, not the resourceVersion: NMState's status writes change that all the time.
            preconditions: cached.as_ref().map(|_| Preconditions {
                uid: uid.clone(),
                resource_version: None,
            }),
            ..DeleteParams::background()
        };
        match api.delete(&name, &params).await {
            Ok(_) => ctx
                .metrics
                .wrote(kind_of::<NodeNetworkConfigurationPolicy>(), "delete"),
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            // Another copy than the one cached (re-created meanwhile): look again when the
            // cache has it.
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(e) => return Err(e.into()),
        }
        gate.mark_deleted(uid);
        ctx.claims.deleted(&name);
    }
    Ok(())
}
