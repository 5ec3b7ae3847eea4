//! KubeVirt `VirtualMachine` and `VirtualMachineInstance` (kubevirt.io/v1).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Affinity;
use kube::CustomResource;
use serde::{Deserialize, Serialize};

use super::{Empty, Extra, UpstreamCondition};

/// `spec.runStrategy` values. `spec.running` is deprecated and rejected together with
/// `runStrategy`: never set both.
pub mod run_strategy {
    /// Run strategy `Always`.
    pub const ALWAYS: &str = "Always";
    /// Run strategy `RerunOnFailure`.
    pub const RERUN_ON_FAILURE: &str = "RerunOnFailure";
    /// Run strategy `Manual`.
    pub const MANUAL: &str = "Manual";
    /// Run strategy `Halted`.
    pub const HALTED: &str = "Halted";
    /// Run strategy `Once`.
    pub const ONCE: &str = "Once";
}

/// `spec.template.spec.evictionStrategy` values.
pub mod eviction_strategy {
    /// Eviction strategy `None`.
    pub const NONE: &str = "None";
    /// Eviction strategy `LiveMigrate`.
    pub const LIVE_MIGRATE: &str = "LiveMigrate";
    /// Eviction strategy `LiveMigrateIfPossible`.
    pub const LIVE_MIGRATE_IF_POSSIBLE: &str = "LiveMigrateIfPossible";
    /// Eviction strategy `External`.
    pub const EXTERNAL: &str = "External";
}

/// `status.printableStatus` values of a VirtualMachine.
pub mod printable_status {
    /// Printable status `Stopped`.
    pub const STOPPED: &str = "Stopped";
    /// Printable status `Provisioning`.
    pub const PROVISIONING: &str = "Provisioning";
    /// Printable status `Starting`.
    pub const STARTING: &str = "Starting";
    /// Printable status `Running`.
    pub const RUNNING: &str = "Running";
    /// Printable status `Paused`.
    pub const PAUSED: &str = "Paused";
    /// Printable status `Stopping`.
    pub const STOPPING: &str = "Stopping";
    /// Printable status `Terminating`.
    pub const TERMINATING: &str = "Terminating";
    /// Printable status `CrashLoopBackOff`.
    pub const CRASH_LOOP_BACK_OFF: &str = "CrashLoopBackOff";
    /// Printable status `Migrating`.
    pub const MIGRATING: &str = "Migrating";
    /// Printable status `Unknown`.
    pub const UNKNOWN: &str = "Unknown";
    /// Printable status `ErrorUnschedulable`.
    pub const ERROR_UNSCHEDULABLE: &str = "ErrorUnschedulable";
    /// Printable status `ErrImagePull`.
    pub const ERR_IMAGE_PULL: &str = "ErrImagePull";
    /// Printable status `ImagePullBackOff`.
    pub const IMAGE_PULL_BACK_OFF: &str = "ImagePullBackOff";
    /// Printable status `ErrorPvcNotFound`.
    pub const ERROR_PVC_NOT_FOUND: &str = "ErrorPvcNotFound";
    /// Printable status `DataVolumeError`.
    pub const DATA_VOLUME_ERROR: &str = "DataVolumeError";
    /// Printable status `WaitingForVolumeBinding`.
    pub const WAITING_FOR_VOLUME_BINDING: &str = "WaitingForVolumeBinding";
    /// Printable status `WaitingForReceiver`.
    pub const WAITING_FOR_RECEIVER: &str = "WaitingForReceiver";
}

/// VirtualMachine condition types.
pub mod vm_condition {
    /// VirtualMachine condition type `Ready`.
    pub const READY: &str = "Ready";
    /// VirtualMachine condition type `Failure`.
    pub const FAILURE: &str = "Failure";
    /// VirtualMachine condition type `Paused`.
    pub const PAUSED: &str = "Paused";
    /// VirtualMachine condition type `RestartRequired`.
    pub const RESTART_REQUIRED: &str = "RestartRequired";
    /// VirtualMachine condition type `ManualRecoveryRequired`.
    pub const MANUAL_RECOVERY_REQUIRED: &str = "ManualRecoveryRequired";
}

/// `status.phase` values of a VirtualMachineInstance.
pub mod vmi_phase {
    /// VirtualMachineInstance phase `Pending`.
    pub const PENDING: &str = "Pending";
    /// VirtualMachineInstance phase `Scheduling`.
    pub const SCHEDULING: &str = "Scheduling";
    /// VirtualMachineInstance phase `Scheduled`.
    pub const SCHEDULED: &str = "Scheduled";
    /// VirtualMachineInstance phase `Running`.
    pub const RUNNING: &str = "Running";
    /// VirtualMachineInstance phase `Succeeded`.
    pub const SUCCEEDED: &str = "Succeeded";
    /// VirtualMachineInstance phase `Failed`.
    pub const FAILED: &str = "Failed";
    /// VirtualMachineInstance phase `WaitingForSync`.
    pub const WAITING_FOR_SYNC: &str = "WaitingForSync";
    /// VirtualMachineInstance phase `Unknown`.
    pub const UNKNOWN: &str = "Unknown";
}

