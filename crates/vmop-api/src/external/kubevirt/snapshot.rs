//! KubeVirt's `VirtualMachineSnapshot` and `VirtualMachineRestore`
//! (snapshot.kubevirt.io/v1beta1): a snapshot of a VM's spec and volumes, and its restore.

use kube::CustomResource;
use serde::{Deserialize, Serialize};

use crate::external::{Extra, UpstreamCondition};

/// The API group of KubeVirt's snapshots and restores.
pub const SNAPSHOT_GROUP: &str = "snapshot.kubevirt.io";

/// A reference to an object in the same namespace (`TypedLocalObjectReference`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TypedLocalReference {
    /// `kubevirt.io` for a VirtualMachine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_group: Option<String>,
    /// `VirtualMachine`.
    pub kind: String,
    /// The object's name.
    pub name: String,
}

impl TypedLocalReference {
    /// The VirtualMachine `name`.
    pub fn virtual_machine(name: &str) -> Self {
        TypedLocalReference {
            api_group: Some("kubevirt.io".into()),
            kind: "VirtualMachine".into(),
            name: name.into(),
        }
    }
}

/// A snapshot of a VirtualMachine: its spec and a VolumeSnapshot of each volume whose
/// StorageClass has a VolumeSnapshotClass.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "snapshot.kubevirt.io",
    version = "v1beta1",
    kind = "VirtualMachineSnapshot",
    shortname = "vmsnapshot",
    namespaced,
    status = "VirtualMachineSnapshotStatus",
    schema = "disabled",
    derive = "Default",
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineSnapshotSpec {
    /// The VM to snapshot.
    pub source: TypedLocalReference,
    /// `Delete` (KubeVirt's default: the content goes with the snapshot) or `Retain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<String>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Observed state of a snapshot.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineSnapshotStatus {
    /// `InProgress`, `Succeeded`, `Failed`, `Deleting` or `Unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Whether it can be restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_to_use: Option<bool>,
    /// When the snapshot was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_time: Option<String>,
    /// The VirtualMachineSnapshotContent holding its volume backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_machine_snapshot_content_name: Option<String>,
    /// What went wrong, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<SnapshotError>,
    /// `Progressing`, `Ready`, `Failure`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<UpstreamCondition>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `status.error` of a snapshot.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct SnapshotError {
    /// KubeVirt's message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `VirtualMachineSnapshot.status.phase` values.
pub mod snapshot_phase {
    /// Taken and complete.
    pub const SUCCEEDED: &str = "Succeeded";
    /// Gave up (its deadline passed).
    pub const FAILED: &str = "Failed";
}

/// Restores a VirtualMachine from one of its snapshots.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "snapshot.kubevirt.io",
    version = "v1beta1",
    kind = "VirtualMachineRestore",
    shortname = "vmrestore",
    namespaced,
    status = "VirtualMachineRestoreStatus",
    schema = "disabled",
    derive = "Default",
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineRestoreSpec {
    /// The VM to restore.
    pub target: TypedLocalReference,
    /// The snapshot to restore it from.
    pub virtual_machine_snapshot_name: String,
    /// What KubeVirt does with a running target: [`restore_policy::STOP_TARGET`] stops it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_readiness_policy: Option<String>,
    /// [`restore_policy::IN_PLACE`] restores each volume into a claim of the same name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_restore_policy: Option<String>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Observed state of a restore.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineRestoreStatus {
    /// Set once the VM is restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete: Option<bool>,
    /// When it completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_time: Option<String>,
    /// `Progressing`, `Ready`, `Failure`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<UpstreamCondition>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Values of a restore's policies.
pub mod restore_policy {
    /// `targetReadinessPolicy`: KubeVirt stops a running target before restoring it.
    pub const STOP_TARGET: &str = "StopTarget";
    /// `volumeRestorePolicy`: each volume is restored into a claim of its own name.
    pub const IN_PLACE: &str = "InPlace";
}

/// The condition type KubeVirt sets on snapshots and restores that gave up.
pub const FAILURE_CONDITION: &str = "Failure";

/// KubeVirt's reason for a volume whose claim it has not seen yet (`getStorageClassNameForPVC`;
/// upstream notes this "will give possibly incorrect `false` value for the status until the
/// PVC is ready"): not a verdict on the volume's class.
pub const PVC_NOT_FOUND_REASON: &str = "PVC not found";

/// One entry of a VirtualMachine's `status.volumeSnapshotStatuses`: whether KubeVirt can
/// snapshot that volume, and why not.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VolumeSnapshotStatus {
    /// The volume's name in the VM.
    pub name: String,
    /// Whether its StorageClass has a VolumeSnapshotClass.
    #[serde(default)]
    pub enabled: bool,
    /// Why not, in KubeVirt's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What a snapshot holds: a backup of each volume, each a CSI VolumeSnapshot
/// (`VirtualMachineSnapshotContent`, the part the operator reads).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "snapshot.kubevirt.io",
    version = "v1beta1",
    kind = "VirtualMachineSnapshotContent",
    namespaced,
    schema = "disabled",
    derive = "Default",
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineSnapshotContentSpec {
    /// One backup per volume snapshotted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_backups: Vec<VolumeBackup>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A volume's backup in a snapshot's content.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VolumeBackup {
    /// The volume's name in the VM.
    pub volume_name: String,
    /// The CSI VolumeSnapshot that holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_snapshot_name: Option<String>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A CSI `VolumeSnapshot` (snapshot.storage.k8s.io/v1), the part the operator reads.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "snapshot.storage.k8s.io",
    version = "v1",
    kind = "VolumeSnapshot",
    namespaced,
    status = "VolumeSnapshotObservedStatus",
    schema = "disabled",
    derive = "Default",
    derive = "PartialEq"
)]
pub struct VolumeSnapshotSpec {
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Observed state of a CSI VolumeSnapshot.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VolumeSnapshotObservedStatus {
    /// The smallest size a volume restored from it can have, as the CSI driver reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_size: Option<String>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}
