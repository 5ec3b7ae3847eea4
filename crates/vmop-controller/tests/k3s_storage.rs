//! Storage as a k3s user has it, on the real control plane with the simulators: the default
//! class `local-path` binds on first consumer, so the VM is created first and its disks bind
//! once KubeVirt schedules it. Then the changes upstream allows (a larger claim) and refuses
//! (a new image, a smaller claim), a class that does not exist, and an import that CDI
//! retries.

mod common;

use common::{Operator, condition, phase, wait_for};
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams, PostParams},
};
use serde_json::json;
use vmop_api::{
    DiskSpec, Phase, VirtualMachineProfile,
    external::{cdi::DataVolume, kubevirt::VirtualMachine},
    fixtures::valid_profile,
};
use vmop_testenv::{TestEnv, TestNamespace};

/// A profile on the pod network only, with these disks.
fn profile(name: &str, disks: Vec<DiskSpec>) -> VirtualMachineProfile {
    let mut profile = valid_profile(name);
    profile.spec.networks.clear();
    profile.spec.disks = disks;
    profile
}

fn image_disk(image: &str, class: Option<&str>) -> DiskSpec {
    DiskSpec {
        name: "system".into(),
        size: "10Gi".into(),
        image: Some(image.into()),
        storage_class_name: class.map(Into::into),
        boot_order: Some(1),
        ..DiskSpec::default()
    }
}

fn blank_disk(name: &str, size: &str, class: Option<&str>) -> DiskSpec {
    DiskSpec {
        name: name.into(),
        size: size.into(),
        storage_class_name: class.map(Into::into),
        ..DiskSpec::default()
    }
}

async fn create(ns: &TestNamespace, profile: &VirtualMachineProfile) -> Api<VirtualMachineProfile> {
    let profiles: Api<VirtualMachineProfile> = ns.api();
    profiles
        .create(&PostParams::default(), profile)
        .await
        .expect("profile");
    profiles
}

fn storage_ready(p: &VirtualMachineProfile) -> Option<(String, String)> {
    condition(p, "StorageReady").map(|c| (c.reason.clone(), c.message.clone()))
}

#[tokio::test]
async fn a_k3s_profile_on_the_default_wait_for_first_consumer_class_reaches_running() {
    let ns = TestEnv::shared().namespace("k3s").await;
    let operator = Operator::start(&ns).await;
    let profiles = create(
        &ns,
        &profile(
            "k3s-vm",
            vec![
                image_disk(
                    "docker://quay.io/containerdisks/fedora:41",
                    Some("local-path"),
                ),
                blank_disk("data", "20Gi", None),
            ],
        ),
    )
    .await;

    let running = wait_for(&profiles, "k3s-vm", "the k3s profile to run", |p| {
        phase(p) == Some(Phase::Running)
    })
    .await;
    let status = running.status.clone().expect("status");
    assert_eq!(
        condition(&running, "Ready").map(|c| c.status.as_str()),
        Some("True"),
        "{status:#?}"
    );
    let backends: Vec<_> = status
        .disks
        .iter()
        .map(|d| (d.name.as_str(), d.backend.as_deref(), d.ready))
        .collect();
    assert_eq!(
        backends,
        vec![("system", Some("cdi"), true), ("data", Some("pvc"), true)],
        "a blank disk on local-path goes to the generic pvc backend"
    );

    // The claims were bound by the real PV controller on the node KubeVirt chose.
    let node = status.node_name.clone().expect("node");
    let claims: Api<PersistentVolumeClaim> = ns.api();
    for name in ["k3s-vm--system", "k3s-vm--data"] {
        let claim = claims.get(name).await.expect("claim");
        assert_eq!(
            claim
                .annotations()
                .get("volume.kubernetes.io/selected-node"),
            Some(&node),
            "{name} waited for its consumer"
        );
        let spec = claim.spec.expect("spec");
        assert_eq!(spec.storage_class_name.as_deref(), Some("local-path"));
        assert_eq!(claim.status.and_then(|s| s.phase).as_deref(), Some("Bound"));
    }
    operator.stop().await;
}

