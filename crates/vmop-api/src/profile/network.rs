//! A profile's networks: how each attaches the VM (bridge, VLAN, SR-IOV, an existing NAD) and
//! its addresses.

use std::collections::BTreeMap;

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// One secondary network of the VM.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = kube::core::Rule::new("!has(self.nadName) || (!has(self.bridge) && !has(self.vlan) && !has(self.nodeInterface) && !has(self.mtu) && !has(self.ipam))").message(crate::messages::NAD_EXCLUSIVE).field_path(".nadName"),
    validation = kube::core::Rule::new("!has(self.gateway) || has(self.ipAddress)").message(crate::messages::GATEWAY_WITHOUT_ADDRESS).field_path(".gateway"),
    validation = kube::core::Rule::new("!has(self.ipam) || self.ipam.type != 'static' || has(self.ipAddress)").message(crate::messages::IPAM_STATIC_NEEDS_ADDRESS).field_path(".ipam"),
    validation = kube::core::Rule::new("!has(self.ipam) || self.ipam.type != 'whereabouts' || !has(self.ipAddress)").message(crate::messages::WHEREABOUTS_WITH_ADDRESS).field_path(".ipAddress"),
    validation = kube::core::Rule::new("!has(self.gateway) || !has(self.ipAddress) || !isCIDR(self.ipAddress) || !isIP(self.gateway) || cidr(self.ipAddress).containsIP(self.gateway)").message(crate::messages::GATEWAY_OUTSIDE_SUBNET).field_path(".gateway")
)]
pub struct NetworkSpec {
    /// Name of the network, unique in the profile; also the VM's network and interface name
    /// (in the guest too, so not a name the guest gives its own interfaces, such as eth0).
    #[schemars(length(max = 32))]
    #[x_kube(
        validation = kube::core::Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && !self.contains('--')").message(crate::messages::ENTRY_NAME),
        validation = kube::core::Rule::new("!self.matches('^(lo|(eth|ib|wlan)[0-9]+|en[ops][0-9].*|enx[0-9a-f]+)$')").message(crate::messages::GUEST_INTERFACE_RESERVED)
    )]
    pub name: String,

    /// The NetworkPlugin that serves this network, by its registered name: `bridge` (default)
    /// or `sriov`, or a third-party plugin.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    #[x_kube(validation = kube::core::Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message(crate::messages::PLUGIN_NAME))]
    pub type_: Option<String>,

    /// An existing NetworkAttachmentDefinition, `<name>` or `<namespace>/<name>`, used as is:
    /// nothing is created, its existence is checked and reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    #[x_kube(validation = kube::core::Rule::new("self.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?/)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')").message(crate::messages::NAD_NAME))]
    pub nad_name: Option<String>,

    /// Linux bridge on the node that the VM's interface is attached to (bridge networks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 15))]
    #[x_kube(validation = kube::core::Rule::new("self.matches('^[a-zA-Z0-9][-._a-zA-Z0-9]*$')").message(crate::messages::INTERFACE_NAME))]
    pub bridge: Option<String>,

    /// VLAN ID (1-4094) for the VM's traffic on this network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("self >= 1 && self <= 4094").message(crate::messages::VLAN_RANGE))]
    pub vlan: Option<i32>,

    /// Physical port on the nodes; when set, the plugin also emits a
    /// NodeNetworkConfigurationPolicy that creates the bridge on this port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 15))]
    #[x_kube(validation = kube::core::Rule::new("self.matches('^[a-zA-Z0-9][-._a-zA-Z0-9]*$')").message(crate::messages::INTERFACE_NAME))]
    pub node_interface: Option<String>,

    /// Nodes that get the node network configuration; the VM is then scheduled only there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,

    /// MTU of the network (576-9216).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("self >= 576 && self <= 9216").message(crate::messages::MTU_RANGE))]
    pub mtu: Option<i32>,

    /// Static address of the VM on this network, with prefix length (192.168.100.10/24). It
    /// is configured in the guest by cloud-init, matched by the interface's MAC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = kube::core::Rule::new("isCIDR(self)").message(crate::messages::CIDR))]
    pub ip_address: Option<String>,

    /// Default gateway reached over this network; needs ipAddress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = kube::core::Rule::new("isIP(self)").message(crate::messages::IP))]
    pub gateway: Option<String>,

    /// MAC address of the VM's interface. When unset, a locally administered MAC is
    /// generated once, recorded in status and kept for the life of the profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 17))]
    #[x_kube(
        validation = kube::core::Rule::new("self.matches('^[0-9a-fA-F][02468aceACE](:[0-9a-fA-F]{2}){5}$')").message(crate::messages::MAC),
        validation = kube::core::Rule::new("self != '00:00:00:00:00:00'").message(crate::messages::ZERO_MAC)
    )]
    pub mac_address: Option<String>,

    /// IP address management inside the NetworkAttachmentDefinition (default: none, plain L2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipam: Option<IpamSpec>,

    /// SR-IOV settings (type `sriov`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sriov: Option<SriovSpec>,

    /// Free-form settings for third-party network plugins.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
}

/// IPAM of a NetworkAttachmentDefinition.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = kube::core::Rule::new("self.type != 'whereabouts' || has(self.range)").message(crate::messages::WHEREABOUTS_NEEDS_RANGE).field_path(".range")
)]
pub struct IpamSpec {
    /// `none` (no IPAM), `static` (the network's ipAddress) or `whereabouts` (a cluster-wide
    /// pool given by range).
    #[serde(rename = "type")]
    pub type_: IpamType,
    /// Whereabouts pool, such as 192.168.100.0/24.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = kube::core::Rule::new("isCIDR(self)").message(crate::messages::WHEREABOUTS_RANGE))]
    pub range: Option<String>,
    /// Addresses of the whereabouts pool never handed out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = 64)))]
    #[x_kube(validation = kube::core::Rule::new("self.all(x, isCIDR(x))").message(crate::messages::WHEREABOUTS_EXCLUDE))]
    pub exclude: Vec<String>,
}

/// IPAM plugin types.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
// Variants are described with `//`: `///` on a variant would turn the CRD's `enum` into a
// `oneOf` (schemars writes one schema per described variant).
#[allow(missing_docs)]
pub enum IpamType {
    // No IPAM: plain layer 2.
    None,
    // The network's ipAddress, handed to the guest by KubeVirt's DHCP over bridge binding.
    Static,
    // A cluster-wide pool managed by whereabouts.
    Whereabouts,
}

/// SR-IOV settings of a network.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SriovSpec {
    /// The device plugin's resource that advertises the VFs, such as
    /// `intel.com/sriov_netdevice`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    #[x_kube(validation = kube::core::Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$')").message(crate::messages::RESOURCE_NAME))]
    pub resource_name: Option<String>,
    /// Physical function whose VFs are created by a NodeNetworkConfigurationPolicy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 15))]
    #[x_kube(validation = kube::core::Rule::new("self.matches('^[a-zA-Z0-9][-._a-zA-Z0-9]*$')").message(crate::messages::INTERFACE_NAME))]
    pub physical_function: Option<String>,
    /// Number of VFs to create on the physical function (1-256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("self >= 1 && self <= 256").message(crate::messages::NUM_VFS_RANGE))]
    pub num_vfs: Option<i32>,
    /// MAC spoof checking on the VF (default on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spoof_check: Option<bool>,
    /// Trusted VF (default off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<bool>,
}
