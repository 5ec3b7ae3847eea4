//! Why a VM does not start, on the real control plane: a VM no node can take shows the
//! scheduler's reason and message (as KubeVirt reports them) in the profile's `Scheduled`
//! condition and its phase, and starts once the spec fits a node.

mod common;

use common::{Operator, blank_disk_profile, condition, phase, wait_for};
use kube::{
    Api,
    api::{Patch, PatchParams, PostParams},
};
use serde_json::json;
use vmop_api::{Phase, VirtualMachineProfile};
use vmop_testenv::TestEnv;

#[tokio::test]
async fn an_unschedulable_vm_shows_the_schedulers_reason_and_starts_once_it_fits() {
    let ns = TestEnv::shared().namespace("scheduling").await;
    let operator = Operator::start(&ns).await;
    let profiles: Api<VirtualMachineProfile> = ns.api();
    // More memory than any node of the test world has (64Gi allocatable each).
    let mut profile = blank_disk_profile("huge", "data", "huamei-sc-ssd");
    profile.spec.memory = Some("512Gi".into());
    profiles
        .create(&PostParams::default(), &profile)
        .await
        .expect("profile");
    let stuck = wait_for(&profiles, "huge", "the scheduler's reason", |p| {
        condition(p, "Scheduled").is_some_and(|c| c.status == "False")
    })
    .await;
    let scheduled = condition(&stuck, "Scheduled").expect("Scheduled");
    assert_eq!(scheduled.reason, "Unschedulable");
    assert_eq!(
        scheduled.message,
        "0/3 nodes are available: 3 Insufficient memory."
    );
    assert_eq!(phase(&stuck), Some(Phase::Failed));
    let ready = condition(&stuck, "Ready").expect("Ready");
    assert_eq!(ready.reason, "ErrorUnschedulable");
    assert_eq!(
        ready.message, scheduled.message,
        "the one-line answer is the scheduler's"
    );

    // Made to fit: it is scheduled, and says where.
    profiles
        .patch(
            "huge",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"memory": "2Gi"}})),
        )
        .await
        .expect("smaller");
    let running = wait_for(&profiles, "huge", "the VM to run", |p| {
        phase(p) == Some(Phase::Running)
    })
    .await;
    let scheduled = condition(&running, "Scheduled").expect("Scheduled");
    assert_eq!(scheduled.status, "True", "{scheduled:?}");
    assert_eq!(scheduled.reason, "OnNode");
    let node = running
        .status
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .expect("a node");
    assert_eq!(scheduled.message, format!("on node {node}"));
    operator.stop().await;
}
