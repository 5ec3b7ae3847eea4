//! What a planned profile holds in common with others ([`Wants`]), read from the objects its
//! plugins built, so that custom plugins are covered too: the node interfaces each shared
//! policy configures (from its NMState desired state), and the network segment of each static
//! address and MAC (from the NAD's CNI configuration and resource annotation).

use std::collections::BTreeSet;

use serde_json::Value;
use vmop_api::external::multus::{NetworkAttachmentDefinition, RESOURCE_NAME_ANNOTATION};

use crate::{
    desired::claims::{WantedAddress, WantedPolicy, Wants},
    desired::plan::{Plan, PlannedNetwork},
};

/// Node interfaces an NMState desired state configures: each interface, the ports of its
/// bridge or bond, and the base interface of a VLAN.
pub fn configured_interfaces(desired_state: &Value) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let interfaces = desired_state["interfaces"].as_array().into_iter().flatten();
    for interface in interfaces {
        let mut add = |value: &Value| {
            if let Some(name) = value.as_str() {
                names.insert(name.to_owned());
            }
        };
        add(&interface["name"]);
        add(&interface["vlan"]["base-iface"]);
        for ports in [
            &interface["bridge"]["port"],
            &interface["link-aggregation"]["port"],
        ] {
            for port in ports.as_array().into_iter().flatten() {
                add(port.get("name").unwrap_or(port));
            }
        }
    }
    names
}

/// The segment a NAD puts the VM on, in words: what it attaches to (its device-plugin
/// resource, else the CNI `bridge` or `master`) and its VLAN. `None` when the configuration
/// names neither: then addresses are not compared.
fn segment_of_nad(nad: &NetworkAttachmentDefinition) -> Option<String> {
    let config: Value = serde_json::from_str(nad.spec.config.as_deref()?).ok()?;
    let kind = config["type"].as_str().unwrap_or("cni");
    let device = config["bridge"]
        .as_str()
        .or(config["master"].as_str())
        .map(|d| format!("{kind} {d}"))
        .or_else(|| {
            nad.metadata
                .annotations
                .as_ref()?
                .get(RESOURCE_NAME_ANNOTATION)
                .map(|r| format!("{kind} resource {r}"))
        })?;
    Some(match config["vlan"].as_i64() {
        Some(vlan) => format!("{device} VLAN {vlan}"),
        None => format!("{device} (untagged)"),
    })
}

fn segment(network: &PlannedNetwork) -> Option<String> {
    match &network.desired.nad {
        Some(nad) => segment_of_nad(nad),
        None => Some(format!(
            "NetworkAttachmentDefinition {}",
            network.desired.attachment.nad
        )),
    }
}

/// The field of a network that asks for node configuration, for messages.
fn node_field(network: &PlannedNetwork) -> String {
    let spec = &network.config.network;
    let index = network.config.index;
    if spec
        .sriov
        .as_ref()
        .is_some_and(|s| s.physical_function.is_some())
    {
        format!("spec.networks[{index}].sriov.physicalFunction")
    } else if spec.node_interface.is_some() {
        format!("spec.networks[{index}].nodeInterface")
    } else {
        format!("spec.networks[{index}]")
    }
}

/// What `plan` holds in common with other profiles.
pub fn wants(plan: &Plan) -> Wants {
    let mut wants = Wants::default();
    for network in &plan.networks {
        for policy in &network.desired.policies {
            wants.policies.push(WantedPolicy {
                field: node_field(network),
                name: policy.metadata.name.clone().unwrap_or_default(),
                interfaces: policy
                    .spec
                    .desired_state
                    .as_ref()
                    .map(configured_interfaces)
                    .unwrap_or_default(),
                node_selector: policy.spec.node_selector.clone().unwrap_or_default(),
            });
        }
        if network.desired.nad.is_none() {
            wants.nads.insert(network.desired.attachment.nad.clone());
        }
        let Some(segment) = segment(network) else {
            continue;
        };
        let spec = &network.config.network;
        let index = network.config.index;
        if let Some(ip) = &spec.ip_address {
            let address = ip.split_once('/').map_or(ip.as_str(), |(a, _)| a);
            // Parsed, so that one address written two ways is one address.
            let address = address
                .parse::<std::net::IpAddr>()
                .map_or_else(|_| address.to_ascii_lowercase(), |a| a.to_string());
            wants.addresses.push(WantedAddress {
                field: format!("spec.networks[{index}].ipAddress"),
                segment: segment.clone(),
                value: format!("IP address {address}"),
            });
        }
        if let Some(mac) = &spec.mac_address {
            wants.addresses.push(WantedAddress {
                field: format!("spec.networks[{index}].macAddress"),
                segment,
                value: format!("MAC address {}", mac.to_ascii_lowercase().replace('-', ":")),
            });
        }
    }
    wants
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_bridge_its_ports_bond_ports_and_vlan_bases_are_configured() {
        let state = json!({"interfaces": [
            {"name": "br1", "type": "linux-bridge", "bridge": {"port": [{"name": "eth1"}]}},
            {"name": "bond0", "type": "bond", "link-aggregation": {"port": ["eth2", "eth3"]}},
            {"name": "eth4.10", "type": "vlan", "vlan": {"base-iface": "eth4", "id": 10}},
        ]});
        let names: Vec<String> = configured_interfaces(&state).into_iter().collect();
        assert_eq!(
            names,
            ["bond0", "br1", "eth1", "eth2", "eth3", "eth4", "eth4.10"]
        );
    }

    fn nad(config: Value, resource: Option<&str>) -> NetworkAttachmentDefinition {
        let mut nad = NetworkAttachmentDefinition::default();
        nad.spec.config = Some(config.to_string());
        if let Some(resource) = resource {
            nad.metadata.annotations = Some(
                [(RESOURCE_NAME_ANNOTATION.to_owned(), resource.to_owned())]
                    .into_iter()
                    .collect(),
            );
        }
        nad
    }

    #[test]
    fn segments_are_the_device_and_vlan() {
        let bridge = nad(json!({"type": "bridge", "bridge": "br1", "vlan": 10}), None);
        assert_eq!(
            segment_of_nad(&bridge).as_deref(),
            Some("bridge br1 VLAN 10")
        );
        let sriov = nad(json!({"type": "sriov"}), Some("intel.com/sriov_a"));
        assert_eq!(
            segment_of_nad(&sriov).as_deref(),
            Some("sriov resource intel.com/sriov_a (untagged)")
        );
        assert_eq!(segment_of_nad(&nad(json!({"type": "x"}), None)), None);
    }
}
