//! The size of a ready snapshot, for `status.snapshots[].size`: the sum of its CSI
//! VolumeSnapshots' `restoreSize` (KubeVirt does not report it on the snapshot). Read once per
//! snapshot, when it is first ready; kept in status after that.

use std::sync::Arc;

use kube::{Api, ResourceExt};
use tracing::debug;
use vmop_api::{
    SnapshotStatus,
    external::kubevirt::{VirtualMachineSnapshot, VirtualMachineSnapshotContent, VolumeSnapshot},
    quantity,
};

use crate::context::Context;

/// Most sizes read in one pass (a profile that gains many ready snapshots at once reads the
/// rest in later passes).
const SIZES_PER_PASS: usize = 4;

/// Fills the size of ready snapshots that have none yet, as far as the CSI driver reports it.
pub(crate) async fn fill_sizes(
    ctx: &Context,
    namespace: &str,
    existing: &[Arc<VirtualMachineSnapshot>],
    listed: &mut [SnapshotStatus],
) {
    let wanting = listed
        .iter_mut()
        .filter(|entry| entry.ready && entry.size.is_none())
        .take(SIZES_PER_PASS);
    for entry in wanting {
        let Some(snapshot) = existing.iter().find(|s| s.name_any() == entry.name) else {
            continue;
        };
        match size_of(ctx, namespace, snapshot).await {
            Ok(size) => entry.size = size,
            Err(error) => debug!(snapshot = %entry.name, %error, "no size for a snapshot"),
        }
    }
}

/// The summed restore size of the snapshot's volumes; `None` when one is not reported.
async fn size_of(
    ctx: &Context,
    namespace: &str,
    snapshot: &VirtualMachineSnapshot,
) -> Result<Option<String>, kube::Error> {
    let Some(content) = snapshot
        .status
        .as_ref()
        .and_then(|s| s.virtual_machine_snapshot_content_name.as_deref())
    else {
        return Ok(None);
    };
    let contents: Api<VirtualMachineSnapshotContent> =
        Api::namespaced(ctx.client.clone(), namespace);
    ctx.metrics.read("VirtualMachineSnapshotContent", "get");
    let content = contents.get(content).await?;
    let volume_snapshots: Api<VolumeSnapshot> = Api::namespaced(ctx.client.clone(), namespace);
    let mut bytes = 0.0;
    for name in content
        .spec
        .volume_backups
        .iter()
        .filter_map(|b| b.volume_snapshot_name.as_deref())
    {
        ctx.metrics.read("VolumeSnapshot", "get");
        let size = volume_snapshots
            .get(name)
            .await?
            .status
            .and_then(|s| s.restore_size)
            .and_then(|q| quantity::parse(&q).ok());
        let Some(size) = size else {
            return Ok(None);
        };
        bytes += size;
    }
    Ok(Some(format_bytes(bytes)))
}

/// Bytes as the largest binary unit that divides them (`3Gi`, `512Mi`), else plain bytes.
fn format_bytes(bytes: f64) -> String {
    const UNITS: [(&str, f64); 4] = [
        ("Ti", 1_099_511_627_776.0),
        ("Gi", 1_073_741_824.0),
        ("Mi", 1_048_576.0),
        ("Ki", 1024.0),
    ];
    UNITS
        .iter()
        .find(|(_, unit)| bytes >= *unit && (bytes / unit).fract() == 0.0)
        .map_or_else(
            || format!("{bytes:.0}"),
            |(suffix, unit)| format!("{:.0}{suffix}", bytes / unit),
        )
}

#[cfg(test)]
mod tests {
    use super::format_bytes;

    #[test]
    fn sizes_read_as_kubernetes_writes_them() {
        assert_eq!(format_bytes(3.0 * 1_073_741_824.0), "3Gi");
        assert_eq!(format_bytes(1_073_741_824.0 + 536_870_912.0), "1536Mi");
        assert_eq!(format_bytes(0.0), "0");
        assert_eq!(format_bytes(1000.0), "1000");
    }
}
