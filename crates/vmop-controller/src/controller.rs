//! Wiring: watch caches for every kind the controller reads, triggers from owned children and
//! from the VMIs and shared policies that are not owned, and the kube-runtime Controller.

use std::{future::Future, sync::Arc};

use futures::{FutureExt, StreamExt, future};
use k8s_openapi::api::{
    core::v1::{ConfigMap, PersistentVolumeClaim, Secret},
    networking::v1::NetworkPolicy,
    storage::v1::StorageClass,
};
use kube::{
    Api, Client, ResourceExt,
    core::PartialObjectMeta,
    runtime::{
        Controller, WatchStreamExt,
        controller::Config,
        events::Reporter,
        reflector::{self, ObjectRef},
        watcher,
    },
};
use vmop_api::{
    PROFILE_LABEL, VirtualMachineProfile,
    external::{
        cdi::DataVolume,
        instancetype::{
            VirtualMachineClusterInstancetype, VirtualMachineClusterPreference,
            VirtualMachineInstancetype, VirtualMachinePreference,
        },
        kubevirt::{VirtualMachine, VirtualMachineInstanceMigration},
        multinetworkpolicy::MultiNetworkPolicy,
        multus::NetworkAttachmentDefinition,
        nmstate::{
            ENACTMENT_POLICY_LABEL, NodeNetworkConfigurationEnactment,
            NodeNetworkConfigurationPolicy,
        },
    },
};
use vmop_plugin::{Registries, objects::MANAGED_POLICY_LABEL};

use crate::{
    cache::profile_triggers::changed_beyond_status,
    cache::queue::WorkQueue,
    cache::relist::relisting,
    cache::seed::restore_claims,
    cache::trim::{self, strip},
    cache::user_data_secrets::UserDataSecrets,
    cache::watch_health::WatchHealth,
    cache::watches::{
        Enqueue, api, cached, cached_changes, cached_when_installed, labelled, logged, packed,
        queued_owners, readiness_fingerprint,
    },
    context::{Context, Failures, Indexes, PolicyHandle, Stores, Timing},
    converge::network::delete_unused_policies,
    desired::claims::Claims,
    desired::plan::policy_scope,
    desired::policy::OperatorPolicy,
    metrics::Metrics,
    reconcile::{error_policy, reconcile},
    report::events::EventPublisher,
};

/// How the controller runs: [`Default`], then the setters, so that a setting added later
/// breaks no embedder.
///
/// ```
/// use std::time::Duration;
/// use vmop_controller::{ControllerConfig, Timing};
/// let config = ControllerConfig::default()
///     .namespace("team-a")
///     .concurrency(4)
///     .timing(Timing::default().converging(Duration::from_secs(2)));
/// assert_eq!(config.namespace.as_deref(), Some("team-a"));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ControllerConfig {
    /// Watch one namespace, or all when `None`.
    pub namespace: Option<String>,
    /// Profiles reconciled at once.
    pub concurrency: u16,
    /// How soon to look again while converging and once settled.
    pub timing: Timing,
    /// The administrator's policy (default: nothing allowed).
    pub policy: PolicySource,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            namespace: None,
            concurrency: 8,
            timing: Timing::default(),
            policy: PolicySource::Fixed(OperatorPolicy::default()),
        }
    }
}

impl ControllerConfig {
    /// Watches only this namespace (the default: all).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Watches every namespace (the default).
    pub fn all_namespaces(mut self) -> Self {
        self.namespace = None;
        self
    }

    /// How many profiles are reconciled at once (default 8).
    pub fn concurrency(mut self, concurrency: u16) -> Self {
        self.concurrency = concurrency;
        self
    }

    /// How soon profiles are looked at again.
    pub fn timing(mut self, timing: Timing) -> Self {
        self.timing = timing;
        self
    }

    /// Where the administrator's policy comes from (default: nothing allowed).
    pub fn policy(mut self, policy: PolicySource) -> Self {
        self.policy = policy;
        self
    }
}

/// Where the administrator's policy comes from.
#[derive(Debug, Clone)]
pub enum PolicySource {
    /// A policy given in code.
    Fixed(OperatorPolicy),
    /// The `policy.yaml` key of this ConfigMap, watched: changes apply at the next reconcile.
    ConfigMap {
        /// Namespace of the ConfigMap.
        namespace: String,
        /// Name of the ConfigMap.
        name: String,
    },
}

