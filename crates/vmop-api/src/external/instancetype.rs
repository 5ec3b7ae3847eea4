//! KubeVirt instancetypes and preferences (instancetype.kubevirt.io/v1beta1): the subset the
//! operator reads (guest CPUs and memory) and the test world creates.

use kube::CustomResource;
use serde::{Deserialize, Serialize};

use super::Extra;

/// API group of instancetypes and preferences.
pub const GROUP: &str = "instancetype.kubevirt.io";

/// Kind names, as `spec.instancetype.kind` and `spec.preference.kind` of a VM spell them.
pub mod kind {
    /// Kind `VirtualMachineClusterInstancetype`.
    pub const CLUSTER_INSTANCETYPE: &str = "VirtualMachineClusterInstancetype";
    /// Kind `VirtualMachineInstancetype`.
    pub const INSTANCETYPE: &str = "VirtualMachineInstancetype";
    /// Kind `VirtualMachineClusterPreference`.
    pub const CLUSTER_PREFERENCE: &str = "VirtualMachineClusterPreference";
    /// Kind `VirtualMachinePreference`.
    pub const PREFERENCE: &str = "VirtualMachinePreference";
}

/// What an instancetype provides (`VirtualMachineInstancetypeSpec`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InstancetypeSpec {
    /// `cpu` of KubeVirt's `InstancetypeSpec`.
    pub cpu: GuestCpu,
    /// `memory` of KubeVirt's `InstancetypeSpec`.
    pub memory: GuestMemory,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `spec.cpu` of an instancetype: the guest's vCPUs.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GuestCpu {
    /// `guest` of KubeVirt's `GuestCpu`.
    pub guest: u32,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `spec.memory` of an instancetype: the guest's memory, a quantity.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GuestMemory {
    /// `guest` of KubeVirt's `GuestMemory`.
    pub guest: String,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A namespaced instancetype.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "instancetype.kubevirt.io",
    version = "v1beta1",
    kind = "VirtualMachineInstancetype",
    namespaced,
    schema = "disabled",
    derive = "Default",
    derive = "PartialEq"
)]
pub struct VirtualMachineInstancetypeSpec {
    /// `spec` of KubeVirt's `VirtualMachineInstancetypeSpec`.
    #[serde(flatten)]
    pub spec: InstancetypeSpec,
}

/// A cluster-wide instancetype.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "instancetype.kubevirt.io",
    version = "v1beta1",
    kind = "VirtualMachineClusterInstancetype",
    schema = "disabled",
    derive = "Default",
    derive = "PartialEq"
)]
pub struct VirtualMachineClusterInstancetypeSpec {
    /// `spec` of KubeVirt's `VirtualMachineClusterInstancetypeSpec`.
    #[serde(flatten)]
    pub spec: InstancetypeSpec,
}

/// A namespaced preference (the operator only checks that it exists).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "instancetype.kubevirt.io",
    version = "v1beta1",
    kind = "VirtualMachinePreference",
    namespaced,
    schema = "disabled",
    derive = "Default",
    derive = "PartialEq"
)]
pub struct VirtualMachinePreferenceSpec {
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A cluster-wide preference.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "instancetype.kubevirt.io",
    version = "v1beta1",
    kind = "VirtualMachineClusterPreference",
    schema = "disabled",
    derive = "Default",
    derive = "PartialEq"
)]
pub struct VirtualMachineClusterPreferenceSpec {
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}
