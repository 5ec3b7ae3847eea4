//! The `VirtualMachineProfile` custom resource: one high-level description of a VM from which
//! the operator derives networks, volumes and the KubeVirt VirtualMachine.
//!
//! Doc comments on fields become the CRD's descriptions (`kubectl explain vmprofile.spec`). CEL
//! rules take their messages from [`crate::messages`], shared with [`crate::validate`].

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

mod disk;
mod isolation;
mod network;
mod snapshots;

pub use disk::*;
pub use isolation::*;
pub use network::*;
pub use snapshots::*;

use crate::status::VirtualMachineProfileStatus;

/// A virtual machine described at a high level: CPU, memory, networks, disks, cloud-init and
/// high availability. vm-operator creates and keeps converged the NetworkAttachmentDefinitions,
/// NodeNetworkConfigurationPolicies, DataVolumes or PersistentVolumeClaims and the KubeVirt
/// VirtualMachine it needs, and reports phase, IPs, MACs, node and conditions in status.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "vmoperator.io",
    version = "v1alpha1",
    kind = "VirtualMachineProfile",
    namespaced,
    shortname = "vmprofile",
    shortname = "vmprofiles",
    category = "all",
    status = "VirtualMachineProfileStatus",
    derive = "PartialEq",
    doc = "VirtualMachineProfile describes a KubeVirt virtual machine at a high level; vm-operator derives and keeps converged its networks, volumes and VirtualMachine.",
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase", description = "Lifecycle phase"),
    printcolumn(name = "vCPUs", type_ = "integer", json_path = ".status.resources.vcpus", description = "Virtual CPUs, from cpu and cpuTopology or from the instancetype"),
    printcolumn(name = "Memory", type_ = "string", json_path = ".status.resources.memory", description = "Guest memory, from memory or from the instancetype"),
    printcolumn(name = "Node", type_ = "string", json_path = ".status.nodeName", description = "Node running the VM"),
    printcolumn(name = "IP", type_ = "string", json_path = ".status.primaryIP", description = "First address of the first secondary network"),
    printcolumn(name = "Reason", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].reason", description = "Why the profile is or is not ready: the first part that is not (ErrorUnschedulable, NotAllowed, StorageClassNotFound...)"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status", priority = "1", description = "Ready condition"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = kube::core::Rule::new("size(self.metadata.name) <= 52").message(crate::messages::PROFILE_NAME_TOO_LONG),
    validation = kube::core::Rule::new("self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message(crate::messages::PROFILE_NAME_LABEL),
    validation = kube::core::Rule::new("!has(self.spec.networks) || self.spec.networks.all(n, size(self.metadata.name) + 2 + size(n.name) <= 63)").message(crate::messages::DERIVED_NETWORK_NAME_TOO_LONG).field_path(".spec.networks"),
    validation = kube::core::Rule::new("!has(self.spec.disks) || self.spec.disks.all(d, size(self.metadata.name) + 2 + size(d.name) <= 63)").message(crate::messages::DERIVED_DISK_NAME_TOO_LONG).field_path(".spec.disks"),
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = kube::core::Rule::new("!self.highAvailability || !has(self.disks) || self.disks.all(d, !has(d.accessModes) || d.accessModes == ['ReadWriteMany'])").message(crate::messages::HA_NEEDS_RWX).field_path(".disks"),
    validation = kube::core::Rule::new("!has(self.instancetype) || (!has(self.cpu) && !has(self.memory) && !has(self.cpuTopology))").message(crate::messages::INSTANCETYPE_EXCLUSIVE).field_path(".instancetype"),
    validation = kube::core::Rule::new("has(self.instancetype) || (has(self.cpu) && has(self.memory))").message(crate::messages::SIZE_REQUIRED),
    validation = kube::core::Rule::new("!has(self.liveUpdate) || !has(self.instancetype)").message(crate::messages::LIVE_UPDATE_NEEDS_SIZE).field_path(".liveUpdate"),
    validation = kube::core::Rule::new("!has(self.liveUpdate) || (has(self.cpuTopology) && has(self.cpuTopology.sockets) ? self.cpuTopology.sockets : 1) <= self.liveUpdate.maxSockets").message(crate::messages::LIVE_UPDATE_SOCKETS_BELOW).field_path(".liveUpdate.maxSockets"),
    validation = kube::core::Rule::new("!has(self.liveUpdate) || !has(self.memory) || !isQuantity(self.memory) || !isQuantity(self.liveUpdate.maxMemory) || quantity(self.liveUpdate.maxMemory).compareTo(quantity(self.memory)) >= 0").message(crate::messages::LIVE_UPDATE_MEMORY_BELOW).field_path(".liveUpdate.maxMemory"),
    validation = kube::core::Rule::new("!has(self.cpu) || self.cpu * (has(self.cpuTopology) && has(self.cpuTopology.sockets) ? self.cpuTopology.sockets : 1) * (has(self.cpuTopology) && has(self.cpuTopology.threads) ? self.cpuTopology.threads : 1) <= 256").message(crate::messages::VCPUS_RANGE).field_path(".cpuTopology"),
    validation = kube::core::Rule::new("!has(self.networks) || self.networks.filter(n, has(n.gateway)).size() <= 1").message(crate::messages::ONE_DEFAULT_GATEWAY).field_path(".networks"),
    validation = kube::core::Rule::new("!has(self.networks) || self.networks.all(a, !has(a.ipAddress) || !isCIDR(a.ipAddress) || self.networks.filter(b, has(b.ipAddress) && isCIDR(b.ipAddress) && cidr(b.ipAddress).ip() == cidr(a.ipAddress).ip()).size() == 1)").message(crate::messages::DUPLICATE_ADDRESS).field_path(".networks"),
    validation = kube::core::Rule::new("!has(self.networks) || self.networks.all(a, !has(a.macAddress) || self.networks.filter(b, has(b.macAddress) && b.macAddress.lowerAscii() == a.macAddress.lowerAscii()).size() == 1)").message(crate::messages::DUPLICATE_MAC).field_path(".networks")
)]
pub struct VirtualMachineProfileSpec {
    /// Virtual CPU cores per socket (1-256). Required unless `instancetype` sizes the VM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("self >= 1 && self <= 256").message(crate::messages::CPU_RANGE))]
    pub cpu: Option<i32>,

