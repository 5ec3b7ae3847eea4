//! Snapshots of a profile's VM: KubeVirt `VirtualMachineSnapshot`s taken on a schedule and
//! on request, and restores of one of them.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// Scheduled snapshots of the VM and how many of them to keep.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotPolicy {
    /// When to take a snapshot, in cron's five fields (`0 2 * * *`, UTC) or `@daily` and
    /// the like. A time missed while the operator was down is taken once it is back.
    #[schemars(length(max = 128))]
    #[x_kube(validation = kube::core::Rule::new("self.matches('^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|[0-9A-Za-z*,/?#-]+( +[0-9A-Za-z*,/?#-]+){4})$')").message(crate::messages::SCHEDULE_FORMAT))]
    pub schedule: String,

    /// How many scheduled snapshots to keep (1-100); the oldest beyond it are deleted.
    /// Snapshots asked for with the annotation are not counted and not deleted.
    #[x_kube(validation = kube::core::Rule::new("self >= 1 && self <= 100").message(crate::messages::SNAPSHOTS_KEEP_RANGE))]
    pub keep: i32,
}

/// Most scheduled snapshots a profile may keep.
pub const MAX_SNAPSHOTS_KEEP: i32 = 100;