/// A running controller: poll [`Running::run`] to drive it; the stores fill as it runs.
pub struct Running {
    /// What reconciles share: caches, client, metrics (readiness reads it).
    pub context: Arc<Context>,
    run: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

impl Running {
    /// Runs until `shutdown` completes (then finishes in-flight reconciles) or forever.
    pub async fn run(self) {
        self.run.await;
    }

    /// Waits until every watch cache has its first full list: the controller is ready.
    pub async fn ready(context: &Context) -> bool {
        // One task awaits the stores (see `controller`) and announces it here: kube-runtime's
        // `Store::wait_until_ready` wakes only the last of several concurrent waiters, so
        // reconciles and probes must not await the stores themselves.
        let mut synced = context.synced.clone();
        synced.wait_for(|synced| *synced).await.is_ok()
    }

    /// Awaits every store once, in one task; true when all synced.
    async fn await_stores(context: &Context) -> bool {
        let s = &context.stores;
        // kube-runtime's stores and the packed ones fail with different error types.
        fn synced<E>(name: &'static str) -> impl Fn(Result<(), E>) -> bool {
            move |result| {
                tracing::debug!(cache = name, ok = result.is_ok(), "watch cache synced");
                result.is_ok()
            }
        }
        let all = futures::join!(
            s.profiles
                .wait_until_ready()
                .map(synced("VirtualMachineProfile")),
            s.nads
                .wait_until_ready()
                .map(synced("NetworkAttachmentDefinition")),
            s.policies
                .wait_until_ready()
                .map(synced("NodeNetworkConfigurationPolicy")),
            s.enactments
                .wait_until_ready()
                .map(synced("NodeNetworkConfigurationEnactment")),
            s.claims
                .wait_until_ready()
                .map(synced("PersistentVolumeClaim")),
            s.data_volumes.wait_until_ready().map(synced("DataVolume")),
            s.vms.wait_until_ready().map(synced("VirtualMachine")),
            s.vmis
                .wait_until_ready()
                .map(synced("VirtualMachineInstance")),
            s.secrets.wait_until_ready().map(synced("Secret")),
            s.storage_classes
                .wait_until_ready()
                .map(synced("StorageClass")),
            s.network_policies
                .wait_until_ready()
                .map(synced("NetworkPolicy")),
            s.migrations
                .wait_until_ready()
                .map(synced("VirtualMachineInstanceMigration")),
        );
        let sizing = futures::join!(
            s.cluster_instancetypes
                .wait_until_ready()
                .map(synced("VirtualMachineClusterInstancetype")),
            s.instancetypes
                .wait_until_ready()
                .map(synced("VirtualMachineInstancetype")),
            s.cluster_preferences
                .wait_until_ready()
                .map(synced("VirtualMachineClusterPreference")),
            s.preferences
                .wait_until_ready()
                .map(synced("VirtualMachinePreference")),
        );
        let policy = match &context.policy {
            PolicyHandle::Fixed(_) => true,
            PolicyHandle::ConfigMap { store, .. } => {
                synced("policy ConfigMap")(store.wait_until_ready().await)
            }
        };
        [
            all.0, all.1, all.2, all.3, all.4, all.5, all.6, all.7, all.8, all.9, all.10, all.11,
            sizing.0, sizing.1, sizing.2, sizing.3, policy,
        ]
        .iter()
        .all(|ok| *ok)
    }
}

/// Builds the controller: caches, triggers, context. Nothing runs until [`Running::run`].
pub fn controller(
    client: Client,
    registries: Arc<Registries>,
    metrics: Arc<Metrics>,
    config: ControllerConfig,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Running {
    let ns = config.namespace.as_deref();
    // Both controllers (profiles, pools) stop on the same signal.
    let shutdown = shutdown.shared();
    // One reflector caches the profiles (stripped) and triggers the controller.
    let (profiles, mut profile_writer) = reflector::store();
    let queue = Arc::new(WorkQueue::default());
    let profile_queue = (queue.clone(), metrics.clone());
    let cached_profiles = profiles.clone();
    let health = Arc::new(WatchHealth::default());
    let user_data_secrets = Arc::new(UserDataSecrets::default());
    let forget_user_data = user_data_secrets.clone();
    let profile_stream = logged(relisting(
        api::<VirtualMachineProfile>(&client, ns),
        watcher::Config::default(),
        &health,
    ))
    .modify(strip)
    // Cached, every event; a trigger, only a change beyond the status (our own writes).
    .filter(move |event| {
        let trigger = match event {
            Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p)) => {
                let before = cached_profiles.get(&ObjectRef::from(p));
                changed_beyond_status(before.as_deref(), p)
            }
            _ => true,
        };
        if let Ok(event) = event {
            profile_writer.apply_watcher_event(event);
        }
        future::ready(trigger)
    })
    .inspect(move |event| {
        let (queue, metrics) = &profile_queue;
        match event {
            Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p)) => {
                if let Some(depth) = queue.triggered(ObjectRef::from(p)) {
                    metrics.queued(depth);
                }
            }
            Ok(watcher::Event::Delete(p)) => {
                metrics.dequeued(None, queue.forget(&ObjectRef::from(p)));
                forget_user_data.forget(&ObjectRef::from(p));
            }
            _ => {}
        }
    })
    .applied_objects();
    let profile_controller = Controller::for_stream(profile_stream, profiles.clone());
    let index = Indexes::default();
    // `Api<PartialObjectMeta<K>>` asks the API server for metadata only.
    let (nads_reader, nad_stream) = packed::<PartialObjectMeta<NetworkAttachmentDefinition>>(
        api(&client, ns),
        watcher::Config::default(),
        Some(index.nads.clone()),
        trim::metadata_only,
        health.clone(),
    );
    let (secrets_reader, secret_stream) = packed::<PartialObjectMeta<Secret>>(
        api(&client, ns),
        labelled(),
        Some(index.secrets.clone()),
        trim::metadata_only,
        health.clone(),
    );
    let (policies, policy_stream) = cached_changes::<NodeNetworkConfigurationPolicy>(
        Api::all(client.clone()),
        watcher::Config::default().labels(&format!("{MANAGED_POLICY_LABEL}={}", policy_scope(ns))),
        None,
        |p| readiness_fingerprint(p.metadata.generation, p.status.as_ref()),
        health.clone(),
    );
    let (enactments, enactment_stream) = cached_changes::<NodeNetworkConfigurationEnactment>(
        Api::all(client.clone()),
        watcher::Config::default(),
        Some(index.enactments.clone()),
        |e| readiness_fingerprint(None, e.status.as_ref()),
        health.clone(),
    );
    let (claims, claim_stream) = packed::<PersistentVolumeClaim>(
        api(&client, ns),
        labelled(),
        Some(index.claims.clone()),
        strip,
        health.clone(),
    );
    let (data_volumes, dv_stream) = packed::<DataVolume>(
        api(&client, ns),
        labelled(),
        Some(index.data_volumes.clone()),
        trim::data_volume,
        health.clone(),
    );
    let (vms, vm_stream) =
        packed::<VirtualMachine>(api(&client, ns), labelled(), None, trim::vm, health.clone());
    let (migrations, migration_stream) = packed::<VirtualMachineInstanceMigration>(
        api(&client, ns),
        labelled(),
        None,
        strip,
        health.clone(),
    );
    let (network_policies, network_policy_stream) = packed::<PartialObjectMeta<NetworkPolicy>>(
        api(&client, ns),
        labelled(),
        None,
        trim::metadata_only,
        health.clone(),
    );
    // Every Secret's metadata, of which only those profiles name are kept: an edit of a
    // user-data Secret triggers exactly the profiles naming it.
    let user_data_triggers = {
        let (secrets, health) = (user_data_secrets.clone(), health.clone());
        logged(relisting(
            api::<PartialObjectMeta<Secret>>(&client, ns),
            watcher::Config::default(),
            &health,
        ))
        .flat_map(move |event| {
            let targets = match event {
                Ok(event) => secrets.observe(&event),
                Err(_) => {
                    health.failed();
                    Vec::new()
                }
            };
            futures::stream::iter(targets)
        })
    };
    let multi_network_policies_installed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (multi_network_policies, multi_network_policy_stream) =
        cached_when_installed::<PartialObjectMeta<MultiNetworkPolicy>>(
            client.clone(),
            api(&client, ns),
            labelled(),
            multi_network_policies_installed.clone(),
            health.clone(),
        );
    // Every trigger is noted in the work queue on its way to kube-runtime's scheduler.
    let enqueue: Enqueue = {
        let (queue, metrics, profiles) = (queue.clone(), metrics.clone(), profiles.clone());
        Arc::new(move |targets: &[ObjectRef<VirtualMachineProfile>]| {
            for target in targets {
                // A gone profile is never reconciled: it must not wait forever.
                if profiles.get(target).is_some()
                    && let Some(depth) = queue.triggered(target.clone())
                {
                    metrics.queued(depth);
                }
            }
        })
    };
    let (vmis, vmi_stream) = packed(
        api(&client, ns),
        labelled(),
        None,
        trim::instance,
        health.clone(),
    );
    let (storage_classes, class_stream) = cached::<StorageClass>(
        Api::all(client.clone()),
        watcher::Config::default(),
        None,
        health.clone(),
    );
    // Read when a profile names one; a blocked profile looks again on its own.
    let (cluster_instancetypes, cluster_instancetype_stream) =
        cached::<VirtualMachineClusterInstancetype>(
            Api::all(client.clone()),
            watcher::Config::default(),
            None,
            health.clone(),
        );
    let (instancetypes, instancetype_stream) = cached::<VirtualMachineInstancetype>(
        api(&client, ns),
        watcher::Config::default(),
        None,
        health.clone(),
    );
    let (cluster_preferences, cluster_preference_stream) =
        cached::<PartialObjectMeta<VirtualMachineClusterPreference>>(
            Api::all(client.clone()),
            watcher::Config::default(),
            None,
            health.clone(),
        );
    let (preferences, preference_stream) = cached::<PartialObjectMeta<VirtualMachinePreference>>(
        api(&client, ns),
        watcher::Config::default(),
        None,
        health.clone(),
    );
    let (policy, policy_config_stream) = match &config.policy {
        PolicySource::Fixed(policy) => (PolicyHandle::Fixed(Arc::new(policy.clone())), None),
        PolicySource::ConfigMap { namespace, name } => {
            let (store, stream) = cached::<ConfigMap>(
                Api::namespaced(client.clone(), namespace),
                watcher::Config::default().fields(&format!("metadata.name={name}")),
                None,
                health.clone(),
            );
            (
                PolicyHandle::ConfigMap {
                    store,
                    namespace: namespace.clone(),
                    name: name.clone(),
                },
                Some(stream),
            )
        }
    };

    let stores = Stores {
        profiles: profiles.clone(),
        nads: nads_reader,
        policies,
        enactments,
        claims,
        data_volumes,
        vms,
        vmis,
        secrets: secrets_reader,
        storage_classes,
        cluster_instancetypes,
        instancetypes,
        cluster_preferences,
        preferences,
        network_policies,
        multi_network_policies,
        migrations,
        index,
    };
    let reporter = Reporter {
        controller: "vm-operator".into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let (synced_tx, synced_rx) = tokio::sync::watch::channel(false);
    let context = Arc::new(Context {
        client: client.clone(),
        registries,
        stores,
        recorder: EventPublisher::new(client.clone(), reporter),
        metrics,
        timing: config.timing.clone(),
        failures: Failures::default(),
        policy,
        synced: synced_rx,
        claims: Claims::default(),
        policy_gates: Default::default(),
        watch_health: health.clone(),
        user_data_secrets: user_data_secrets.clone(),
        namespace: config.namespace.clone(),
        status_writes: Default::default(),
        queue,
        multi_network_policies_installed,
    });

    // Shared objects map to their users through the claims' indexes, never a scan.
    let policy_users = context.clone();
    let enactment_users = context.clone();
    let nad_users = context.clone();
    let by_label = |object_namespace: Option<String>,
                    labels: &std::collections::BTreeMap<String, String>| {
        labels
            .get(PROFILE_LABEL)
            .zip(object_namespace)
            .map(|(name, ns)| ObjectRef::new(name).within(&ns))
    };

    // Storage classes and the policy are read, never a trigger: drive their watches on their
    // own.
    let classes = futures::stream::select_all([
        class_stream.map(|_| ()).boxed(),
        cluster_instancetype_stream.map(|_| ()).boxed(),
        instancetype_stream.map(|_| ()).boxed(),
        cluster_preference_stream.map(|_| ()).boxed(),
        preference_stream.map(|_| ()).boxed(),
    ])
    .for_each(|()| future::ready(()));
    let policy_watch = async move {
        if let Some(stream) = policy_config_stream {
            stream.for_each(|_| future::ready(())).await;
        }
    };

    let controller = profile_controller
        .with_config(
            Config::default()
                .concurrency(config.concurrency)
                .debounce(config.timing.debounce),
        )
        .owns_stream(queued_owners(claim_stream, enqueue.clone()))
        .owns_stream(queued_owners(dv_stream, enqueue.clone()))
        .owns_stream(queued_owners(vm_stream, enqueue.clone()))
        .owns_stream(queued_owners(secret_stream, enqueue.clone()))
        .owns_stream(queued_owners(network_policy_stream, enqueue.clone()))
        .owns_stream(queued_owners(migration_stream, enqueue.clone()))
        .owns_stream(queued_owners(multi_network_policy_stream, enqueue.clone()))
        .watches_stream(vmi_stream, {
            let enqueue = enqueue.clone();
            move |vmi| {
                let target = by_label(vmi.namespace(), vmi.labels());
                enqueue(target.as_slice());
                target
            }
        })
        .watches_stream(nad_stream, {
            let enqueue = enqueue.clone();
            move |nad| {
                // Our NADs by label; a user's NAD named by nadName, by reference.
                let mut targets: Vec<ObjectRef<VirtualMachineProfile>> =
                    by_label(nad.namespace(), nad.labels())
                        .into_iter()
                        .collect();
                let qualified =
                    format!("{}/{}", nad.namespace().unwrap_or_default(), nad.name_any());
                targets.extend(nad_users.claims.nad_users(&qualified));
                enqueue(&targets);
                targets
            }
        })
        .watches_stream(policy_stream, {
            let enqueue = enqueue.clone();
            move |policy| {
                let targets = policy_users.claims.policy_users(&policy.name_any());
                enqueue(&targets);
                targets
            }
        })
        .watches_stream(enactment_stream, move |enactment| {
            let targets = enactment
                .labels()
                .get(ENACTMENT_POLICY_LABEL)
                .map(|p| enactment_users.claims.policy_users(p))
                .unwrap_or_default();
            enqueue(&targets);
            targets
        })
        .reconcile_on(user_data_triggers)
        .graceful_shutdown_on(shutdown.clone())
        .run(reconcile, error_policy, context.clone())
        .for_each({
            let health = context.watch_health.clone();
            move |result| {
                // Every watch feeds the controller: a failed one surfaces here.
                if let Err(kube::runtime::controller::Error::QueueError(_)) = result {
                    health.failed();
                }
                future::ready(())
            }
        });
    let pools = crate::pools::pool::pool_controller(
        client.clone(),
        context.clone(),
        config.namespace.clone(),
        config.concurrency,
        shutdown,
    );
    let controller = future::join(controller, pools);

    let sync_context = context.clone();
    Running {
        context,
        // The read-only watches never end by themselves: the controller's end (shutdown)
        // ends them all.
        run: Box::pin(async move {
            let health = sync_context.watch_health.clone();
            let probe_client = sync_context.client.clone();
            let probe = async move { health.probe(probe_client).await };
            let announce = async move {
                let synced = Running::await_stores(&sync_context).await;
                if synced {
                    restore_claims(&sync_context).await;
                    if let Err(error) = delete_unused_policies(&sync_context).await {
                        tracing::warn!(%error, "deleting shared policies nobody uses failed; retried at the next cleanup");
                    }
                }
                let _ = synced_tx.send(synced);
                // Keep the sender: dropping it would tell waiters the caches will never sync.
                future::pending::<()>().await;
            };
            let reads = future::join4(classes, policy_watch, announce, probe);
            futures::pin_mut!(reads);
            future::select(Box::pin(controller), reads).await;
        }),
    }
}
