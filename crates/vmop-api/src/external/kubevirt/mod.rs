//! KubeVirt `VirtualMachine` and `VirtualMachineInstance` (kubevirt.io/v1).

use std::collections::BTreeMap;

use kube::CustomResource;
use serde::{Deserialize, Serialize};

use super::{Extra, UpstreamCondition};

mod instance;
mod migration;
mod snapshot;

pub use instance::*;
pub use migration::*;
pub use snapshot::*;

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
    /// `PodScheduled`: virt-controller copies the virt-launcher pod's condition onto the
    /// instance, and every instance condition but Ready and Failure onto the VM (vm.go,
    /// `syncConditions`); `False` with reason `Unschedulable` and the scheduler's message when
    /// no node fits.
    pub const POD_SCHEDULED: &str = "PodScheduled";
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
    /// Whether KubeVirt can snapshot each volume (a VolumeSnapshotClass for its class).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_snapshot_statuses: Vec<VolumeSnapshotStatus>,
    /// The VirtualMachineRestore under way on this VM, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_in_progress: Option<String>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

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
