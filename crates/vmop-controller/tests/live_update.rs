//! CPU sockets and memory without a restart: with `liveUpdate` a change within the bounds
//! reaches the running instance (same UID, no RestartRequired); without it the profile says
//! RestartRequired, how to restart, and the restart request applies the change.

mod common;

use common::{Operator, condition, phase, wait_for};
use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams, PostParams},
};
use serde_json::json;
use vmop_api::{
    LiveUpdateSpec, Phase, RESTART_ANNOTATION, VirtualMachineProfile,
    external::kubevirt::VirtualMachineInstance, fixtures::valid_profile,
};
use vmop_testenv::TestEnv;

fn small(name: &str, live_update: bool) -> VirtualMachineProfile {
    let mut profile = valid_profile(name);
    profile.spec.networks.clear();
    profile.spec.disks.truncate(1);
    profile.spec.cpu = Some(2);
    profile.spec.cpu_topology = None;
    profile.spec.memory = Some("2Gi".into());
    profile.spec.live_update = live_update.then(|| LiveUpdateSpec {
        max_sockets: 4,
        max_memory: "8Gi".into(),
    });
    profile
}

fn size(vmi: &VirtualMachineInstance) -> (Option<u32>, Option<String>) {
    let domain = &vmi.spec.domain;
    (
        domain.cpu.as_ref().and_then(|c| c.sockets),
        domain.memory.as_ref().and_then(|m| m.guest.clone()),
    )
}

async fn grow(profiles: &Api<VirtualMachineProfile>, name: &str) {
    profiles
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"cpuTopology": {"sockets": 3}, "memory": "4Gi"}})),
        )
        .await
        .expect("grow");
}

#[tokio::test]
async fn an_opted_in_vm_grows_without_a_restart() {
    let ns = TestEnv::shared().namespace("live-update").await;
    let operator = Operator::start(&ns).await;
    let profiles: Api<VirtualMachineProfile> = ns.api();
    let vmis: Api<VirtualMachineInstance> = ns.api();
    profiles
        .create(&PostParams::default(), &small("elastic", true))
        .await
        .expect("profile");
    wait_for(&profiles, "elastic", "the profile to run", |p| {
        phase(p) == Some(Phase::Running)
    })
    .await;
    let before = vmis.get("elastic").await.expect("VMI");
    assert_eq!(size(&before), (Some(1), Some("2Gi".into())));

    grow(&profiles, "elastic").await;
    let after = wait_for(&vmis, "elastic", "the running instance to grow", |vmi| {
        size(vmi) == (Some(3), Some("4Gi".into()))
    })
    .await;
    assert_eq!(after.uid(), before.uid(), "the same instance: no restart");
    let profile = wait_for(&profiles, "elastic", "the new size in status", |p| {
        p.status
            .as_ref()
            .and_then(|s| s.resources.as_ref())
            .is_some_and(|r| r.vcpus == 6 && r.memory == "4Gi")
    })
    .await;
    assert!(
        condition(&profile, "RestartRequired").is_none(),
        "{:?}",
        profile.status
    );
    operator.stop().await;
}

#[tokio::test]
async fn without_live_update_the_change_waits_for_a_restart_that_the_profile_explains() {
    let ns = TestEnv::shared().namespace("restart-required").await;
    let operator = Operator::start(&ns).await;
    let profiles: Api<VirtualMachineProfile> = ns.api();
    let vmis: Api<VirtualMachineInstance> = ns.api();
    profiles
        .create(&PostParams::default(), &small("fixed", false))
        .await
        .expect("profile");
    wait_for(&profiles, "fixed", "the profile to run", |p| {
        phase(p) == Some(Phase::Running)
    })
    .await;
    let before = vmis.get("fixed").await.expect("VMI");

    grow(&profiles, "fixed").await;
    let waiting = wait_for(&profiles, "fixed", "RestartRequired", |p| {
        condition(p, "RestartRequired").is_some_and(|c| c.status == "True")
    })
    .await;
    let message = &condition(&waiting, "RestartRequired")
        .expect("condition")
        .message;
    assert!(message.contains(RESTART_ANNOTATION), "{message}");
    let unchanged = vmis.get("fixed").await.expect("VMI");
    assert_eq!(unchanged.uid(), before.uid());
    assert_eq!(
        size(&unchanged),
        (None, Some("2Gi".into())),
        "not applied yet"
    );

    profiles
        .patch(
            "fixed",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {RESTART_ANNOTATION: "now"}}})),
        )
        .await
        .expect("restart");
    let restarted = wait_for(&vmis, "fixed", "a new instance of the new size", |vmi| {
        vmi.uid() != before.uid() && size(vmi) == (Some(3), Some("4Gi".into()))
    })
    .await;
    assert_ne!(restarted.uid(), before.uid());
    wait_for(&profiles, "fixed", "RestartRequired to clear", |p| {
        condition(p, "RestartRequired").is_none() && phase(p) == Some(Phase::Running)
    })
    .await;
    operator.stop().await;
}
