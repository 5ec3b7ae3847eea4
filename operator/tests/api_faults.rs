//! The shipped binary when the API server fails under it, on a control plane of its own (the
//! shared one must stay up for the other tests):
//!
//! - kube-apiserver and its datastore stopped and started again on the same data dir: the
//!   operator says not ready while its watches are down, stays alive, is ready again once the
//!   API server answers, and converges on what changed meanwhile and after;
//! - its watches expired: the operator is frozen (SIGSTOP) while the API server restarts and
//!   the datastore compacts past every revision it saw, so that it is answered "410 Gone"
//!   when it resumes; it lists again and misses nothing.

mod common;

use std::path::Path;

use common::{OperatorProcess, WAIT, http_get};
use k8s_openapi::api::core::v1::Namespace;
use kube::{
    Api, Client,
    api::{ListParams, PostParams, VersionMatch},
};
use vmop_api::{Phase, VirtualMachineProfile};
use vmop_testenv::{ControlPlane, bootstrap, client_for, profiles::blank_disk_profile, sim, wait};

const NAMESPACE: &str = "faults";

/// A control plane with the simulators running against it (they reconnect by themselves).
struct World {
    control_plane: ControlPlane,
    simulators: tokio::task::JoinHandle<()>,
}

impl World {
    async fn start(data_dir: &Path, extra_args: &[String]) -> World {
        let control_plane = tokio::task::block_in_place(|| {
            ControlPlane::start_with(data_dir, extra_args).expect("control plane")
        });
        let client = control_plane.client().await.expect("client");
        bootstrap(&client).await.expect("bootstrap");
        let namespace: Namespace =
            serde_json::from_value(serde_json::json!({"metadata": {"name": NAMESPACE}}))
                .expect("namespace");
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &namespace)
            .await
            .expect("namespace");
        let simulators = tokio::spawn(sim::run_all(client, sim::SimConfig::instant()));
        World {
            control_plane,
            simulators,
        }
    }

    async fn client(&self) -> Client {
        client_for(self.control_plane.kubeconfig(), None)
            .await
            .expect("client")
    }

    /// The operator binary on this control plane (its admin identity: the shipped RBAC is
    /// proven by the other suites), watching [`NAMESPACE`].
    async fn operator(&self) -> OperatorProcess {
        let dir = tempfile::tempdir().expect("temp dir");
        OperatorProcess::start_with(
            NAMESPACE,
            "no-policy",
            dir,
            self.control_plane.kubeconfig().to_path_buf(),
            &[],
            "vm-operator-faults",
        )
        .await
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.simulators.abort();
    }
}

async fn create(profiles: &Api<VirtualMachineProfile>, names: &[String]) {
    for name in names {
        profiles
            .create(
                &PostParams::default(),
                &blank_disk_profile(name, "system", "longhorn"),
            )
            .await
            .expect("create a profile");
    }
}

/// Every profile of `running` Running and Ready, and none of `gone` left.
async fn converged(
    profiles: &Api<VirtualMachineProfile>,
    running: &[String],
    gone: &[String],
    log: impl Fn() -> String,
) {
    let result = wait::until(
        "every profile Running and every deletion done",
        WAIT,
        || async {
            let list = profiles.list(&ListParams::default()).await.ok()?.items;
            let all_running = running.iter().all(|name| {
                list.iter().any(|p| {
                    p.metadata.name.as_deref() == Some(name)
                        && p.status.as_ref().is_some_and(|s| {
                            s.phase == Some(Phase::Running)
                                && s.observed_generation == p.metadata.generation
                        })
                })
            });
            let none_left = gone.iter().all(|name| {
                list.iter()
                    .all(|p| p.metadata.name.as_deref() != Some(name))
            });
            (all_running && none_left).then_some(())
        },
    )
    .await;
    if let Err(e) = result {
        let seen: Vec<_> = profiles
            .list(&ListParams::default())
            .await
            .map(|l| l.items)
            .unwrap_or_default()
            .into_iter()
            .map(|p| {
                let status = p.status.unwrap_or_default();
                let ready = status
                    .conditions
                    .iter()
                    .find(|c| c.type_ == "Ready")
                    .cloned();
                (
                    p.metadata.name,
                    status.phase,
                    ready.map(|c| (c.reason, c.message)),
                )
            })
            .collect();
        panic!("{e}: {seen:#?}\n{}", log());
    }
}

fn names(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}-{i}")).collect()
}

fn readyz(operator: &OperatorProcess) -> Option<u16> {
    http_get(operator.port, "/readyz").map(|(code, _)| code)
}

