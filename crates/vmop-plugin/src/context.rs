//! What the controller hands plugins and what plugins hand back. All owned data: plugins keep
//! nothing between calls, and mocks of the traits stay simple.

use std::collections::BTreeMap;

use vmop_api::{
    DiskSpec, NetworkSpec, VirtualMachineProfile,
    external::{
        cdi::DataVolume,
        kubevirt::VirtualMachine,
        multus::NetworkAttachmentDefinition,
        nmstate::{NodeNetworkConfigurationEnactment, NodeNetworkConfigurationPolicy},
    },
    k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret},
};

/// The profile an entry belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileRef {
    /// The profile's name.
    pub name: String,
    /// The profile's namespace.
    pub namespace: String,
    /// Labels of the profile (the HA group among them).
    pub labels: BTreeMap<String, String>,
}

/// One spec network, as a NetworkPlugin sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkConfig {
    /// The profile the network belongs to.
    pub profile: ProfileRef,
    /// Position in `spec.networks`, for field paths.
    pub index: usize,
    /// The spec network as the user wrote it.
    pub network: NetworkSpec,
}

impl NetworkConfig {
    /// Path of a field of this network, for errors: `spec.networks[1].vlan`.
    pub fn field_path(&self, field: &str) -> String {
        format!("spec.networks[{}].{field}", self.index)
    }
}

/// How the VM's interface attaches to a Multus network (KubeVirt's interface binding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterfaceBinding {
    /// `bridge: {}`.
    Bridge,
    /// `sriov: {}`.
    Sriov,
    /// `binding: {name}`: a KubeVirt network binding plugin.
    Plugin(String),
}

/// What a NetworkPlugin wants to exist for one network, and how the VM attaches to it.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredNetwork {
    /// The NAD to create, or `None` to use an existing one (`nadName`).
    pub nad: Option<NetworkAttachmentDefinition>,
    /// Cluster-scoped node configuration; shared between profiles that need the same state.
    pub policies: Vec<NodeNetworkConfigurationPolicy>,
    /// How the VM attaches.
    pub attachment: NetworkAttachment,
}

/// The VM side of a network: which NAD, which binding, where the VM may run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkAttachment {
    /// The spec network's name (also the VM's network and interface name).
    pub name: String,
    /// `<namespace>/<name>` of the NAD.
    pub nad: String,
    /// How the VM's interface attaches (bridge, SR-IOV or a binding plugin).
    pub binding: InterfaceBinding,
    /// Nodes that have this network; the VM gets a matching node affinity.
    pub node_selector: Option<BTreeMap<String, String>>,
}

/// What exists for one network, as the managers observed it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservedNetwork {
    /// The NAD, when it exists.
    pub nad: Option<NetworkAttachmentDefinition>,
    /// Each desired policy as it exists, with its per-node enactments.
    pub policies: Vec<ObservedPolicy>,
}

/// One policy and its enactments.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservedPolicy {
    /// Name of the desired policy.
    pub name: String,
    /// The policy, when it exists.
    pub policy: Option<NodeNetworkConfigurationPolicy>,
    /// Its per-node enactments (what each node reported).
    pub enactments: Vec<NodeNetworkConfigurationEnactment>,
}

/// Readiness of a network or the VM, in words a user can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// Ready: nothing to wait for.
    Ready,
    /// Not yet; no action needed.
    InProgress {
        /// A short CamelCase reason, such as `ImportInProgress`.
        reason: String,
        /// What is happening, for people.
        message: String,
    },
    /// Will not get ready without a change; the message is the upstream one.
    Failed {
        /// A short CamelCase reason, such as `ImportFailed`.
        reason: String,
        /// The upstream message (CDI's, NMState's, KubeVirt's).
        message: String,
    },
}

impl Readiness {
    /// Whether this is [`Readiness::Ready`].
    pub fn is_ready(&self) -> bool {
        matches!(self, Readiness::Ready)
    }
}

/// Facts about a StorageClass a backend may need (read by the managers from a cache).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorageClassInfo {
    /// The class's name.
    pub name: String,
    /// Its CSI provisioner, such as `rancher.io/local-path`.
    pub provisioner: String,
    /// Its `parameters`.
    pub parameters: BTreeMap<String, String>,
    /// `volumeBindingMode: WaitForFirstConsumer`: claims bind only once a pod using them is
    /// scheduled, so the VM must exist before its disks are ready.
    pub wait_for_first_consumer: bool,
    /// `allowVolumeExpansion: true`: claims of this class may grow.
    pub allow_volume_expansion: bool,
    /// Marked as the cluster's default class (`storageclass.kubernetes.io/is-default-class`).
    pub is_default: bool,
}

