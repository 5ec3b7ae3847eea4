//! Limits on what imports at once, on the real control plane: with a cap of two imports,
//! eight profiles never have more than two DataVolumes importing, their disks wait `Queued`
//! (not created) with their place in line, are admitted in order of creation and all end
//! Running; the cap holds across a restart of the operator; and an importer pod that cannot
//! pull its image is reported as CDI reports it.

mod common;

use std::sync::{Arc, Mutex};

use common::{InFlight, Operator, condition, phase, small_profile, wait_for, watch_in_flight};
use kube::{Api, api::PostParams};
use vmop_api::{Phase, PullMethod, VirtualMachineProfile, external::cdi::DataVolume};
use vmop_controller::{AdminPolicy, AdminPolicySource, ControllerConfig};
use vmop_testenv::{TestEnv, TestNamespace};

/// Watches the namespace's DataVolumes: the order they were created in (each imports from
/// its creation), and the most importing (not yet Succeeded or Failed) at once.
fn watch_imports(api: Api<DataVolume>) -> (Arc<Mutex<InFlight>>, tokio::task::JoinHandle<()>) {
    watch_in_flight(api, |dv: &DataVolume| {
        let phase = dv.status.as_ref().and_then(|s| s.phase.as_deref());
        !matches!(phase, Some("Succeeded" | "Failed"))
    })
}

/// A profile whose one disk imports its image onto a class that binds at once (so the
/// import runs before the VM exists).
fn importing_profile(name: &str) -> VirtualMachineProfile {
    let mut profile = small_profile(name);
    profile.spec.disks[0].storage_class_name = Some("huamei-sc-ssd".into());
    profile
}

async fn create_all(profiles: &Api<VirtualMachineProfile>, names: &[String]) {
    for name in names {
        profiles
            .create(&PostParams::default(), &importing_profile(name))
            .await
            .expect("profile");
    }
}

async fn all_running(profiles: &Api<VirtualMachineProfile>, names: &[String]) {
    for name in names {
        wait_for(profiles, name, "every profile to run", |p| {
            phase(p) == Some(Phase::Running)
        })
        .await;
    }
}

fn cap_imports(max: usize) -> impl FnOnce(ControllerConfig) -> ControllerConfig {
    move |config| config.max_concurrent_imports(max)
}

fn allow_all() -> AdminPolicySource {
    AdminPolicySource::Fixed(AdminPolicy::allow_all())
}

async fn operator_with_cap(ns: &TestNamespace, max: usize) -> Operator {
    Operator::start_with_config(ns, allow_all(), cap_imports(max)).await
}

#[tokio::test]
async fn with_a_cap_of_two_eight_profiles_import_two_at_a_time_in_order_and_all_run() {
    let ns = TestEnv::shared().namespace("import-limits").await;
    let (seen, dv_watch) = watch_imports(ns.api());
    let operator = operator_with_cap(&ns, 2).await;
    let profiles: Api<VirtualMachineProfile> = ns.api();
    let names: Vec<String> = (0..8).map(|i| format!("vm-{i}")).collect();
    create_all(&profiles, &names).await;
    let last = wait_for(&profiles, &names[7], "the last to wait in line", |p| {
        phase(p) == Some(Phase::Queued)
    })
    .await;
    let ready = &condition(&last, "Ready").expect("Ready");
    assert_eq!(ready.reason, "Queued", "{ready:?}");
    assert!(
        ready.message.contains("in line to import") && ready.message.contains("at most 2 at once"),
        "{}",
        ready.message
    );
    let disk = &last.status.as_ref().expect("status").disks[0];
    assert_eq!(disk.phase.as_deref(), Some("Queued"), "{disk:?}");
    let volume = disk.claim_name.clone().expect("the DataVolume's name");
    assert!(
        ns.api::<DataVolume>()
            .get_opt(&volume)
            .await
            .expect("get")
            .is_none(),
        "nothing created for a disk in line"
    );
    all_running(&profiles, &names).await;
    dv_watch.abort();
    let seen = std::mem::take(&mut *seen.lock().expect("lock"));
    assert!(
        seen.most <= 2,
        "at most two imports at once, saw {}",
        seen.most
    );
    assert_eq!(seen.began.len(), names.len(), "{:?}", seen.began);
    // The first two may begin in either order; the line admits the rest by creation.
    let profile_of = |dv: &String| {
        names
            .iter()
            .find(|n| dv.starts_with(&format!("{n}-")))
            .cloned()
            .unwrap_or_else(|| panic!("{dv} belongs to no profile"))
    };
    let begun: Vec<String> = seen.began.iter().map(profile_of).collect();
    // Whoever asks first takes the free places; once profiles wait, the line admits them
    // in order of creation.
    let mut after_the_first_two = begun[2..].to_vec();
    after_the_first_two.sort();
    assert_eq!(begun[2..], after_the_first_two, "{:?}", seen.began);
    let mut every = begun.clone();
    every.sort();
    assert_eq!(every, names, "{:?}", seen.began);
    operator.stop().await;
}

