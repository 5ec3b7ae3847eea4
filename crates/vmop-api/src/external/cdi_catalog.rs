//! CDI's golden-image kinds (cdi.kubevirt.io/v1beta1): `DataSource`, a name for the claim
//! disks clone, and `DataImportCron`, which imports a registry image on a schedule into
//! versions and keeps a DataSource pointing at the newest. Only the fields vm-operator
//! writes or reads; the rest is kept as read.

use kube::CustomResource;
use serde::{Deserialize, Serialize};

use super::{Extra, UpstreamCondition, cdi::DataVolumeSpec};

/// Label CDI puts on the DataVolumes, claims and DataSource a DataImportCron made
/// (`DataImportCronLabel`), naming the cron.
pub const DATA_IMPORT_CRON_LABEL: &str = "cdi.kubevirt.io/dataImportCron";

/// A name for a golden image: the claim (or DataSource) disks clone.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "cdi.kubevirt.io",
    version = "v1beta1",
    kind = "DataSource",
    namespaced,
    status = "DataSourceStatus",
    schema = "disabled",
    derive = "Default",
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
pub struct DataSourceSpec {
    /// What it points at.
    pub source: DataSourceSource,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `DataSourceSource`: the claim a DataSource points at (snapshots and DataSources are not
/// written by vm-operator).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DataSourceSource {
    /// `pvc`: a claim, by namespace and name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvc: Option<ClaimReference>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `DataVolumeSourcePVC`: a claim by namespace and name.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct ClaimReference {
    /// Namespace of the claim.
    pub namespace: String,
    /// Name of the claim.
    pub name: String,
}

/// `DataSourceStatus`: the `Ready` condition and the source resolved.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DataSourceStatus {
    /// `Ready` when the claim exists and is populated.
    #[serde(default)]
    pub conditions: Vec<UpstreamCondition>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Imports a registry image on a schedule.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "cdi.kubevirt.io",
    version = "v1beta1",
    kind = "DataImportCron",
    namespaced,
    status = "DataImportCronStatus",
    schema = "disabled",
    derive = "Default",
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
pub struct DataImportCronSpec {
    /// The DataVolume each version is imported with.
    pub template: DataImportCronTemplate,
    /// When CDI polls the registry for a new digest (cron's five fields).
    pub schedule: String,
    /// The DataSource CDI creates and points at the newest version.
    pub managed_data_source: String,
    /// Versions kept (CDI's default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imports_to_keep: Option<i32>,
    /// `Outdated` (delete versions beyond `importsToKeep`) or `Never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub garbage_collect: Option<String>,
    /// `None` (delete the versions and DataSource with the cron) or `All`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_policy: Option<String>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The DataVolume template of a DataImportCron.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct DataImportCronTemplate {
    /// The DataVolume's spec.
    pub spec: DataVolumeSpec,
}

/// What a DataImportCron did.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DataImportCronStatus {
    /// The import under way (at most one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub current_imports: Vec<ImportStatus>,
    /// The newest version imported.
    #[serde(
        rename = "lastImportedPVC",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_imported_pvc: Option<ClaimReference>,
    /// When it was imported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_import_timestamp: Option<String>,
    /// `Progressing` and `UpToDate`.
    #[serde(default)]
    pub conditions: Vec<UpstreamCondition>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `ImportStatus`: upstream spells these two JSON fields with capitals.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportStatus {
    /// The DataVolume of the import.
    #[serde(rename = "DataVolumeName")]
    pub data_volume_name: String,
    /// The digest it imports.
    #[serde(rename = "Digest")]
    pub digest: String,
}
