//! KubeVirt's VirtualMachine, VirtualMachineInstance and VirtualMachineInstanceMigration
//! (kubevirt.io/v1): the fields virt-controller and virt-handler read here.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Affinity;
use kube::CustomResource;
use serde::{Deserialize, Serialize};

use super::{Condition, Rest};

/// `VirtualMachineSpec`.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default)]
#[kube(
    group = "kubevirt.io",
    version = "v1",
    kind = "VirtualMachine",
    namespaced,
    status = "VirtualMachineStatus",
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_strategy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<InstanceTemplate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instancetype: Option<Matcher>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preference: Option<Matcher>,
    #[serde(flatten)]
    pub rest: Rest,
}

/// `InstancetypeMatcher` / `PreferenceMatcher`.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Matcher {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(flatten)]
    pub rest: Rest,
}

/// `VirtualMachineInstanceTemplateSpec`.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct InstanceTemplate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<TemplateMeta>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<VirtualMachineInstanceSpec>,
}

/// The template's labels and annotations (carried to the instance).
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct TemplateMeta {
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// `VirtualMachineStatus`.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub printable_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<bool>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default)]
    pub state_change_requests: Vec<StateChangeRequest>,
    #[serde(flatten)]
    pub rest: Rest,
}

/// `VirtualMachineStateChangeRequest`.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct StateChangeRequest {
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(flatten)]
    pub rest: Rest,
}

/// `VirtualMachineInstanceSpec`.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default)]
#[kube(
    group = "kubevirt.io",
    version = "v1",
    kind = "VirtualMachineInstance",
    namespaced,
    status = "VirtualMachineInstanceStatus",
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineInstanceSpec {
    #[serde(default)]
    pub domain: DomainSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<Network>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    #[serde(flatten)]
    pub rest: Rest,
}

/// `DomainSpec`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct DomainSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Cpu>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Memory>,
    #[serde(default)]
    pub devices: Devices,
    #[serde(flatten)]
    pub rest: Rest,
}

/// `CPU`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Cpu {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cores: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sockets: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_sockets: Option<u32>,
    #[serde(flatten)]
    pub rest: Rest,
}

/// `Memory`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Memory {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_guest: Option<String>,
    #[serde(flatten)]
    pub rest: Rest,
}

/// `Devices`: the interfaces (their MACs); disks and the rest kept as they came.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Devices {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<Interface>,
    #[serde(flatten)]
    pub rest: Rest,
}

/// `Interface`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Interface {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    #[serde(flatten)]
    pub rest: Rest,
}

/// `Network`: the pod network or a Multus one.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Network {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<serde_json::Value>,
    #[serde(flatten)]
    pub rest: Rest,
}

/// `Volume`: the sources the simulator follows.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_volume_claim: Option<ClaimSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_volume: Option<DataVolumeSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_init_no_cloud: Option<CloudInitNoCloud>,
    #[serde(flatten)]
    pub rest: Rest,
}

/// `PersistentVolumeClaimVolumeSource`.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct ClaimSource {
    pub claim_name: String,
    #[serde(flatten)]
    pub rest: Rest,
}

/// `DataVolumeSource`.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct DataVolumeSource {
    pub name: String,
    #[serde(flatten)]
    pub rest: Rest,
}

/// `CloudInitNoCloudSource`: where its network data is.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct CloudInitNoCloud {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_data_secret_ref: Option<SecretRef>,
    #[serde(flatten)]
    pub rest: Rest,
}

/// `LocalObjectReference`.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct SecretRef {
    pub name: String,
}

/// `VirtualMachineInstanceStatus`.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineInstanceStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration_state: Option<serde_json::Value>,
    #[serde(flatten)]
    pub rest: Rest,
}

/// `VirtualMachineInstanceMigrationSpec`.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default)]
#[kube(
    group = "kubevirt.io",
    version = "v1",
    kind = "VirtualMachineInstanceMigration",
    namespaced,
    status = "MigrationStatus",
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct MigrationSpec {
    pub vmi_name: String,
    #[serde(flatten)]
    pub rest: Rest,
}

/// `VirtualMachineInstanceMigrationStatus`.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct MigrationStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(flatten)]
    pub rest: Rest,
}
