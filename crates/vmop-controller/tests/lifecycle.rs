//! Updates, retention, failures with recovery, invalid specs and operator restarts, on the real
//! control plane with the simulators.

mod common;

use common::{Operator, condition, phase, wait_for, wait_gone};
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
};
use serde_json::json;
use vmop_api::{
    DiskSpec, NetworkSpec, Phase, RetentionPolicy, RunStrategy, VirtualMachineProfile,
    VirtualMachineProfileSpec,
    external::{cdi::DataVolume, kubevirt::VirtualMachine, multus::NetworkAttachmentDefinition},
};
use vmop_testenv::{TestEnv, TestNamespace, wait};

/// A small profile: one bridge network with a static address, one image disk.
fn profile(name: &str) -> VirtualMachineProfile {
    VirtualMachineProfile::new(
        name,
        VirtualMachineProfileSpec {
            cpu: Some(2),
            cpu_topology: None,
            memory: Some("4Gi".into()),
            instancetype: None,
            preference: None,
            run_strategy: RunStrategy::Always,
            high_availability: false,
            isolation: None,
            live_update: None,
            networks: vec![NetworkSpec {
                name: "mgmt".into(),
                bridge: Some("br-mgmt".into()),
                vlan: Some(100),
                ip_address: Some("192.168.100.20/24".into()),
                ..NetworkSpec::default()
            }],
            disks: vec![DiskSpec {
                name: "system".into(),
                size: "20Gi".into(),
                storage_class_name: Some("huamei-sc-ssd".into()),
                image: Some("docker://registry.example.com/fedora:40".into()),
                boot_order: Some(1),
                ..DiskSpec::default()
            }],
            cloud_init: None,
            disk_retention_policy: RetentionPolicy::Delete,
            template: None,
            snapshots: None,
        },
    )
}

async fn create(ns: &TestNamespace, profile: &VirtualMachineProfile) -> Api<VirtualMachineProfile> {
    let api: Api<VirtualMachineProfile> = ns.api();
    api.create(&PostParams::default(), profile)
        .await
        .expect("profile created");
    api
}

async fn merge(api: &Api<VirtualMachineProfile>, name: &str, patch: serde_json::Value) {
    api.patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .expect("patched");
}

fn count<K: kube::Resource + Clone>(list: &kube::core::ObjectList<K>) -> usize {
    list.items.len()
}

#[tokio::test]
async fn an_invalid_spec_creates_nothing_and_says_why() {
    let ns = TestEnv::shared().namespace("invalid").await;
    let operator = Operator::start(&ns).await;
    let mut bad = profile("bad");
    // Valid for the CRD, refused by the plugin: a bridge network without a bridge.
    bad.spec.networks[0].bridge = None;
    let api = create(&ns, &bad).await;
    let refused = wait_for(&api, "bad", "an InvalidSpec condition", |p| {
        condition(p, "Ready").is_some_and(|c| c.reason == "InvalidSpec")
    })
    .await;
    assert_eq!(phase(&refused), Some(Phase::Pending));
    let message = condition(&refused, "Ready")
        .map(|c| c.message.clone())
        .unwrap_or_default();
    assert!(
        message.starts_with("spec.networks[0].bridge: bridge networks need"),
        "{message}"
    );
    assert_eq!(
        count(
            &ns.api::<NetworkAttachmentDefinition>()
                .list(&ListParams::default())
                .await
                .expect("list")
        ),
        0
    );
    assert_eq!(
        count(
            &ns.api::<DataVolume>()
                .list(&ListParams::default())
                .await
                .expect("list")
        ),
        0
    );
    assert!(
        ns.api::<VirtualMachine>()
            .get_opt("bad")
            .await
            .expect("get")
            .is_none()
    );

    // Fixing the spec converges.
    merge(&api, "bad", json!({"spec": {"networks": [{"name": "mgmt", "bridge": "br-mgmt", "vlan": 100, "ipAddress": "192.168.100.20/24"}]}})).await;
    wait_for(&api, "bad", "the fixed profile to run", |p| {
        phase(p) == Some(Phase::Running)
    })
    .await;
    operator.stop().await;
}

