//! The administrator's policy: which node networking profiles may ask the operator to
//! configure (NodeNetworkConfigurationPolicies reach every matching node, so a tenant must not
//! decide them alone), and from which other namespaces disks may be cloned. Pure: parsed from
//! YAML, checked in the plan step, before anything is written.
//!
//! ```yaml
//! nodeNetworks:                 # none allowed unless a rule says so
//!   - namespaces: ["team-a"]    # "*" for every namespace
//!     nodeInterfaces: ["eth1"]
//!     bridges: ["br-mgmt"]
//!     vlans: ["100-199", "300"]
//!     sriovPhysicalFunctions: ["ens1f0"]
//! clones:                       # same-namespace clones always work
//!   - namespaces: ["*"]
//!     sourceNamespaces: ["golden-images"]
//! networkAttachments:           # NADs of the profile's own namespace always work
//!   - namespaces: ["team-a"]
//!     sourceNamespaces: ["shared-networks"]
//! imageSources:                 # loopback, link-local, private and in-cluster hosts
//!   - namespaces: ["*"]
//!     hosts: ["registry.internal", "10.0.0.5"]
//! limits:                       # caps per namespace, below the operator's own
//!   - namespaces: ["team-a"]
//!     maxConcurrentStarts: 5
//!     maxConcurrentImports: 2
//! defaultEgress:                # for profiles that set no spec.isolation.egress
//!   - namespaces: ["team-a"]
//!     to: [{cidr: 10.0.0.0/8, ports: [{port: 443}]}]
//!     dns: true                 # the default
//! ```

use serde::Deserialize;
use vmop_api::{
    EgressRule, EgressSpec, IsolationPort, NetworkSpec, PortProtocol, validate::is_cidr,
};

/// Key of the policy document in its ConfigMap.
pub const POLICY_KEY: &str = "policy.yaml";
/// Matches every name in a rule's list.
const ANY: &str = "*";

/// The operator-wide policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdminPolicy {
    /// Node networking profiles may ask for.
    #[serde(default)]
    pub node_networks: Vec<NodeNetworkRule>,
    /// Namespaces disks may be cloned from.
    #[serde(default)]
    pub clones: Vec<CloneRule>,
    /// Namespaces whose NetworkAttachmentDefinitions profiles may attach to by `nadName`.
    #[serde(default)]
    pub network_attachments: Vec<CloneRule>,
    /// Restricted hosts (loopback, link-local, private, in-cluster) images may come from.
    #[serde(default)]
    pub image_sources: Vec<ImageSourceRule>,
    /// Where VMs of some namespaces may connect to when their profiles say nothing
    /// (`spec.isolation.egress` unset); the first rule naming the namespace applies.
    #[serde(default)]
    pub default_egress: Vec<DefaultEgressRule>,
    /// Caps of what starts at once in some namespaces (below the operator's own); the first
    /// rule naming the namespace applies.
    #[serde(default)]
    pub limits: Vec<LimitRule>,
}

/// Caps for the profiles of some namespaces.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LimitRule {
    /// Namespaces of the profiles this rule applies to.
    pub namespaces: Vec<String>,
    /// At most this many of their VMs starting at once.
    #[serde(default)]
    pub max_concurrent_starts: Option<usize>,
    /// At most this many of their imports running at once.
    #[serde(default)]
    pub max_concurrent_imports: Option<usize>,
}

/// The egress of profiles of some namespaces that set none themselves.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DefaultEgressRule {
    /// Namespaces of the profiles this rule applies to.
    pub namespaces: Vec<String>,
    /// Destinations allowed, as in `spec.isolation.egress.to`.
    #[serde(default)]
    pub to: Vec<DefaultEgressDestination>,
    /// Whether DNS stays allowed (on unless `false`).
    #[serde(default = "dns_on")]
    pub dns: bool,
}

fn dns_on() -> bool {
    true
}

/// One destination of a [`DefaultEgressRule`]: its own type so that a typo in the
/// administrator's document is an error rather than an ignored key.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DefaultEgressDestination {
    /// The address range.
    pub cidr: String,
    /// Ports on it; every port when empty.
    #[serde(default)]
    pub ports: Vec<DefaultEgressPort>,
}

