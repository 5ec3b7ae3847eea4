//! What CDI's DataVolumes say about the import line: whether a DataVolume imports (its data
//! comes from outside the cluster, through an importer pod) and whether that import still
//! runs.

use vmop_api::external::cdi::{DataVolume, phase as dv_phase};

/// Source kinds whose data CDI's importer pod fetches from outside the cluster
/// (`DataVolumeSource` in CDI's `v1beta1` types); clones, uploads and blank disks are not
/// imports.
const OTHER_IMPORT_SOURCES: [&str; 3] = ["gcs", "imageio", "vddk"];

/// Whether `dv` is an import.
pub(crate) fn is_import(dv: &DataVolume) -> bool {
    let Some(source) = dv.spec.source.as_ref() else {
        return false;
    };
    source.http.is_some()
        || source.registry.is_some()
        || source.s3.is_some()
        || OTHER_IMPORT_SOURCES
            .iter()
            .any(|kind| source.extra.contains_key(*kind))
}

/// Whether the import of `dv` still runs or is about to: not done, failed, or waiting for a
/// consumer (a WaitForFirstConsumer claim imports only once its VM is scheduled, so the VM's
/// start, under the start cap, is what begins it).
pub(crate) fn importing(dv: &DataVolume) -> bool {
    let phase = dv.status.as_ref().and_then(|s| s.phase.as_deref());
    !matches!(
        phase,
        Some(
            dv_phase::SUCCEEDED
                | dv_phase::FAILED
                | dv_phase::WAIT_FOR_FIRST_CONSUMER
                | dv_phase::PENDING_POPULATION
                | dv_phase::PAUSED
        )
    )
}

/// The order of the DataVolume `name` of a profile created at `created` (seconds).
pub(crate) fn order_of_volume(created: i64, name: &str) -> super::Order {
    (created, name.to_owned())
}
