//! `spec.isolation`: the NetworkPolicy that guards the VM's pod network and the
//! MultiNetworkPolicy that guards its bridge networks, built purely from the profile and its
//! network attachments.
//!
//! Both select the VM's virt-launcher pod: KubeVirt copies the VMI's labels (the VM template's,
//! which carry the profile label) onto the pod and adds `kubevirt.io: virt-launcher`.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::networking::v1::{
        IPBlock, NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
        NetworkPolicySpec,
    },
    apimachinery::pkg::{apis::meta::v1::LabelSelector, util::intstr::IntOrString},
};
use kube::{ResourceExt, api::ObjectMeta};
use vmop_api::{
    AllowFrom, HA_GROUP_LABEL, IsolationSpec, PROFILE_LABEL, VirtualMachineProfile,
    external::multinetworkpolicy::{
        MultiNetworkPolicy, MultiNetworkPolicySpec, POLICY_FOR_ANNOTATION,
    },
    messages,
};
use vmop_plugin::{InterfaceBinding, NetworkAttachment, names::child_name};

/// The label KubeVirt puts on every virt-launcher pod (`kubevirt.io`), and its value.
pub const LAUNCHER_LABEL: (&str, &str) = ("kubevirt.io", "virt-launcher");

/// The policies a profile's isolation asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct IsolationPolicies {
    /// Guards the pod network.
    pub pod_network: NetworkPolicy,
    /// Guards the bridge networks, when the VM has any.
    pub secondary: Option<MultiNetworkPolicy>,
}

/// Name of both policies of a profile (they are of different kinds).
pub fn policy_name(profile: &str) -> String {
    child_name(profile, "isolation")
}

/// Why the isolation cannot be built, as `field: message`: only `HAGroup` without the label
/// (CEL cannot read labels, so this is checked here rather than at admission).
pub fn validate(profile: &VirtualMachineProfile) -> Result<(), String> {
    let Some(isolation) = &profile.spec.isolation else {
        return Ok(());
    };
    if isolation.allow_from == AllowFrom::HAGroup && ha_group(profile).is_none() {
        return Err(format!(
            "spec.isolation.allowFrom: {}",
            messages::ISOLATION_NEEDS_HA_GROUP
        ));
    }
    Ok(())
}

fn ha_group(profile: &VirtualMachineProfile) -> Option<&String> {
    profile.labels().get(HA_GROUP_LABEL)
}

/// The VM's virt-launcher pods, and no other: the profile's label and KubeVirt's.
fn launcher_pods(profile: &VirtualMachineProfile) -> LabelSelector {
    LabelSelector {
        match_labels: Some(BTreeMap::from([
            (PROFILE_LABEL.to_owned(), profile.name_any()),
            (LAUNCHER_LABEL.0.to_owned(), LAUNCHER_LABEL.1.to_owned()),
        ])),
        ..LabelSelector::default()
    }
}

/// The ingress rules of `isolation`: peers on every port, listed ports from anywhere, listed
/// CIDRs on every port. An empty list denies all ingress.
fn ingress(
    profile: &VirtualMachineProfile,
    isolation: &IsolationSpec,
) -> Vec<NetworkPolicyIngressRule> {
    let mut rules = Vec::new();
    let peers = match isolation.allow_from {
        AllowFrom::Namespace => Some(LabelSelector::default()),
        AllowFrom::HAGroup => ha_group(profile).map(|group| LabelSelector {
            match_labels: Some(BTreeMap::from([
                (HA_GROUP_LABEL.to_owned(), group.clone()),
                (LAUNCHER_LABEL.0.to_owned(), LAUNCHER_LABEL.1.to_owned()),
            ])),
            ..LabelSelector::default()
        }),
        AllowFrom::None => None,
    };
    if let Some(pods) = peers {
        rules.push(NetworkPolicyIngressRule {
            from: Some(vec![NetworkPolicyPeer {
                pod_selector: Some(pods),
                ..NetworkPolicyPeer::default()
            }]),
            ..NetworkPolicyIngressRule::default()
        });
    }
    if !isolation.ports.is_empty() {
        rules.push(NetworkPolicyIngressRule {
            ports: Some(
                isolation
                    .ports
                    .iter()
                    .map(|p| NetworkPolicyPort {
                        port: Some(IntOrString::Int(p.port)),
                        protocol: Some(p.protocol.as_str().to_owned()),
                        ..NetworkPolicyPort::default()
                    })
                    .collect(),
            ),
            ..NetworkPolicyIngressRule::default()
        });
    }
    if !isolation.cidrs.is_empty() {
        rules.push(NetworkPolicyIngressRule {
            from: Some(
                isolation
                    .cidrs
                    .iter()
                    .map(|cidr| NetworkPolicyPeer {
                        ip_block: Some(IPBlock {
                            cidr: cidr.clone(),
                            except: None,
                        }),
                        ..NetworkPolicyPeer::default()
                    })
                    .collect(),
            ),
            ..NetworkPolicyIngressRule::default()
        });
    }
    rules
}

