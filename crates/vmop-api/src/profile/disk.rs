//! A profile's disks: size, class, access, and where the data comes from.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::RetentionPolicy;

/// One disk of the VM.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = kube::core::Rule::new("!has(self.image) || !has(self.source)").message(crate::messages::IMAGE_OR_SOURCE).field_path(".source"),
    validation = kube::core::Rule::new("!has(self.imageRef) || (!has(self.image) && !has(self.source))").message(crate::messages::IMAGE_REF_EXCLUSIVE).field_path(".imageRef"),
    validation = kube::core::Rule::new("!has(self.pullMethod) || (has(self.image) && self.image.startsWith('docker://'))").message(crate::messages::PULL_METHOD_NEEDS_REGISTRY).field_path(".pullMethod"),
    validation = kube::core::Rule::new("!has(self.credentialsSecretRef) || (has(self.image) && !self.image.startsWith('oci-archive://'))").message(crate::messages::CREDENTIALS_NEED_IMPORT).field_path(".credentialsSecretRef"),
    validation = kube::core::Rule::new("!has(self.certConfigMapRef) || (has(self.image) && !self.image.startsWith('oci-archive://'))").message(crate::messages::CREDENTIALS_NEED_IMPORT).field_path(".certConfigMapRef")
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
    /// `oci-archive://...`, an `http(s)://` URL of a qcow2/raw/iso file, or an object in an
    /// S3 bucket, `s3://<endpoint>/<bucket>/<object>` (path-style, over TLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    #[x_kube(
        validation = kube::core::Rule::new("self.matches('^(docker|oci-archive|https?|s3)://.+$')").message(crate::messages::IMAGE_SCHEME),
        validation = kube::core::Rule::new("!self.matches('\\\\s') && !self.matches('^[a-z0-9-]+://[^/]*@')").message(crate::messages::IMAGE_URL),
        validation = kube::core::Rule::new("!self.startsWith('s3://') || self.matches('^s3://[^/?#]+/[^/?#]+/[^?#]+$')").message(crate::messages::S3_URL)
    )]
    pub image: Option<String>,

    /// A VirtualMachineImage of the profile's namespace (the catalog) to clone: the disk's
    /// DataVolume clones the image's current version through its CDI DataSource, so many
    /// disks from one image make one import. Exclusive with `image` and `source`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    #[x_kube(validation = kube::core::Rule::new("size(self) <= 50 && self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message(crate::messages::IMAGE_REF_NAME))]
    pub image_ref: Option<String>,

    /// A Secret in the profile's namespace with the image source's credentials, in the
    /// keys CDI reads: `accessKeyId` (user name, or S3 access key) and `secretKey`
    /// (password, or S3 secret key). The Secret must carry the label
    /// `vmoperator.io/import-credentials: "true"`: whoever may label it agrees that profiles
    /// in the namespace send it to the hosts their images name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret_ref: Option<LocalReference>,

    /// A ConfigMap in the profile's namespace with the certificate authorities (PEM) that
    /// sign the image server's certificate: a registry, http(s) server or S3 endpoint with a
    /// private CA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_config_map_ref: Option<LocalReference>,

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

/// An object in the profile's own namespace, by name: credentials and certificates are never
/// read from another namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("!has(self.__namespace__)").message(crate::messages::OTHER_NAMESPACE).field_path(".namespace"))]
pub struct LocalReference {
    /// Name of the object.
    #[schemars(length(max = 253))]
    #[x_kube(validation = kube::core::Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')").message(crate::messages::OBJECT_NAME))]
    pub name: String,
    /// Not allowed: present only so that a namespace written here is refused with a reason
    /// rather than dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub namespace: Option<String>,
}
