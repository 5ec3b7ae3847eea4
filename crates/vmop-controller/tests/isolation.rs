//! `spec.isolation` on the real control plane: the NetworkPolicy and MultiNetworkPolicy are
//! accepted by their upstream schemas, select exactly the VM's virt-launcher pod, go when the
//! field is cleared and with the profile; egress rules (the profile's own or the
//! administrator's default) guard both kinds of network; and an HAGroup isolation without the
//! label is an invalid spec that creates nothing.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{Operator, condition, existing_nad, phase, wait_for, wait_gone};
use k8s_openapi::{
    api::networking::v1::NetworkPolicy, apimachinery::pkg::apis::meta::v1::LabelSelector,
};
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, Patch, PatchParams, PostParams},
};
use serde_json::json;
use vmop_api::{
    AllowFrom, EgressRule, EgressSpec, HA_GROUP_LABEL, IsolationPort, IsolationSpec, Phase,
    PortProtocol, VirtualMachineProfile,
    external::{
        kubevirt::{VirtualMachine, VirtualMachineInstance},
        multinetworkpolicy::{MultiNetworkPolicy, POLICY_FOR_ANNOTATION},
    },
    fixtures::valid_profile,
};
use vmop_controller::{AdminPolicy, AdminPolicySource};
use vmop_testenv::TestEnv;

/// The labels of a VM's virt-launcher pod: KubeVirt copies the VMI's and adds its own.
fn launcher_pod_labels(vmi: &VirtualMachineInstance) -> BTreeMap<String, String> {
    let mut labels = vmi.labels().clone();
    labels.insert("kubevirt.io".into(), "virt-launcher".into());
    labels
}

fn selects(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    assert_eq!(
        selector.match_expressions, None,
        "only matchLabels are used"
    );
    selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v))
}

fn isolation() -> IsolationSpec {
    IsolationSpec {
        allow_from: AllowFrom::Namespace,
        ports: vec![IsolationPort {
            port: 22,
            protocol: PortProtocol::TCP,
        }],
        cidrs: vec!["10.0.0.0/8".into()],
        egress: None,
    }
}

#[tokio::test]
async fn isolation_guards_exactly_the_vms_pod_on_every_network_and_goes_when_cleared() {
    let ns = TestEnv::shared().namespace("isolation").await;
    existing_nad(&ns, "business-net").await;
    let operator = Operator::start(&ns).await;
    let profiles: Api<VirtualMachineProfile> = ns.api();
    let mut guarded = valid_profile("guarded");
    guarded.spec.isolation = Some(isolation());
    let mut open = valid_profile("open");
    open.spec.networks.clear();
    for profile in [&guarded, &open] {
        profiles
            .create(&PostParams::default(), profile)
            .await
            .expect("profile");
    }
    let running = wait_for(&profiles, "guarded", "the isolated profile to run", |p| {
        phase(p) == Some(Phase::Running)
    })
    .await;
    let isolated = condition(&running, "Isolated").expect("an Isolated condition");
    assert_eq!(isolated.status, "True", "{isolated:?}");
    wait_for(&profiles, "open", "the other profile to run", |p| {
        phase(p) == Some(Phase::Running)
    })
    .await;

    let policies: Api<NetworkPolicy> = ns.api();
    let multis: Api<MultiNetworkPolicy> = ns.api();
    let vmis: Api<VirtualMachineInstance> = ns.api();
    let policy = policies
        .get("guarded--isolation")
        .await
        .expect("NetworkPolicy");
    let multi = multis
        .get("guarded--isolation")
        .await
        .expect("MultiNetworkPolicy");
    let uid = running.uid();
    for owners in [policy.owner_references(), multi.owner_references()] {
        assert!(
            owners
                .iter()
                .any(|o| Some(&o.uid) == uid.as_ref() && o.controller == Some(true)),
            "owned by the profile: {owners:?}"
        );
    }

    // Exactly the VM's pod: the guarded VM's launcher, not the other profile's.
    let guarded_pod = launcher_pod_labels(&vmis.get("guarded").await.expect("VMI"));
    let open_pod = launcher_pod_labels(&vmis.get("open").await.expect("VMI"));
    let spec = policy.spec.clone().expect("spec");
    let selector = spec.pod_selector.clone().expect("podSelector");
    assert!(
        selects(&selector, &guarded_pod),
        "{selector:?} vs {guarded_pod:?}"
    );
    assert!(
        !selects(&selector, &open_pod),
        "{selector:?} selects another VM"
    );
    assert!(selects(&multi.spec.pod_selector, &guarded_pod));
    assert!(!selects(&multi.spec.pod_selector, &open_pod));
    assert_eq!(spec.policy_types, Some(vec!["Ingress".to_owned()]));
    assert_eq!(
        multi.spec.ingress, spec.ingress,
        "the same rules on every network"
    );

    // The MultiNetworkPolicy is for exactly the VM's bridge networks' NADs.
    let vm: VirtualMachine = ns.api().get("guarded").await.expect("VM");
    let vm_nads: BTreeSet<String> = vm
        .spec
        .template
        .and_then(|t| t.spec)
        .map(|s| s.networks)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|n| n.multus.map(|m| m.network_name))
        .map(|nad| {
            if nad.contains('/') {
                nad
            } else {
                format!("{}/{nad}", ns.name)
            }
        })
        .collect();
    let policy_for: BTreeSet<String> = multi
        .annotations()
        .get(POLICY_FOR_ANNOTATION)
        .expect("policy-for")
        .split(',')
        .map(str::to_owned)
        .collect();
    assert_eq!(policy_for, vm_nads);
    assert!(!vm_nads.is_empty());

    // Cleared: both go, and so does the condition.
    profiles
        .patch(
            "guarded",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"isolation": null}})),
        )
        .await
        .expect("clear isolation");
    wait_gone(&policies, "guarded--isolation", "the NetworkPolicy to go").await;
    wait_gone(
        &multis,
        "guarded--isolation",
        "the MultiNetworkPolicy to go",
    )
    .await;
    wait_for(&profiles, "guarded", "the Isolated condition to go", |p| {
        condition(p, "Isolated").is_none()
    })
    .await;

    // Set again, then the profile is deleted: they go with it.
    profiles
        .patch(
            "guarded",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"isolation": {"allowFrom": "None"}}})),
        )
        .await
        .expect("isolate again");
    let denied = wait_for(&policies, "guarded--isolation", "the policy again", |_| {
        true
    })
    .await;
    // An Ingress policy without rules (the API server drops the empty list) denies all.
    let denied = denied.spec.expect("spec");
    assert_eq!(denied.policy_types, Some(vec!["Ingress".to_owned()]));
    assert!(
        denied.ingress.unwrap_or_default().is_empty(),
        "allowFrom None without ports or CIDRs allows nothing in"
    );
    profiles
        .delete("guarded", &DeleteParams::default())
        .await
        .expect("delete");
    wait_gone(&profiles, "guarded", "the profile to go").await;
    wait_gone(
        &policies,
        "guarded--isolation",
        "the NetworkPolicy to go with it",
    )
    .await;
    wait_gone(
        &multis,
        "guarded--isolation",
        "the MultiNetworkPolicy to go with it",
    )
    .await;
    operator.stop().await;
}

