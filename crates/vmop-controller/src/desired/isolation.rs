//! `spec.isolation`: the NetworkPolicy that guards the VM's pod network and the
//! MultiNetworkPolicy that guards its bridge networks, built purely from the profile, its
//! network attachments and the administrator's default egress. Ingress rules come from the
//! profile's isolation; egress rules from `isolation.egress`, else the administrator's
//! default for the namespace, else there are none (egress unrestricted).
//!
//! Both select the VM's virt-launcher pod: KubeVirt copies the VMI's labels (the VM template's,
//! which carry the profile label) onto the pod and adds `kubevirt.io: virt-launcher`.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::networking::v1::{
        IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule,
        NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
    },
    apimachinery::pkg::{apis::meta::v1::LabelSelector, util::intstr::IntOrString},
};
use kube::{ResourceExt, api::ObjectMeta};
use vmop_api::{
    AllowFrom, EgressSpec, HA_GROUP_LABEL, IsolationPort, IsolationSpec, PROFILE_LABEL,
    PortProtocol, VirtualMachineProfile,
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
            ports: Some(isolation.ports.iter().map(policy_port).collect()),
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

fn policy_port(port: &IsolationPort) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(port.port)),
        protocol: Some(port.protocol.as_str().to_owned()),
        ..NetworkPolicyPort::default()
    }
}

/// DNS, to any address: port 53 over UDP and TCP (large answers and zone data use TCP).
const DNS_PORTS: [IsolationPort; 2] = [
    IsolationPort {
        port: 53,
        protocol: PortProtocol::UDP,
    },
    IsolationPort {
        port: 53,
        protocol: PortProtocol::TCP,
    },
];

/// The egress rules of `egress`: DNS anywhere (unless turned off), then each destination on
/// its ports. An empty list denies all egress.
fn egress_rules(egress: &EgressSpec) -> Vec<NetworkPolicyEgressRule> {
    let dns = egress.dns.then(|| NetworkPolicyEgressRule {
        ports: Some(DNS_PORTS.iter().map(policy_port).collect()),
        to: None,
    });
    let destinations = egress.to.iter().map(|rule| NetworkPolicyEgressRule {
        ports: (!rule.ports.is_empty()).then(|| rule.ports.iter().map(policy_port).collect()),
        to: Some(vec![NetworkPolicyPeer {
            ip_block: Some(IPBlock {
                cidr: rule.cidr.clone(),
                except: None,
            }),
            ..NetworkPolicyPeer::default()
        }]),
    });
    dns.into_iter().chain(destinations).collect()
}

