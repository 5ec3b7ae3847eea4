//! Restart on request: each new value of `vmoperator.io/restart-requested` replaces the VM's
//! instance exactly once, through KubeVirt's Stop and Start requests; an operator restart does
//! not repeat it; a VM that is not running refuses with the reason in status.

mod common;

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
};

use common::{Operator, annotate, phase, small_profile, wait_for};
use futures::StreamExt;
use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams, PostParams},
    runtime::{WatchStreamExt, watcher},
};
use serde_json::json;
use vmop_api::{
    Phase, RESTART_ANNOTATION, RequestPhase, RunStrategy, VirtualMachineProfile,
    external::kubevirt::{VirtualMachine, VirtualMachineInstance},
};
use vmop_testenv::TestEnv;

async fn restarted(
    profiles: &Api<VirtualMachineProfile>,
    name: &str,
    value: &str,
) -> VirtualMachineProfile {
    wait_for(
        profiles,
        name,
        &format!("restart {value} to succeed"),
        |p| {
            p.status
                .as_ref()
                .and_then(|s| s.restart.as_ref())
                .is_some_and(|r| r.request == value && r.phase == RequestPhase::Succeeded)
                && phase(p) == Some(Phase::Running)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn each_request_replaces_the_instance_once_and_an_operator_restart_does_not_repeat_it() {
    let ns = TestEnv::shared().namespace("restart").await;
    let operator = Operator::start(&ns).await;
    let profiles: Api<VirtualMachineProfile> = ns.api();
    let vmis: Api<VirtualMachineInstance> = ns.api();
    profiles
        .create(&PostParams::default(), &small_profile("app"))
        .await
        .expect("profile");
    wait_for(&profiles, "app", "the profile to run", |p| {
        phase(p) == Some(Phase::Running)
    })
    .await;
    let first = vmis.get("app").await.expect("VMI").uid().expect("uid");

    // Every instance that ever exists, as a watch sees it.
    let seen = Arc::new(Mutex::new(BTreeSet::from([first.clone()])));
    let watching = {
        let seen = seen.clone();
        let stream = watcher(vmis.clone(), watcher::Config::default()).applied_objects();
        tokio::spawn(async move {
            futures::pin_mut!(stream);
            while let Some(Ok(vmi)) = stream.next().await {
                if let Some(uid) = vmi.uid() {
                    seen.lock().expect("lock").insert(uid);
                }
            }
        })
    };

    annotate(&profiles, "app", RESTART_ANNOTATION, "2026-11-29T10:00:00Z").await;
    let done = restarted(&profiles, "app", "2026-11-29T10:00:00Z").await;
    let second = vmis.get("app").await.expect("VMI").uid().expect("uid");
    assert_ne!(second, first, "a new instance runs");
    let record = done.status.and_then(|s| s.restart).expect("status.restart");
    assert_eq!(record.replaced_instance.as_deref(), Some(first.as_str()));

    // A new operator process reconciles the same request: nothing happens again. A spec change
    // makes its reconcile observable (observedGeneration).
    operator.kill();
    let operator = Operator::start(&ns).await;
    let changed = profiles
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"isolation": {}}})),
        )
        .await
        .expect("spec change");
    let generation = changed.metadata.generation;
    wait_for(&profiles, "app", "the new operator to reconcile", |p| {
        p.status.as_ref().and_then(|s| s.observed_generation) == generation
    })
    .await;
    assert_eq!(
        vmis.get("app").await.expect("VMI").uid(),
        Some(second.clone())
    );
    let vm: VirtualMachine = ns.api().get("app").await.expect("VM");
    assert!(
        vm.status
            .map(|s| s.state_change_requests)
            .unwrap_or_default()
            .is_empty(),
        "no request pending"
    );

    // A second value is a second restart.
    annotate(&profiles, "app", RESTART_ANNOTATION, "2026-11-29T11:00:00Z").await;
    restarted(&profiles, "app", "2026-11-29T11:00:00Z").await;
    let third = vmis.get("app").await.expect("VMI").uid().expect("uid");
    assert!(third != second && third != first);
    watching.abort();
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(
        seen,
        BTreeSet::from([first, second, third]),
        "exactly one new instance per request"
    );
    operator.stop().await;
}

#[tokio::test]
async fn a_vm_that_is_not_running_refuses_the_restart() {
    let ns = TestEnv::shared().namespace("restart-halted").await;
    let operator = Operator::start(&ns).await;
    let profiles: Api<VirtualMachineProfile> = ns.api();
    let mut halted = small_profile("idle");
    halted.spec.run_strategy = RunStrategy::Halted;
    profiles
        .create(&PostParams::default(), &halted)
        .await
        .expect("profile");
    wait_for(&profiles, "idle", "the profile to stop", |p| {
        phase(p) == Some(Phase::Stopped)
    })
    .await;
    annotate(&profiles, "idle", RESTART_ANNOTATION, "now").await;
    let refused = wait_for(&profiles, "idle", "the refusal", |p| {
        p.status
            .as_ref()
            .and_then(|s| s.restart.as_ref())
            .is_some_and(|r| r.phase == RequestPhase::Refused)
    })
    .await;
    let record = refused.status.and_then(|s| s.restart).expect("restart");
    assert!(record.message.contains("not running"), "{}", record.message);
    assert!(
        ns.api::<VirtualMachineInstance>()
            .get_opt("idle")
            .await
            .expect("get")
            .is_none()
    );
    operator.stop().await;
}
