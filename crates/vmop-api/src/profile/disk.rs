//! A profile's disks: size, class, access, and where the data comes from.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::RetentionPolicy;

/// One disk of the VM.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = kube::core::Rule::new("!has(self.image) || !has(self.source)").message(crate::messages::IMAGE_OR_SOURCE).field_path(".source"),
    validation = kube::core::Rule::new("!has(self.pullMethod) || (has(self.image) && self.image.startsWith('docker://'))").message(crate::messages::PULL_METHOD_NEEDS_REGISTRY).field_path(".pullMethod")
)]
pub struct DiskSpec {
    /// Name of the disk, unique in the profile; the claim is named `<profile>-<disk>`.
    #[schemars(length(max = 32))]
    #[x_kube(validation = kube::core::Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && !self.contains('--')").message(crate::messages::ENTRY_NAME))]
    pub name: String,

    /// Capacity as a Kubernetes quantity, such as 80Gi.
    #[schemars(length(max = 32))]
    #[x_kube(validation = kube::core::Rule::new("isQuantity(self) && quantity(self).isInteger() && quantity(self).compareTo(quantity('1Mi')) >= 0").message(crate::messages::SIZE_QUANTITY))]
    pub size: String,

    /// StorageClass of the claim (default: the cluster's default class).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    #[x_kube(validation = kube::core::Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')").message(crate::messages::STORAGE_CLASS_NAME))]
    pub storage_class_name: Option<String>,

    /// Image imported into the disk by CDI: `docker://registry/image:tag`,
    /// `oci-archive://...`, or an `http(s)://` URL of a qcow2/raw/iso file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    #[x_kube(
        validation = kube::core::Rule::new("self.matches('^(docker|oci-archive|https?)://.+$')").message(crate::messages::IMAGE_SCHEME),
        validation = kube::core::Rule::new("!self.matches('\\\\s') && !self.matches('^[a-z-]+://[^/]*@')").message(crate::messages::IMAGE_URL)
    )]
    pub image: Option<String>,

    /// How CDI pulls a docker:// image: `pod` (default) or `node` (the node's container
    /// runtime, which caches layers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_method: Option<PullMethod>,

    /// Another source for the disk's content: a clone of an existing claim, a DataSource, or
    /// blank.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<DiskSource>,

    /// Boot order (1 boots first); disks without one are not booted from. When no disk sets
    /// one, the first disk with an image, a clone or a DataSource boots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("self >= 1").message(crate::messages::BOOT_ORDER_RANGE))]
    pub boot_order: Option<i32>,

    /// Access modes of the claim (default: ReadWriteOnce, or ReadWriteMany with
    /// highAvailability).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4))]
    #[x_kube(validation = kube::core::Rule::new("size(self) >= 1").message(crate::messages::ACCESS_MODES_EMPTY))]
    pub access_modes: Option<Vec<AccessMode>>,

    /// Volume mode of the claim: Block or Filesystem (default: the StorageClass's choice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_mode: Option<VolumeMode>,

    /// The StorageBackend that serves this disk, by registered name. Default: `cdi` for a
    /// disk with an image or source; else the backend that serves the StorageClass's
    /// provisioner (`huamei-csi` for `csi.huamei.com`); else `pvc`, a plain claim on any class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    #[x_kube(validation = kube::core::Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message(crate::messages::PLUGIN_NAME))]
    pub backend: Option<String>,

    /// Overrides spec.diskRetentionPolicy for this disk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_policy: Option<RetentionPolicy>,

    /// Take over the claim or DataVolume of this disk's name that a deleted profile of the
    /// same name retained (annotation `vmoperator.io/retained-from`). Without it such a volume
    /// is reported as a Conflict and never touched: a re-created profile does not silently
    /// adopt old data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adopt_retained: Option<bool>,
}

/// Access modes of a PersistentVolumeClaim.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
// Variants are described with `//`: `///` on a variant would turn the CRD's `enum` into a
// `oneOf` (schemars writes one schema per described variant).
#[allow(missing_docs)]
pub enum AccessMode {
    ReadWriteOnce,
    ReadWriteMany,
    ReadOnlyMany,
    ReadWriteOncePod,
}

impl AccessMode {
    /// The Kubernetes spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessMode::ReadWriteOnce => "ReadWriteOnce",
            AccessMode::ReadWriteMany => "ReadWriteMany",
            AccessMode::ReadOnlyMany => "ReadOnlyMany",
            AccessMode::ReadWriteOncePod => "ReadWriteOncePod",
        }
    }
}

/// Volume modes of a PersistentVolumeClaim.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
// Variants are described with `//`: `///` on a variant would turn the CRD's `enum` into a
// `oneOf` (schemars writes one schema per described variant).
#[allow(missing_docs)]
pub enum VolumeMode {
    Block,
    Filesystem,
}

/// How CDI pulls a registry image.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
// Variants are described with `//`: `///` on a variant would turn the CRD's `enum` into a
// `oneOf` (schemars writes one schema per described variant).
#[allow(missing_docs)]
pub enum PullMethod {
    // An importer pod pulls the image.
    Pod,
    // The node's container runtime pulls the image.
    Node,
}

/// A non-image source of a disk; exactly one field is set.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("(has(self.pvc) ? 1 : 0) + (has(self.dataSource) ? 1 : 0) + (has(self.blank) ? 1 : 0) == 1").message(crate::messages::ONE_SOURCE))]
pub struct DiskSource {
    /// Clone an existing PersistentVolumeClaim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvc: Option<SourceReference>,
    /// Populate from a CDI DataSource (a golden image).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_source: Option<SourceReference>,
    /// An empty disk (`true`; leave `source` out otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("self == true").message(crate::messages::BLANK_TRUE))]
    pub blank: Option<bool>,
}

/// A reference to an object, by default in the profile's namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SourceReference {
    /// Name of the object.
    #[schemars(length(max = 253))]
    #[x_kube(validation = kube::core::Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')").message(crate::messages::OBJECT_NAME))]
    pub name: String,
    /// Namespace of the object (default: the profile's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub namespace: Option<String>,
}
