//! Limits on what starts at once, on the real control plane: with a cap of two VM starts, ten
//! profiles never have more than two VMs starting, wait `Queued` with their place in line,
//! start in order of creation and all end Running; a namespace's own cap in the
//! administrator's policy holds its profiles back.

mod common;

use std::sync::{Arc, Mutex};

use common::{InFlight, Operator, condition, phase, small_profile, wait_for, watch_in_flight};
use futures::StreamExt;
use kube::{
    Api,
    api::{Patch, PatchParams, PostParams},
    runtime::{WatchStreamExt, watcher},
};
use serde_json::json;
use vmop_api::{Phase, RunStrategy, VirtualMachineProfile, external::kubevirt::VirtualMachine};
use vmop_controller::{AdminPolicy, AdminPolicySource};
use vmop_testenv::TestEnv;

/// Watches the namespace's VMs: the order they began to start in (asked to run, not yet
/// Running), and the most starting at once.
fn watch_vms(api: Api<VirtualMachine>) -> (Arc<Mutex<InFlight>>, tokio::task::JoinHandle<()>) {
    watch_in_flight(api, |vm: &VirtualMachine| {
        let printable = vm
            .status
            .as_ref()
            .and_then(|s| s.printable_status.as_deref())
            .unwrap_or_default();
        vm.spec.run_strategy.as_deref() == Some("Always") && printable != "Running"
    })
}

/// Every `Queued` message the namespace's profiles showed.
fn watch_queued(
    api: Api<VirtualMachineProfile>,
) -> (Arc<Mutex<Vec<String>>>, tokio::task::JoinHandle<()>) {
    let messages = Arc::new(Mutex::new(Vec::new()));
    let record = messages.clone();
    let task = tokio::spawn(async move {
        let mut events = watcher(api, watcher::Config::default())
            .applied_objects()
            .boxed();
        while let Some(Ok(profile)) = events.next().await {
            if phase(&profile) == Some(Phase::Queued)
                && let Some(ready) = condition(&profile, "Ready")
            {
                record.lock().expect("lock").push(ready.message.clone());
            }
        }
    });
    (messages, task)
}

/// Halted profiles `names`, each settled Stopped: their disks ready and VMs created, so that
/// all ask to start within moments of each other once started.
async fn create_halted(profiles: &Api<VirtualMachineProfile>, names: &[String]) {
    for name in names {
        let mut profile = small_profile(name);
        profile.spec.run_strategy = RunStrategy::Halted;
        profiles
            .create(&PostParams::default(), &profile)
            .await
            .expect("profile");
    }
    for name in names {
        wait_for(profiles, name, "the halted profile to settle", |p| {
            phase(p) == Some(Phase::Stopped)
        })
        .await;
    }
}

/// Asks every profile of `names` to run, in order.
async fn start_all(profiles: &Api<VirtualMachineProfile>, names: &[String]) {
    for name in names {
        profiles
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"runStrategy": "Always"}})),
            )
            .await
            .expect("start");
    }
}

/// Waits until every profile of `names` runs.
async fn all_running(profiles: &Api<VirtualMachineProfile>, names: &[String]) {
    for name in names {
        wait_for(profiles, name, "every profile to run", |p| {
            phase(p) == Some(Phase::Running)
        })
        .await;
    }
}