#[tokio::test]
async fn the_import_cap_holds_across_a_restart_of_the_operator() {
    let ns = TestEnv::shared().namespace("import-limits-restart").await;
    let (seen, dv_watch) = watch_imports(ns.api());
    let operator = operator_with_cap(&ns, 1).await;
    let profiles: Api<VirtualMachineProfile> = ns.api();
    let names: Vec<String> = (0..4).map(|i| format!("vm-{i}")).collect();
    create_all(&profiles, &names).await;
    wait_for(&profiles, &names[3], "the last to wait in line", |p| {
        phase(p) == Some(Phase::Queued)
    })
    .await;
    // Gone without a word, mid-line; its successor counts what imports from the cluster.
    operator.kill();
    let operator = operator_with_cap(&ns, 1).await;
    all_running(&profiles, &names).await;
    dv_watch.abort();
    let seen = std::mem::take(&mut *seen.lock().expect("lock"));
    assert_eq!(seen.most, 1, "one at a time, across the restart");
    assert_eq!(seen.began.len(), names.len());
    operator.stop().await;
}

#[tokio::test]
async fn an_image_the_node_cannot_pull_is_reported_with_cdis_reason_and_message() {
    let ns = TestEnv::shared().namespace("import-unpullable").await;
    let operator = Operator::start(&ns).await;
    let profiles: Api<VirtualMachineProfile> = ns.api();
    let mut profile = importing_profile("unpullable");
    let disk = &mut profile.spec.disks[0];
    disk.image = Some("docker://registry.example.com/unpullable:1".into());
    disk.pull_method = Some(PullMethod::Node);
    profiles
        .create(&PostParams::default(), &profile)
        .await
        .expect("profile");
    let stuck = wait_for(&profiles, "unpullable", "the pull failure in status", |p| {
        condition(p, "Ready").is_some_and(|c| c.reason == "ImagePullFailed")
    })
    .await;
    let ready = condition(&stuck, "Ready").expect("Ready");
    assert!(
        ready
            .message
            .contains("failed to pull image: registry.example.com/unpullable:1"),
        "{}",
        ready.message
    );
    let disk = &stuck.status.as_ref().expect("status").disks[0];
    assert!(
        disk.message
            .as_deref()
            .is_some_and(|m| m.contains("ImportScheduled: failed to pull image")),
        "{disk:?}"
    );
    assert_ne!(
        phase(&stuck),
        Some(Phase::Failed),
        "the kubelet keeps trying"
    );
    operator.stop().await;
}

#[tokio::test]
async fn a_namespace_import_cap_in_the_policy_holds_its_disks_and_nothing_is_created() {
    let ns = TestEnv::shared().namespace("import-limits-ns").await;
    let policy = AdminPolicy::parse(&format!(
        "limits: [{{namespaces: [{}], maxConcurrentImports: 0}}]",
        ns.name
    ))
    .expect("policy");
    assert_eq!(policy.import_cap(&ns.name), Some(0));
    assert_eq!(policy.import_cap("elsewhere"), None);
    let operator = Operator::start_with_config(&ns, AdminPolicySource::Fixed(policy), |c| c).await;
    let profiles: Api<VirtualMachineProfile> = ns.api();
    profiles
        .create(&PostParams::default(), &importing_profile("held"))
        .await
        .expect("profile");
    let held = wait_for(&profiles, "held", "Queued", |p| {
        phase(p) == Some(Phase::Queued)
    })
    .await;
    let message = &condition(&held, "Ready").expect("Ready").message;
    assert!(message.contains("1 of 1 in line to import"), "{message}");
    assert!(message.contains("at most 0 at once"), "{message}");
    let volumes = ns
        .api::<DataVolume>()
        .list(&Default::default())
        .await
        .expect("list");
    assert!(volumes.items.is_empty(), "no DataVolume while held");
    operator.stop().await;
}
