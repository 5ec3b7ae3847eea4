//! Simulators of the data plane, in the spirit of kwok: each plays the part of one upstream
//! controller and acts only through the API server, as the real one would.
//!
//! | simulator  | plays                         | does                                         |
//! |------------|-------------------------------|----------------------------------------------|
//! | [`csi`]    | CSI external-provisioners (Huamei, local-path, Longhorn) | creates a PV for each claim of their classes (WaitForFirstConsumer ones on the selected node); the real PV binder binds it; deletes released PVs |
//! | [`cdi`]    | CDI DataVolume controller     | creates the claim, moves the DataVolume through import phases with progress, or fails it |
//! | `data_import_cron`, `data_source_ready` | CDI DataImportCron (with its source poller) and DataSource controllers | imports a registry image on its schedule when [`registry`] has a new digest, points the managed DataSource at the newest import, keeps `importsToKeep`; reports DataSources Ready |
//! | [`nmstate`]| kubernetes-nmstate handler    | writes per-node enactments and the policy's Available/Degraded/Ignored conditions |
//! | [`kubevirt`]| virt-controller + virt-handler | creates, schedules and boots a VMI per running VM, reports interfaces and VM status |
//! | [`snapshot`]| KubeVirt's snapshot and restore controllers, a CSI snapshotter | VirtualMachineSnapshots with their contents and VolumeSnapshots; VirtualMachineRestores that stop the VM and restore its claims in place; each VM's `volumeSnapshotStatuses` |
//!
//! Like the upstream controllers, they read other objects through informers and are driven
//! by watch events, their own writes' included: with no step delay, the event of one step's
//! write brings the next step (a timer would read the cache before that event arrives, and
//! write the same step twice).
//!
//! Faults are asked for through the objects themselves, so tests need no side channel: an
//! image URL containing [`SimConfig::failing_image_marker`] fails its import, one containing
//! [`SimConfig::unpullable_image_marker`] cannot be pulled, and a policy naming
//! [`SimConfig::bad_interface`] degrades on every node.

pub mod cdi;
pub mod csi;
mod data_import_cron;
mod data_source;
mod data_source_ready;
mod importer;
pub mod instancetype;
pub mod kinds;
pub mod kubevirt;
pub mod migration;
pub mod nmstate;
mod pre_populated;
pub mod registry;
pub mod snapshot;
pub mod upstream;

use std::{sync::Arc, time::Duration};

use futures::{Stream, StreamExt};
use k8s_openapi::api::{
    core::v1::{Node, PersistentVolumeClaim},
    storage::v1::StorageClass,
};
use kinds::{cdi::DataVolume, kubevirt::VirtualMachineInstance};
use kube::{
    Api, Client, Resource,
    runtime::{
        Controller, WatchStreamExt,
        controller::Action,
        reflector::{self, ObjectRef, Store},
        watcher,
    },
};
use serde::de::DeserializeOwned;

/// Without a step delay, the next step comes with the watch event of the last step's write;
/// this requeue only catches a step whose write changed nothing (so no event comes).
const INSTANT_STEP_FALLBACK: Duration = Duration::from_secs(1);

/// Timing and fault settings shared by the simulators.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Pause between two steps of a simulated process (an import phase, a VM boot step).
    pub step_delay: Duration,
    /// Progress updates of an import between 0% and 100%.
    pub import_steps: u32,
    /// An image URL containing this fails its import with CDI's message.
    pub failing_image_marker: String,
    /// A registry image URL containing this cannot be pulled: with `pullMethod: node` the
    /// importer pod waits in `ErrImagePull`, otherwise the importer fails to pull it and is
    /// restarted, as CDI reports each (`ImagePullFailed`).
    pub unpullable_image_marker: String,
    /// A node interface of this name makes NMState fail on every node.
    pub bad_interface: String,
    /// Restarts of a failing importer before CDI gives up on a DataVolume.
    pub import_restarts_before_failure: i32,
}

impl SimConfig {
    /// No delays: for tests and benchmarks.
    pub fn instant() -> Self {
        SimConfig {
            step_delay: Duration::ZERO,
            import_steps: 2,
            failing_image_marker: "invalid-image".into(),
            unpullable_image_marker: "unpullable".into(),
            bad_interface: "bad0".into(),
            import_restarts_before_failure: 2,
        }
    }

