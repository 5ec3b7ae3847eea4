//! Running the controller against the test control plane, and waiting on what it does.

#![allow(dead_code)]

use std::{fmt::Debug, sync::Arc, time::Duration};

use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::{sync::oneshot, task::JoinHandle};
use vmop_api::{Phase, VirtualMachineProfile};
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
        let registries = Arc::new(registries);
        let metrics = Arc::new(Metrics::default());
        let (stop, stopped) = oneshot::channel::<()>();
        let running = controller(
            ns.client.clone(),
            registries,
            metrics.clone(),
            ControllerConfig::default()
                .namespace(ns.name.clone())
                .concurrency(4)
                .timing(Timing::default().converging(Duration::from_millis(500)))
                .admin_policy(policy),
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

/// Waits until the named object satisfies `ready`, then returns it.
pub async fn wait_for<K>(api: &Api<K>, name: &str, what: &str, ready: impl Fn(&K) -> bool) -> K
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let last = std::sync::Mutex::new(None);
    let found = wait::until(what, WAIT, || async {
        let current = api.get_opt(name).await.ok().flatten();
        *last.lock().expect("lock") = current.clone();
        current.filter(|o| ready(o))
    })
    .await;
    found.unwrap_or_else(|e| panic!("{e}; last seen: {:#?}", last.lock().expect("lock")))
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

pub fn phase(p: &VirtualMachineProfile) -> Option<Phase> {
    p.status.as_ref().and_then(|s| s.phase)
}

pub fn condition<'a>(
    p: &'a VirtualMachineProfile,
    type_: &str,
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == type_))
}

/// A user's own bridge NAD named `name`, as profiles name with `nadName`.
pub async fn existing_nad(ns: &TestNamespace, name: &str) {
    use vmop_api::external::multus::{
        NetworkAttachmentDefinition, NetworkAttachmentDefinitionSpec,
    };
    let nad = NetworkAttachmentDefinition::new(
        name,
        NetworkAttachmentDefinitionSpec {
            config: Some(r#"{"cniVersion":"0.3.1","type":"bridge","bridge":"br-biz"}"#.into()),
            ..Default::default()
        },
    );
    ns.api::<NetworkAttachmentDefinition>()
        .create(&kube::api::PostParams::default(), &nad)
        .await
        .expect("the user's NAD");
}

/// The seed profile reduced to one disk and the pod network: quick to run.
pub fn small_profile(name: &str) -> VirtualMachineProfile {
    let mut profile = vmop_api::fixtures::valid_profile(name);
    profile.spec.networks.clear();
    profile.spec.disks.truncate(1);
    profile
}

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