    /// Optional CPU topology; the VM has cpu x sockets x threads vCPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_topology: Option<CpuTopology>,

    /// Guest memory as a Kubernetes quantity, such as 8Gi. Required unless `instancetype`
    /// sizes the VM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = kube::core::Rule::new("isQuantity(self) && quantity(self).isInteger() && quantity(self).compareTo(quantity('64Mi')) >= 0").message(crate::messages::MEMORY_QUANTITY))]
    pub memory: Option<String>,

    /// A KubeVirt instancetype that sizes the VM (CPU and memory from a catalogue, such as
    /// `u1.medium`), instead of `cpu`, `memory` and `cpuTopology`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instancetype: Option<InstancetypeRef>,

    /// A KubeVirt preference: defaults for devices, firmware and CPU topology (such as
    /// `fedora`), with `instancetype` or with `cpu` and `memory`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preference: Option<PreferenceRef>,

    /// When the VM should run, with KubeVirt's names: Always (default), Halted, Manual,
    /// RerunOnFailure or Once. Halted stops the VM and keeps its disks.
    #[serde(default)]
    pub run_strategy: RunStrategy,

    /// Makes the VM live-migratable: eviction strategy LiveMigrate, ReadWriteMany disks, and a
    /// soft anti-affinity to other profiles with the same `vmoperator.io/ha-group` label.
    #[serde(default)]
    pub high_availability: bool,

    /// Who may reach the VM. Absent (default): the VM is reachable as the cluster's own
    /// policies allow. Set: only the sources named here reach it, on the pod network through
    /// a NetworkPolicy and on bridge networks through a MultiNetworkPolicy (enforced where
    /// multi-networkpolicy is installed); outgoing traffic is not restricted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<IsolationSpec>,

    /// Lets CPU sockets and memory grow without a restart, through KubeVirt's live update
    /// (the cluster's KubeVirt must use the LiveUpdate rollout strategy): up to these bounds a
    /// change of `cpuTopology.sockets` or `memory` reaches the running VM. Any other change
    /// of size waits for a restart, which the RestartRequired condition says. Not with
    /// `instancetype`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_update: Option<LiveUpdateSpec>,