#[tokio::test]
async fn updates_reach_the_vm_and_removed_entries_take_their_objects() {
    let ns = TestEnv::shared().namespace("update").await;
    let operator = Operator::start(&ns).await;
    let api = create(&ns, &profile("app")).await;
    let first = wait_for(&api, "app", "the profile to run", |p| {
        phase(p) == Some(Phase::Running)
    })
    .await;
    let mac = first
        .status
        .as_ref()
        .and_then(|s| s.networks[0].mac_address.clone())
        .expect("a pinned MAC");

    // CPU: the VM changes and KubeVirt asks for a restart.
    merge(&api, "app", json!({"spec": {"cpu": 4}})).await;
    let vms: Api<VirtualMachine> = ns.api();
    wait_for(&vms, "app", "4 cores in the VM", |vm| {
        vm.spec
            .template
            .as_ref()
            .and_then(|t| t.spec.as_ref())
            .and_then(|s| s.domain.cpu.as_ref())
            .and_then(|c| c.cores)
            == Some(4)
    })
    .await;
    wait_for(&api, "app", "RestartRequired", |p| {
        condition(p, "RestartRequired").is_some_and(|c| c.status == "True")
    })
    .await;

    // Add a blank disk and a second network.
    merge(&api, "app", json!({"spec": {
        "disks": [
            {"name": "system", "size": "20Gi", "storageClassName": "huamei-sc-ssd", "image": "docker://registry.example.com/fedora:40", "bootOrder": 1},
            {"name": "data", "size": "5Gi", "storageClassName": "huamei-sc-ssd"}
        ],
        "networks": [
            {"name": "mgmt", "bridge": "br-mgmt", "vlan": 100, "ipAddress": "192.168.100.20/24"},
            {"name": "backup", "bridge": "br-backup"}
        ]
    }})).await;
    let claims: Api<PersistentVolumeClaim> = ns.api();
    wait_for(&claims, "app--data", "the new disk's claim to bind", |c| {
        c.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound")
    })
    .await;
    let nads: Api<NetworkAttachmentDefinition> = ns.api();
    wait_for(&nads, "app--backup", "the new network's NAD", |_| true).await;
    let grown = wait_for(&api, "app", "two networks and two disks in status", |p| {
        p.status.as_ref().is_some_and(|s| {
            s.networks.len() == 2 && s.disks.len() == 2 && s.disks.iter().all(|d| d.ready)
        })
    })
    .await;
    assert_eq!(
        grown
            .status
            .as_ref()
            .map(|s| s.networks[0].mac_address.clone()),
        Some(Some(mac.clone())),
        "MAC never regenerated"
    );

    // Remove them again: their objects go.
    merge(&api, "app", json!({"spec": {
        "disks": [{"name": "system", "size": "20Gi", "storageClassName": "huamei-sc-ssd", "image": "docker://registry.example.com/fedora:40", "bootOrder": 1}],
        "networks": [{"name": "mgmt", "bridge": "br-mgmt", "vlan": 100, "ipAddress": "192.168.100.20/24"}]
    }})).await;
    wait_gone(&claims, "app--data", "the removed disk's claim").await;
    wait_gone(&nads, "app--backup", "the removed network's NAD").await;

    // Halt: the VM stops and status follows.
    merge(&api, "app", json!({"spec": {"runStrategy": "Halted"}})).await;
    let stopped = wait_for(&api, "app", "the profile to stop", |p| {
        phase(p) == Some(Phase::Stopped)
    })
    .await;
    assert_eq!(
        condition(&stopped, "VMReady").map(|c| c.status.as_str()),
        Some("True"),
        "stopped as asked"
    );
    assert_eq!(
        stopped
            .status
            .as_ref()
            .map(|s| s.networks[0].mac_address.clone()),
        Some(Some(mac))
    );
    operator.stop().await;
}

#[tokio::test]
async fn retained_disks_outlive_their_profile_and_deleted_ones_do_not() {
    let ns = TestEnv::shared().namespace("retain").await;
    let operator = Operator::start(&ns).await;
    let mut keep = profile("keeper");
    keep.spec.disks.push(DiskSpec {
        name: "data".into(),
        size: "5Gi".into(),
        storage_class_name: Some("huamei-sc-ssd".into()),
        retention_policy: Some(RetentionPolicy::Retain),
        ..DiskSpec::default()
    });
    let api = create(&ns, &keep).await;
    wait_for(&api, "keeper", "the profile to run", |p| {
        phase(p) == Some(Phase::Running)
    })
    .await;
    api.delete("keeper", &DeleteParams::default())
        .await
        .expect("delete");
    wait_gone(&api, "keeper", "the profile to go").await;
    wait_gone(&ns.api::<DataVolume>(), "keeper--system", "the Delete disk").await;
    let claims: Api<PersistentVolumeClaim> = ns.api();
    let kept = claims
        .get("keeper--data")
        .await
        .expect("the retained claim is still there");
    assert!(
        kept.owner_references().is_empty(),
        "{:?}",
        kept.owner_references()
    );
    assert_eq!(
        kept.annotations().get("vmoperator.io/retained-from"),
        Some(&format!("{}/keeper", ns.name))
    );
    // Once the garbage collector has collected the deleted disk's claim, the kept one is
    // still there.
    wait_gone(&claims, "keeper--system", "the Delete disk's claim").await;
    assert!(claims.get_opt("keeper--data").await.expect("get").is_some());
    operator.stop().await;
}

