//! Running the controller against the test control plane, and waiting on what it does.

#![allow(dead_code)]

use std::{fmt::Debug, sync::Arc, time::Duration};

use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::{sync::oneshot, task::JoinHandle};
use vmop_api::VirtualMachineProfile;
use vmop_controller::{
    AdminPolicy, AdminPolicySource, Context, ControllerConfig, Metrics, Timing, controller,
};
use vmop_plugin::Registries;
use vmop_testenv::{TestNamespace, wait};

pub const WAIT: Duration = Duration::from_secs(90);

/// An operator running in the test's runtime, watching the test's namespace.
pub struct Operator {
    pub context: Arc<Context>,
    pub metrics: Arc<Metrics>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Operator {
    pub async fn start(ns: &TestNamespace) -> Operator {
        // Keep the bundled plugins' registrations in this test binary.
        let _ = vmop_bundled::link();
        Self::start_with(ns, Registries::from_inventory().expect("plugins register")).await
    }

    /// An operator with these plugins only; everything allowed by its policy.
    pub async fn start_with(ns: &TestNamespace, registries: Registries) -> Operator {
        Self::start_configured(
            ns,
            registries,
            AdminPolicySource::Fixed(AdminPolicy::allow_all()),
        )
        .await
    }

    /// An operator with the bundled plugins under this administrator's policy.
    pub async fn start_with_policy(ns: &TestNamespace, policy: AdminPolicySource) -> Operator {
        let registries = Registries::from_inventory().expect("plugins register");
        Self::start_configured(ns, registries, policy).await
    }

    async fn start_configured(
        ns: &TestNamespace,
        registries: Registries,
        policy: AdminPolicySource,
    ) -> Operator {
        Self::start_tuned(ns, registries, policy, |config| config).await
    }

    /// An operator with the bundled plugins, everything allowed, and `tune` applied to its
    /// settings.
    pub async fn start_with_config(
        ns: &TestNamespace,
        policy: AdminPolicySource,
        tune: impl FnOnce(ControllerConfig) -> ControllerConfig,
    ) -> Operator {
        let _ = vmop_bundled::link();
        let registries = Registries::from_inventory().expect("plugins register");
        Self::start_tuned(ns, registries, policy, tune).await
    }

    async fn start_tuned(
        ns: &TestNamespace,
        registries: Registries,
        policy: AdminPolicySource,
        tune: impl FnOnce(ControllerConfig) -> ControllerConfig,
    ) -> Operator {
        let registries = Arc::new(registries);
        let metrics = Arc::new(Metrics::default());
        let (stop, stopped) = oneshot::channel::<()>();
        let running = controller(
            ns.client.clone(),
            registries,
            metrics.clone(),
            tune(
                ControllerConfig::default()
                    .namespace(ns.name.clone())
                    .concurrency(4)
                    .timing(Timing::default().converging(Duration::from_millis(500)))
                    .admin_policy(policy),
            ),
            async move {
                let _ = stopped.await;
            },
        );
        let context = running.context.clone();
        let task = tokio::spawn(running.run());
        Operator {
            context,
            metrics,
            stop: Some(stop),
            task,
        }
    }

    /// Kills the operator abruptly, mid-whatever, as a crash would.
    pub fn kill(self) {
        self.task.abort();
    }

    /// Stops the operator gracefully.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(30), self.task).await;
    }
}

/// Waits until the named object satisfies `ready`, then returns it (panics after [`WAIT`]).
pub async fn wait_for<K>(api: &Api<K>, name: &str, what: &str, ready: impl Fn(&K) -> bool) -> K
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    wait::wait_for(api, name, what, WAIT, ready)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Waits until the named object is gone.
pub async fn wait_gone<K>(api: &Api<K>, name: &str, what: &str)
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    wait::until(what, WAIT, || async {
        api.get_opt(name)
            .await
            .ok()
            .and_then(|o| o.is_none().then_some(()))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
}

// Each test crate uses some of them.
#[allow(unused_imports)]
pub use vmop_testenv::profiles::{
    blank_disk_profile, condition, existing_nad, phase, small_profile,
};

/// Sets one annotation on a profile (a restart or migration request).
pub async fn annotate(profiles: &Api<VirtualMachineProfile>, name: &str, key: &str, value: &str) {
    use kube::api::{Patch, PatchParams};
    profiles
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"metadata": {"annotations": {key: value}}})),
        )
        .await
        .expect("annotate");
}

/// What a watch saw of objects that are, for a while, busy with something (a VM starting, a
/// DataVolume importing): the order they first became busy in, and the most busy at once.
#[derive(Default)]
pub struct InFlight {
    pub began: Vec<String>,
    pub busy: std::collections::BTreeSet<String>,
    pub most: usize,
}

/// Watches `api` and records in [`InFlight`] which objects `busy` says are busy.
pub fn watch_in_flight<K>(
    api: Api<K>,
    busy: impl Fn(&K) -> bool + Send + 'static,
) -> (Arc<std::sync::Mutex<InFlight>>, JoinHandle<()>)
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    K::DynamicType: Default + Clone + Eq + std::hash::Hash,
{
    use futures::StreamExt;
    use kube::{
        ResourceExt,
        runtime::{WatchStreamExt, watcher},
    };
    let seen = Arc::new(std::sync::Mutex::new(InFlight::default()));
    let record = seen.clone();
    let task = tokio::spawn(async move {
        let mut events = watcher(api, watcher::Config::default())
            .applied_objects()
            .boxed();
        while let Some(Ok(object)) = events.next().await {
            let mut seen = record.lock().expect("lock");
            let name = object.name_any();
            if busy(&object) {
                if !seen.began.contains(&name) {
                    seen.began.push(name.clone());
                }
                seen.busy.insert(name);
            } else {
                seen.busy.remove(&name);
            }
            seen.most = seen.most.max(seen.busy.len());
        }
    });
    (seen, task)
}