/// A port of a [`DefaultEgressDestination`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DefaultEgressPort {
    /// Port number (1-65535).
    pub port: i32,
    /// TCP (default), UDP or SCTP.
    #[serde(default)]
    pub protocol: PortProtocol,
}

impl DefaultEgressRule {
    /// The rule as a profile would have written it.
    fn egress(&self) -> EgressSpec {
        EgressSpec {
            to: self
                .to
                .iter()
                .map(|d| EgressRule {
                    cidr: d.cidr.clone(),
                    ports: d
                        .ports
                        .iter()
                        .map(|p| IsolationPort {
                            port: p.port,
                            protocol: p.protocol,
                        })
                        .collect(),
                })
                .collect(),
            dns: self.dns,
        }
    }

    /// The first destination or port that is not one, as `defaultEgress[i]...: why`.
    fn invalid(&self, index: usize) -> Option<String> {
        self.to.iter().enumerate().find_map(|(i, d)| {
            if !is_cidr(&d.cidr) {
                return Some(format!(
                    "defaultEgress[{index}].to[{i}].cidr: {:?} is not a CIDR range",
                    d.cidr
                ));
            }
            d.ports
                .iter()
                .position(|p| !(1..=65535).contains(&p.port))
                .map(|j| {
                    format!(
                        "defaultEgress[{index}].to[{i}].ports[{j}].port: must be from 1 to 65535"
                    )
                })
        })
    }
}

/// Restricted image hosts allowed to profiles of some namespaces.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageSourceRule {
    /// Namespaces of the profiles this rule applies to.
    pub namespaces: Vec<String>,
    /// Hosts as written in the image URL (`registry.internal`, `10.0.0.5`, `[fd00::5]`).
    pub hosts: Vec<String>,
}

/// Node networking allowed to profiles of some namespaces.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeNetworkRule {
    /// Namespaces of the profiles this rule applies to.
    pub namespaces: Vec<String>,
    /// Node ports a bridge may be attached to (`nodeInterface`).
    #[serde(default)]
    pub node_interfaces: Vec<String>,
    /// Bridges that may be created on nodes.
    #[serde(default)]
    pub bridges: Vec<String>,
    /// VLAN IDs and ranges (`"100"`, `"100-199"`).
    #[serde(default)]
    pub vlans: Vec<String>,
    /// SR-IOV physical functions whose VFs may be configured.
    #[serde(default)]
    pub sriov_physical_functions: Vec<String>,
}

/// Clones (or, under `networkAttachments`, NADs) of other namespaces allowed to profiles of
/// some namespaces.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloneRule {
    /// Namespaces of the profiles this rule applies to.
    pub namespaces: Vec<String>,
    /// Namespaces their disks may be cloned from (or their networks attach to).
    pub source_namespaces: Vec<String>,
}

fn listed(list: &[String], value: &str) -> bool {
    list.iter().any(|item| item == ANY || item == value)
}

fn vlan_listed(list: &[String], vlan: i32) -> bool {
    list.iter().any(|item| {
        if item == ANY {
            return true;
        }
        let (low, high) = item.split_once('-').unwrap_or((item, item));
        matches!((low.trim().parse::<i32>(), high.trim().parse::<i32>()), (Ok(l), Ok(h)) if (l..=h).contains(&vlan))
    })
}

impl AdminPolicy {
    /// Everything allowed everywhere: for tests and single-tenant embedders.
    pub fn allow_all() -> Self {
        let any = || vec![ANY.to_owned()];
        AdminPolicy {
            node_networks: vec![NodeNetworkRule {
                namespaces: any(),
                node_interfaces: any(),
                bridges: any(),
                vlans: any(),
                sriov_physical_functions: any(),
            }],
            clones: vec![CloneRule {
                namespaces: any(),
                source_namespaces: any(),
            }],
            network_attachments: vec![CloneRule {
                namespaces: any(),
                source_namespaces: any(),
            }],
            image_sources: vec![ImageSourceRule {
                namespaces: any(),
                hosts: any(),
            }],
            default_egress: Vec::new(),
            limits: Vec::new(),
        }
    }