#[tokio::test]
async fn with_a_cap_of_two_ten_profiles_start_two_at_a_time_in_order_and_all_run() {
    let ns = TestEnv::shared().namespace("start-limits").await;
    let operator = Operator::start_with_config(
        &ns,
        AdminPolicySource::Fixed(AdminPolicy::allow_all()),
        |config| config.max_concurrent_starts(2),
    )
    .await;
    let profiles: Api<VirtualMachineProfile> = ns.api();
    let names: Vec<String> = (0..10).map(|i| format!("vm-{i:02}")).collect();
    create_halted(&profiles, &names).await;
    let (seen, vm_watch) = watch_vms(ns.api());
    let (queued, profile_watch) = watch_queued(ns.api());
    start_all(&profiles, &names).await;
    all_running(&profiles, &names).await;
    vm_watch.abort();
    profile_watch.abort();
    let seen = std::mem::take(&mut *seen.lock().expect("lock"));
    assert!(
        seen.most <= 2,
        "at most two VMs starting at once, saw {}",
        seen.most
    );
    // The first two may begin in either order; the line admits the rest by creation.
    let mut first_two = seen.began[..2].to_vec();
    first_two.sort();
    assert_eq!(first_two, names[..2], "{:?}", seen.began);
    assert_eq!(seen.began[2..], names[2..], "{:?}", seen.began);
    let queued = std::mem::take(&mut *queued.lock().expect("lock"));
    assert!(
        !queued.is_empty(),
        "ten profiles and a cap of two: some waited in line"
    );
    assert!(
        queued
            .iter()
            .all(|m| m.contains("in line to start") && m.contains("at most 2 at once")),
        "{queued:?}"
    );
    operator.stop().await;
}

#[tokio::test]
async fn a_namespace_cap_in_the_policy_holds_its_profiles_and_lifting_it_lets_them_go() {
    let ns = TestEnv::shared().namespace("start-limits-ns").await;
    let policy = AdminPolicy::parse(&format!(
        "limits: [{{namespaces: [{}], maxConcurrentStarts: 0}}]",
        ns.name
    ))
    .expect("policy");
    let operator = Operator::start_with_config(&ns, AdminPolicySource::Fixed(policy), |c| c).await;
    let profiles: Api<VirtualMachineProfile> = ns.api();
    profiles
        .create(&PostParams::default(), &small_profile("held"))
        .await
        .expect("profile");
    let held = wait_for(&profiles, "held", "Queued", |p| {
        phase(p) == Some(Phase::Queued)
    })
    .await;
    let message = &condition(&held, "Ready").expect("Ready").message;
    assert!(message.contains("1 of 1 in line to start"), "{message}");
    assert!(message.contains("at most 0 at once"), "{message}");
    assert!(
        ns.api::<VirtualMachine>()
            .get_opt("held")
            .await
            .expect("get")
            .is_none(),
        "no VM while held"
    );
    operator.stop().await;

    // The same namespace under an operator without the cap: it starts.
    let operator = Operator::start(&ns).await;
    wait_for(&profiles, "held", "the VM to run", |p| {
        phase(p) == Some(Phase::Running)
    })
    .await;
    operator.stop().await;
}

#[tokio::test]
async fn the_cap_holds_across_a_restart_of_the_operator() {
    let ns = TestEnv::shared().namespace("start-limits-restart").await;
    let cap_of_one = |config: vmop_controller::ControllerConfig| config.max_concurrent_starts(1);
    let allow = || AdminPolicySource::Fixed(AdminPolicy::allow_all());
    let operator = Operator::start_with_config(&ns, allow(), cap_of_one).await;
    let profiles: Api<VirtualMachineProfile> = ns.api();
    let names: Vec<String> = (0..4).map(|i| format!("vm-{i}")).collect();
    create_halted(&profiles, &names).await;
    let (seen, vm_watch) = watch_vms(ns.api());
    start_all(&profiles, &names).await;
    wait_for(&profiles, &names[3], "the last to wait in line", |p| {
        phase(p) == Some(Phase::Queued)
    })
    .await;
    // Gone without a word, mid-line; its successor counts what is starting from the cluster.
    operator.kill();
    let operator = Operator::start_with_config(&ns, allow(), cap_of_one).await;
    all_running(&profiles, &names).await;
    vm_watch.abort();
    let seen = std::mem::take(&mut *seen.lock().expect("lock"));
    assert_eq!(seen.most, 1, "one at a time, across the restart");
    assert_eq!(seen.began.len(), names.len());
    operator.stop().await;
}