    /// Secondary networks, each attached to the VM through Multus (the pod network is always
    /// the first interface). Names are unique.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["name".into()]))]
    pub networks: Vec<NetworkSpec>,

    /// Disks of the VM. A disk with `image` or `source` is imported by CDI into a DataVolume;
    /// any other disk is a blank PersistentVolumeClaim. Names are unique.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    #[x_kube(
        merge_strategy = kube::core::ListMerge::Map(vec!["name".into()]),
        validation = kube::core::Rule::new("self.all(a, !has(a.bootOrder) || self.exists_one(b, has(b.bootOrder) && b.bootOrder == a.bootOrder))").message(crate::messages::BOOT_ORDER_UNIQUE)
    )]
    pub disks: Vec<DiskSpec>,

    /// Cloud-init configuration delivered as a NoCloud disk from a Secret the operator owns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_init: Option<CloudInitSpec>,

    /// What happens to disks when the profile is deleted, unless a disk says otherwise:
    /// Delete (default) removes them, Retain keeps the claims.
    #[serde(default)]
    pub disk_retention_policy: RetentionPolicy,

    /// The VMTemplate plugin that builds the VirtualMachine (default `cloud-init`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    #[x_kube(validation = kube::core::Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message(crate::messages::PLUGIN_NAME))]
    pub template: Option<String>,

    /// Scheduled KubeVirt snapshots of the VM (`schedule`, `keep`). Snapshots can also be
    /// asked for with the annotation `vmoperator.io/snapshot-requested`, and one restored
    /// with `vmoperator.io/restore-requested: <snapshot>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshots: Option<SnapshotPolicy>,
}

/// Bounds of the sizes a VM may change to while it runs.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LiveUpdateSpec {
    /// Most CPU sockets the VM may have without a restart (1-64, at least
    /// `cpuTopology.sockets`); KubeVirt's `maxSockets`.
    #[x_kube(validation = kube::core::Rule::new("self >= 1 && self <= 64").message(crate::messages::LIVE_UPDATE_SOCKETS_RANGE))]
    pub max_sockets: i32,
    /// Most guest memory the VM may have without a restart (at least `memory`); KubeVirt's
    /// `maxGuest`.
    #[schemars(length(max = 32))]
    #[x_kube(validation = kube::core::Rule::new("isQuantity(self) && quantity(self).isInteger() && quantity(self).compareTo(quantity('64Mi')) >= 0").message(crate::messages::MEMORY_QUANTITY))]
    pub max_memory: String,
}

/// A KubeVirt instancetype, by name and kind (as the VirtualMachine's `spec.instancetype`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct InstancetypeRef {
    /// Name of the instancetype, such as `u1.medium`.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = kube::core::Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')").message(crate::messages::KUBEVIRT_OBJECT_NAME))]
    pub name: String,
    /// VirtualMachineClusterInstancetype (default, cluster-wide) or
    /// VirtualMachineInstancetype (in the profile's namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<InstancetypeKind>,
}

/// Where an instancetype is defined.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default,
)]
pub enum InstancetypeKind {
    /// Cluster-wide (KubeVirt's default).
    #[default]
    VirtualMachineClusterInstancetype,
    /// In the profile's namespace.
    VirtualMachineInstancetype,
}

/// A KubeVirt preference, by name and kind (as the VirtualMachine's `spec.preference`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PreferenceRef {
    /// Name of the preference, such as `fedora`.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = kube::core::Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')").message(crate::messages::KUBEVIRT_OBJECT_NAME))]
    pub name: String,
    /// VirtualMachineClusterPreference (default, cluster-wide) or VirtualMachinePreference
    /// (in the profile's namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<PreferenceKind>,
}

/// Where a preference is defined.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default,
)]
pub enum PreferenceKind {
    /// Cluster-wide (KubeVirt's default).
    #[default]
    VirtualMachineClusterPreference,
    /// In the profile's namespace.
    VirtualMachinePreference,
}