    /// Parses the policy document; unknown fields are errors, so a typo cannot silently
    /// allow or deny.
    pub fn parse(yaml: &str) -> Result<Self, String> {
        if yaml.trim().is_empty() {
            return Ok(Self::default());
        }
        let policy: Self = serde_yaml::from_str(yaml).map_err(|e| e.to_string())?;
        let invalid = policy
            .default_egress
            .iter()
            .enumerate()
            .find_map(|(i, rule)| rule.invalid(i));
        match invalid {
            Some(why) => Err(why),
            None => Ok(policy),
        }
    }

    /// The cap of VMs starting at once in `namespace`: the first limit rule naming it.
    pub fn start_cap(&self, namespace: &str) -> Option<usize> {
        self.limits
            .iter()
            .find(|rule| listed(&rule.namespaces, namespace))
            .and_then(|rule| rule.max_concurrent_starts)
    }

    /// The cap of imports running at once in `namespace`: the first limit rule naming it.
    pub fn import_cap(&self, namespace: &str) -> Option<usize> {
        self.limits
            .iter()
            .find(|rule| listed(&rule.namespaces, namespace))
            .and_then(|rule| rule.max_concurrent_imports)
    }

    /// The egress for profiles of `namespace` that set none: the first rule naming it.
    pub fn default_egress(&self, namespace: &str) -> Option<EgressSpec> {
        self.default_egress
            .iter()
            .find(|rule| listed(&rule.namespaces, namespace))
            .map(DefaultEgressRule::egress)
    }

    /// Whether a network that needs node configuration may have it: every node-level field
    /// it sets must be allowed by one rule for the namespace. The error names the field.
    pub fn check_node_network(
        &self,
        namespace: &str,
        index: usize,
        network: &NetworkSpec,
    ) -> Result<(), String> {
        let at = |field: &str| format!("spec.networks[{index}].{field}");
        let mut asked: Vec<(String, String)> = Vec::new();
        if let Some(port) = &network.node_interface {
            asked.push((at("nodeInterface"), port.clone()));
        }
        if let Some(bridge) = &network.bridge {
            asked.push((at("bridge"), bridge.clone()));
        }
        if let Some(vlan) = network.vlan {
            asked.push((at("vlan"), vlan.to_string()));
        }
        if let Some(pf) = network
            .sriov
            .as_ref()
            .and_then(|s| s.physical_function.clone())
        {
            asked.push((at("sriov.physicalFunction"), pf));
        }
        if asked.is_empty() {
            return Err(format!(
                "{}: this network configures nodes, which only nodeInterface, bridge, vlan and sriov.physicalFunction can be allowed for",
                at("type")
            ));
        }
        let rules: Vec<&NodeNetworkRule> = self
            .node_networks
            .iter()
            .filter(|r| listed(&r.namespaces, namespace))
            .collect();
        let allowed_by = |rule: &NodeNetworkRule| {
            network
                .node_interface
                .as_deref()
                .is_none_or(|p| listed(&rule.node_interfaces, p))
                && network
                    .bridge
                    .as_deref()
                    .is_none_or(|b| listed(&rule.bridges, b))
                && network.vlan.is_none_or(|v| vlan_listed(&rule.vlans, v))
                && network
                    .sriov
                    .as_ref()
                    .and_then(|s| s.physical_function.as_deref())
                    .is_none_or(|pf| listed(&rule.sriov_physical_functions, pf))
        };
        if rules.iter().any(|r| allowed_by(r)) {
            return Ok(());
        }
        // Name the first field no rule allows on its own.
        let (path, value) = asked
            .iter()
            .find(|(path, value)| {
                !rules.iter().any(|r| {
                    let list = if path.ends_with("nodeInterface") {
                        &r.node_interfaces
                    } else if path.ends_with("bridge") {
                        &r.bridges
                    } else if path.ends_with("physicalFunction") {
                        &r.sriov_physical_functions
                    } else {
                        return value.parse().is_ok_and(|v| vlan_listed(&r.vlans, v));
                    };
                    listed(list, value)
                })
            })
            .unwrap_or(&asked[0]);
        Err(format!(
            "{path}: {value} is node networking that profiles in namespace {namespace} may not configure; an administrator can allow it in the operator's policy (nodeNetworks)"
        ))
    }