#[tokio::test]
async fn the_vm_is_created_while_its_disks_wait_for_their_first_consumer() {
    let ns = TestEnv::shared().namespace("k3s-wffc").await;
    // No operator yet: check what the data plane does with the children alone. CDI reports
    // WaitForFirstConsumer for a DataVolume on local-path until something consumes it.
    let dv: DataVolume = serde_json::from_value(json!({
        "apiVersion": "cdi.kubevirt.io/v1beta1",
        "kind": "DataVolume",
        "metadata": {"name": "probe"},
        "spec": {
            "source": {"blank": {}},
            "storage": {
                "resources": {"requests": {"storage": "1Gi"}},
                "storageClassName": "local-path"
            }
        }
    }))
    .expect("DataVolume");
    let dvs: Api<DataVolume> = ns.api();
    dvs.create(&PostParams::default(), &dv).await.expect("dv");
    wait_for(&dvs, "probe", "CDI to wait for a consumer", |d| {
        d.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("WaitForFirstConsumer")
    })
    .await;

    // With the operator, the profile's VM exists while the disk still waits, and the disk's
    // status says it waits for the VM.
    let operator = Operator::start(&ns).await;
    let profiles = create(
        &ns,
        &profile(
            "wffc-vm",
            vec![image_disk(
                "docker://quay.io/containerdisks/fedora:41",
                None,
            )],
        ),
    )
    .await;
    let vms: Api<VirtualMachine> = ns.api();
    wait_for(&vms, "wffc-vm", "the VM to be created", |_| true).await;
    let running = wait_for(&profiles, "wffc-vm", "the profile to run", |p| {
        phase(p) == Some(Phase::Running)
    })
    .await;
    assert!(
        operator.metrics.writes_of("DataVolume") > 0,
        "the operator applied the DataVolume"
    );
    assert_eq!(
        running.status.expect("status").disks[0].phase.as_deref(),
        Some("Succeeded")
    );
    operator.stop().await;
}

#[tokio::test]
async fn a_larger_size_expands_the_claim_and_a_smaller_one_is_refused() {
    let ns = TestEnv::shared().namespace("k3s-grow").await;
    let operator = Operator::start(&ns).await;
    let profiles = create(
        &ns,
        &profile(
            "grow-vm",
            vec![blank_disk("data", "10Gi", Some("longhorn"))],
        ),
    )
    .await;
    wait_for(&profiles, "grow-vm", "the profile to run", |p| {
        phase(p) == Some(Phase::Running)
    })
    .await;

    let grow = json!({"spec": {"disks": [{"name": "data", "size": "30Gi", "storageClassName": "longhorn"}]}});
    profiles
        .patch("grow-vm", &PatchParams::default(), &Patch::Merge(&grow))
        .await
        .expect("grow");
    let claims: Api<PersistentVolumeClaim> = ns.api();
    wait_for(&claims, "grow-vm--data", "the claim to grow", |c| {
        c.spec
            .as_ref()
            .and_then(|s| s.resources.as_ref())
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get("storage"))
            .is_some_and(|q| q.0 == "30Gi")
    })
    .await;

    let shrink = json!({"spec": {"disks": [{"name": "data", "size": "5Gi", "storageClassName": "longhorn"}]}});
    profiles
        .patch("grow-vm", &PatchParams::default(), &Patch::Merge(&shrink))
        .await
        .expect("shrink");
    let refused = wait_for(&profiles, "grow-vm", "the shrink to be refused", |p| {
        storage_ready(p).is_some_and(|(reason, _)| reason == "DiskChangeRefused")
    })
    .await;
    let (_, message) = storage_ready(&refused).expect("condition");
    assert!(
        message.starts_with(
            "spec.disks[0].size: claim grow-vm--data has 30Gi and a claim can only grow"
        ),
        "{message}"
    );
    let claim = claims.get("grow-vm--data").await.expect("claim");
    assert_eq!(
        claim
            .spec
            .and_then(|s| s.resources)
            .and_then(|r| r.requests)
            .and_then(|r| r.get("storage").cloned())
            .map(|q| q.0),
        Some("30Gi".to_owned()),
        "the claim keeps its size"
    );
    assert_eq!(
        phase(&refused),
        Some(Phase::Running),
        "the VM keeps running"
    );
    operator.stop().await;
}