/// The policies of `profile`, or `None` when it asks for no isolation. `attachments` are its
/// secondary networks as the network plugins attach them.
pub fn build(
    profile: &VirtualMachineProfile,
    attachments: &[NetworkAttachment],
) -> Option<IsolationPolicies> {
    let isolation = profile.spec.isolation.as_ref()?;
    let metadata = ObjectMeta {
        name: Some(policy_name(&profile.name_any())),
        namespace: profile.namespace(),
        labels: Some(BTreeMap::from([(
            PROFILE_LABEL.to_owned(),
            profile.name_any(),
        )])),
        ..ObjectMeta::default()
    };
    let rules = ingress(profile, isolation);
    let pod_network = NetworkPolicy {
        metadata: metadata.clone(),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(launcher_pods(profile)),
            policy_types: Some(vec!["Ingress".into()]),
            ingress: Some(rules.clone()),
            egress: None,
        }),
    };
    let bridged: Vec<&str> = attachments
        .iter()
        .filter(|a| a.binding == InterfaceBinding::Bridge)
        .map(|a| a.nad.as_str())
        .collect();
    let secondary = (!bridged.is_empty()).then(|| {
        let mut metadata = metadata;
        metadata.annotations = Some(BTreeMap::from([(
            POLICY_FOR_ANNOTATION.to_owned(),
            bridged.join(","),
        )]));
        MultiNetworkPolicy {
            metadata,
            spec: MultiNetworkPolicySpec {
                pod_selector: launcher_pods(profile),
                policy_types: vec!["Ingress".into()],
                ingress: Some(rules),
                ..MultiNetworkPolicySpec::default()
            },
        }
    });
    Some(IsolationPolicies {
        pod_network,
        secondary,
    })
}

#[cfg(test)]
mod tests {
    use vmop_api::{IsolationPort, PortProtocol, fixtures::valid_profile};

    use super::*;

    fn attachment(name: &str, binding: InterfaceBinding) -> NetworkAttachment {
        NetworkAttachment {
            name: name.into(),
            nad: format!("team-a/web--{name}"),
            binding,
            node_selector: None,
        }
    }

    fn isolated(isolation: IsolationSpec) -> VirtualMachineProfile {
        let mut profile = valid_profile("web");
        profile.metadata.namespace = Some("team-a".into());
        profile.spec.isolation = Some(isolation);
        profile
    }

    #[test]
    fn no_isolation_builds_nothing() {
        assert_eq!(build(&valid_profile("web"), &[]), None);
    }

