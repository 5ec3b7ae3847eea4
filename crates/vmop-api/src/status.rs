//! Status of a `VirtualMachineProfile`: what the operator observed, written once per
//! reconcile and only when it changed.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Observed state of a VirtualMachineProfile.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineProfileStatus {
    /// Lifecycle phase: Pending, Provisioning, Starting, Running, Stopped, Migrating, Failed
    /// or Terminating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// NetworksReady, StorageReady, VMReady and Ready, with reasons and messages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Per network: attachment, pinned MAC, interface name and addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<NetworkStatus>,
    /// Per disk: backend, claim, phase and import progress.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disks: Vec<DiskStatus>,
    /// Node running the VM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    /// First address of the first secondary network that has one (else of the pod network).
    #[serde(default, rename = "primaryIP", skip_serializing_if = "Option::is_none")]
    pub primary_ip: Option<String>,
    /// Name of the KubeVirt VirtualMachine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_name: Option<String>,
    /// The VM's size as resolved: from cpu, cpuTopology and memory, or from the instancetype.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// How to reach the VM, as commands to copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<Access>,
    /// The last restart asked for with the annotation `vmoperator.io/restart-requested`, and
    /// what became of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<Box<RequestStatus>>,
    /// The last live migration asked for with the annotation `vmoperator.io/migrate-requested`,
    /// and what became of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration: Option<Box<RequestStatus>>,
    /// The VM's snapshots that the operator took (scheduled and requested), newest first,
    /// at most 128.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 128))]
    pub snapshots: Vec<SnapshotStatus>,
    /// The last snapshot asked for with the annotation `vmoperator.io/snapshot-requested`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<Box<RequestStatus>>,
    /// The last restore asked for with the annotation `vmoperator.io/restore-requested`, and
    /// what became of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<Box<RequestStatus>>,
}

/// Most snapshots `status.snapshots` lists (the newest).
pub const MAX_LISTED_SNAPSHOTS: usize = 128;

/// One of the VM's snapshots, as KubeVirt reports it.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotStatus {
    /// Name of the VirtualMachineSnapshot.
    pub name: String,
    /// When it was taken (KubeVirt's `creationTime`), or when it was due while it is taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// KubeVirt's phase: InProgress, Succeeded, Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Whether it can be restored (`readyToUse`).
    pub ready: bool,
    /// Sum of its volumes' restore sizes, where the CSI driver reports them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// Taken on `spec.snapshots.schedule` (counted by `keep`), else asked for.
    #[serde(default)]
    pub scheduled: bool,
}

/// What became of a request made with an annotation (each new value is one request).
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RequestStatus {
    /// The annotation's value this is the result of.
    pub request: String,
    /// InProgress, Succeeded or Refused.
    pub phase: RequestPhase,
    /// What was done, or why not.
    pub message: String,
    /// UID of the VirtualMachineInstance the restart replaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced_instance: Option<String>,
    /// The VirtualMachineInstanceMigration that carries a migration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration_name: Option<String>,
    /// The node a migration started from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_node: Option<String>,
    /// The VirtualMachineSnapshot a snapshot request made, or a restore restores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_name: Option<String>,
    /// The VirtualMachineRestore that carries a restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_name: Option<String>,
    /// The node a migration moved the VM to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_node: Option<String>,
}

/// How far a request got.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RequestPhase {
    /// Accepted and under way.
    #[default]
    InProgress,
    /// Done.
    Succeeded,
    /// Not done; the message says why. A new value of the annotation asks again.
    Refused,
    /// Tried and failed; the message says why. A new value of the annotation asks again.
    Failed,
}

/// How to reach a VM.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Access {
    /// The serial console, with KubeVirt's virtctl.
    pub console: String,
    /// SSH through the API server with virtctl (needs spec.cloudInit.sshAuthorizedKeys; the
    /// user is the image's default user, such as fedora or ubuntu).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<String>,
    /// SSH straight to the primary address, where it is routable from you.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_direct: Option<String>,
}

/// CPU and memory of the VM.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    /// Virtual CPUs (cores x sockets x threads, or the instancetype's guest CPUs).
    pub vcpus: i64,
    /// Guest memory.
    pub memory: String,
    /// `<kind>/<name>` of the instancetype that sized it, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instancetype: Option<String>,
}

/// Lifecycle phase of a profile.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
// Variants are described with `//`: `///` on a variant would turn the CRD's `enum` into a
// `oneOf` (schemars writes one schema per described variant).
#[allow(missing_docs)]
pub enum Phase {
    // Accepted; nothing created yet, or the spec is invalid (see conditions).
    Pending,
    // Networks and disks are being created or imported.
    Provisioning,
    // Ready to start, waiting in line: as many VMs as the cap allows are starting.
    Queued,
    // The VM exists and its instance is being scheduled or booted.
    Starting,
    // The VM runs.
    Running,
    // The VM is stopped (runStrategy Halted, or it stopped by itself).
    Stopped,
    // The VM is live-migrating to another node.
    Migrating,
    // A child failed; conditions carry the reason and the upstream message.
    Failed,
    // The profile is being deleted.
    Terminating,
}

/// Condition types a profile reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConditionType {
    /// Every network is attached and its node configuration applied.
    NetworksReady,
    /// Every disk is bound, and imported where it has an image.
    StorageReady,
    /// The VM runs (or is stopped as asked).
    VmReady,
    /// All of the above.
    Ready,
}

impl ConditionType {
    /// The condition's `type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionType::NetworksReady => "NetworksReady",
            ConditionType::StorageReady => "StorageReady",
            ConditionType::VmReady => "VMReady",
            ConditionType::Ready => "Ready",
        }
    }
}

/// Observed state of one network.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NetworkStatus {
    /// The spec network's name.
    pub name: String,
    /// The NetworkPlugin that serves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    /// The NetworkAttachmentDefinition the VM attaches to (`<namespace>/<name>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nad: Option<String>,
    /// NodeNetworkConfigurationPolicies this network needs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    /// The network is attached and its node configuration applied.
    #[serde(default)]
    pub ready: bool,
    /// Why it is not ready, with the upstream message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// MAC address of the VM's interface: pinned at creation, never regenerated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    /// Interface name inside the guest, as reported by KubeVirt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface_name: Option<String>,
    /// Addresses of the interface.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_addresses: Vec<String>,
    /// Where KubeVirt learned the addresses (`domain`, `guest-agent`, `multus-status`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info_source: Option<String>,
}

/// Observed state of one disk.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DiskStatus {
    /// The spec disk's name.
    pub name: String,
    /// The StorageBackend that serves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// The PersistentVolumeClaim holding the disk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_name: Option<String>,
    /// Phase of the DataVolume or claim (ImportInProgress, Succeeded, Bound, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Import progress such as "67.60%".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    /// How often CDI restarted the importer after a failure; the message says why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_count: Option<i32>,
    /// The disk binds when the VM is scheduled (WaitForFirstConsumer): the VM is created
    /// first and becomes the disk's consumer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub waiting_for_first_consumer: bool,
    /// The catalog image version (the claim a VirtualMachineImage's DataSource pointed at)
    /// the disk was cloned from, for a disk with `imageRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_version: Option<String>,
    /// The disk is bound and, where it has an image, imported.
    #[serde(default)]
    pub ready: bool,
    /// Why it is not ready, with the upstream message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