#[tokio::test]
async fn a_new_image_for_an_existing_disk_is_refused_and_not_reapplied() {
    let ns = TestEnv::shared().namespace("k3s-image").await;
    let operator = Operator::start(&ns).await;
    let profiles = create(
        &ns,
        &profile(
            "image-vm",
            vec![image_disk(
                "docker://quay.io/containerdisks/fedora:41",
                Some("longhorn"),
            )],
        ),
    )
    .await;
    wait_for(&profiles, "image-vm", "the profile to run", |p| {
        phase(p) == Some(Phase::Running)
    })
    .await;
    let dvs: Api<DataVolume> = ns.api();
    let before = dvs.get("image-vm--system").await.expect("dv");

    let change = json!({"spec": {"disks": [{"name": "system", "size": "10Gi", "bootOrder": 1, "storageClassName": "longhorn", "image": "docker://quay.io/containerdisks/fedora:42"}]}});
    profiles
        .patch("image-vm", &PatchParams::default(), &Patch::Merge(&change))
        .await
        .expect("new image");
    let refused = wait_for(&profiles, "image-vm", "the new image to be refused", |p| {
        storage_ready(p).is_some_and(|(reason, _)| reason == "DiskChangeRefused")
    })
    .await;
    let (_, message) = storage_ready(&refused).expect("condition");
    assert!(
        message.starts_with(
            "spec.disks[0].image: DataVolume image-vm--system was imported from another source"
        ),
        "{message}"
    );
    assert!(message.contains("new name"), "{message}");

    // A reconcile later (the touch triggers one) the DataVolume is exactly as it was:
    // nothing re-applied.
    let writes_before = operator.metrics.writes_of("DataVolume");
    let reconciles_before = operator.metrics.reconciles_total();
    profiles
        .patch(
            "image-vm",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"touch": "1"}}})),
        )
        .await
        .expect("touch");
    vmop_testenv::wait::until("another reconcile", common::WAIT, || async {
        (operator.metrics.reconciles_total() > reconciles_before).then_some(())
    })
    .await
    .expect("reconciled again");
    let after = dvs.get("image-vm--system").await.expect("dv");
    assert_eq!(
        after.metadata.resource_version,
        before.metadata.resource_version
    );
    assert_eq!(operator.metrics.writes_of("DataVolume"), writes_before);
    operator.stop().await;
}

#[tokio::test]
async fn a_disk_on_a_missing_class_gets_a_condition_naming_the_class_and_nothing_is_created() {
    let ns = TestEnv::shared().namespace("k3s-noclass").await;
    let operator = Operator::start(&ns).await;
    let profiles = create(
        &ns,
        &profile(
            "noclass-vm",
            vec![blank_disk("data", "10Gi", Some("fast-nvme"))],
        ),
    )
    .await;
    let blocked = wait_for(
        &profiles,
        "noclass-vm",
        "the missing class to be reported",
        |p| condition(p, "Ready").is_some_and(|c| c.reason == "StorageClassNotFound"),
    )
    .await;
    assert_eq!(
        condition(&blocked, "Ready").map(|c| c.message.as_str()),
        Some("spec.disks[0].storageClassName: StorageClass fast-nvme does not exist")
    );
    assert_eq!(phase(&blocked), Some(Phase::Pending));
    let claims: Api<PersistentVolumeClaim> = ns.api();
    assert!(
        claims
            .get_opt("noclass-vm--data")
            .await
            .expect("get")
            .is_none()
    );
    operator.stop().await;
}