    #[test]
    fn the_pod_network_policy_selects_only_the_vms_launcher_pods() {
        let policies = build(&isolated(IsolationSpec::default()), &[]).expect("policies");
        let spec = policies.pod_network.spec.expect("spec");
        let labels = spec
            .pod_selector
            .and_then(|s| s.match_labels)
            .expect("labels");
        assert_eq!(labels.get(PROFILE_LABEL).map(String::as_str), Some("web"));
        assert_eq!(
            labels.get("kubevirt.io").map(String::as_str),
            Some("virt-launcher")
        );
        assert_eq!(spec.policy_types, Some(vec!["Ingress".to_owned()]));
        // Namespace: one rule, any pod of the namespace.
        let rules = spec.ingress.expect("ingress");
        assert_eq!(rules.len(), 1);
        let from = rules[0].from.as_ref().expect("from");
        assert_eq!(from[0].pod_selector, Some(LabelSelector::default()));
        assert_eq!(from[0].namespace_selector, None);
        assert_eq!(
            policies.secondary, None,
            "no secondary network, no MultiNetworkPolicy"
        );
    }

    #[test]
    fn ports_and_cidrs_are_rules_of_their_own_and_none_allows_nothing_else() {
        let isolation = IsolationSpec {
            allow_from: AllowFrom::None,
            ports: vec![IsolationPort {
                port: 22,
                protocol: PortProtocol::TCP,
            }],
            cidrs: vec!["10.0.0.0/8".into()],
        };
        let rules = build(&isolated(isolation), &[])
            .and_then(|p| p.pod_network.spec?.ingress)
            .expect("rules");
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].from, None, "the port is open to any source");
        let port = &rules[0].ports.as_ref().expect("ports")[0];
        assert_eq!(port.port, Some(IntOrString::Int(22)));
        assert_eq!(port.protocol.as_deref(), Some("TCP"));
        let block = rules[1].from.as_ref().expect("from")[0].ip_block.as_ref();
        assert_eq!(block.map(|b| b.cidr.as_str()), Some("10.0.0.0/8"));

        let deny_all = IsolationSpec {
            allow_from: AllowFrom::None,
            ..IsolationSpec::default()
        };
        let rules = build(&isolated(deny_all), &[]).and_then(|p| p.pod_network.spec?.ingress);
        assert_eq!(rules, Some(vec![]), "no rule: all ingress denied");
    }

    #[test]
    fn ha_group_peers_are_the_groups_launcher_pods_and_need_the_label() {
        let mut profile = isolated(IsolationSpec {
            allow_from: AllowFrom::HAGroup,
            ..IsolationSpec::default()
        });
        let refused = validate(&profile).expect_err("no label");
        assert!(
            refused.starts_with("spec.isolation.allowFrom: "),
            "{refused}"
        );
        profile
            .labels_mut()
            .insert(HA_GROUP_LABEL.into(), "db".into());
        assert_eq!(validate(&profile), Ok(()));
        let rules = build(&profile, &[])
            .and_then(|p| p.pod_network.spec?.ingress)
            .expect("rules");
        let peers = rules[0].from.as_ref().expect("from")[0]
            .pod_selector
            .as_ref()
            .and_then(|s| s.match_labels.clone())
            .expect("peer labels");
        assert_eq!(peers.get(HA_GROUP_LABEL).map(String::as_str), Some("db"));
        assert_eq!(
            peers.get("kubevirt.io").map(String::as_str),
            Some("virt-launcher")
        );
    }

    #[test]
    fn bridge_networks_get_one_multi_network_policy_naming_their_nads() {
        let profile = isolated(IsolationSpec::default());
        let attachments = [
            attachment("data", InterfaceBinding::Bridge),
            attachment("fast", InterfaceBinding::Sriov),
            attachment("mgmt", InterfaceBinding::Bridge),
        ];
        let policies = build(&profile, &attachments).expect("policies");
        let multi = policies.secondary.expect("a MultiNetworkPolicy");
        assert_eq!(
            multi
                .annotations()
                .get(POLICY_FOR_ANNOTATION)
                .map(String::as_str),
            Some("team-a/web--data,team-a/web--mgmt")
        );
        assert_eq!(multi.spec.pod_selector, launcher_pods(&profile));
        assert_eq!(
            multi.spec.ingress,
            policies.pod_network.spec.and_then(|s| s.ingress),
            "the same rules on every network"
        );
    }
}
