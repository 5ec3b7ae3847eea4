//! The API of vm-operator: the `VirtualMachineProfile` custom resource
//! (`vmoperator.io/v1alpha1`, short name `vmprofile`) and typed subsets of the upstream kinds the
//! operator writes or reads (Multus, NMState, CDI, KubeVirt).
//!
//! This crate holds types and pure validation only. It re-exports [`kube`] and
//! [`k8s_openapi`] so that every crate of the workspace, and every embedder, uses the same
//! versions.
//!
//! Validation happens twice, with the same field paths and messages: the CRD carries the
//! rules as OpenAPI bounds and CEL `x-kubernetes-validations` (the API server rejects bad input
//! at admission), and [`validate::validate_profile`] applies them in Rust for profiles built in
//! code or stored before a rule existed. Both take their messages from [`messages`].

#![deny(missing_docs)]

pub mod address_range;
pub mod external;
#[cfg(feature = "fixtures")]
pub mod fixtures;
pub mod image;
pub mod json;
pub mod messages;
pub mod pool;
pub mod profile;
pub mod quantity;
pub mod reasons;
pub mod status;
pub mod validate;

pub use k8s_openapi;
pub use kube;

pub use profile::{
    AllowFrom, CloudInitSpec, CpuTopology, DiskSource, DiskSpec, EgressRule, EgressSpec,
    InstancetypeKind, InstancetypeRef, IpamSpec, IsolationPort, IsolationSpec, LiveUpdateSpec,
    LocalReference, MAX_SNAPSHOTS_KEEP, NetworkSpec, PortProtocol, PreferenceKind, PreferenceRef,
    PullMethod, RetentionPolicy, RunStrategy, SecretReference, SnapshotPolicy, SourceReference,
    SriovSpec, VirtualMachineProfile, VirtualMachineProfileSpec, VolumeMode,
};
pub use status::{
    Access, ConditionType, DiskStatus, MAX_LISTED_SNAPSHOTS, NetworkStatus, Phase, RequestPhase,
    RequestStatus, Resources, SnapshotStatus, VirtualMachineProfileStatus,
};
/// Label a tenant's Secret carries, with the value `"true"`, to be usable as a disk's
/// `credentialsSecretRef`: whoever may label it agrees that profiles of its namespace send it
/// to the hosts their images name.
pub const IMPORT_CREDENTIALS_LABEL: &str = "vmoperator.io/import-credentials";
/// The keys CDI's importer reads from a credentials Secret (`KeyAccess` and `KeySecret` of
/// CDI's `pkg/common`): the user name or S3 access key, and the password or S3 secret key.
pub const IMPORT_CREDENTIALS_KEYS: [&str; 2] = ["accessKeyId", "secretKey"];

/// The API group of vm-operator's own kinds.
pub const GROUP: &str = "vmoperator.io";
/// Labels and annotations the operator sets carry this prefix.
pub const LABEL_PREFIX: &str = "vmoperator.io/";
/// Label naming the profile that an object belongs to.
pub const PROFILE_LABEL: &str = "vmoperator.io/profile";
/// Label on a profile that groups highly available VMs kept apart from each other.
pub const HA_GROUP_LABEL: &str = "vmoperator.io/ha-group";
/// Annotation asking for a restart of the VM: each new value (a timestamp, say) is one request,
/// acted on once; `status.restart` reports it.
pub const RESTART_ANNOTATION: &str = "vmoperator.io/restart-requested";
/// Annotation asking for a live migration of the VM: each new value is one request, acted on
/// once; `status.migration` reports it.
pub const MIGRATE_ANNOTATION: &str = "vmoperator.io/migrate-requested";
/// Annotation asking for a snapshot of the VM: each new value is one request, acted on once;
/// `status.snapshots` lists the snapshot.
pub const SNAPSHOT_ANNOTATION: &str = "vmoperator.io/snapshot-requested";
/// Annotation asking to restore the VM from one of its snapshots: the value names the
/// snapshot (`<snapshot>`, or `<snapshot>/<anything>` to restore the same one again);
/// `status.restore` reports it.
pub const RESTORE_ANNOTATION: &str = "vmoperator.io/restore-requested";
/// Label on the VirtualMachineSnapshots the operator takes on a profile's schedule.
pub const SCHEDULED_SNAPSHOT_LABEL: &str = "vmoperator.io/scheduled-snapshot";
/// Annotation on an operator's snapshot: the time it was due (RFC 3339), by which the
/// oldest are chosen for deletion.
pub const SNAPSHOT_DUE_ANNOTATION: &str = "vmoperator.io/snapshot-due";

/// The CustomResourceDefinition of `VirtualMachineProfile` as YAML, exactly as committed
/// under `deploy/crds/` (regenerate with `cargo xtask crdgen`).
pub fn crd_yaml() -> Result<String, serde_yaml::Error> {
    generated_crd::<VirtualMachineProfile>()
}

/// The VirtualMachineProfilePool CRD as YAML, as `cargo xtask crdgen` writes it.
pub fn pool_crd_yaml() -> Result<String, serde_yaml::Error> {
    generated_crd::<pool::VirtualMachineProfilePool>()
}

/// The VirtualMachineImage CRD as YAML, as `cargo xtask crdgen` writes it.
pub fn image_crd_yaml() -> Result<String, serde_yaml::Error> {
    generated_crd::<image::VirtualMachineImage>()
}

fn generated_crd<K: kube::CustomResourceExt>() -> Result<String, serde_yaml::Error> {
    let mut crd =
        serde_json::to_value(K::crd()).map_err(<serde_yaml::Error as serde::ser::Error>::custom)?;
    unwrap_descriptions(&mut crd);
    let yaml = serde_yaml::to_string(&crd)?;
    Ok(format!(
        "# Generated by `cargo xtask crdgen` from crates/vmop-api: do not edit.\n{yaml}"
    ))
}

/// Where the committed CRD lives, relative to the workspace root.
pub const CRD_PATH: &str = "deploy/crds/vmoperator.io_virtualmachineprofiles.yaml";
/// The same CRD in the Helm chart (Helm installs `crds/` before the templates).
pub const CHART_CRD_PATH: &str =
    "charts/vm-operator/crds/vmoperator.io_virtualmachineprofiles.yaml";
/// Where the committed image CRD lives, and its copy in the chart.
pub const IMAGE_CRD_PATHS: [&str; 2] = [
    "deploy/crds/vmoperator.io_virtualmachineimages.yaml",
    "charts/vm-operator/crds/vmoperator.io_virtualmachineimages.yaml",
];
/// Where the committed pool CRD lives, and its copy in the chart.
pub const POOL_CRD_PATHS: [&str; 2] = [
    "deploy/crds/vmoperator.io_virtualmachineprofilepools.yaml",
    "charts/vm-operator/crds/vmoperator.io_virtualmachineprofilepools.yaml",
];

/// Joins the hard-wrapped lines of doc comments into paragraphs, so `kubectl explain` wraps
/// descriptions itself instead of showing the source's line breaks.
fn unwrap_descriptions(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                match child {
                    serde_json::Value::String(text) if key == "description" => {
                        *text = text
                            .split("\n\n")
                            .map(|paragraph| paragraph.replace('\n', " "))
                            .collect::<Vec<_>>()
                            .join("\n\n");
                    }
                    _ => unwrap_descriptions(child),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(unwrap_descriptions),
        _ => {}
    }
}
