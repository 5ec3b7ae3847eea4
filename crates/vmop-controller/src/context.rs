//! What every reconcile gets: the client, the plugin registries, the watch caches, the event
//! recorder and the metrics. No globals: an embedder builds as many as it needs.

use std::{sync::Arc, time::Duration};

use k8s_openapi::api::{
    core::v1::{ConfigMap, PersistentVolumeClaim, Secret},
    networking::v1::NetworkPolicy,
    storage::v1::StorageClass,
};
use kube::{
    Client,
    core::PartialObjectMeta,
    runtime::reflector::{ObjectRef, Store},
};
use vmop_api::{
    PROFILE_LABEL, VirtualMachineProfile,
    external::{
        cdi::DataVolume,
        instancetype::{
            VirtualMachineClusterInstancetype, VirtualMachineClusterPreference,
            VirtualMachineInstancetype, VirtualMachinePreference,
        },
        kubevirt::{VirtualMachine, VirtualMachineInstance, VirtualMachineInstanceMigration},
        multinetworkpolicy::MultiNetworkPolicy,
        multus::NetworkAttachmentDefinition,
        nmstate::{
            ENACTMENT_POLICY_LABEL, NodeNetworkConfigurationEnactment,
            NodeNetworkConfigurationPolicy,
        },
    },
};
use vmop_plugin::Registries;

use crate::{
    cache::index::LabelIndex,
    cache::packed::PackedStore,
    desired::policy::{OperatorPolicy, POLICY_KEY},
    metrics::Metrics,
    report::events::EventPublisher,
};

/// Field manager of every object the controller applies.
pub const FIELD_MANAGER: &str = "vm-operator";
/// Finalizer that holds a profile until its children are cleaned up.
pub const FINALIZER: &str = "vmoperator.io/cleanup";

/// Watch caches of everything the controller reads. Reconciles read only from here.
#[derive(Clone)]
pub struct Stores {
    /// The profiles (stripped of managed fields).
    pub profiles: Store<VirtualMachineProfile>,
    /// Every NAD (metadata only): existing ones named by `nadName` are not ours.
    pub nads: PackedStore<PartialObjectMeta<NetworkAttachmentDefinition>>,
    /// The shared node policies of this operator's scope.
    pub policies: Store<NodeNetworkConfigurationPolicy>,
    /// What each node reported of a policy.
    pub enactments: Store<NodeNetworkConfigurationEnactment>,
    /// Claims of profiles (by label).
    pub claims: PackedStore<PersistentVolumeClaim>,
    /// DataVolumes of profiles (by label).
    pub data_volumes: PackedStore<DataVolume>,
    /// VirtualMachines of profiles (by label).
    pub vms: PackedStore<VirtualMachine>,
    /// Their instances (by label).
    pub vmis: PackedStore<VirtualMachineInstance>,
    /// Secrets of profiles (metadata only, by label).
    pub secrets: PackedStore<PartialObjectMeta<Secret>>,
    /// Every StorageClass: what a disk's class resolves to.
    pub storage_classes: Store<StorageClass>,
    /// KubeVirt instancetypes and preferences that profiles may name (preferences: metadata
    /// only, their existence is all the operator checks).
    pub cluster_instancetypes: Store<VirtualMachineClusterInstancetype>,
    /// Namespaced instancetypes profiles may name.
    pub instancetypes: Store<VirtualMachineInstancetype>,
    /// Cluster-wide preferences (metadata only: existence is all that is checked).
    pub cluster_preferences: Store<PartialObjectMeta<VirtualMachineClusterPreference>>,
    /// Namespaced preferences (metadata only).
    pub preferences: Store<PartialObjectMeta<VirtualMachinePreference>>,
    /// The isolation NetworkPolicies of profiles (metadata only).
    pub network_policies: PackedStore<PartialObjectMeta<NetworkPolicy>>,
    /// Their MultiNetworkPolicies (metadata only); filled only where multi-networkpolicy's CRD
    /// is installed, see [`Context::multi_network_policies_installed`].
    pub multi_network_policies: PackedStore<PartialObjectMeta<MultiNetworkPolicy>>,
    /// Live migrations asked for by profiles.
    pub migrations: PackedStore<VirtualMachineInstanceMigration>,
    /// Lookups by label into the caches above, so that no reconcile scans them.
    pub index: Indexes,
}

/// The caches' objects by label: each profile's children by [`PROFILE_LABEL`], enactments
/// by the policy they report on. (A profile's VM and its instance carry the profile's name:
/// they are looked up by it.)
#[derive(Debug, Clone)]
pub struct Indexes {
    /// [`Stores::nads`] by profile.
    pub nads: Arc<LabelIndex>,
    /// [`Stores::secrets`] by profile.
    pub secrets: Arc<LabelIndex>,
    /// [`Stores::claims`] by profile.
    pub claims: Arc<LabelIndex>,
    /// [`Stores::data_volumes`] by profile.
    pub data_volumes: Arc<LabelIndex>,
    /// [`Stores::enactments`] by policy name.
    pub enactments: Arc<LabelIndex>,
}