    /// Whether profiles in `namespace` may attach to NADs of `nad_namespace`.
    pub fn allows_network_attachment(&self, namespace: &str, nad_namespace: &str) -> bool {
        namespace == nad_namespace
            || self.network_attachments.iter().any(|r| {
                listed(&r.namespaces, namespace) && listed(&r.source_namespaces, nad_namespace)
            })
    }

    /// Whether profiles in `namespace` may import images from the restricted `host`.
    pub fn allows_image_host(&self, namespace: &str, host: &str) -> bool {
        self.image_sources.iter().any(|r| {
            listed(&r.namespaces, namespace)
                && r.hosts
                    .iter()
                    .any(|h| h == ANY || h.eq_ignore_ascii_case(host))
        })
    }

    /// Whether profiles in `namespace` may clone disks from `source_namespace`.
    pub fn allows_clone(&self, namespace: &str, source_namespace: &str) -> bool {
        namespace == source_namespace
            || self.clones.iter().any(|r| {
                listed(&r.namespaces, namespace) && listed(&r.source_namespaces, source_namespace)
            })
    }
}

#[cfg(test)]
mod tests {
    use vmop_api::SriovSpec;

    use super::*;

    fn bridge(port: Option<&str>, bridge: &str, vlan: Option<i32>) -> NetworkSpec {
        NetworkSpec {
            name: "mgmt".into(),
            bridge: Some(bridge.into()),
            node_interface: port.map(Into::into),
            vlan,
            ..NetworkSpec::default()
        }
    }

    const POLICY: &str = r#"
nodeNetworks:
  - namespaces: [team-a]
    nodeInterfaces: [eth1]
    bridges: [br-mgmt]
    vlans: ["100-199", "300"]
  - namespaces: ["*"]
    sriovPhysicalFunctions: [ens1f0]
clones:
  - namespaces: ["*"]
    sourceNamespaces: [golden-images]
"#;

    #[test]
    fn nothing_is_allowed_by_default() {
        let none = AdminPolicy::default();
        let error = none
            .check_node_network("team-a", 0, &bridge(Some("eth1"), "br-mgmt", Some(100)))
            .expect_err("denied");
        assert!(
            error.starts_with("spec.networks[0].nodeInterface: eth1 is node networking that profiles in namespace team-a may not configure"),
            "{error}"
        );
        assert!(!none.allows_clone("team-a", "golden-images"));
        assert!(
            none.allows_clone("team-a", "team-a"),
            "same namespace always"
        );
        assert!(!none.allows_network_attachment("team-a", "finance"));
        assert!(none.allows_network_attachment("team-a", "team-a"));
        assert!(!none.allows_image_host("team-a", "10.0.0.5"));
    }

    #[test]
    fn network_attachments_and_image_hosts_are_allowed_as_listed() {
        let policy = AdminPolicy::parse(
            "networkAttachments:\n  - namespaces: [team-a]\n    sourceNamespaces: [shared-nets]\nimageSources:\n  - namespaces: [\"*\"]\n    hosts: [Registry.Internal, \"10.0.0.5\"]\n",
        )
        .expect("parses");
        assert!(policy.allows_network_attachment("team-a", "shared-nets"));
        assert!(!policy.allows_network_attachment("team-b", "shared-nets"));
        assert!(!policy.allows_network_attachment("team-a", "finance"));
        assert!(policy.allows_image_host("team-b", "registry.internal"));
        assert!(policy.allows_image_host("team-b", "10.0.0.5"));
        assert!(!policy.allows_image_host("team-b", "169.254.169.254"));
        assert!(
            AdminPolicy::parse("imageSource: []").is_err(),
            "a typo is an error, not a silent deny or allow"
        );
    }

