//! The `sriov` network plugin: the VM gets a virtual function of an SR-IOV NIC.
//!
//! - A NetworkAttachmentDefinition of CNI type `sriov` (VLAN, `spoofchk` and `trust` as the
//!   strings "on"/"off", IPAM) with the `k8s.v1.cni.cncf.io/resourceName` annotation naming the
//!   SR-IOV device plugin's pool: the VM is scheduled where the pool has a free VF.
//! - With `sriov.physicalFunction` and `sriov.numVfs`, a NodeNetworkConfigurationPolicy
//!   setting `total-vfs` on that function. NMState creates the VFs; the SR-IOV device plugin
//!   must still advertise them under `resourceName`, or no VM can start.

use serde_json::json;
use vmop_plugin::{
    DesiredNetwork, InterfaceBinding, NetworkConfig, NetworkPlugin, ObservedNetwork, PluginError,
    Readiness, async_trait, objects, readiness, register_network_plugin,
    vmop_api::profile::IpamType,
};

/// The name users select this plugin by.
pub const NAME: &str = "sriov";

register_network_plugin!(NAME, SriovPlugin);

/// Keeps this crate's registration in a binary that names nothing else from it.
#[inline(never)]
pub fn link() -> &'static str {
    NAME
}

/// SR-IOV virtual functions, attached with KubeVirt's sriov binding.
#[derive(Debug, Default)]
pub struct SriovPlugin;

fn on_off(value: bool) -> &'static str {
    if value { "on" } else { "off" }
}

#[async_trait]
impl NetworkPlugin for SriovPlugin {
    fn validate(&self, config: &NetworkConfig) -> Result<(), PluginError> {
        let network = &config.network;
        let refuse = |field: &str, message: &str| {
            Err(PluginError::invalid(config.field_path(field), message))
        };
        if network.nad_name.is_some() {
            return Ok(());
        }
        let Some(sriov) = &network.sriov else {
            return refuse(
                "sriov",
                "sriov networks need sriov.resourceName, the SR-IOV device plugin's resource (such as intel.com/sriov_netdevice)",
            );
        };
        if sriov.resource_name.as_deref().is_none_or(str::is_empty) {
            return refuse(
                "sriov.resourceName",
                "sriov networks need the SR-IOV device plugin's resource (such as intel.com/sriov_netdevice)",
            );
        }
        if network.bridge.is_some() {
            return refuse(
                "bridge",
                "a VF attaches directly to the NIC: bridge does not apply to sriov networks",
            );
        }
        if network.node_interface.is_some() {
            return refuse(
                "nodeInterface",
                "name the NIC as sriov.physicalFunction for sriov networks",
            );
        }
        if network.mtu.is_some() {
            return refuse(
                "mtu",
                "a VF takes its MTU from the physical function: set it on the NIC, not here",
            );
        }
        if network
            .ipam
            .as_ref()
            .is_some_and(|i| i.type_ == IpamType::Whereabouts)
        {
            return refuse(
                "ipam",
                "KubeVirt's sriov binding passes the VF to the guest: the pod-side whereabouts address would never reach it; use ipAddress",
            );
        }
        if sriov.physical_function.is_some() != sriov.num_vfs.is_some() {
            return refuse(
                if sriov.physical_function.is_some() {
                    "sriov.numVfs"
                } else {
                    "sriov.physicalFunction"
                },
                "physicalFunction and numVfs go together: both create the VFs, neither uses existing ones",
            );
        }
        Ok(())
    }

    async fn build(&self, config: &NetworkConfig) -> Result<DesiredNetwork, PluginError> {
        self.validate(config)?;
        let network = &config.network;
        if let Some(existing) = objects::existing_nad(config, InterfaceBinding::Sriov) {
            return Ok(existing);
        }
        let sriov = network.sriov.clone().unwrap_or_default();
        let resource = sriov.resource_name.clone().unwrap_or_default();
        let mut cni = json!({
            "cniVersion": "0.3.1",
            "name": objects::nad_name(config),
            "type": "sriov",
            "spoofchk": on_off(sriov.spoof_check.unwrap_or(true)),
            "trust": on_off(sriov.trust.unwrap_or(false)),
            "ipam": objects::ipam(network),
        });
        if let Some(vlan) = network.vlan {
            cni["vlan"] = json!(vlan);
        }
        let nad = objects::nad(config, &cni, &resource);
        let policies = match (&sriov.physical_function, sriov.num_vfs) {
            (Some(pf), Some(vfs)) => vec![objects::shared_policy(
                &["sriov", pf],
                network.node_selector.as_ref(),
                json!({
                    "interfaces": [{
                        "name": pf,
                        "type": "ethernet",
                        "state": "up",
                        "ethernet": {"sr-iov": {"total-vfs": vfs}},
                    }]
                }),
            )],
            _ => Vec::new(),
        };
        Ok(DesiredNetwork {
            attachment: objects::own_nad_attachment(config, InterfaceBinding::Sriov),
            nad: Some(nad),
            policies,
        })
    }

    fn readiness(&self, desired: &DesiredNetwork, observed: &ObservedNetwork) -> Readiness {
        readiness::nad_then_policies(desired, observed)
    }
}