    /// Human-scale delays: for the demo.
    pub fn realistic() -> Self {
        SimConfig {
            step_delay: Duration::from_millis(700),
            import_steps: 8,
            ..Self::instant()
        }
    }

    /// The requeue that advances a process by one step, after a step was written.
    pub(crate) fn next_step(&self) -> Action {
        if self.step_delay.is_zero() {
            // As upstream controllers are: driven by their own write's watch event, which
            // brings the state just written into the cache. A timer this short read the
            // cache before that event, and wrote the same step again.
            Action::requeue(INSTANT_STEP_FALLBACK)
        } else {
            Action::requeue(self.step_delay)
        }
    }
}

/// Errors inside a simulator: logged and retried, never fatal.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error("{0}")]
    Invalid(String),
}

/// Runs every simulator until the process ends.
pub async fn run_all(client: Client, config: SimConfig) {
    let config = Arc::new(config);
    tokio::join!(
        csi::run(client.clone(), config.clone()),
        cdi::run(client.clone(), config.clone()),
        data_import_cron::run(client.clone(), config.clone()),
        data_source_ready::run(client.clone(), config.clone()),
        nmstate::run(client.clone(), config.clone()),
        kubevirt::run(client.clone(), config.clone()),
        migration::run(client.clone(), config.clone()),
        snapshot::run(client, config),
    );
}

/// Drives a controller's stream, logging failures (a simulator never stops on an error).
pub(crate) async fn drive<K, S>(name: &'static str, controller: S)
where
    K: Resource,
    S: futures::Stream<
            Item = Result<
                (kube::runtime::reflector::ObjectRef<K>, Action),
                kube::runtime::controller::Error<SimError, watcher::Error>,
            >,
        >,
{
    controller
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(simulator = name, %error, "reconcile failed; retrying");
            }
        })
        .await;
}

/// An informer, as upstream controllers read through (their listers): a cache of every `K`
/// kept by a watch, and the stream of the objects it changed, which must be polled for the
/// cache to fill. A controller triggered by that stream reads at least the version that
/// triggered it.
pub(crate) fn informer<K>(
    client: &Client,
) -> (
    Store<K>,
    impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (store, writer) = reflector::store();
    let stream = watcher(Api::<K>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .applied_objects();
    (store, stream)
}

/// Polls an informer's stream that triggers nothing, so that its cache fills.
pub(crate) async fn keep_filled<K>(stream: impl Stream<Item = Result<K, watcher::Error>>) {
    stream.for_each(|_| futures::future::ready(())).await;
}

/// The informer caches a simulator reads other objects from. A read of an object the cache
/// does not hold (not yet listed, just created, or a cache this simulator does not keep)
/// goes to the API server; the node list waits for its cache's first list instead.
#[derive(Default)]
pub(crate) struct Caches {
    pub claims: Option<Store<PersistentVolumeClaim>>,
    pub classes: Option<Store<StorageClass>>,
    pub data_volumes: Option<Store<DataVolume>>,
    pub instances: Option<Store<VirtualMachineInstance>>,
    pub nodes: Option<Store<Node>>,
}

/// The object from `cache`, or, when the cache does not hold it (just created, or deleted),
/// from the API server: a cache never makes an existing object look absent.
async fn cached_or_live<K>(
    cache: Option<&Store<K>>,
    api: Api<K>,
    namespace: Option<&str>,
    name: &str,
) -> Result<Option<K>, SimError>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    let key = match namespace {
        Some(namespace) => ObjectRef::new(name).within(namespace),
        None => ObjectRef::new(name),
    };
    if let Some(object) = cache.and_then(|c| c.get(&key)) {
        return Ok(Some((*object).clone()));
    }
    Ok(api.get_opt(name).await?)
}