    #[test]
    fn a_rule_allows_exactly_what_it_lists_for_its_namespaces() {
        let policy = AdminPolicy::parse(POLICY).expect("parses");
        assert_eq!(
            policy.check_node_network("team-a", 0, &bridge(Some("eth1"), "br-mgmt", Some(150))),
            Ok(())
        );
        let other_port = policy
            .check_node_network("team-a", 1, &bridge(Some("eth0"), "br-mgmt", Some(150)))
            .expect_err("eth0");
        assert!(
            other_port.starts_with("spec.networks[1].nodeInterface: eth0"),
            "{other_port}"
        );
        let other_vlan = policy
            .check_node_network("team-a", 0, &bridge(Some("eth1"), "br-mgmt", Some(200)))
            .expect_err("vlan 200");
        assert!(
            other_vlan.starts_with("spec.networks[0].vlan: 200"),
            "{other_vlan}"
        );
        let other_namespace = policy
            .check_node_network("team-b", 0, &bridge(Some("eth1"), "br-mgmt", Some(150)))
            .expect_err("team-b");
        assert!(
            other_namespace.contains("namespace team-b"),
            "{other_namespace}"
        );
        let sriov = NetworkSpec {
            name: "fast".into(),
            sriov: Some(SriovSpec {
                physical_function: Some("ens1f0".into()),
                ..SriovSpec::default()
            }),
            ..NetworkSpec::default()
        };
        assert_eq!(policy.check_node_network("anyone", 0, &sriov), Ok(()));
        assert!(policy.allows_clone("team-b", "golden-images"));
        assert!(!policy.allows_clone("team-b", "team-a"));
    }

    #[test]
    fn a_typo_is_an_error_not_a_silent_deny_or_allow() {
        let error = AdminPolicy::parse("nodeNetwork: []").expect_err("typo");
        assert!(error.contains("unknown field"), "{error}");
        assert_eq!(AdminPolicy::parse(""), Ok(AdminPolicy::default()));
    }

    #[test]
    fn the_default_egress_is_the_first_rule_naming_the_namespace() {
        let policy = AdminPolicy::parse(
            r#"
defaultEgress:
  - namespaces: [team-a]
    to: [{cidr: 10.0.0.0/8, ports: [{port: 443}, {port: 53, protocol: UDP}]}]
    dns: false
  - namespaces: ["*"]
    to: [{cidr: 192.168.0.0/16}]
"#,
        )
        .expect("valid");
        let team_a = policy.default_egress("team-a").expect("team-a's rule");
        assert!(!team_a.dns);
        assert_eq!(team_a.to.len(), 1);
        assert_eq!(team_a.to[0].cidr, "10.0.0.0/8");
        assert_eq!(
            team_a.to[0].ports,
            vec![
                IsolationPort {
                    port: 443,
                    protocol: PortProtocol::TCP
                },
                IsolationPort {
                    port: 53,
                    protocol: PortProtocol::UDP
                }
            ]
        );
        let other = policy.default_egress("team-b").expect("the catch-all");
        assert!(other.dns, "DNS stays on unless the rule says false");
        assert_eq!(other.to[0].cidr, "192.168.0.0/16");
        assert_eq!(AdminPolicy::default().default_egress("team-a"), None);
    }

    #[test]
    fn a_default_egress_that_is_not_a_range_or_a_port_is_an_error() {
        for (yaml, field) in [
            (
                "defaultEgress: [{namespaces: [a], to: [{cidr: office}]}]",
                "defaultEgress[0].to[0].cidr",
            ),
            (
                "defaultEgress: [{namespaces: [a], to: [{cidr: 10.0.0.0/8, ports: [{port: 0}]}]}]",
                "defaultEgress[0].to[0].ports[0].port",
            ),
            (
                "defaultEgress: [{namespaces: [a], to: [{cidr: 10.0.0.0/8, port: 22}]}]",
                "unknown field",
            ),
        ] {
            let error = AdminPolicy::parse(yaml).expect_err(yaml);
            assert!(error.contains(field), "{yaml}: {error}");
        }
    }
}
