//! Applies a profile's isolation (see [`crate::desired::isolation`]): its NetworkPolicy, and its
//! MultiNetworkPolicy where the CRD is installed; deletes either when no longer asked for.
//! Runs before the VM is applied, so an isolated VM never starts unguarded.

use std::sync::atomic::Ordering;

use k8s_openapi::{
    api::networking::v1::NetworkPolicy, apimachinery::pkg::apis::meta::v1::OwnerReference,
};
use kube::{Api, Resource, ResourceExt, core::PartialObjectMeta, runtime::reflector::ObjectRef};
use serde::de::DeserializeOwned;
use vmop_api::{VirtualMachineProfile, external::multinetworkpolicy::MultiNetworkPolicy};

use crate::{
    cache::packed::PackedStore,
    context::Context,
    converge::apply::{delete, ensure, owned},
    converge::network::NetworkOutcome,
    desired::isolation::{build, policy_name},
    error::Result,
};

/// What the isolation of a profile amounts to now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IsolationOutcome {
    /// The profile asks for none and the administrator sets no default egress for its
    /// namespace (whatever it had is deleted).
    NotAsked,
    /// Every network the VM has is guarded: the names of the policies.
    Applied {
        /// The NetworkPolicy of the pod network.
        pod_network: String,
        /// The MultiNetworkPolicy of the bridge networks, when there are any.
        secondary: Option<String>,
    },
    /// The pod network is guarded, but the bridge networks cannot be: the MultiNetworkPolicy
    /// CRD is not installed.
    SecondaryUnguarded {
        /// The NetworkPolicy of the pod network.
        pod_network: String,
    },
}

impl IsolationOutcome {
    /// The `Isolated` condition: (status, reason, message); none when not asked for.
    pub fn condition(&self) -> Option<(bool, &'static str, String)> {
        match self {
            IsolationOutcome::NotAsked => None,
            IsolationOutcome::Applied {
                pod_network,
                secondary,
            } => Some((
                true,
                "PoliciesApplied",
                match secondary {
                    Some(multi) => format!(
                        "NetworkPolicy {pod_network} guards the pod network and MultiNetworkPolicy {multi} the bridge networks"
                    ),
                    None => format!("NetworkPolicy {pod_network} guards the pod network"),
                },
            )),
            IsolationOutcome::SecondaryUnguarded { pod_network } => Some((
                false,
                "MultiNetworkPolicyNotInstalled",
                format!(
                    "NetworkPolicy {pod_network} guards the pod network; the bridge networks are not isolated: install multi-networkpolicy (its MultiNetworkPolicy CRD is missing)"
                ),
            )),
        }
    }
}

fn cached_meta<K>(
    store: &PackedStore<PartialObjectMeta<K>>,
    name: &str,
    namespace: &str,
) -> Option<std::sync::Arc<PartialObjectMeta<K>>>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + 'static,
{
    store.get(&ObjectRef::new(name).within(namespace))
}

/// Deletes the profile's policy of kind `K` if the cache holds one it owns.
async fn remove<K>(
    ctx: &Context,
    store: &PackedStore<PartialObjectMeta<K>>,
    api: &Api<K>,
    name: &str,
    namespace: &str,
    owner: Option<&OwnerReference>,
) -> Result<()>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + 'static,
{
    let ours = cached_meta(store, name, namespace)
        .zip(owner)
        .is_some_and(|(meta, owner)| owned(&meta.metadata, owner));
    if ours {
        delete(ctx, api, name).await?;
    }
    Ok(())
}

/// Applies or removes the profile's isolation policies.
pub async fn reconcile_isolation(
    ctx: &Context,
    profile: &VirtualMachineProfile,
    owner: Option<OwnerReference>,
    networks: &[NetworkOutcome],
) -> Result<IsolationOutcome> {
    let namespace = profile.namespace().unwrap_or_default();
    let name = policy_name(&profile.name_any());
    let attachments: Vec<_> = networks.iter().map(|n| n.attachment.clone()).collect();
    let stores = &ctx.stores;
    let pod_api: Api<NetworkPolicy> = Api::namespaced(ctx.client.clone(), &namespace);
    let multi_api: Api<MultiNetworkPolicy> = Api::namespaced(ctx.client.clone(), &namespace);
    let installed = ctx.multi_network_policies_installed.load(Ordering::Relaxed);
    let default_egress = ctx.admin_policy.current().default_egress(&namespace);
    let Some(desired) = build(profile, &attachments, default_egress.as_ref()) else {
        remove(
            ctx,
            &stores.network_policies,
            &pod_api,
            &name,
            &namespace,
            owner.as_ref(),
        )
        .await?;
        if installed {
            let store = &stores.multi_network_policies;
            remove(ctx, store, &multi_api, &name, &namespace, owner.as_ref()).await?;
        }
        return Ok(IsolationOutcome::NotAsked);
    };
    let cached = cached_meta(&stores.network_policies, &name, &namespace);
    let meta = cached.as_ref().map(|m| &m.metadata);
    ensure(
        ctx,
        &pod_api,
        desired.pod_network,
        owner.clone(),
        meta,
        None,
        None,
    )
    .await?;
    let store = &stores.multi_network_policies;
    match desired.secondary {
        Some(_) if !installed => Ok(IsolationOutcome::SecondaryUnguarded { pod_network: name }),
        Some(multi) => {
            let cached = cached_meta(store, &name, &namespace);
            let meta = cached.as_ref().map(|m| &m.metadata);
            ensure(ctx, &multi_api, multi, owner, meta, None, None).await?;
            Ok(IsolationOutcome::Applied {
                pod_network: name.clone(),
                secondary: Some(name),
            })
        }
        None => {
            if installed {
                remove(ctx, store, &multi_api, &name, &namespace, owner.as_ref()).await?;
            }
            Ok(IsolationOutcome::Applied {
                pod_network: name,
                secondary: None,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_condition_says_which_networks_are_guarded() {
        assert_eq!(IsolationOutcome::NotAsked.condition(), None);
        let all = IsolationOutcome::Applied {
            pod_network: "web--isolation".into(),
            secondary: Some("web--isolation".into()),
        };
        let (ok, reason, message) = all.condition().expect("condition");
        assert!(ok);
        assert_eq!(reason, "PoliciesApplied");
        assert!(
            message.contains("MultiNetworkPolicy web--isolation"),
            "{message}"
        );
        let unguarded = IsolationOutcome::SecondaryUnguarded {
            pod_network: "web--isolation".into(),
        };
        let (ok, reason, message) = unguarded.condition().expect("condition");
        assert!(!ok);
        assert_eq!(reason, "MultiNetworkPolicyNotInstalled");
        assert!(
            message.contains("bridge networks are not isolated"),
            "{message}"
        );
    }
}
