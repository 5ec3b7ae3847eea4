//! The seed's example end to end on the real control plane with the simulators: every child
//! exists with the right content and the profile reaches Running with IPs, MACs and node.
//! Then a resync costs no writes, and deletion cleans up everything.

mod common;

use common::{Operator, condition, existing_nad, phase, wait_for, wait_gone};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret};
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, Patch, PatchParams, PostParams},
};
use serde_json::json;
use vmop_api::{
    Phase, VirtualMachineProfile,
    external::{
        cdi::DataVolume, kubevirt::VirtualMachine, multus::NetworkAttachmentDefinition,
        nmstate::NodeNetworkConfigurationPolicy,
    },
    fixtures::valid_profile,
};
use vmop_testenv::{TestEnv, wait};

#[tokio::test]
async fn the_seed_profile_reaches_running_with_every_child_and_cleans_up_on_deletion() {
    let ns = TestEnv::shared().namespace("flow").await;
    existing_nad(&ns, "business-net").await;
    let operator = Operator::start(&ns).await;
    let profiles: Api<VirtualMachineProfile> = ns.api();
    profiles
        .create(&PostParams::default(), &valid_profile("web-vm-01"))
        .await
        .expect("profile");

    let running = wait_for(&profiles, "web-vm-01", "the profile to run", |p| {
        phase(p) == Some(Phase::Running)
    })
    .await;
    let status = running.status.clone().expect("status");
    assert_eq!(
        condition(&running, "Ready").map(|c| c.status.as_str()),
        Some("True"),
        "{status:#?}"
    );
    assert!(
        status
            .node_name
            .as_deref()
            .is_some_and(|n| n.starts_with("node-")),
        "{status:#?}"
    );
    assert_eq!(status.primary_ip.as_deref(), Some("192.168.100.10"));
    // How to reach it, as `kubectl describe` shows.
    let access = status.access.clone().expect("access hints");
    assert_eq!(
        access.console,
        format!("virtctl console web-vm-01 -n {}", ns.name)
    );
    assert_eq!(
        access.ssh_direct.as_deref(),
        Some("ssh <user>@192.168.100.10")
    );
    assert_eq!(status.observed_generation, running.metadata.generation);
    let mgmt = status
        .networks
        .iter()
        .find(|n| n.name == "mgmt")
        .expect("mgmt status");
    assert_eq!(mgmt.ip_addresses, vec!["192.168.100.10".to_owned()]);
    assert_eq!(mgmt.interface_name.as_deref(), Some("mgmt"));
    assert_eq!(
        mgmt.nad.as_deref(),
        Some(format!("{}/web-vm-01--mgmt", ns.name).as_str())
    );
    assert!(
        mgmt.info_source
            .as_deref()
            .is_some_and(|s| s.contains("guest-agent"))
    );
    let business = status
        .networks
        .iter()
        .find(|n| n.name == "business")
        .expect("business status");
    assert_eq!(
        business.nad.as_deref(),
        Some(format!("{}/business-net", ns.name).as_str())
    );
    let system = status
        .disks
        .iter()
        .find(|d| d.name == "system")
        .expect("system disk status");
    assert_eq!(
        (
            system.backend.as_deref(),
            system.phase.as_deref(),
            system.progress.as_deref()
        ),
        (Some("cdi"), Some("Succeeded"), Some("100.0%"))
    );
    let data = status
        .disks
        .iter()
        .find(|d| d.name == "data")
        .expect("data disk status");
    assert_eq!(
        (data.backend.as_deref(), data.phase.as_deref()),
        (Some("huamei-csi"), Some("Bound"))
    );

    // Children, with the right content and owner.
    let uid = running.uid().expect("uid");
    let vm = ns
        .api::<VirtualMachine>()
        .get("web-vm-01")
        .await
        .expect("the VM");
    assert_eq!(vm.owner_references()[0].uid, uid);
    assert_eq!(vm.spec.run_strategy.as_deref(), Some("Always"));
    let interfaces = vm
        .spec
        .template
        .and_then(|t| t.spec)
        .map(|s| s.domain.devices.interfaces)
        .unwrap_or_default();
    let vm_mac = interfaces
        .iter()
        .find(|i| i.name == "mgmt")
        .and_then(|i| i.mac_address.clone());
    assert_eq!(vm_mac, mgmt.mac_address, "the pinned MAC is the VM's");
    let nad = ns
        .api::<NetworkAttachmentDefinition>()
        .get("web-vm-01--mgmt")
        .await
        .expect("our NAD");
    assert!(
        nad.spec
            .config
            .as_deref()
            .is_some_and(|c| c.contains(r#""vlan":100"#))
    );
    let dv = ns
        .api::<DataVolume>()
        .get("web-vm-01--system")
        .await
        .expect("the DataVolume");
    assert_eq!(dv.owner_references()[0].uid, uid);
    ns.api::<PersistentVolumeClaim>()
        .get("web-vm-01--data")
        .await
        .expect("the data claim");
    ns.api::<Secret>()
        .get("web-vm-01--cloudinit")
        .await
        .expect("the cloud-init Secret");
    let policies: Api<NodeNetworkConfigurationPolicy> = Api::all(ns.client.clone());
    let policy_name = mgmt.policies.first().cloned().expect("the bridge policy");
    let policy = policies.get(&policy_name).await.expect("the shared policy");
    // Users are counted by the operator, not written onto the shared object.
    assert!(
        !policy
            .labels()
            .keys()
            .any(|k| k.starts_with("vmoperator.io/user")),
        "{:?}",
        policy.labels()
    );

    // A reconcile with nothing to do writes nothing.
    let writes = operator.metrics.writes_total();
    let reconciles = operator.metrics.reconciles_total();
    profiles
        .patch(
            "web-vm-01",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"touched": "yes"}}})),
        )
        .await
        .expect("touch");
    wait::until("another reconcile", common::WAIT, || async {
        (operator.metrics.reconciles_total() > reconciles).then_some(())
    })
    .await
    .expect("reconciled");
    assert_eq!(
        operator.metrics.writes_total(),
        writes,
        "a no-op reconcile must not write"
    );

    // Deletion: everything goes, the shared policy with its last user.
    profiles
        .delete("web-vm-01", &DeleteParams::default())
        .await
        .expect("delete");
    wait_gone(&profiles, "web-vm-01", "the profile to be deleted").await;
    assert!(
        ns.api::<VirtualMachine>()
            .get_opt("web-vm-01")
            .await
            .expect("get")
            .is_none()
    );
    wait_gone(
        &ns.api::<DataVolume>(),
        "web-vm-01--system",
        "the DataVolume to go",
    )
    .await;
    wait_gone(
        &ns.api::<PersistentVolumeClaim>(),
        "web-vm-01--data",
        "the claim to go",
    )
    .await;
    wait_gone(
        &ns.api::<NetworkAttachmentDefinition>(),
        "web-vm-01--mgmt",
        "our NAD to go",
    )
    .await;
    wait_gone(&policies, &policy_name, "the unused shared policy to go").await;
    assert!(
        ns.api::<NetworkAttachmentDefinition>()
            .get_opt("business-net")
            .await
            .expect("get")
            .is_some(),
        "the user's NAD is not ours to delete"
    );
    let metrics = exposition(&operator);
    for series in [
        "vmoperator_profiles_total{event=\"created\"}",
        "vmoperator_profiles_total{event=\"deleted\"}",
        "vmoperator_stage_outcomes_total{stage=\"vm_start\",result=\"success\"}",
        "vmoperator_stage_outcomes_total{stage=\"network\",result=\"success\"}",
        "vmoperator_stage_outcomes_total{stage=\"storage\",result=\"success\"}",
        "vmoperator_time_to_running_seconds_count",
        "vmoperator_reconcile_duration_seconds_count",
        "vmoperator_api_writes_total{kind=\"VirtualMachine\",verb=\"apply\"}",
        "vmoperator_work_queue_adds_total",
        "vmoperator_work_queue_wait_seconds_count",
    ] {
        let value = metrics
            .lines()
            .find_map(|l| l.strip_prefix(series))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or_else(|| panic!("{series} missing:\n{metrics}"));
        assert!(value > 0.0, "{series} is {value}");
    }
    for gauge in [
        "vmoperator_reconciles_in_flight",
        "vmoperator_work_queue_depth",
    ] {
        assert!(metrics.contains(gauge), "{gauge} missing:\n{metrics}");
    }
    operator.stop().await;
}

/// The operator's metrics as Prometheus scrapes them.
fn exposition(operator: &Operator) -> String {
    let mut registry = prometheus_client::registry::Registry::default();
    operator.metrics.register(&mut registry);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
    text
}
