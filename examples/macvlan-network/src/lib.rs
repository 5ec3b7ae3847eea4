//! A third-party network plugin for vm-operator: `type: macvlan`. The VM gets an interface
//! on a macvlan sub-interface of the node NIC `nodeInterface` (CNI `macvlan`, mode bridge),
//! with the network's IPAM (none, static `ipAddress`, or whereabouts) and MTU. Nothing is
//! configured on the nodes: the NIC must exist, and the administrator's policy must allow
//! tenants to use it (`nodeNetworks[].nodeInterfaces`), as for a bridge's port.
//!
//! Written against `vmop-plugin` alone, the way docs/plugins.md describes: pure functions,
//! helpers for names, labels and IPAM, readiness from the observed NAD.

use serde_json::json;
use vmop_plugin::{
    DesiredNetwork, InterfaceBinding, NetworkConfig, NetworkPlugin, ObservedNetwork, PluginError,
    Readiness, async_trait, objects, readiness::nad_readiness, register_network_plugin,
};

/// The name users select this plugin by (`spec.networks[].type`).
pub const NAME: &str = "macvlan";

register_network_plugin!(NAME, MacvlanPlugin);

/// Keeps this crate's registration in a binary that names nothing else from it.
#[inline(never)]
pub fn link() -> &'static str {
    NAME
}

/// macvlan secondary networks.
#[derive(Debug, Default)]
pub struct MacvlanPlugin;

#[async_trait]
impl NetworkPlugin for MacvlanPlugin {
    fn validate(&self, config: &NetworkConfig) -> Result<(), PluginError> {
        let network = &config.network;
        if network.nad_name.is_some() {
            return Ok(());
        }
        let refuse =
            |field: &str, why: &str| Err(PluginError::invalid(config.field_path(field), why));
        if network.node_interface.is_none() {
            return refuse(
                "nodeInterface",
                "macvlan needs the node interface its sub-interfaces are made on, such as eth1",
            );
        }
        if network.bridge.is_some() {
            return refuse(
                "bridge",
                "macvlan attaches to nodeInterface, not to a bridge",
            );
        }
        if network.vlan.is_some() {
            return refuse(
                "vlan",
                "macvlan has no VLAN of its own: name a VLAN interface (such as eth1.100) as nodeInterface",
            );
        }
        if network.sriov.is_some() {
            return refuse("sriov", "sriov settings need type: sriov");
        }
        Ok(())
    }

    async fn build(&self, config: &NetworkConfig) -> Result<DesiredNetwork, PluginError> {
        self.validate(config)?;
        if let Some(existing) = objects::existing_nad(config, InterfaceBinding::Bridge) {
            return Ok(existing);
        }
        let network = &config.network;
        let mut cni = json!({
            "cniVersion": "0.3.1",
            "name": objects::nad_name(config),
            "type": "macvlan",
            "master": network.node_interface,
            "mode": "bridge",
            "ipam": objects::ipam(network),
        });
        if let Some(mtu) = network.mtu {
            cni["mtu"] = json!(mtu);
        }
        // No device plugin resource: every node has its NICs.
        let mut nad = objects::nad(config, &cni, "");
        nad.metadata.annotations = None;
        Ok(DesiredNetwork {
            // KubeVirt has no macvlan binding; its bridge binding works on a macvlan pod
            // interface.
            attachment: objects::own_nad_attachment(config, InterfaceBinding::Bridge),
            nad: Some(nad),
            policies: Vec::new(),
        })
    }

    fn readiness(&self, desired: &DesiredNetwork, observed: &ObservedNetwork) -> Readiness {
        nad_readiness(observed, &desired.attachment.nad, desired.nad.is_some())
    }
}
