//! CDI's DataVolume (cdi.kubevirt.io/v1beta1).

use k8s_openapi::api::core::v1::VolumeResourceRequirements;
use kube::CustomResource;
use serde::{Deserialize, Serialize};

use super::{Condition, Rest};

/// `DataVolumeSpec`: where the data comes from and the claim to put it in.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default)]
#[kube(
    group = "cdi.kubevirt.io",
    version = "v1beta1",
    kind = "DataVolume",
    namespaced,
    status = "DataVolumeStatus",
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct DataVolumeSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ref: Option<SourceRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<Storage>,
    #[serde(flatten)]
    pub rest: Rest,
}

/// `DataVolumeSource`: the kinds of source the simulator imports or clones.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Source {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<UrlSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<RegistrySource>,
    /// `DataVolumeSourceS3`: the same fields as HTTP's that the simulator reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<UrlSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvc: Option<PvcSource>,
    #[serde(flatten)]
    pub rest: Rest,
}

/// `DataVolumeSourceHTTP`.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct UrlSource {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_config_map: Option<String>,
    #[serde(flatten)]
    pub rest: Rest,
}

/// `DataVolumeSourceRegistry` (`url` is optional upstream: an image stream may name it).
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct RegistrySource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_config_map: Option<String>,
    #[serde(flatten)]
    pub rest: Rest,
}

/// `DataVolumeSourcePVC`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct PvcSource {
    pub namespace: String,
    pub name: String,
}

/// `DataVolumeSourceRef` (a DataSource).
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct SourceRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    #[serde(flatten)]
    pub rest: Rest,
}

/// `StorageSpec`: what the claim asks for.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct Storage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_modes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<VolumeResourceRequirements>,
}

/// `DataVolumeStatus`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DataVolumeStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_count: Option<i32>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

/// `DataSourceSpec`: a name for a golden image, pointing at a claim, a snapshot or another
/// DataSource.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default)]
#[kube(
    group = "cdi.kubevirt.io",
    version = "v1beta1",
    kind = "DataSource",
    namespaced,
    status = "DataSourceStatus",
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct DataSourceSpec {
    pub source: DataSourceSource,
    #[serde(flatten)]
    pub rest: Rest,
}

/// `DataSourceSource`: exactly one of its fields is set.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct DataSourceSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvc: Option<PvcSource>,
    /// `DataSourceRefSourceDataSource`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_source: Option<PvcSource>,
    #[serde(flatten)]
    pub rest: Rest,
}

/// `DataSourceStatus`: the source resolved, and whether it is `Ready`. DataSource has no
/// status subresource upstream: CDI writes it with the object.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DataSourceStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<serde_json::Value>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(flatten)]
    pub rest: Rest,
}

/// `DataImportCronSpec`: a DataVolume template imported on a schedule into versions named
/// after `managedDataSource`, which points at the newest.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default)]
#[kube(
    group = "cdi.kubevirt.io",
    version = "v1beta1",
    kind = "DataImportCron",
    namespaced,
    status = "DataImportCronStatus",
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct DataImportCronSpec {
    /// A whole DataVolume (`apiVersion`, `kind`, `metadata`, `spec`), as upstream.
    pub template: DataVolumeTemplate,
    pub schedule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub garbage_collect: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imports_to_keep: Option<i32>,
    pub managed_data_source: String,
    #[serde(flatten)]
    pub rest: Rest,
}

/// The DataVolume a DataImportCron's template holds.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct DataVolumeTemplate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
    pub spec: DataVolumeSpec,
    #[serde(flatten)]
    pub rest: Rest,
}

/// `DataImportCronStatus` (no status subresource upstream: written with the object).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DataImportCronStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub current_imports: Vec<ImportStatus>,
    #[serde(
        rename = "lastImportedPVC",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_imported_pvc: Option<PvcSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_execution_timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_import_timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_format: Option<String>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

/// `ImportStatus`: upstream spells its JSON fields with capitals.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct ImportStatus {
    #[serde(rename = "DataVolumeName")]
    pub data_volume_name: String,
    #[serde(rename = "Digest")]
    pub digest: String,
}