impl Default for Indexes {
    fn default() -> Self {
        Indexes {
            nads: LabelIndex::new(PROFILE_LABEL),
            secrets: LabelIndex::new(PROFILE_LABEL),
            claims: LabelIndex::new(PROFILE_LABEL),
            data_volumes: LabelIndex::new(PROFILE_LABEL),
            enactments: LabelIndex::new(ENACTMENT_POLICY_LABEL),
        }
    }
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores")
            .field("profiles", &self.profiles.state().len())
            .finish_non_exhaustive()
    }
}

/// Timing of requeues: [`Default`], then the setters.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Timing {
    /// Look again this soon while waiting for something no watch reports (a missing
    /// StorageClass or user-data Secret, say).
    pub converging: Duration,
    /// Look again this soon while waiting only for children and shared objects whose
    /// changes trigger a reconcile anyway: a safety net, not the way a profile progresses.
    /// Looking at such a profile every few seconds would make its reconciles grow with its
    /// time to converge, and that with the load on the API server.
    pub waiting: Duration,
    /// Periodic resync of a settled profile (costs no writes).
    pub settled: Duration,
    /// Triggers of one profile that come closer together than this make one reconcile
    /// (kube-runtime's trailing-edge debounce): a child stepping through its phases in quick
    /// succession is read once, at its latest state, and written about once.
    pub debounce: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            converging: Duration::from_secs(10),
            waiting: Duration::from_secs(60),
            settled: Duration::from_secs(300),
            debounce: Duration::from_millis(250),
        }
    }
}

impl Timing {
    /// See [`Timing::converging`](#structfield.converging) (default 10 s).
    pub fn converging(mut self, after: Duration) -> Self {
        self.converging = after;
        self
    }

    /// See [`Timing::waiting`](#structfield.waiting) (default 60 s).
    pub fn waiting(mut self, after: Duration) -> Self {
        self.waiting = after;
        self
    }

    /// See [`Timing::settled`](#structfield.settled) (default 5 min).
    pub fn settled(mut self, after: Duration) -> Self {
        self.settled = after;
        self
    }

    /// See [`Timing::debounce`](#structfield.debounce) (default 250 ms).
    pub fn debounce(mut self, window: Duration) -> Self {
        self.debounce = window;
        self
    }
}

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

/// When each profile's status was last written, to coalesce progress-only updates.
#[derive(Debug, Default)]
pub struct StatusWrites(
    std::sync::Mutex<
        std::collections::HashMap<ObjectRef<VirtualMachineProfile>, std::time::Instant>,
    >,
);

impl StatusWrites {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<
        '_,
        std::collections::HashMap<ObjectRef<VirtualMachineProfile>, std::time::Instant>,
    > {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a write happened less than `interval` ago.
    pub fn recent(&self, profile: &ObjectRef<VirtualMachineProfile>, interval: Duration) -> bool {
        self.lock()
            .get(profile)
            .is_some_and(|at| at.elapsed() < interval)
    }

    pub fn wrote(&self, profile: &ObjectRef<VirtualMachineProfile>) {
        self.lock()
            .insert(profile.clone(), std::time::Instant::now());
    }

    /// Forgets a deleted profile.
    pub fn forget(&self, profile: &ObjectRef<VirtualMachineProfile>) {
        self.lock().remove(profile);
    }
}

/// Where the administrator's policy comes from, as the reconciles read it.
#[derive(Clone)]
pub enum PolicyHandle {
    /// Given by the embedder.
    Fixed(Arc<OperatorPolicy>),
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

impl std::fmt::Debug for PolicyHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PolicyHandle::Fixed(policy) => f.debug_tuple("Fixed").field(policy).finish(),
            PolicyHandle::ConfigMap {
                namespace, name, ..
            } => write!(f, "ConfigMap({namespace}/{name})"),
        }
    }
}

impl PolicyHandle {
    /// The policy in force. A missing ConfigMap allows nothing; an invalid one allows
    /// nothing and says why (logged), so a typo never widens what tenants may do.
    pub fn current(&self) -> Arc<OperatorPolicy> {
        match self {
            PolicyHandle::Fixed(policy) => policy.clone(),
            PolicyHandle::ConfigMap {
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
                match OperatorPolicy::parse(text) {
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
    pub policy: PolicyHandle,
    /// Becomes true once every watch cache has its first full list (and the claims are
    /// restored from it).
    pub synced: tokio::sync::watch::Receiver<bool>,
    /// What profiles hold in common: shared policies' users, addresses, node interfaces.
    pub claims: crate::desired::claims::Claims,
    /// Whether the watches are up (readiness reads it).
    pub watch_health: Arc<crate::cache::watch_health::WatchHealth>,
    /// The user-data Secrets profiles name, and what reading them last gave.
    pub(crate) user_data_secrets: Arc<crate::cache::user_data_secrets::UserDataSecrets>,
    /// One gate per shared policy: its deletion and its users' applies never interleave.
    pub(crate) policy_gates: crate::converge::policy_gate::PolicyGates,
    /// The namespace watched, or `None` for all: the scope of the shared policies.
    pub namespace: Option<String>,
    /// Last status write per profile (progress-only changes are coalesced).
    pub status_writes: StatusWrites,
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
