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
use vmop_api::{Phase, VirtualMachineProfile, fixtures::valid_profile};
use vmop_testenv::{ControlPlane, bootstrap, client_for, sim, wait};

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

fn small(name: &str) -> VirtualMachineProfile {
    let mut p = valid_profile(name);
    p.spec.networks.clear();
    p.spec.disks.truncate(1);
    p.spec.disks[0].storage_class_name = Some("longhorn".into());
    p.spec.disks[0].image = None;
    p
}

async fn create(profiles: &Api<VirtualMachineProfile>, names: &[String]) {
    for name in names {
        profiles
            .create(&PostParams::default(), &small(name))
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
