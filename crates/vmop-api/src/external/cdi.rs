//! CDI `DataVolume` (cdi.kubevirt.io/v1beta1): a claim populated by an import, clone or
//! blank source.

use k8s_openapi::api::core::v1::VolumeResourceRequirements;
use kube::CustomResource;
use serde::{Deserialize, Serialize};

use super::{Empty, Extra, UpstreamCondition};

/// DataVolume phases (`status.phase`) the operator acts on; others are reported as read.
pub mod phase {
    /// Phase `Pending`.
    pub const PENDING: &str = "Pending";
    /// Phase `PVCBound`.
    pub const PVC_BOUND: &str = "PVCBound";
    /// Phase `ImportScheduled`.
    pub const IMPORT_SCHEDULED: &str = "ImportScheduled";
    /// Phase `ImportInProgress`.
    pub const IMPORT_IN_PROGRESS: &str = "ImportInProgress";
    /// Phase `CloneScheduled`.
    pub const CLONE_SCHEDULED: &str = "CloneScheduled";
    /// Phase `CloneInProgress`.
    pub const CLONE_IN_PROGRESS: &str = "CloneInProgress";
    /// Phase `WaitForFirstConsumer`.
    pub const WAIT_FOR_FIRST_CONSUMER: &str = "WaitForFirstConsumer";
    /// Phase `PendingPopulation`.
    pub const PENDING_POPULATION: &str = "PendingPopulation";
    /// Phase `Succeeded`.
    pub const SUCCEEDED: &str = "Succeeded";
    /// Phase `Failed`.
    pub const FAILED: &str = "Failed";
    /// Phase `Paused` (a multi-stage import between stages).
    pub const PAUSED: &str = "Paused";
    /// Phase `Unknown`.
    pub const UNKNOWN: &str = "Unknown";
}

/// DataVolume condition types.
pub mod condition {
    /// Condition type `Ready`.
    pub const READY: &str = "Ready";
    /// Condition type `Bound`.
    pub const BOUND: &str = "Bound";
    /// Condition type `Running`.
    pub const RUNNING: &str = "Running";
}

/// A claim populated from a source.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "cdi.kubevirt.io",
    version = "v1beta1",
    kind = "DataVolume",
    shortname = "dv",
    namespaced,
    status = "DataVolumeStatus",
    schema = "disabled",
    derive = "Default",
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
pub struct DataVolumeSpec {
    /// `source` of CDI's `DataVolumeSpec`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<DataVolumeSource>,
    /// `sourceRef` of CDI's `DataVolumeSpec`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ref: Option<DataVolumeSourceRef>,
    /// The claim to create; defaults come from CDI's StorageProfile (preferred over `pvc`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageSpec>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Where a DataVolume's content comes from; exactly one field is set.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DataVolumeSource {
    /// `http` of CDI's `DataVolumeSource`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpSource>,
    /// `registry` of CDI's `DataVolumeSource`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<RegistrySource>,
    /// `s3` of CDI's `DataVolumeSource`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Source>,
    /// `pvc` of CDI's `DataVolumeSource`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvc: Option<PvcSource>,
    /// `blank` of CDI's `DataVolumeSource`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blank: Option<Empty>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// An image at an http(s) URL.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HttpSource {
    /// `url` of CDI's `HttpSource`.
    pub url: String,
    /// `secretRef` of CDI's source: a Secret in the DataVolume's namespace with
    /// `accessKeyId` and `secretKey`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<String>,
    /// `certConfigMap` of CDI's source: a ConfigMap in the DataVolume's namespace with the
    /// server's certificate authorities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_config_map: Option<String>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A container-disk image in a registry (`docker://...`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RegistrySource {
    /// `url` of CDI's `RegistrySource`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `pod` or `node`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_method: Option<String>,
    /// `secretRef` of CDI's source: a Secret in the DataVolume's namespace with
    /// `accessKeyId` and `secretKey`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<String>,
    /// `certConfigMap` of CDI's source: a ConfigMap in the DataVolume's namespace with the
    /// server's certificate authorities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_config_map: Option<String>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// An object in an S3 bucket (`DataVolumeSourceS3`): `url` is
/// `<scheme>://<endpoint>/<bucket>/<object>`, TLS unless the scheme is `http`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct S3Source {
    /// `url` of CDI's `DataVolumeSourceS3`.
    pub url: String,
    /// `secretRef` of CDI's source: a Secret in the DataVolume's namespace with
    /// `accessKeyId` and `secretKey`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<String>,
    /// `certConfigMap` of CDI's source: a ConfigMap in the DataVolume's namespace with the
    /// server's certificate authorities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_config_map: Option<String>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A claim to clone.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PvcSource {
    /// `namespace` of CDI's `PvcSource`.
    pub namespace: String,
    /// `name` of CDI's `PvcSource`.
    pub name: String,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A reference to a DataSource (a golden image).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DataVolumeSourceRef {
    /// Always `DataSource`.
    pub kind: String,
    /// `name` of CDI's `DataVolumeSourceRef`.
    pub name: String,
    /// `namespace` of CDI's `DataVolumeSourceRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The claim a DataVolume creates (`spec.storage`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StorageSpec {
    /// `accessModes` of CDI's `StorageSpec`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_modes: Option<Vec<String>>,
    /// `volumeMode` of CDI's `StorageSpec`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_mode: Option<String>,
    /// `storageClassName` of CDI's `StorageSpec`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
    /// `resources` of CDI's `StorageSpec`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<VolumeResourceRequirements>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Observed state of a DataVolume.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DataVolumeStatus {
    /// `phase` of CDI's `DataVolumeStatus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Import progress such as "67.60%" or "N/A".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    /// `claimName` of CDI's `DataVolumeStatus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_name: Option<String>,
    /// `restartCount` of CDI's `DataVolumeStatus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_count: Option<i32>,
    /// `conditions` of CDI's `DataVolumeStatus`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<UpstreamCondition>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

impl DataVolumeSource {
    /// The source CDI imports `image` from: `docker://` and `oci-archive://` from a
    /// registry (`pull_method` `pod` or `node`), `http(s)://` over HTTP, `s3://` from S3 (the
    /// URL as written: CDI's importer takes the endpoint, bucket and object from it), with
    /// the credentials Secret and CA ConfigMap named; `None` for any other scheme.
    pub fn from_image_url(
        image: &str,
        pull_method: Option<String>,
        secret_ref: Option<String>,
        cert_config_map: Option<String>,
    ) -> Option<Self> {
        let source = if image.starts_with("docker://") || image.starts_with("oci-archive://") {
            DataVolumeSource {
                registry: Some(RegistrySource {
                    url: Some(image.to_owned()),
                    pull_method,
                    secret_ref,
                    cert_config_map,
                    ..RegistrySource::default()
                }),
                ..DataVolumeSource::default()
            }
        } else if image.starts_with("http://") || image.starts_with("https://") {
            DataVolumeSource {
                http: Some(HttpSource {
                    url: image.to_owned(),
                    secret_ref,
                    cert_config_map,
                    ..HttpSource::default()
                }),
                ..DataVolumeSource::default()
            }
        } else if image.starts_with("s3://") {
            DataVolumeSource {
                s3: Some(S3Source {
                    url: image.to_owned(),
                    secret_ref,
                    cert_config_map,
                    ..S3Source::default()
                }),
                ..DataVolumeSource::default()
            }
        } else {
            return None;
        };
        Some(source)
    }
}