/// `status.interfaces[].infoSource` values (comma-joined when several apply).
pub mod info_source {
    /// Interface information source `domain`.
    pub const DOMAIN: &str = "domain";
    /// `guest-agent`.
    pub const GUEST_AGENT: &str = "guest-agent";
    /// `multus-status`.
    pub const MULTUS_STATUS: &str = "multus-status";
}

/// A virtual machine: its instance template and how it should run.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "kubevirt.io",
    version = "v1",
    kind = "VirtualMachine",
    shortname = "vm",
    namespaced,
    status = "VirtualMachineStatus",
    schema = "disabled",
    derive = "Default",
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineSpec {
    /// `runStrategy` of KubeVirt's `VirtualMachineSpec`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_strategy: Option<String>,
    /// The instancetype that sizes the VM (`spec.instancetype`); with it, the template sets
    /// no CPU or memory of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instancetype: Option<Matcher>,
    /// The preference of the VM (`spec.preference`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preference: Option<Matcher>,
    /// `template` of KubeVirt's `VirtualMachineSpec`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<VirtualMachineInstanceTemplateSpec>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// KubeVirt's `InstancetypeMatcher` and `PreferenceMatcher`: a name and a kind (the cluster
/// kind when absent); KubeVirt records the revision it resolved in `revisionName`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Matcher {
    /// `name` of KubeVirt's `Matcher`.
    pub name: String,
    /// `kind` of KubeVirt's `Matcher`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `revisionName` of KubeVirt's `Matcher`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_name: Option<String>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The template of the VM's instances.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineInstanceTemplateSpec {
    /// `metadata` of KubeVirt's `VirtualMachineInstanceTemplateSpec`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<TemplateMetadata>,
    /// `spec` of KubeVirt's `VirtualMachineInstanceTemplateSpec`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<VirtualMachineInstanceSpec>,
}

/// Labels and annotations of the instance (and its launcher pod).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TemplateMetadata {
    /// `labels` of KubeVirt's `TemplateMetadata`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// `annotations` of KubeVirt's `TemplateMetadata`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

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

/// Observed state of a VirtualMachine.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineStatus {
    /// `printableStatus` of KubeVirt's `VirtualMachineStatus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub printable_status: Option<String>,
    /// `ready` of KubeVirt's `VirtualMachineStatus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<bool>,
    /// `created` of KubeVirt's `VirtualMachineStatus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<bool>,
    /// `conditions` of KubeVirt's `VirtualMachineStatus`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<UpstreamCondition>,
    /// Pending start and stop requests (`virtctl restart` adds a Stop for the running
    /// instance's UID and a Start), processed in order by virt-controller.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub state_change_requests: Vec<StateChangeRequest>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A live migration of a running instance to another node (`virtctl migrate` creates one).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "kubevirt.io",
    version = "v1",
    kind = "VirtualMachineInstanceMigration",
    shortname = "vmim",
    namespaced,
    status = "VirtualMachineInstanceMigrationStatus",
    schema = "disabled",
    derive = "Default",
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineInstanceMigrationSpec {
    /// The instance to migrate.
    pub vmi_name: String,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Observed state of a migration.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineInstanceMigrationStatus {
    /// One of [`migration_phase`]'s values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `VirtualMachineInstanceMigration.status.phase` values that end a migration.
pub mod migration_phase {
    /// The instance runs on the target node.
    pub const SUCCEEDED: &str = "Succeeded";
    /// The migration failed; the instance stays where it was.
    pub const FAILED: &str = "Failed";
}

/// The condition KubeVirt sets on a running instance saying whether it can live-migrate,
/// with a reason such as `DisksNotLiveMigratable` when it cannot.
pub const LIVE_MIGRATABLE_CONDITION: &str = "LiveMigratable";

/// `Stop` and `Start`, the actions of a [`StateChangeRequest`].
pub mod state_change {
    /// Stop the instance with the request's UID.
    pub const STOP: &str = "Stop";
    /// Start an instance.
    pub const START: &str = "Start";
}

/// One entry of `status.stateChangeRequests`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StateChangeRequest {
    /// [`state_change::STOP`] or [`state_change::START`].
    pub action: String,
    /// For a Stop: the UID of the instance to stop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
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