/// One spec disk, as a StorageBackend sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskConfig {
    /// The profile the disk belongs to.
    pub profile: ProfileRef,
    /// Position in `spec.disks`, for field paths.
    pub index: usize,
    /// The spec disk as the user wrote it.
    pub disk: DiskSpec,
    /// The profile asks for live migration: the disk must be ReadWriteMany.
    pub high_availability: bool,
    /// The disk's StorageClass: the one it names, else the cluster's default class. The
    /// managers resolve it before any plugin runs; a disk whose class does not exist never
    /// reaches a backend.
    pub storage_class: Option<StorageClassInfo>,
}

impl DiskConfig {
    /// Path of a field of this disk, for errors: `spec.disks[0].size`.
    pub fn field_path(&self, field: &str) -> String {
        format!("spec.disks[{}].{field}", self.index)
    }
}

/// The object a backend creates for a disk.
#[derive(Debug, Clone, PartialEq)]
pub enum VolumeObject {
    /// A PersistentVolumeClaim (blank disks).
    Claim(Box<PersistentVolumeClaim>),
    /// A CDI DataVolume (imported or cloned disks).
    DataVolume(Box<DataVolume>),
}

/// How the VM refers to a disk's volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeSourceRef {
    /// `persistentVolumeClaim: {claimName}`.
    Claim(String),
    /// `dataVolume: {name}`: KubeVirt also waits for the import.
    DataVolume(String),
}

impl VolumeSourceRef {
    /// The claim's or DataVolume's name.
    pub fn name(&self) -> &str {
        match self {
            VolumeSourceRef::Claim(name) | VolumeSourceRef::DataVolume(name) => name,
        }
    }
}

/// What a StorageBackend wants to exist for one disk.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredVolume {
    /// The claim or DataVolume to apply.
    pub object: VolumeObject,
    /// How the VM mounts it.
    pub attachment: VolumeAttachment,
}

/// The VM side of a disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeAttachment {
    /// The spec disk's name (also the VM's disk and volume name).
    pub name: String,
    /// The claim or DataVolume the VM's volume names.
    pub source: VolumeSourceRef,
    /// Boot order of the disk, if it boots.
    pub boot_order: Option<i32>,
}

/// What exists for one disk.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservedVolume {
    /// The claim, when it exists.
    pub claim: Option<PersistentVolumeClaim>,
    /// The DataVolume, when the disk has one and it exists.
    pub data_volume: Option<DataVolume>,
    /// The disk's StorageClass (named or default), as in [`DiskConfig::storage_class`].
    pub storage_class: Option<StorageClassInfo>,
}

/// Readiness of a disk with the details shown in status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeReadiness {
    /// Ready, in progress or failed, with reason and message.
    pub readiness: Readiness,
    /// The claim holding the data.
    pub claim_name: Option<String>,
    /// The upstream phase (`ImportInProgress`, `Bound`, ...).
    pub phase: Option<String>,
    /// Import progress such as "67.60%".
    pub progress: Option<String>,
    /// The volume is waiting for its first consumer (a WaitForFirstConsumer claim, CDI's
    /// `WaitForFirstConsumer` or `PendingPopulation`): it binds only once the VM's pod is
    /// scheduled, so the VM is created now and becomes the consumer.
    pub waits_for_consumer: bool,
    /// How often the importer was restarted after a failure (CDI's `restartCount`).
    pub restart_count: Option<i32>,
}

impl VolumeReadiness {
    /// Readiness with no phase, progress or restarts.
    pub fn new(readiness: Readiness, claim_name: Option<String>) -> Self {
        VolumeReadiness {
            readiness,
            claim_name,
            phase: None,
            progress: None,
            waits_for_consumer: false,
            restart_count: None,
        }
    }

    /// Whether the VM may be created with this volume: ready, or waiting for the VM itself.
    pub fn attachable(&self) -> bool {
        self.readiness.is_ready() || self.waits_for_consumer
    }
}

/// Everything a VMTemplate needs to build the VirtualMachine.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateInput {
    /// The profile, as the managers read it.
    pub profile: VirtualMachineProfile,
    /// One per spec network, in spec order.
    pub networks: Vec<NetworkAttachment>,
    /// One per spec disk, in spec order.
    pub volumes: Vec<VolumeAttachment>,
    /// Pinned MAC per network name (from status or an earlier VM); the template generates
    /// and returns the missing ones.
    pub macs: BTreeMap<String, String>,
    /// The user's own user data (the `userDataSecretRef` Secret's `userdata`), if any.
    pub user_data: Option<String>,
}

/// What a VMTemplate wants to exist.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredVm {
    /// The VirtualMachine to apply.
    pub vm: VirtualMachine,
    /// Secrets the VM needs (cloud-init user and network data).
    pub secrets: Vec<Secret>,
    /// The MAC of every network, to be recorded in status.
    pub macs: BTreeMap<String, String>,
}