#[tokio::test]
async fn ha_group_isolation_without_the_label_is_an_invalid_spec_that_creates_nothing() {
    let ns = TestEnv::shared().namespace("isolation-ha").await;
    let operator = Operator::start(&ns).await;
    let profiles: Api<VirtualMachineProfile> = ns.api();
    let mut profile = valid_profile("grouped");
    profile.spec.networks.clear();
    profile.spec.isolation = Some(IsolationSpec {
        allow_from: AllowFrom::HAGroup,
        ..IsolationSpec::default()
    });
    profiles
        .create(&PostParams::default(), &profile)
        .await
        .expect("profile");
    let refused = wait_for(&profiles, "grouped", "the invalid spec to show", |p| {
        condition(p, "Ready").is_some_and(|c| c.reason == "InvalidSpec")
    })
    .await;
    let message = &condition(&refused, "Ready").expect("Ready").message;
    assert!(message.contains("spec.isolation.allowFrom"), "{message}");
    assert!(message.contains(HA_GROUP_LABEL), "{message}");
    let policies: Api<NetworkPolicy> = ns.api();
    assert!(
        policies
            .list(&Default::default())
            .await
            .expect("list")
            .items
            .is_empty()
    );
    assert!(
        ns.api::<VirtualMachine>()
            .get_opt("grouped")
            .await
            .expect("get")
            .is_none()
    );

    // With the label, the peers are the group's VMs.
    profiles
        .patch(
            "grouped",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {HA_GROUP_LABEL: "db"}}})),
        )
        .await
        .expect("label");
    let policy = wait_for(&policies, "grouped--isolation", "the policy", |_| true).await;
    let peers = policy
        .spec
        .and_then(|s| s.ingress)
        .and_then(|rules| rules.into_iter().next())
        .and_then(|rule| rule.from)
        .and_then(|from| from.into_iter().next())
        .and_then(|peer| peer.pod_selector)
        .and_then(|s| s.match_labels)
        .expect("peer selector");
    assert_eq!(peers.get(HA_GROUP_LABEL).map(String::as_str), Some("db"));
    operator.stop().await;
}