/// The policies of `profile`, or `None` when it asks for no isolation and the administrator
/// sets no `default_egress` for its namespace. `attachments` are its secondary networks as
/// the network plugins attach them.
pub fn build(
    profile: &VirtualMachineProfile,
    attachments: &[NetworkAttachment],
    default_egress: Option<&EgressSpec>,
) -> Option<IsolationPolicies> {
    let isolation = profile.spec.isolation.as_ref();
    let egress = isolation
        .and_then(|i| i.egress.as_ref())
        .or(default_egress)
        .map(egress_rules);
    let ingress = isolation.map(|i| ingress(profile, i));
    if ingress.is_none() && egress.is_none() {
        return None;
    }
    let policy_types: Vec<String> = [
        ingress.as_ref().map(|_| "Ingress"),
        egress.as_ref().map(|_| "Egress"),
    ]
    .into_iter()
    .flatten()
    .map(str::to_owned)
    .collect();
    let metadata = ObjectMeta {
        name: Some(policy_name(&profile.name_any())),
        namespace: profile.namespace(),
        labels: Some(BTreeMap::from([(
            PROFILE_LABEL.to_owned(),
            profile.name_any(),
        )])),
        ..ObjectMeta::default()
    };
    let pod_network = NetworkPolicy {
        metadata: metadata.clone(),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(launcher_pods(profile)),
            policy_types: Some(policy_types.clone()),
            ingress: ingress.clone(),
            egress: egress.clone(),
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
                policy_types,
                ingress,
                egress,
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
    use vmop_api::{EgressRule, fixtures::valid_profile};

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
        assert_eq!(build(&valid_profile("web"), &[], None), None);
    }

    #[test]
    fn the_pod_network_policy_selects_only_the_vms_launcher_pods() {
        let policies = build(&isolated(IsolationSpec::default()), &[], None).expect("policies");
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
            egress: None,
        };
        let rules = build(&isolated(isolation), &[], None)
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
        let rules = build(&isolated(deny_all), &[], None).and_then(|p| p.pod_network.spec?.ingress);
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
        let rules = build(&profile, &[], None)
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
        let policies = build(&profile, &attachments, None).expect("policies");
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

    fn egress_ports(rule: &NetworkPolicyEgressRule) -> Vec<(i32, &str)> {
        rule.ports
            .iter()
            .flatten()
            .map(|p| {
                let Some(IntOrString::Int(port)) = p.port else {
                    panic!("numeric ports only: {p:?}");
                };
                (port, p.protocol.as_deref().unwrap_or_default())
            })
            .collect()
    }

    #[test]
    fn egress_allows_dns_anywhere_then_each_destination_on_its_ports() {
        let profile = isolated(IsolationSpec {
            egress: Some(EgressSpec {
                to: vec![
                    EgressRule {
                        cidr: "10.0.0.0/8".into(),
                        ports: vec![IsolationPort {
                            port: 443,
                            protocol: PortProtocol::TCP,
                        }],
                    },
                    EgressRule {
                        cidr: "192.168.1.0/24".into(),
                        ports: Vec::new(),
                    },
                ],
                dns: true,
            }),
            ..IsolationSpec::default()
        });
        let attachments = [attachment("mgmt", InterfaceBinding::Bridge)];
        let policies = build(&profile, &attachments, None).expect("policies");
        let spec = policies.pod_network.spec.expect("spec");
        assert_eq!(
            spec.policy_types,
            Some(vec!["Ingress".to_owned(), "Egress".to_owned()])
        );
        let rules = spec.egress.expect("egress");
        assert_eq!(rules.len(), 3);
        assert_eq!(rules[0].to, None, "DNS to any address");
        assert_eq!(egress_ports(&rules[0]), vec![(53, "UDP"), (53, "TCP")]);
        let cidr = |rule: &NetworkPolicyEgressRule| {
            rule.to.as_ref().expect("to")[0]
                .ip_block
                .as_ref()
                .map(|b| b.cidr.clone())
        };
        assert_eq!(cidr(&rules[1]).as_deref(), Some("10.0.0.0/8"));
        assert_eq!(egress_ports(&rules[1]), vec![(443, "TCP")]);
        assert_eq!(cidr(&rules[2]).as_deref(), Some("192.168.1.0/24"));
        assert_eq!(rules[2].ports, None, "no ports listed: every port");
        let multi = policies.secondary.expect("MultiNetworkPolicy");
        assert_eq!(multi.spec.policy_types, vec!["Ingress", "Egress"]);
        assert_eq!(
            multi.spec.egress,
            Some(rules),
            "the same rules on every network"
        );
    }

    #[test]
    fn egress_without_dns_or_destinations_denies_all_and_no_egress_leaves_it_open() {
        let closed = isolated(IsolationSpec {
            egress: Some(EgressSpec {
                to: Vec::new(),
                dns: false,
            }),
            ..IsolationSpec::default()
        });
        let spec = build(&closed, &[], None)
            .and_then(|p| p.pod_network.spec)
            .expect("spec");
        assert_eq!(spec.egress, Some(vec![]), "no rule: all egress denied");
        let open = isolated(IsolationSpec::default());
        let spec = build(&open, &[], None)
            .and_then(|p| p.pod_network.spec)
            .expect("spec");
        assert_eq!(spec.policy_types, Some(vec!["Ingress".to_owned()]));
        assert_eq!(spec.egress, None);
    }

    #[test]
    fn the_administrators_default_egress_applies_only_where_the_profile_sets_none() {
        let default = EgressSpec {
            to: vec![EgressRule {
                cidr: "10.0.0.0/8".into(),
                ports: Vec::new(),
            }],
            dns: false,
        };
        // No isolation at all: an egress-only policy, ingress left as the cluster has it.
        let mut plain = valid_profile("web");
        plain.metadata.namespace = Some("team-a".into());
        let spec = build(&plain, &[], Some(&default))
            .and_then(|p| p.pod_network.spec)
            .expect("the default makes a policy");
        assert_eq!(spec.policy_types, Some(vec!["Egress".to_owned()]));
        assert_eq!(spec.ingress, None);
        assert_eq!(spec.egress.map(|r| r.len()), Some(1));
        // The profile's own egress wins.
        let own = isolated(IsolationSpec {
            egress: Some(EgressSpec::default()),
            ..IsolationSpec::default()
        });
        let rules = build(&own, &[], Some(&default))
            .and_then(|p| p.pod_network.spec?.egress)
            .expect("egress");
        assert_eq!(rules.len(), 1, "only DNS, the profile's own rule");
        assert_eq!(rules[0].to, None);
    }
}