/// What every simulator's reconcile gets.
pub(crate) struct SimContext {
    pub client: Client,
    pub config: Arc<SimConfig>,
    pub caches: Caches,
    // When each object last took a step: watch events of the simulator's own writes must
    // not skip the configured delay.
    last_step: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
    settled: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl SimContext {
    pub(crate) fn new(client: &Client, config: &Arc<SimConfig>) -> Arc<Self> {
        Self::with_caches(client, config, Caches::default())
    }

    pub(crate) fn with_caches(
        client: &Client,
        config: &Arc<SimConfig>,
        caches: Caches,
    ) -> Arc<Self> {
        Arc::new(SimContext {
            client: client.clone(),
            config: config.clone(),
            caches,
            last_step: Default::default(),
            settled: Default::default(),
        })
    }

    /// A claim, read as upstream controllers do (see [`Caches`]).
    pub(crate) async fn claim(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<PersistentVolumeClaim>, SimError> {
        let api = Api::namespaced(self.client.clone(), namespace);
        cached_or_live(self.caches.claims.as_ref(), api, Some(namespace), name).await
    }

    /// A claim from the cache alone (`None` also when there is no claim cache).
    pub(crate) fn cached_claim(
        &self,
        namespace: &str,
        name: &str,
    ) -> Option<PersistentVolumeClaim> {
        let key = ObjectRef::new(name).within(namespace);
        self.caches
            .claims
            .as_ref()
            .and_then(|c| c.get(&key))
            .map(|c| (*c).clone())
    }

    /// A StorageClass, read as upstream controllers do.
    pub(crate) async fn storage_class(&self, name: &str) -> Result<Option<StorageClass>, SimError> {
        let api = Api::all(self.client.clone());
        cached_or_live(self.caches.classes.as_ref(), api, None, name).await
    }

    /// A DataVolume, read as upstream controllers do.
    pub(crate) async fn data_volume(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<DataVolume>, SimError> {
        let api = Api::namespaced(self.client.clone(), namespace);
        cached_or_live(
            self.caches.data_volumes.as_ref(),
            api,
            Some(namespace),
            name,
        )
        .await
    }

    /// A VirtualMachineInstance, read as upstream controllers do.
    pub(crate) async fn instance(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<VirtualMachineInstance>, SimError> {
        let api = Api::namespaced(self.client.clone(), namespace);
        cached_or_live(self.caches.instances.as_ref(), api, Some(namespace), name).await
    }

    /// Every node, from the cache once it has listed them (as the scheduler reads them).
    pub(crate) async fn nodes(&self) -> Result<Vec<Node>, SimError> {
        if let Some(cache) = &self.caches.nodes
            && cache.wait_until_ready().await.is_ok()
        {
            return Ok(cache.state().iter().map(|n| (**n).clone()).collect());
        }
        Ok(Api::<Node>::all(self.client.clone())
            .list(&Default::default())
            .await?
            .items)
    }

    /// Whether the process identified by `key` has finished.
    pub(crate) fn settled(&self, key: &str) -> bool {
        self.settled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(key)
    }

    /// Records that the process identified by `key` has finished; always true.
    pub(crate) fn settle(&self, key: &str) -> bool {
        self.settled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key.to_owned());
        true
    }

    /// `None` when the object identified by `key` may take its next step now (and records
    /// it), else how long it must still wait.
    pub(crate) fn wait_before_step(&self, key: &str) -> Option<Duration> {
        if self.config.step_delay.is_zero() {
            return None;
        }
        let mut steps = self
            .last_step
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = std::time::Instant::now();
        match steps.get(key) {
            Some(last) if now.duration_since(*last) < self.config.step_delay => {
                Some(self.config.step_delay - now.duration_since(*last))
            }
            _ => {
                steps.insert(key.to_owned(), now);
                None
            }
        }
    }
}

/// The retry policy of every simulator.
pub(crate) fn retry<K>(_: Arc<K>, _: &SimError, _: Arc<SimContext>) -> Action {
    Action::requeue(Duration::from_millis(200))
}

/// A controller over all namespaces with a watcher that tolerates restarts of the API server.
pub(crate) fn controller<K>(client: &Client) -> Controller<K>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone + std::fmt::Debug + Unpin,
{
    Controller::new(
        kube::Api::<K>::all(client.clone()),
        watcher::Config::default(),
    )
}
