//! KubeVirt's `VirtualMachineInstanceMigration` (kubevirt.io/v1): a live migration.

use kube::CustomResource;
use serde::{Deserialize, Serialize};

use crate::external::Extra;

/// A live migration of a running instance to another node (`virtctl migrate` creates one).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "kubevirt.io",
    version = "v1",
    kind = "VirtualMachineInstanceMigration",
    shortname = "vmim",
    namespaced,
    status = "VirtualMachineInstanceMigrationStatus",
    schema = "disabled",
    derive = "Default",
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineInstanceMigrationSpec {
    /// The instance to migrate.
    pub vmi_name: String,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Observed state of a migration.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineInstanceMigrationStatus {
    /// One of [`migration_phase`]'s values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `VirtualMachineInstanceMigration.status.phase` values that end a migration.
pub mod migration_phase {
    /// The instance runs on the target node.
    pub const SUCCEEDED: &str = "Succeeded";
    /// The migration failed; the instance stays where it was.
    pub const FAILED: &str = "Failed";
}

/// The condition KubeVirt sets on a running instance saying whether it can live-migrate,
/// with a reason such as `DisksNotLiveMigratable` when it cannot.
pub const LIVE_MIGRATABLE_CONDITION: &str = "LiveMigratable";
