//! What every reconcile gets: the client, the plugin registries, the watch caches, the event
//! recorder and the metrics. No globals: an embedder builds as many as it needs.

use std::sync::Arc;

use kube::{Client, runtime::reflector::ObjectRef};
use vmop_api::VirtualMachineProfile;
use vmop_plugin::Registries;

pub use crate::cache::{index::Indexes, stores::Stores};
pub use crate::report::status_writes::StatusWrites;
use crate::{
    cache::admin_policy::AdminPolicyHandle, config::Timing, metrics::Metrics,
    report::events::EventPublisher,
};

/// Field manager of every object the controller applies.
pub const FIELD_MANAGER: &str = "vm-operator";
/// Finalizer that holds a profile until its children are cleaned up.
pub const FINALIZER: &str = "vmoperator.io/cleanup";

/// Consecutive failures per profile, for exponential backoff.
#[derive(Debug, Default)]
pub struct Failures(
    std::sync::Mutex<std::collections::HashMap<ObjectRef<VirtualMachineProfile>, u32>>,
);

impl Failures {
    /// Records a failure; returns how many in a row.
    pub fn note(&self, profile: &ObjectRef<VirtualMachineProfile>) -> u32 {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = map.entry(profile.clone()).or_insert(0);
        *count += 1;
        *count
    }

    /// Forgets failures after a success.
    pub fn clear(&self, profile: &ObjectRef<VirtualMachineProfile>) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(profile);
    }
}

/// Shared state of the controller.
pub struct Context {
    /// The client every write goes through.
    pub client: Client,
    /// The plugins, by kind and name.
    pub registries: Arc<Registries>,
    /// The watch caches.
    pub stores: Stores,
    /// Records Events on profiles.
    pub recorder: EventPublisher,
    /// The operator's metrics.
    pub metrics: Arc<Metrics>,
    /// How soon to look again.
    pub timing: Timing,
    /// Failures per profile, for backoff.
    pub failures: Failures,
    /// The administrator's policy: node networking and clone sources tenants may use.
    pub admin_policy: AdminPolicyHandle,
    /// The line of VMs waiting to start under a cap.
    pub(crate) admission: crate::desired::admission::Admission,
    /// The line of imports (DataVolumes whose data comes from outside).
    pub(crate) imports: crate::desired::admission::Admission,
    /// Becomes true once every watch cache has its first full list (and the claims are
    /// restored from it).
    pub synced: tokio::sync::watch::Receiver<bool>,
    /// What profiles hold in common: shared policies' users, addresses, node interfaces.
    pub claims: Arc<crate::desired::claims::Claims>,
    /// Whether the watches are up (readiness reads it).
    pub watch_health: Arc<crate::cache::watch_health::WatchHealth>,
    /// The tenants' Secrets profiles name (user data, import credentials), and what reading
    /// them last gave.
    pub(crate) tenant_secrets: Arc<crate::cache::tenant_secrets::TenantSecrets>,
    /// One gate per shared policy: its deletion and its users' applies never interleave.
    pub(crate) node_policy_gates: crate::converge::node_policy_gate::NodePolicyGates,
    /// The namespace watched, or `None` for all: the scope of the shared policies.
    pub namespace: Option<String>,
    /// Last status write per profile (progress-only changes are coalesced).
    pub status_writes: StatusWrites,
    /// Children created and not yet seen by their watch, so a second reconcile does not
    /// create them again.
    pub(crate) created: crate::converge::created::Created,
    /// Profiles triggered and waiting for a reconcile (the work-queue metrics).
    pub queue: Arc<crate::cache::queue::WorkQueue>,
    /// Whether the MultiNetworkPolicy CRD is installed (found by discovery; until then bridge
    /// networks of isolated profiles are reported as not isolated).
    pub multi_network_policies_installed: Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("registries", &self.registries)
            .field("timing", &self.timing)
            .finish_non_exhaustive()
    }
}
