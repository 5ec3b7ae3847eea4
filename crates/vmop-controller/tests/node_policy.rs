//! Node networking is an administrator's decision: without a rule in the operator's policy a
//! profile cannot make the operator write a NodeNetworkConfigurationPolicy, nor clone a disk
//! from another namespace; it can still use existing bridges and NADs. A rule in the policy
//! ConfigMap allows exactly what it lists, for the namespaces it lists.

mod common;

use common::{Operator, blank_disk_profile, condition, phase, wait_for};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::{
    Api,
    api::{ListParams, Patch, PatchParams, PostParams},
};
use serde_json::json;
use vmop_api::{
    DiskSource, DiskSpec, NetworkSpec, Phase, SourceReference, VirtualMachineProfile,
    external::nmstate::NodeNetworkConfigurationPolicy, fixtures::valid_profile,
};
use vmop_controller::AdminPolicySource;
use vmop_testenv::{TestEnv, TestNamespace};

fn bridged(
    name: &str,
    bridge: &str,
    port: Option<&str>,
    vlan: Option<i32>,
) -> VirtualMachineProfile {
    let mut p = blank_disk_profile(name, "data", "longhorn");
    p.spec.networks = vec![NetworkSpec {
        name: "lan".into(),
        bridge: Some(bridge.into()),
        node_interface: port.map(Into::into),
        vlan,
        ..NetworkSpec::default()
    }];
    p
}

async fn policies_for(ns: &TestNamespace, bridge: &str) -> Vec<String> {
    Api::<NodeNetworkConfigurationPolicy>::all(ns.client.clone())
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .filter(|name| name.contains(bridge))
        .collect()
}

async fn not_allowed(profiles: &Api<VirtualMachineProfile>, name: &str) -> String {
    let p = wait_for(profiles, name, "the policy's refusal", |p| {
        condition(p, "Ready").is_some_and(|c| c.reason == "NotAllowed")
    })
    .await;
    assert_eq!(phase(&p), Some(Phase::Pending));
    condition(&p, "Ready")
        .map(|c| c.message.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn tenants_configure_nodes_only_where_the_administrator_allows_it() {
    let ns = TestEnv::shared().namespace("node-policy").await;
    let operator = Operator::start_with_policy(
        &ns,
        AdminPolicySource::ConfigMap {
            namespace: ns.name.clone(),
            name: "vm-operator-policy".into(),
        },
    )
    .await;
    let profiles: Api<VirtualMachineProfile> = ns.api();

    // No policy yet: the host's eth0 is not the tenant's to bridge.
    profiles
        .create(
            &PostParams::default(),
            &bridged("takeover", "br-pol-a", Some("eth0"), None),
        )
        .await
        .expect("profile");
    let message = not_allowed(&profiles, "takeover").await;
    assert!(
        message.starts_with(&format!(
            "spec.networks[0].nodeInterface: eth0 is node networking that profiles in namespace {} may not configure",
            ns.name
        )),
        "{message}"
    );
    assert!(
        policies_for(&ns, "br-pol-a").await.is_empty(),
        "no node policy written"
    );

    // An existing bridge needs no node configuration: allowed without any rule.
    profiles
        .create(
            &PostParams::default(),
            &bridged("existing", "br-pol-b", None, Some(7)),
        )
        .await
        .expect("profile");
    wait_for(
        &profiles,
        "existing",
        "a profile on an existing bridge to run",
        |p| phase(p) == Some(Phase::Running),
    )
    .await;

    // The administrator allows eth1 with br-pol-c on VLANs 40-49 for this namespace.
    let policy: ConfigMap = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "vm-operator-policy"},
        "data": {"policy.yaml": format!(
            "nodeNetworks:\n  - namespaces: [{}]\n    nodeInterfaces: [eth1]\n    bridges: [br-pol-c]\n    vlans: [\"40-49\"]\n",
            ns.name
        )}
    }))
    .expect("policy");
    ns.api::<ConfigMap>()
        .patch(
            "vm-operator-policy",
            &PatchParams::apply("node-policy-test"),
            &Patch::Apply(&policy),
        )
        .await
        .expect("policy ConfigMap");
    profiles
        .create(
            &PostParams::default(),
            &bridged("allowed", "br-pol-c", Some("eth1"), Some(42)),
        )
        .await
        .expect("profile");
    wait_for(&profiles, "allowed", "the allowed profile to run", |p| {
        phase(p) == Some(Phase::Running)
    })
    .await;
    assert_eq!(policies_for(&ns, "br-pol-c").await.len(), 1);

    // Outside the allowed range, and the earlier refusal, stay refused.
    profiles
        .create(
            &PostParams::default(),
            &bridged("vlan-off", "br-pol-c", Some("eth1"), Some(50)),
        )
        .await
        .expect("profile");
    let message = not_allowed(&profiles, "vlan-off").await;
    assert!(
        message.starts_with("spec.networks[0].vlan: 50"),
        "{message}"
    );
    let still = profiles.get("takeover").await.expect("takeover");
    assert_eq!(
        condition(&still, "Ready").map(|c| c.reason.as_str()),
        Some("NotAllowed")
    );
    assert!(policies_for(&ns, "br-pol-a").await.is_empty());
    operator.stop().await;
}

