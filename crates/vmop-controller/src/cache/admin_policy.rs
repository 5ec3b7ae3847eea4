//! The administrator's policy as reconciles read it: given in code, or the `policy.yaml` key
//! of a watched ConfigMap.

use std::sync::Arc;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::reflector::{ObjectRef, Store};

use crate::desired::admin_policy::{AdminPolicy, POLICY_KEY};

/// Where the administrator's policy comes from, as the reconciles read it.
#[derive(Clone)]
pub enum AdminPolicyHandle {
    /// Given by the embedder.
    Fixed(Arc<AdminPolicy>),
    /// The `policy.yaml` key of a ConfigMap, from a watch cache.
    ConfigMap {
        /// The watch cache holding it.
        store: Store<ConfigMap>,
        /// Namespace of the ConfigMap.
        namespace: String,
        /// Name of the ConfigMap.
        name: String,
    },
}

impl std::fmt::Debug for AdminPolicyHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdminPolicyHandle::Fixed(policy) => f.debug_tuple("Fixed").field(policy).finish(),
            AdminPolicyHandle::ConfigMap {
                namespace, name, ..
            } => write!(f, "ConfigMap({namespace}/{name})"),
        }
    }
}

impl AdminPolicyHandle {
    /// The policy in force. A missing ConfigMap allows nothing; an invalid one allows
    /// nothing and says why (logged), so a typo never widens what tenants may do.
    pub fn current(&self) -> Arc<AdminPolicy> {
        match self {
            AdminPolicyHandle::Fixed(policy) => policy.clone(),
            AdminPolicyHandle::ConfigMap {
                store,
                namespace,
                name,
            } => {
                let Some(config_map) = store.get(&ObjectRef::new(name).within(namespace)) else {
                    return Arc::default();
                };
                let text = config_map
                    .data
                    .as_ref()
                    .and_then(|d| d.get(POLICY_KEY))
                    .map_or("", String::as_str);
                match AdminPolicy::parse(text) {
                    Ok(policy) => Arc::new(policy),
                    Err(error) => {
                        tracing::warn!(%error, configmap = %format!("{namespace}/{name}"), "invalid policy: allowing nothing");
                        Arc::default()
                    }
                }
            }
        }
    }
}
