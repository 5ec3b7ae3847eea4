//! Wiring: the profiles' own watch, every cache ([`crate::cache::stores`]), the context
//! reconciles share, and the kube-runtime Controller driven by their triggers.

use std::{future::Future, sync::Arc, time::Duration};

use futures::{FutureExt, StreamExt, future};
use kube::{
    Client,
    runtime::{Controller, controller::Config, events::Reporter, reflector::ObjectRef},
};
use vmop_api::VirtualMachineProfile;
use vmop_plugin::Registries;

use crate::{
    cache::{
        packed::PackedStore,
        profiles::{
            ProfileWatch, error_policy_cached, profile_watch, reconcile_cached, scheduled_ref,
        },
        queue::WorkQueue,
        seed::{restore_claims, restore_import_line, restore_start_line},
        stores::{Scope, Watches, watch_all},
        tenant_secrets::TenantSecrets,
        watch_health::WatchHealth,
        watches::Enqueue,
    },
    config::ControllerConfig,
    context::{Context, Failures},
    converge::network::delete_unused_node_policies,
    desired::admission::{Activity, Admission},
    metrics::Metrics,
    report::events::EventPublisher,
};

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

    /// [`Running::ready`] within 30 s, else an error to retry (a reconcile's first step).
    pub(crate) async fn synced(context: &Context) -> crate::error::Result<()> {
        let ready = tokio::time::timeout(Duration::from_secs(30), Running::ready(context)).await;
        if ready == Ok(true) {
            Ok(())
        } else {
            Err(crate::error::Error::Cleanup(
                "the watch caches have not synced yet".into(),
            ))
        }
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
    // The controllers (profiles, pools, images) stop on the same signal.
    let shutdown = shutdown.shared();
    let queue = Arc::new(WorkQueue::default());
    let health = Arc::new(WatchHealth::default());
    let tenant_secrets = Arc::new(TenantSecrets::default());
    let claims = Arc::default();
    let ProfileWatch {
        profiles,
        scheduled,
        triggers: profile_stream,
    } = profile_watch(&client, &config, &health, &queue, &metrics, &tenant_secrets);
    let Watches {
        stores,
        admin_policy,
        triggers,
        read_only,
        synced,
        multi_network_policies_installed,
    } = watch_all(
        Scope {
            client: &client,
            namespace: config.namespace.as_deref(),
            health: &health,
            enqueue: enqueue(&queue, &metrics, &profiles),
            claims: &claims,
            tenant_secrets: &tenant_secrets,
        },
        profiles.clone(),
        &config.admin_policy,
    );
    let (synced_tx, synced_rx) = tokio::sync::watch::channel(false);
    // The line wakes the next profile to start through the controller's own queue.
    let (wake, woken) = futures::channel::mpsc::unbounded();
    let admission = Admission::new(Activity::Starts, config.max_concurrent_starts, wake.clone());
    let imports = Admission::new(Activity::Imports, config.max_concurrent_imports, wake);
    let context = Arc::new(Context {
        client: client.clone(),
        registries,
        stores,
        recorder: EventPublisher::new(client.clone(), reporter()),
        metrics,
        timing: config.timing.clone(),
        failures: Failures::default(),
        admin_policy,
        admission,
        imports,
        synced: synced_rx,
        claims,
        node_policy_gates: Default::default(),
        watch_health: health,
        tenant_secrets,
        namespace: config.namespace.clone(),
        status_writes: Default::default(),
        created: Default::default(),
        queue,
        multi_network_policies_installed,
    });
    let profile_controller = Controller::for_stream(profile_stream, scheduled)
        .with_config(
            Config::default()
                .concurrency(config.concurrency)
                .debounce(config.timing.debounce),
        )
        .reconcile_on(futures::stream::select(triggers, woken).map(scheduled_ref))
        .graceful_shutdown_on(shutdown.clone())
        .run(reconcile_cached, error_policy_cached, context.clone())
        .for_each(note_watch_failures(context.watch_health.clone()));
    let pools = crate::pools::pool::pool_controller(
        client.clone(),
        context.clone(),
        config.namespace.clone(),
        config.concurrency,
        shutdown.clone(),
    );
    let images = crate::images::image::image_controller(
        client,
        context.clone(),
        config.namespace.clone(),
        config.concurrency,
        shutdown,
    );
    let controllers = future::join3(profile_controller, pools, images);
    let background = background(context.clone(), read_only, synced, synced_tx);
    Running {
        context,
        // The read-only watches never end by themselves: the controllers' end (shutdown)
        // ends them all.
        run: Box::pin(async move {
            futures::pin_mut!(background);
            future::select(Box::pin(controllers), background).await;
        }),
    }
}

/// The profiles' watch feeds the controller: its failure surfaces in the controller's results.
fn note_watch_failures<T, R, Q>(
    health: Arc<WatchHealth>,
) -> impl FnMut(std::result::Result<T, kube::runtime::controller::Error<R, Q>>) -> future::Ready<()>
where
    R: std::error::Error + 'static,
    Q: std::error::Error + 'static,
{
    move |result| {
        if let Err(kube::runtime::controller::Error::QueueError(_)) = result {
            health.failed();
        }
        future::ready(())
    }
}

/// Notes every trigger in the work queue on its way to kube-runtime's scheduler.
fn enqueue(
    queue: &Arc<WorkQueue>,
    metrics: &Arc<Metrics>,
    profiles: &PackedStore<VirtualMachineProfile>,
) -> Enqueue {
    let (queue, metrics, profiles) = (queue.clone(), metrics.clone(), profiles.clone());
    Arc::new(move |targets: &[ObjectRef<VirtualMachineProfile>]| {
        for target in targets {
            // A gone profile is never reconciled: it must not wait forever.
            if profiles.contains(target)
                && let Some(depth) = queue.triggered(target.clone())
            {
                metrics.queued(depth);
            }
        }
    })
}

fn reporter() -> Reporter {
    Reporter {
        controller: "vm-operator".into(),
        instance: std::env::var("POD_NAME").ok(),
    }
}

/// What runs beside the controllers: the read-only watches, the API server probe that
/// brings the watches back after a failure, and, once every cache is synced, the claims
/// restored from them and the announcement that reconciles may start.
async fn background(
    context: Arc<Context>,
    read_only: futures::future::BoxFuture<'static, ()>,
    synced: futures::future::BoxFuture<'static, bool>,
    synced_tx: tokio::sync::watch::Sender<bool>,
) {
    let health = context.watch_health.clone();
    let probe_client = context.client.clone();
    let probe = async move { health.probe(probe_client).await };
    let announce = async move {
        let synced = synced.await;
        if synced {
            restore_claims(&context).await;
            restore_start_line(&context);
            restore_import_line(&context);
            if let Err(error) = delete_unused_node_policies(&context).await {
                tracing::warn!(%error, "deleting shared policies nobody uses failed; retried at the next cleanup");
            }
        }
        let _ = synced_tx.send(synced);
        // Keep the sender: dropping it would tell waiters the caches will never sync.
        future::pending::<()>().await;
    };
    future::join3(read_only, announce, probe).await;
}