#[tokio::test]
async fn a_retried_import_shows_its_restart_count_and_message_in_the_disk_status() {
    let ns = TestEnv::shared().namespace("k3s-retry").await;
    let operator = Operator::start(&ns).await;
    let profiles = create(
        &ns,
        &profile(
            "retry-vm",
            vec![image_disk(
                "docker://registry.example.com/invalid-image:1",
                Some("longhorn"),
            )],
        ),
    )
    .await;
    let retrying = wait_for(
        &profiles,
        "retry-vm",
        "a restarted import to be reported",
        |p| {
            p.status
                .as_ref()
                .and_then(|s| s.disks.first())
                .is_some_and(|d| d.restart_count.unwrap_or(0) >= 1)
        },
    )
    .await;
    let disk = retrying.status.expect("status").disks[0].clone();
    let message = disk.message.unwrap_or_default();
    assert!(message.contains("importer restarted"), "{message}");
    assert!(message.contains("404 Not Found"), "{message}");

    // CDI gives up after its restarts: the profile fails with CDI's message.
    let failed = wait_for(&profiles, "retry-vm", "the import to fail", |p| {
        phase(p) == Some(Phase::Failed)
    })
    .await;
    assert!(
        failed.status.expect("status").disks[0].restart_count >= Some(1),
        "the restart count stays visible"
    );
    operator.stop().await;
}

#[tokio::test]
async fn a_halted_profile_on_local_path_is_stopped_and_ready_and_starts_when_asked() {
    let ns = TestEnv::shared().namespace("k3s-halted").await;
    let operator = Operator::start(&ns).await;
    let mut halted = profile(
        "parked",
        vec![
            image_disk("docker://quay.io/containerdisks/fedora:41", None),
            blank_disk("data", "5Gi", None),
        ],
    );
    halted.spec.run_strategy = vmop_api::RunStrategy::Halted;
    let profiles = create(&ns, &halted).await;

    // `kubectl wait --for=condition=Ready` on a stopped VM returns: stopped is converged.
    let stopped = wait_for(&profiles, "parked", "the halted profile to be Ready", |p| {
        phase(p) == Some(Phase::Stopped)
            && condition(p, "Ready").is_some_and(|c| c.status == "True")
    })
    .await;
    assert_eq!(
        storage_ready(&stopped).map(|(reason, _)| reason).as_deref(),
        Some("WaitingForFirstStart")
    );
    let status = stopped.status.clone().expect("status");
    for disk in &status.disks {
        assert!(disk.waiting_for_first_consumer, "{disk:?}");
        let message = disk.message.as_deref().unwrap_or_default();
        assert!(message.starts_with("waits for the VM"), "{disk:?}");
    }
    // Nothing consumed them: the claims are still unbound, with no node selected.
    let claims: Api<PersistentVolumeClaim> = ns.api();
    for name in ["parked--system", "parked--data"] {
        let claim = claims.get(name).await.expect("claim");
        assert_ne!(
            claim.status.and_then(|s| s.phase).as_deref(),
            Some("Bound"),
            "{name}"
        );
    }

    // Started, it proceeds as any profile: the VM is the consumer, the claims bind.
    profiles
        .patch(
            "parked",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"runStrategy": "Always"}})),
        )
        .await
        .expect("start it");
    let running = wait_for(&profiles, "parked", "the started profile to run", |p| {
        phase(p) == Some(Phase::Running)
            && condition(p, "Ready").is_some_and(|c| c.status == "True")
    })
    .await;
    assert!(
        running
            .status
            .expect("status")
            .disks
            .iter()
            .all(|d| d.ready)
    );
    operator.stop().await;
}