/// Sockets and threads; cores come from `spec.cpu`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CpuTopology {
    /// CPU sockets (1-16, default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("self >= 1 && self <= 16").message(crate::messages::SOCKETS_RANGE))]
    pub sockets: Option<i32>,
    /// Threads per core (1-8, default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("self >= 1 && self <= 8").message(crate::messages::THREADS_RANGE))]
    pub threads: Option<i32>,
}

/// KubeVirt's run strategies (`spec.runStrategy` of a VirtualMachine).
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash,
)]
// Variants are described with `//`: `///` on a variant would turn the CRD's `enum` into a
// `oneOf` (schemars writes one schema per described variant).
#[allow(missing_docs)]
pub enum RunStrategy {
    // Keep the VM running; restart it when it stops.
    #[default]
    Always,
    // Keep the VM stopped.
    Halted,
    // Start and stop only on explicit request.
    Manual,
    // Restart the VM only when it failed.
    RerunOnFailure,
    // Run the VM once; do not restart it.
    Once,
}

/// Whether a disk's claim outlives the profile.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash,
)]
// Variants are described with `//`: `///` on a variant would turn the CRD's `enum` into a
// `oneOf` (schemars writes one schema per described variant).
#[allow(missing_docs)]
pub enum RetentionPolicy {
    // Delete the claim with the profile.
    #[default]
    Delete,
    // Keep the claim; the operator drops its owner reference.
    Retain,
}

/// Cloud-init settings; delivered as a NoCloud disk from a Secret the operator owns.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CloudInitSpec {
    /// Hostname of the guest (default: the profile's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    #[x_kube(validation = kube::core::Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message(crate::messages::HOSTNAME))]
    pub hostname: Option<String>,
    /// SSH public keys authorized for the default user.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(max = 2048)))]
    #[x_kube(validation = kube::core::Rule::new("self.all(k, k.matches('^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh.com) [A-Za-z0-9+/=]+( .*)?$'))").message(crate::messages::SSH_KEY))]
    pub ssh_authorized_keys: Vec<String>,
    /// A Secret in the profile's namespace whose `userdata` key holds the user's own
    /// cloud-config, merged with the generated settings. Never inline: secrets stay secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data_secret_ref: Option<SecretReference>,
}

/// A Secret in the profile's namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SecretReference {
    /// Name of the Secret.
    #[schemars(length(max = 253))]
    #[x_kube(validation = kube::core::Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')").message(crate::messages::OBJECT_NAME))]
    pub name: String,
}

impl VirtualMachineProfileSpec {
    /// The NetworkPlugin serving a network (`bridge` by default).
    pub fn network_type(network: &NetworkSpec) -> &str {
        network.type_.as_deref().unwrap_or(DEFAULT_NETWORK_TYPE)
    }

    /// The effective retention policy of a disk.
    pub fn retention_of(&self, disk: &DiskSpec) -> RetentionPolicy {
        disk.retention_policy.unwrap_or(self.disk_retention_policy)
    }

    /// The StorageBackend a disk names or implies: its `backend`, else `cdi` for a disk with
    /// an image or a source. `None` for a blank disk without `backend`: the controller then
    /// picks the backend serving its StorageClass's provisioner, else
    /// [`DEFAULT_BLANK_BACKEND`].
    pub fn backend_of(disk: &DiskSpec) -> Option<&str> {
        match &disk.backend {
            Some(backend) => Some(backend),
            None if disk.image.is_some() || disk.image_ref.is_some() || disk.source.is_some() => {
                Some(DEFAULT_IMPORT_BACKEND)
            }
            None => None,
        }
    }

    /// The VMTemplate plugin name (`cloud-init` by default).
    pub fn template_name(&self) -> &str {
        self.template.as_deref().unwrap_or(DEFAULT_TEMPLATE)
    }
}

/// NetworkPlugin used when a network names no type.
pub const DEFAULT_NETWORK_TYPE: &str = "bridge";
/// StorageBackend for disks with an image or source, unless they name one.
pub const DEFAULT_IMPORT_BACKEND: &str = "cdi";
/// StorageBackend for blank disks that name none and whose class's provisioner no backend
/// claims.
pub const DEFAULT_BLANK_BACKEND: &str = "pvc";
/// VMTemplate used when a profile names none.
pub const DEFAULT_TEMPLATE: &str = "cloud-init";