#[tokio::test]
async fn a_clone_from_another_namespace_needs_the_administrators_consent() {
    let ns = TestEnv::shared().namespace("clone-policy").await;
    let operator = Operator::start_with_policy(
        &ns,
        AdminPolicySource::Fixed(vmop_controller::AdminPolicy::default()),
    )
    .await;
    let mut profile = valid_profile("copycat");
    profile.spec.networks.clear();
    profile.spec.disks = vec![DiskSpec {
        name: "stolen".into(),
        size: "10Gi".into(),
        storage_class_name: Some("longhorn".into()),
        source: Some(DiskSource {
            pvc: Some(SourceReference {
                name: "payroll-db".into(),
                namespace: Some("finance".into()),
            }),
            ..DiskSource::default()
        }),
        ..DiskSpec::default()
    }];
    let profiles: Api<VirtualMachineProfile> = ns.api();
    profiles
        .create(&PostParams::default(), &profile)
        .await
        .expect("profile");
    let message = not_allowed(&profiles, "copycat").await;
    assert_eq!(
        message,
        format!(
            "spec.disks[0].source.pvc.namespace: profiles in namespace {} may not clone from namespace finance; an administrator can allow it in the operator's policy (clones)",
            ns.name
        )
    );
    operator.stop().await;
}

#[tokio::test]
async fn another_teams_nad_and_in_cluster_image_hosts_need_the_administrators_consent() {
    let ns = TestEnv::shared().namespace("reach-policy").await;
    let operator = Operator::start_with_policy(
        &ns,
        AdminPolicySource::Fixed(vmop_controller::AdminPolicy::default()),
    )
    .await;
    let profiles: Api<VirtualMachineProfile> = ns.api();

    // Multus honours a NAD of another namespace: a tenant must not plug into another team's
    // network on its own.
    let mut intruder = valid_profile("intruder");
    intruder.spec.networks = vec![NetworkSpec {
        name: "payments".into(),
        nad_name: Some("finance/payments-net".into()),
        ..NetworkSpec::default()
    }];
    intruder.spec.disks.truncate(1);
    profiles
        .create(&PostParams::default(), &intruder)
        .await
        .expect("profile");
    let message = not_allowed(&profiles, "intruder").await;
    assert_eq!(
        message,
        format!(
            "spec.networks[0].nadName: profiles in namespace {} may not attach to NetworkAttachmentDefinition finance/payments-net of namespace finance; an administrator can allow it in the operator's policy (networkAttachments)",
            ns.name
        )
    );

    // Each kind of host CDI's importer would fetch from inside the cluster.
    for (name, image, why) in [
        (
            "metadata",
            "http://169.254.169.254/latest/meta-data",
            "link-local",
        ),
        ("loopback", "docker://127.0.0.1:5000/os:1", "loopback"),
        (
            "service",
            "https://minio.storage.svc:9000/os.qcow2",
            "an in-cluster name",
        ),
        ("pod-ip", "http://10.42.0.7/os.img", "a private address"),
    ] {
        let mut p = valid_profile(name);
        p.spec.networks.clear();
        p.spec.disks.truncate(1);
        p.spec.disks[0].image = Some(image.into());
        profiles
            .create(&PostParams::default(), &p)
            .await
            .expect("profile");
        let message = not_allowed(&profiles, name).await;
        assert!(
            message.starts_with("spec.disks[0].image: host ") && message.contains(why),
            "{name}: {message}"
        );
        assert!(message.ends_with("(imageSources)"), "{message}");
    }
    let children = ns
        .api::<vmop_api::external::cdi::DataVolume>()
        .list(&ListParams::default())
        .await
        .expect("list DataVolumes");
    assert!(
        children.items.is_empty(),
        "nothing is imported: {children:?}"
    );
    operator.stop().await;

    // The administrator allows one private registry and the shared network namespace.
    let policy = vmop_controller::AdminPolicy::parse(&format!(
        "networkAttachments:\n  - namespaces: [{ns}]\n    sourceNamespaces: [finance]\nimageSources:\n  - namespaces: [{ns}]\n    hosts: [\"10.42.0.7\"]\n",
        ns = ns.name
    ))
    .expect("policy parses");
    let operator = Operator::start_with_policy(&ns, AdminPolicySource::Fixed(policy)).await;
    for name in ["intruder", "pod-ip"] {
        wait_for(
            &profiles,
            name,
            "the allowed profile to get past the policy",
            |p| condition(p, "Ready").is_some_and(|c| c.reason != "NotAllowed"),
        )
        .await;
    }
    let still = profiles.get("metadata").await.expect("metadata");
    assert_eq!(
        condition(&still, "Ready").map(|c| c.reason.as_str()),
        Some("NotAllowed"),
        "hosts the rule does not list stay refused"
    );
    operator.stop().await;
}
