//! The `SnapshotsAvailable` condition, from what KubeVirt reports on the VM
//! (`status.volumeSnapshotStatuses`: per volume, whether its StorageClass has a
//! VolumeSnapshotClass, and why not).

use vmop_api::{
    external::kubevirt::VirtualMachine,
    reasons::{INVALID_SPEC, SNAPSHOTS_AVAILABLE, SNAPSHOTS_UNAVAILABLE},
};

/// (ok, reason, message) of `SnapshotsAvailable`, for a profile that asks for snapshots;
/// `schedule_problem` is a schedule cron cannot run.
pub fn availability(
    vm: Option<&VirtualMachine>,
    schedule_problem: Option<&str>,
) -> (bool, &'static str, String) {
    if let Some(problem) = schedule_problem {
        return (false, INVALID_SPEC, problem.to_owned());
    }
    let unavailable: Vec<String> = vm
        .and_then(|vm| vm.status.as_ref())
        .map(|s| &s.volume_snapshot_statuses[..])
        .unwrap_or_default()
        .iter()
        .filter(|v| !v.enabled)
        .map(|v| {
            format!(
                "disk {}: {}",
                v.name,
                v.reason.as_deref().unwrap_or("KubeVirt cannot snapshot it")
            )
        })
        .collect();
    if unavailable.is_empty() {
        (true, SNAPSHOTS_AVAILABLE, String::new())
    } else {
        (
            false,
            SNAPSHOTS_UNAVAILABLE,
            format!(
                "snapshots leave out disks whose StorageClass has no VolumeSnapshotClass; {}",
                unavailable.join("; ")
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use vmop_api::external::kubevirt::{VirtualMachineStatus, VolumeSnapshotStatus};

    use super::*;

    #[test]
    fn a_disk_kubevirt_cannot_snapshot_is_named_with_kubevirts_reason() {
        let vm = VirtualMachine {
            status: Some(VirtualMachineStatus {
                volume_snapshot_statuses: vec![
                    VolumeSnapshotStatus {
                        name: "root".into(),
                        enabled: true,
                        reason: None,
                    },
                    VolumeSnapshotStatus {
                        name: "data".into(),
                        enabled: false,
                        reason: Some("No VolumeSnapshotClass: Volume snapshots are not configured for this StorageClass [local-path] [data]".into()),
                    },
                ],
                ..VirtualMachineStatus::default()
            }),
            ..VirtualMachine::default()
        };
        let (ok, reason, message) = availability(Some(&vm), None);
        assert!(!ok);
        assert_eq!(reason, SNAPSHOTS_UNAVAILABLE);
        assert!(
            message.contains("disk data") && message.contains("local-path"),
            "{message}"
        );
        assert!(!message.contains("root"));
        assert!(availability(None, None).0);
        let (ok, reason, _) = availability(Some(&vm), Some("spec.snapshots.schedule: bad"));
        assert_eq!((ok, reason), (false, INVALID_SPEC));
    }
}
