//! The `VirtualMachineImage` custom resource: an image catalog entry that CDI imports once
//! (or on a schedule, keeping the newest versions) and that disks clone from with
//! `imageRef`, so that many VMs from one image make one import.
//!
//! The operator turns an image into CDI's own objects: with a `schedule`, a `DataImportCron`
//! (`managedDataSource: <image>`, `importsToKeep`, `retentionPolicy: None`); without one, a
//! DataVolume `<image>` and a DataSource `<image>` pointing at it. A disk with
//! `imageRef: <image>` becomes a DataVolume whose `sourceRef` is that DataSource.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::LocalReference;

/// Label on the DataVolume, DataSource or DataImportCron an image made, naming the image.
pub const IMAGE_LABEL: &str = "vmoperator.io/image";
/// Annotation on a disk's DataVolume naming the image version (the claim the image's
/// DataSource pointed at) it was cloned from.
pub const IMAGE_VERSION_ANNOTATION: &str = "vmoperator.io/image-version";
/// Versions a scheduled image keeps when `importsToKeep` is not set (CDI's default).
pub const DEFAULT_IMPORTS_TO_KEEP: i32 = 3;

/// An image for the catalog: where it comes from, the size of each imported version, and
/// how often to look for a new one.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "vmoperator.io",
    version = "v1alpha1",
    kind = "VirtualMachineImage",
    namespaced,
    shortname = "vmimage",
    shortname = "vmimages",
    category = "all",
    status = "VirtualMachineImageStatus",
    derive = "PartialEq",
    doc = "VirtualMachineImage is a catalog image imported once by CDI (or on a schedule, keeping the newest versions); disks clone it with imageRef.",
    printcolumn(name = "Source", type_ = "string", json_path = ".spec.source", description = "Where the image comes from"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase", description = "Pending, Importing, Ready or Failed"),
    printcolumn(name = "Version", type_ = "string", json_path = ".status.currentVersion", description = "The version new disks clone"),
    printcolumn(name = "Progress", type_ = "string", json_path = ".status.progress", description = "Progress of the import under way"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = kube::core::Rule::new("size(self.metadata.name) <= 50 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message(crate::messages::IMAGE_NAME),
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = kube::core::Rule::new("!has(self.schedule) || self.source.startsWith('docker://')").message(crate::messages::SCHEDULE_NEEDS_REGISTRY).field_path(".schedule"),
    validation = kube::core::Rule::new("!has(self.importsToKeep) || has(self.schedule)").message(crate::messages::IMPORTS_TO_KEEP_NEEDS_SCHEDULE).field_path(".importsToKeep"),
)]
pub struct VirtualMachineImageSpec {
    /// Where the image comes from: `docker://registry/image:tag`, an `http(s)://` URL of a
    /// qcow2/raw/iso file, or `s3://<endpoint>/<bucket>/<object>`.
    #[schemars(length(max = 2048))]
    #[x_kube(
        validation = kube::core::Rule::new("self.matches('^(docker|https?|s3)://.+$')").message(crate::messages::IMAGE_SOURCE_SCHEME),
        validation = kube::core::Rule::new("!self.matches('\\\\s') && !self.matches('^[a-z0-9-]+://[^/]*@')").message(crate::messages::IMAGE_URL),
        validation = kube::core::Rule::new("!self.startsWith('s3://') || self.matches('^s3://[^/?#]+/[^/?#]+/[^?#]+$')").message(crate::messages::S3_URL)
    )]
    pub source: String,

    /// Capacity of each imported version, such as 10Gi (disks cloning it may be larger).
    #[schemars(length(max = 32))]
    #[x_kube(validation = kube::core::Rule::new("isQuantity(self) && quantity(self).isInteger() && quantity(self).compareTo(quantity('1Mi')) >= 0").message(crate::messages::SIZE_QUANTITY))]
    pub size: String,

    /// StorageClass of the imported versions (default: the cluster's default class).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    #[x_kube(validation = kube::core::Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')").message(crate::messages::STORAGE_CLASS_NAME))]
    pub storage_class_name: Option<String>,

    /// A Secret of this namespace with the source's credentials (`accessKeyId`,
    /// `secretKey`), labelled `vmoperator.io/import-credentials: "true"`, as for disks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret_ref: Option<LocalReference>,

    /// A ConfigMap of this namespace with the CA certificates (PEM) of the source's server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_config_map_ref: Option<LocalReference>,

    /// When CDI looks for a new digest of a `docker://` source, in cron's five fields
    /// (`0 2 * * *`, UTC) or `@daily` and the like. A new digest is imported as a new
    /// version; disks created afterwards clone it, existing disks keep theirs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    #[x_kube(validation = kube::core::Rule::new("self.matches('^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|[0-9A-Za-z*,/?#-]+( +[0-9A-Za-z*,/?#-]+){4})$')").message(crate::messages::SCHEDULE_FORMAT))]
    pub schedule: Option<String>,

    /// How many imported versions a scheduled image keeps (1-20, default 3); older ones
    /// are deleted, which never touches disks already cloned from them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("self >= 1 && self <= 20").message(crate::messages::IMPORTS_TO_KEEP_RANGE))]
    pub imports_to_keep: Option<i32>,
}

/// What became of an image.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineImageStatus {
    /// `Pending` (nothing imported yet), `Importing`, `Ready` (new disks can clone it) or
    /// `Failed` (see the Ready condition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// The version new disks clone: the claim the image's DataSource points at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_version: Option<String>,
    /// When the current version was imported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_import_time: Option<String>,
    /// Phase of the newest import (the DataVolume's: ImportInProgress, Succeeded, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_import_phase: Option<String>,
    /// Progress of the newest import, such as "45.00%".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    /// The spec generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`: whether new disks can clone the image, and why not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// Image phases, as `status.phase` spells them.
pub mod image_phase {
    /// Nothing imported yet, and no import under way.
    pub const PENDING: &str = "Pending";
    /// An import is under way and no version is ready yet.
    pub const IMPORTING: &str = "Importing";
    /// New disks can clone the current version.
    pub const READY: &str = "Ready";
    /// The import failed, or the spec cannot be acted on.
    pub const FAILED: &str = "Failed";
}