/// The administrator's policy of the egress test: everything allowed, and a default egress
/// (10.0.0.0/8 only, no DNS) for profiles of `namespace` that set none.
fn policy_with_default_egress(namespace: &str) -> AdminPolicy {
    AdminPolicy::parse(&format!(
        r#"
nodeNetworks:
  - {{namespaces: ["*"], nodeInterfaces: ["*"], bridges: ["*"], vlans: ["*"]}}
networkAttachments:
  - {{namespaces: ["*"], sourceNamespaces: ["*"]}}
defaultEgress:
  - namespaces: [{namespace}]
    to: [{{cidr: 10.0.0.0/8}}]
    dns: false
"#
    ))
    .expect("a valid policy")
}

#[tokio::test]
async fn egress_rules_guard_both_networks_and_the_administrators_default_fills_in() {
    let ns = TestEnv::shared().namespace("isolation-egress").await;
    existing_nad(&ns, "business-net").await;
    let operator = Operator::start_with_policy(
        &ns,
        AdminPolicySource::Fixed(policy_with_default_egress(&ns.name)),
    )
    .await;
    let profiles: Api<VirtualMachineProfile> = ns.api();
    let mut guarded = valid_profile("guarded");
    guarded.spec.isolation = Some(IsolationSpec {
        egress: Some(EgressSpec {
            to: vec![EgressRule {
                cidr: "192.168.0.0/16".into(),
                ports: vec![IsolationPort {
                    port: 443,
                    protocol: PortProtocol::TCP,
                }],
            }],
            dns: true,
        }),
        ..isolation()
    });
    let mut plain = valid_profile("plain");
    plain.spec.networks[0].ip_address = Some("192.168.100.11/24".into());
    for profile in [&guarded, &plain] {
        profiles
            .create(&PostParams::default(), profile)
            .await
            .expect("profile");
    }
    for name in ["guarded", "plain"] {
        let running = wait_for(&profiles, name, "the profile to run", |p| {
            phase(p) == Some(Phase::Running)
        })
        .await;
        let isolated = condition(&running, "Isolated").expect("an Isolated condition");
        assert_eq!(isolated.status, "True", "{name}: {isolated:?}");
    }

    // What the API server kept, against NetworkPolicy's documented shape: DNS to anywhere,
    // then the destination on its port; the same rules on the bridge networks.
    let policies: Api<NetworkPolicy> = ns.api();
    let multis: Api<MultiNetworkPolicy> = ns.api();
    let own_egress = json!([
        {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]},
        {"to": [{"ipBlock": {"cidr": "192.168.0.0/16"}}], "ports": [{"port": 443, "protocol": "TCP"}]},
    ]);
    let policy = policies
        .get("guarded--isolation")
        .await
        .expect("NetworkPolicy");
    let spec = policy.spec.expect("spec");
    assert_eq!(
        spec.policy_types,
        Some(vec!["Ingress".to_owned(), "Egress".to_owned()])
    );
    assert_eq!(
        serde_json::to_value(&spec.egress).expect("json"),
        own_egress
    );
    let multi = multis
        .get("guarded--isolation")
        .await
        .expect("MultiNetworkPolicy");
    assert_eq!(multi.spec.policy_types, vec!["Ingress", "Egress"]);
    assert_eq!(
        serde_json::to_value(&multi.spec.egress).expect("json"),
        own_egress
    );
    assert!(
        multi.spec.extra.is_empty(),
        "nothing beyond the schema: {:?}",
        multi.spec.extra
    );

    // No isolation of its own: the administrator's default, egress only.
    let default_egress = json!([{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]);
    let policy = policies
        .get("plain--isolation")
        .await
        .expect("NetworkPolicy");
    let spec = policy.spec.expect("spec");
    assert_eq!(spec.policy_types, Some(vec!["Egress".to_owned()]));
    assert_eq!(spec.ingress, None, "ingress is left as the cluster has it");
    assert_eq!(
        serde_json::to_value(&spec.egress).expect("json"),
        default_egress
    );
    let multi = multis
        .get("plain--isolation")
        .await
        .expect("MultiNetworkPolicy");
    assert_eq!(multi.spec.policy_types, vec!["Egress"]);
    assert_eq!(
        serde_json::to_value(&multi.spec.egress).expect("json"),
        default_egress
    );

    // The profile's own egress replaces the default.
    profiles
        .patch(
            "plain",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"isolation": {"egress": {"dns": true}}}})),
        )
        .await
        .expect("own egress");
    let dns_only =
        json!([{"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}]);
    wait_for(
        &policies,
        "plain--isolation",
        "the profile's own egress",
        |p| {
            p.spec
                .as_ref()
                .is_some_and(|s| serde_json::to_value(&s.egress).ok() == Some(dns_only.clone()))
        },
    )
    .await;
    operator.stop().await;
}