#[tokio::test(flavor = "multi_thread")]
async fn readiness_drops_while_the_api_server_is_down_and_returns_when_it_is_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("control-plane");
    let mut world = World::start(&data, &[]).await;
    let operator = world.operator().await;
    let profiles: Api<VirtualMachineProfile> = Api::namespaced(world.client().await, NAMESPACE);
    let first = names("before", 0..2);
    create(&profiles, &first).await;
    converged(&profiles, &first, &[], || operator.log()).await;

    // The API server and etcd go away: the caches age, so the operator is not ready.
    tokio::task::block_in_place(|| world.control_plane.stop());
    wait::until("/readyz to say not ready", WAIT, || async {
        readyz(&operator).filter(|code| *code != 200)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", operator.log()));
    assert_eq!(
        http_get(operator.port, "/livez").map(|(code, _)| code),
        Some(200),
        "alive all the same: restarting the operator would not help"
    );

    // Back on the same data dir: ready again once it answers.
    let control_plane =
        tokio::task::block_in_place(|| ControlPlane::start(&data).expect("restarted"));
    world.control_plane = control_plane;
    wait::until("/readyz to say ready again", WAIT, || async {
        readyz(&operator).filter(|code| *code == 200)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", operator.log()));
    let log = operator.log();
    assert!(
        log.contains("a watch failed: not ready") && log.contains("answers again: ready"),
        "the operator said why it was not ready:\n{log}"
    );

    // What changes after the restart reaches it: a watch resumed on a restarted API server
    // may be held silently, so every watch lists again.
    let after = names("after", 0..2);
    create(&profiles, &after).await;
    profiles
        .delete(&first[0], &Default::default())
        .await
        .expect("delete a profile");
    let running: Vec<String> = first[1..].iter().chain(&after).cloned().collect();
    converged(&profiles, &running, &first[..1], || operator.log()).await;
}

/// `kill -<signal> <pid>`.
fn signal(operator: &OperatorProcess, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &operator.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill {signal}");
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_watches_are_listed_again_and_nothing_is_missed() {
    // Without the watch cache the API server answers a watch from a compacted revision with
    // 410 Gone, as etcd tells it; compaction every second, keeping nothing back (kine, on
    // SQLite, otherwise keeps the last 1000 revisions).
    let args: Vec<String> = [
        "--apiserver-arg=--watch-cache=false",
        "--apiserver-arg=--etcd-compaction-interval=1s",
        "--kine-arg=--compact-min-retain=0",
    ]
    .map(String::from)
    .to_vec();
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("control-plane");
    let mut world = World::start(&data, &args).await;
    let operator = world.operator().await;
    let profiles: Api<VirtualMachineProfile> = Api::namespaced(world.client().await, NAMESPACE);
    let first = names("first", 0..3);
    create(&profiles, &first).await;
    converged(&profiles, &first, &[], || operator.log()).await;
    let seen = profiles
        .list(&ListParams::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("a list has a resourceVersion");

    // Frozen, its connections cut by a restart, while the world moves on.
    signal(&operator, "-STOP");
    tokio::task::block_in_place(|| world.control_plane.restart()).expect("restarted");
    let profiles: Api<VirtualMachineProfile> = Api::namespaced(world.client().await, NAMESPACE);
    let during = names("during", 0..3);
    create(&profiles, &during).await;
    profiles
        .delete(&first[0], &Default::default())
        .await
        .expect("delete a profile");
    // Compacted past what it saw: a list at exactly that revision is refused.
    wait::until(
        "the datastore to compact past the operator's revision",
        WAIT,
        || async {
            match profiles
                .list(
                    &ListParams::default()
                        .at(&seen)
                        .matching(VersionMatch::Exact),
                )
                .await
            {
                Err(kube::Error::Api(status)) if status.code == 410 => Some(()),
                _ => None,
            }
        },
    )
    .await
    .expect("compacted");

    signal(&operator, "-CONT");
    let running: Vec<String> = first[1..].iter().chain(&during).cloned().collect();
    converged(&profiles, &running, &first[..1], || operator.log()).await;
    let log = operator.log();
    assert!(
        log.to_lowercase().contains("too old"),
        "the operator was answered 410 Gone (expired) and listed again:\n{log}"
    );
}

/// One counter of the operator's `/metrics` (0 when not yet exposed).
fn counter(operator: &OperatorProcess, series: &str) -> f64 {
    http_get(operator.port, "/metrics")
        .and_then(|(_, body)| {
            body.lines()
                .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        })
        .unwrap_or(0.0)
}

const REFUSING_WEBHOOK: &str = "refuse-the-operator";

/// A validating webhook at `client_config`, failing closed, for every write of `user` in
/// [`NAMESPACE`].
async fn refuse_writes_of(client: &Client, user: &str, client_config: serde_json::Value) {
    use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
    let webhook: ValidatingWebhookConfiguration = serde_json::from_value(serde_json::json!({
        "metadata": {"name": REFUSING_WEBHOOK},
        "webhooks": [{
            "name": "refuse.faults.vmoperator.io",
            "clientConfig": client_config,
            "rules": [{
                "apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*/*"],
                "operations": ["CREATE", "UPDATE", "DELETE"], "scope": "Namespaced",
            }],
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": NAMESPACE}},
            "matchConditions": [{"name": "the-operator", "expression": format!("request.userInfo.username == '{user}'")}],
            "failurePolicy": "Fail",
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
            "timeoutSeconds": 1,
        }],
    }))
    .expect("webhook");
    Api::<ValidatingWebhookConfiguration>::all(client.clone())
        .create(&PostParams::default(), &webhook)
        .await
        .expect("webhook");
}

/// How the API server answers the operator's writes for a window.
enum Fault {
    /// 429 Too Many Requests (kube-testenv's fault webhook answers so).
    Throttled,
    /// 500: the webhook is called where nothing listens.
    ServerError,
}

#[tokio::test(flavor = "multi_thread")]
async fn throttled_for_a_window_the_operator_backs_off_and_converges_after() {
    refused_for_a_window(Fault::Throttled).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_for_a_window_the_operator_backs_off_and_converges_after() {
    refused_for_a_window(Fault::ServerError).await;
}

async fn refused_for_a_window(fault: Fault) {
    use k8s_openapi::api::{
        admissionregistration::v1::ValidatingWebhookConfiguration, rbac::v1::ClusterRoleBinding,
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let world = World::start(&dir.path().join("control-plane"), &[]).await;
    let admin = world.client().await;
    // The operator as an identity of its own ("restricted", made an administrator here), so
    // that only its writes fail.
    let binding: ClusterRoleBinding = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "restricted-is-admin"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "restricted"}],
    }))
    .expect("binding");
    Api::<ClusterRoleBinding>::all(admin.clone())
        .create(&PostParams::default(), &binding)
        .await
        .expect("binding");
    let mut kubeconfig =
        kube::config::Kubeconfig::read_from(world.control_plane.kubeconfig()).expect("kubeconfig");
    kubeconfig.current_context = Some("restricted".into());
    let operator_dir = tempfile::tempdir().expect("temp dir");
    let path = operator_dir.path().join("restricted.kubeconfig");
    std::fs::write(&path, serde_yaml::to_string(&kubeconfig).expect("yaml")).expect("written");
    // Without kube's own retries of 429: the probes below must see the answer.
    let mut probe_config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("config");
    probe_config.default_retry = false;
    let as_operator = Client::try_from(probe_config).expect("client");
    wait::until("the binding to take effect", WAIT, || async {
        Api::<VirtualMachineProfile>::namespaced(as_operator.clone(), NAMESPACE)
            .list(&ListParams::default())
            .await
            .ok()
    })
    .await
    .expect("bound");
    let operator = OperatorProcess::start_with(
        NAMESPACE,
        "no-policy",
        operator_dir,
        path,
        &[],
        "vm-operator-throttled",
    )
    .await;
    let profiles: Api<VirtualMachineProfile> = Api::namespaced(admin.clone(), NAMESPACE);
    let before = names("calm", 0..1);
    create(&profiles, &before).await;
    converged(&profiles, &before, &[], || operator.log()).await;

    let (code, category, words) = match fault {
        Fault::Throttled => (429, "Throttled", "fault webhook answers 429"),
        Fault::ServerError => (500, "ServerError", "failed calling webhook"),
    };
    let client_config = match fault {
        Fault::Throttled => serde_json::json!({
            "url": format!("{}/refuse/429", world.control_plane.fault_webhook()),
            "caBundle": k8s_openapi::ByteString(world.control_plane.ca_pem().expect("CA")),
        }),
        // The discard port: nothing listens there.
        Fault::ServerError => serde_json::json!({"url": "https://127.0.0.1:9/validate"}),
    };
    refuse_writes_of(&admin, "restricted", client_config).await;
    let failures = format!("vmoperator_reconcile_failures_total{{category=\"{category}\"}}");
    let probe: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(as_operator.clone(), NAMESPACE);
    wait::until(
        &format!("the operator's writes to be answered {code}"),
        WAIT,
        || async {
            let config_map =
                serde_json::from_value(serde_json::json!({"metadata": {"name": "probe"}}))
                    .expect("config map");
            match probe.create(&PostParams::default(), &config_map).await {
                Err(kube::Error::Api(status)) if status.code == code => Some(()),
                _ => None,
            }
        },
    )
    .await
    .expect("the webhook in effect");
    // Its watches are open: it sees new profiles, and every write it tries fails.
    let started = std::time::Instant::now();
    let during = names("failing", 0..2);
    create(&profiles, &during).await;
    // Three attempts of each: with backoff (at least 1 s, then 2 s) that cannot take less than
    // 3 s; retrying at once would take a fraction of that.
    wait::until(
        &format!("reconciles to fail as {category}, three times each"),
        WAIT,
        || async { (counter(&operator, &failures) >= 3.0 * during.len() as f64).then_some(()) },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", operator.log()));
    let window = started.elapsed();
    assert!(
        window >= std::time::Duration::from_millis(2500),
        "{} failed reconciles within {window:?}: no backoff",
        counter(&operator, &failures)
    );

    Api::<ValidatingWebhookConfiguration>::all(admin.clone())
        .delete(REFUSING_WEBHOOK, &Default::default())
        .await
        .expect("the window closes");
    let running: Vec<String> = before.iter().chain(&during).cloned().collect();
    converged(&profiles, &running, &[], || operator.log()).await;
    let log = operator.log();
    assert!(
        log.contains(category) && log.contains(words),
        "the log says what the API server answered:\n{log}"
    );
}
