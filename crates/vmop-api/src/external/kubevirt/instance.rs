//! KubeVirt's `VirtualMachineInstance` (kubevirt.io/v1): the domain a VM runs, and what its
//! instance reports.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Affinity;
use kube::CustomResource;
use serde::{Deserialize, Serialize};

use crate::external::{Empty, Extra, UpstreamCondition};

/// A VM instance's hardware, networks, volumes and scheduling; as a kind, a running (or
/// starting) instance of a VirtualMachine, named like it.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "kubevirt.io",
    version = "v1",
    kind = "VirtualMachineInstance",
    shortname = "vmi",
    namespaced,
    status = "VirtualMachineInstanceStatus",
    schema = "disabled",
    derive = "Default",
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineInstanceSpec {
    /// `domain` of KubeVirt's `VirtualMachineInstanceSpec`.
    #[serde(default)]
    pub domain: DomainSpec,
    /// `networks` of KubeVirt's `VirtualMachineInstanceSpec`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<Network>,
    /// `volumes` of KubeVirt's `VirtualMachineInstanceSpec`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    /// `affinity` of KubeVirt's `VirtualMachineInstanceSpec`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// `nodeSelector` of KubeVirt's `VirtualMachineInstanceSpec`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,
    /// `evictionStrategy` of KubeVirt's `VirtualMachineInstanceSpec`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eviction_strategy: Option<String>,
    /// `hostname` of KubeVirt's `VirtualMachineInstanceSpec`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// `terminationGracePeriodSeconds` of KubeVirt's `VirtualMachineInstanceSpec`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<i64>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// CPU, memory and devices.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DomainSpec {
    /// `cpu` of KubeVirt's `DomainSpec`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Cpu>,
    /// `memory` of KubeVirt's `DomainSpec`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Memory>,
    /// `devices` of KubeVirt's `DomainSpec`.
    #[serde(default)]
    pub devices: Devices,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// CPU topology.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Cpu {
    /// `cores` of KubeVirt's `Cpu`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cores: Option<u32>,
    /// `sockets` of KubeVirt's `Cpu`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sockets: Option<u32>,
    /// `threads` of KubeVirt's `Cpu`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<u32>,
    /// Upper bound for CPU hotplug (with the cluster's LiveUpdate rollout strategy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_sockets: Option<u32>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Guest memory.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Memory {
    /// `guest` of KubeVirt's `Memory`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest: Option<String>,
    /// Upper bound for memory hotplug.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_guest: Option<String>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Disks and interfaces of the domain.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Devices {
    /// `disks` of KubeVirt's `Devices`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disks: Vec<Disk>,
    /// `interfaces` of KubeVirt's `Devices`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<Interface>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A disk device, paired with a volume of the same name.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Disk {
    /// `name` of KubeVirt's `Disk`.
    pub name: String,
    /// `disk` of KubeVirt's `Disk`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<DiskTarget>,
    /// `bootOrder` of KubeVirt's `Disk`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_order: Option<u32>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A disk's bus (`virtio`, `sata`, `scsi`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DiskTarget {
    /// `bus` of KubeVirt's `DiskTarget`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bus: Option<String>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A network interface, paired 1:1 by name with a network. Exactly one binding is set.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Interface {
    /// `name` of KubeVirt's `Interface`.
    pub name: String,
    /// `bridge` of KubeVirt's `Interface`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<Empty>,
    /// Pod network only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masquerade: Option<Empty>,
    /// `sriov` of KubeVirt's `Interface`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sriov: Option<Empty>,
    /// A network binding plugin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding: Option<PluginBinding>,
    /// Such as `02:00:00:00:00:01`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A network binding plugin by name.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct PluginBinding {
    /// `name` of KubeVirt's `PluginBinding`.
    pub name: String,
}

/// A network: the pod network or a Multus one.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Network {
    /// `name` of KubeVirt's `Network`.
    pub name: String,
    /// `pod` of KubeVirt's `Network`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<Empty>,
    /// `multus` of KubeVirt's `Network`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multus: Option<MultusNetwork>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A Multus network by NAD name (`<ns>/<name>` or `<name>`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MultusNetwork {
    /// `networkName` of KubeVirt's `MultusNetwork`.
    pub network_name: String,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A volume backing a disk.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    /// `name` of KubeVirt's `Volume`.
    pub name: String,
    /// `persistentVolumeClaim` of KubeVirt's `Volume`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_volume_claim: Option<ClaimVolumeSource>,
    /// `dataVolume` of KubeVirt's `Volume`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_volume: Option<DataVolumeVolumeSource>,
    /// `cloudInitNoCloud` of KubeVirt's `Volume`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_init_no_cloud: Option<CloudInitNoCloud>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A claim as a volume.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClaimVolumeSource {
    /// `claimName` of KubeVirt's `ClaimVolumeSource`.
    pub claim_name: String,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A DataVolume as a volume (KubeVirt waits for its import).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DataVolumeVolumeSource {
    /// `name` of KubeVirt's `DataVolumeVolumeSource`.
    pub name: String,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A cloud-init NoCloud disk. Inline data is capped at 2048 bytes by KubeVirt's admission:
/// the operator always uses Secrets (keys `userdata` and `networkdata`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CloudInitNoCloud {
    /// `secretRef` of KubeVirt's `CloudInitNoCloud`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// `networkDataSecretRef` of KubeVirt's `CloudInitNoCloud`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_data_secret_ref: Option<LocalObjectReference>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A reference by name to an object in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct LocalObjectReference {
    /// `name` of KubeVirt's `LocalObjectReference`.
    pub name: String,
}

/// Observed state of an instance.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineInstanceStatus {
    /// `phase` of KubeVirt's `VirtualMachineInstanceStatus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// `nodeName` of KubeVirt's `VirtualMachineInstanceStatus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    /// `interfaces` of KubeVirt's `VirtualMachineInstanceStatus`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<VmiInterfaceStatus>,
    /// `conditions` of KubeVirt's `VirtualMachineInstanceStatus`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<UpstreamCondition>,
    /// `migrationState` of KubeVirt's `VirtualMachineInstanceStatus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration_state: Option<serde_json::Value>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One interface of a running instance.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VmiInterfaceStatus {
    /// The network/interface name from the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `mac` of KubeVirt's `VmiInterfaceStatus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// The first of `ipAddresses`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    /// `ipAddresses` of KubeVirt's `VmiInterfaceStatus`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_addresses: Vec<String>,
    /// Interface name inside the guest (from the guest agent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface_name: Option<String>,
    /// Where the information came from: `domain`, `guest-agent`, `multus-status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info_source: Option<String>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}
