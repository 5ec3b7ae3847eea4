//! The `bridge` network plugin: the VM's interface joins a Linux bridge on the node.
//!
//! - A NetworkAttachmentDefinition of CNI type `bridge` (VLAN, MTU, `macspoofchk`,
//!   `disableContainerInterface`, IPAM none/static/whereabouts) with bridge-marker's
//!   `resourceName` annotation, so VMs land only on nodes that have the bridge.
//! - With `nodeInterface`, a NodeNetworkConfigurationPolicy creating the bridge on that port
//!   as a VLAN trunk. It depends only on bridge, port and node selector, so every profile on
//!   the same bridge produces the same policy: one shared object, no fight between writers.
//! - With `nadName`, an existing NAD is used as is; nothing is created.

use serde_json::json;
use vmop_plugin::{
    DesiredNetwork, InterfaceBinding, NetworkConfig, NetworkPlugin, ObservedNetwork, PluginError,
    Readiness, async_trait, objects, readiness, register_network_plugin,
};

/// The name users select this plugin by.
pub const NAME: &str = "bridge";

register_network_plugin!(NAME, BridgePlugin);

/// Keeps this crate's registration in a binary that names nothing else from it.
#[inline(never)]
pub fn link() -> &'static str {
    NAME
}

/// Prefix of bridge-marker's resource for a bridge.
const BRIDGE_MARKER_PREFIX: &str = "bridge.network.kubevirt.io/";

/// Linux bridges on node ports, attached with KubeVirt's bridge binding.
#[derive(Debug, Default)]
pub struct BridgePlugin;

#[async_trait]
impl NetworkPlugin for BridgePlugin {
    fn validate(&self, config: &NetworkConfig) -> Result<(), PluginError> {
        let network = &config.network;
        if network.nad_name.is_some() {
            return Ok(());
        }
        if network.bridge.is_none() {
            return Err(PluginError::invalid(
                config.field_path("bridge"),
                "bridge networks need the name of the Linux bridge on the nodes (or nadName for an existing NetworkAttachmentDefinition)",
            ));
        }
        if network.sriov.is_some() {
            return Err(PluginError::invalid(
                config.field_path("sriov"),
                "sriov settings need type: sriov",
            ));
        }
        if network.node_selector.is_some() && network.node_interface.is_none() {
            return Err(PluginError::invalid(
                config.field_path("nodeSelector"),
                "nodeSelector chooses the nodes that get the bridge on nodeInterface: set nodeInterface too",
            ));
        }
        Ok(())
    }

    async fn build(&self, config: &NetworkConfig) -> Result<DesiredNetwork, PluginError> {
        self.validate(config)?;
        let network = &config.network;
        if let Some(existing) = objects::existing_nad(config, InterfaceBinding::Bridge) {
            return Ok(existing);
        }
        let bridge = network.bridge.clone().unwrap_or_default();
        let mut cni = json!({
            "cniVersion": "0.3.1",
            "name": objects::nad_name(config),
            "type": "bridge",
            "bridge": bridge,
            "macspoofchk": true,
            "disableContainerInterface": true,
            "ipam": objects::ipam(network),
        });
        if let Some(vlan) = network.vlan {
            cni["vlan"] = json!(vlan);
        }
        if let Some(mtu) = network.mtu {
            cni["mtu"] = json!(mtu);
        }
        let nad = objects::nad(config, &cni, &format!("{BRIDGE_MARKER_PREFIX}{bridge}"));

        let policies = match &network.node_interface {
            Some(port) => vec![objects::shared_policy(
                &[&bridge, port],
                network.node_selector.as_ref(),
                json!({
                    "interfaces": [{
                        "name": bridge,
                        "type": "linux-bridge",
                        "state": "up",
                        "bridge": {
                            "options": {"stp": {"enabled": false}},
                            // A trunk of every VLAN: the same policy serves all profiles on
                            // this bridge, whatever VLAN each uses.
                            "port": [{
                                "name": port,
                                "vlan": {"mode": "trunk", "trunk-tags": [{"id-range": {"min": 2, "max": 4094}}]},
                            }],
                        },
                    }]
                }),
            )],
            None => Vec::new(),
        };

        Ok(DesiredNetwork {
            attachment: objects::own_nad_attachment(config, InterfaceBinding::Bridge),
            nad: Some(nad),
            policies,
        })
    }

    fn readiness(&self, desired: &DesiredNetwork, observed: &ObservedNetwork) -> Readiness {
        readiness::nad_then_policies(desired, observed)
    }
}