#[tokio::test]
async fn a_failed_import_and_a_degraded_network_surface_with_the_upstream_message_and_recover() {
    let ns = TestEnv::shared().namespace("faults").await;
    let operator = Operator::start(&ns).await;
    let mut broken = profile("broken");
    broken.spec.disks[0].image = Some("docker://registry.example.com/invalid-image:1".into());
    broken.spec.networks[0].node_interface = Some("bad0".into());
    let api = create(&ns, &broken).await;
    let failed = wait_for(&api, "broken", "the profile to fail", |p| {
        phase(p) == Some(Phase::Failed)
            && condition(p, "StorageReady").is_some_and(|c| c.reason == "ImportFailed")
            && condition(p, "NetworksReady").is_some_and(|c| c.reason == "FailedToConfigure")
    })
    .await;
    let storage = condition(&failed, "StorageReady")
        .map(|c| c.message.clone())
        .unwrap_or_default();
    assert!(storage.contains("404 Not Found"), "{storage}");
    let network = condition(&failed, "NetworksReady")
        .map(|c| c.message.clone())
        .unwrap_or_default();
    assert!(
        network.contains("node node-1") && network.contains("bad0"),
        "{network}"
    );
    assert!(
        ns.api::<VirtualMachine>()
            .get_opt("broken")
            .await
            .expect("get")
            .is_none(),
        "no VM on broken dependencies"
    );

    // Recovery: the network on a good port, the disk from a good image (a new DataVolume:
    // CDI's DataVolume spec is immutable, so the user replaces the disk).
    merge(&api, "broken", json!({"spec": {
        "networks": [{"name": "mgmt", "bridge": "br-mgmt", "vlan": 100, "nodeInterface": "eth1", "ipAddress": "192.168.100.20/24"}],
        "disks": [{"name": "system2", "size": "20Gi", "storageClassName": "huamei-sc-ssd", "image": "docker://registry.example.com/fedora:40", "bootOrder": 1}]
    }})).await;
    wait_for(&api, "broken", "the recovered profile to run", |p| {
        phase(p) == Some(Phase::Running)
    })
    .await;
    wait_gone(
        &ns.api::<DataVolume>(),
        "broken-system",
        "the failed DataVolume",
    )
    .await;
    operator.stop().await;
}

#[tokio::test]
async fn a_killed_operator_converges_after_restart_without_duplicates() {
    let ns = TestEnv::shared().namespace("restart").await;
    let api = {
        let operator = Operator::start(&ns).await;
        let api = create(&ns, &profile("phoenix")).await;
        // Kill it as soon as it has started writing children.
        wait::until("the first child", common::WAIT, || async {
            let dvs = ns
                .api::<DataVolume>()
                .list(&ListParams::default())
                .await
                .ok()?;
            (!dvs.items.is_empty()).then_some(())
        })
        .await
        .expect("a DataVolume");
        operator.kill();
        api
    };
    for _ in 0..2 {
        // Restart, kill it again as soon as it has reconciled: mid-flow, not at rest.
        let operator = Operator::start(&ns).await;
        let metrics = operator.context.metrics.clone();
        wait::until("a reconcile", common::WAIT, || {
            let metrics = metrics.clone();
            async move { (metrics.reconciles_total() > 0).then_some(()) }
        })
        .await
        .expect("the restarted operator reconciles");
        operator.kill();
    }
    let operator = Operator::start(&ns).await;
    wait_for(&api, "phoenix", "the profile to run", |p| {
        phase(p) == Some(Phase::Running)
    })
    .await;
    let labelled = ListParams::default().labels("vmoperator.io/profile=phoenix");
    assert_eq!(
        count(
            &ns.api::<VirtualMachine>()
                .list(&labelled)
                .await
                .expect("list")
        ),
        1
    );
    assert_eq!(
        count(&ns.api::<DataVolume>().list(&labelled).await.expect("list")),
        1
    );
    assert_eq!(
        count(
            &ns.api::<NetworkAttachmentDefinition>()
                .list(&labelled)
                .await
                .expect("list")
        ),
        1
    );
    let finalizers = api.get("phoenix").await.expect("get").finalizers().to_vec();
    assert_eq!(finalizers, vec!["vmoperator.io/cleanup".to_owned()]);
    operator.stop().await;
}
