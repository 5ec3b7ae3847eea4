//! Snapshots of a profile's VM and restores from them, through KubeVirt's
//! VirtualMachineSnapshot and VirtualMachineRestore: when one is due (pure), which to take,
//! keep and delete (pure), the restore request (pure), whether the disks can be
//! snapshotted (pure), and carrying those out.

pub(crate) mod apply;
pub(crate) mod availability;
pub(crate) mod restore_plan;
pub(crate) mod schedule;
pub(crate) mod sizes;
pub(crate) mod snapshot_plan;
