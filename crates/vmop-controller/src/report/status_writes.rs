//! When each profile's status was last written, to coalesce detail-only updates.
//!
//! Only writes younger than the longest coalescing interval matter, so older entries are
//! pruned as the map grows: it holds the profiles written lately (after a mass creation, the
//! last half minute's), not one entry for every profile that ever had its status written.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use kube::runtime::reflector::ObjectRef;
use vmop_api::VirtualMachineProfile;

use crate::report::write::PROGRESS_INTERVAL;

/// Entries kept at least, whatever their age: below this, pruning is not worth a pass.
const PRUNE_FLOOR: usize = 64;

/// The last status write of each profile written within [`StatusWrites::keep`].
#[derive(Debug)]
pub struct StatusWrites {
    writes: Mutex<Writes>,
    keep: Duration,
}

#[derive(Debug)]
struct Writes {
    at: HashMap<ObjectRef<VirtualMachineProfile>, Instant>,
    /// The map's length at which it is pruned next: twice what the last prune left, so each
    /// write pays for pruning a constant share (amortised).
    prune_at: usize,
}

impl Default for StatusWrites {
    fn default() -> Self {
        StatusWrites::keeping(PROGRESS_INTERVAL)
    }
}

impl StatusWrites {
    /// Remembers writes for `keep`: no caller may ask [`StatusWrites::recent`] about a longer
    /// interval.
    pub fn keeping(keep: Duration) -> Self {
        StatusWrites {
            writes: Mutex::new(Writes {
                at: HashMap::new(),
                prune_at: PRUNE_FLOOR,
            }),
            keep,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Writes> {
        self.writes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a write happened less than `interval` ago (at most the `keep` it was built
    /// with: older writes may be forgotten).
    pub fn recent(&self, profile: &ObjectRef<VirtualMachineProfile>, interval: Duration) -> bool {
        debug_assert!(interval <= self.keep, "{interval:?} > {:?}", self.keep);
        self.lock()
            .at
            .get(profile)
            .is_some_and(|at| at.elapsed() < interval)
    }

    /// Notes a write of `profile`'s status now.
    pub fn wrote(&self, profile: &ObjectRef<VirtualMachineProfile>) {
        let mut writes = self.lock();
        writes.at.insert(profile.clone(), Instant::now());
        if writes.at.len() >= writes.prune_at {
            let keep = self.keep;
            writes.at.retain(|_, at| at.elapsed() < keep);
            if writes.at.len() < writes.at.capacity() / 4 {
                writes.at.shrink_to_fit();
            }
            writes.prune_at = (writes.at.len() * 2).max(PRUNE_FLOOR);
        }
    }

    /// Forgets a deleted profile.
    pub fn forget(&self, profile: &ObjectRef<VirtualMachineProfile>) {
        self.lock().at.remove(profile);
    }

    /// How many writes are remembered.
    pub fn len(&self) -> usize {
        self.lock().at.len()
    }

    /// Whether no write is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(i: usize) -> ObjectRef<VirtualMachineProfile> {
        ObjectRef::new(&format!("vm-{i}")).within("team-a")
    }

    #[test]
    fn writes_older_than_kept_are_pruned_as_the_map_grows() {
        let forgetful = StatusWrites::keeping(Duration::ZERO);
        for i in 0..1_000 {
            forgetful.wrote(&profile(i));
        }
        assert!(
            forgetful.len() < PRUNE_FLOOR,
            "{} writes remembered, none of them within the kept interval",
            forgetful.len()
        );
    }

    #[test]
    fn writes_within_kept_are_all_remembered() {
        let writes = StatusWrites::keeping(Duration::from_secs(3600));
        for i in 0..1_000 {
            writes.wrote(&profile(i));
        }
        assert_eq!(writes.len(), 1_000);
        assert!((0..1_000).all(|i| writes.recent(&profile(i), Duration::from_secs(3600))));
        assert!(!writes.recent(&profile(1_000), Duration::from_secs(3600)));
        writes.forget(&profile(0));
        assert!(!writes.recent(&profile(0), Duration::from_secs(3600)));
    }
}
