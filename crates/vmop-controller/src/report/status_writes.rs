//! When each profile's status was last written, to coalesce detail-only updates.
//!
//! Only writes younger than the longest coalescing interval matter, so older entries are
//! pruned as the map grows: it holds the profiles written lately (after a mass creation, the
//! last two minutes'), not one entry for every profile that ever had its status written.

use std::time::{Duration, Instant};

use kube::runtime::reflector::ObjectRef;
use vmop_api::VirtualMachineProfile;

use crate::{cache::expiring::Expiring, report::write::PROGRESS_AFTER};

/// The last status write of each profile written within the interval it was built to keep,
/// with the time of the last write that changed more than details.
#[derive(Debug)]
pub struct StatusWrites {
    /// Per profile, stamped at the last write: when its outline (phase, conditions, requests)
    /// was last written; `None` when that was before the last `keep` (or before a restart).
    writes: Expiring<ObjectRef<VirtualMachineProfile>, Option<Instant>>,
}

impl Default for StatusWrites {
    fn default() -> Self {
        StatusWrites::keeping(PROGRESS_AFTER)
    }
}

impl StatusWrites {
    /// Remembers writes for `keep`: no caller may ask [`StatusWrites::recent`] about a longer
    /// interval.
    pub fn keeping(keep: Duration) -> Self {
        StatusWrites {
            writes: Expiring::keeping(keep),
        }
    }

    /// Whether a write happened less than `interval` ago (at most the `keep` it was built
    /// with: older writes may be forgotten).
    pub fn recent(&self, profile: &ObjectRef<VirtualMachineProfile>, interval: Duration) -> bool {
        debug_assert!(
            interval <= self.writes.keep(),
            "{interval:?} > {:?}",
            self.writes.keep()
        );
        self.writes
            .read(profile, |age, _| age < interval)
            .unwrap_or(false)
    }

    /// How long a change of details only must still wait: until `interval` after the last
    /// write and `after_outline` after the last write of more than details (each at most the
    /// `keep` it was built with). `None`: it may be written now.
    pub fn details_wait(
        &self,
        profile: &ObjectRef<VirtualMachineProfile>,
        interval: Duration,
        after_outline: Duration,
    ) -> Option<Duration> {
        let wait = self.writes.read(profile, |age, outline| {
            let outline_wait = outline.map_or(Duration::ZERO, |at| {
                after_outline.saturating_sub(at.elapsed())
            });
            interval.saturating_sub(age).max(outline_wait)
        })?;
        (!wait.is_zero()).then_some(wait)
    }

    /// Notes a write of `profile`'s status now, one that changed more than details.
    pub fn wrote(&self, profile: &ObjectRef<VirtualMachineProfile>) {
        self.wrote_at(profile, Instant::now(), false);
    }

    /// Notes a write of `profile`'s status now that changed only details.
    pub fn wrote_details(&self, profile: &ObjectRef<VirtualMachineProfile>) {
        self.wrote_at(profile, Instant::now(), true);
    }

    fn wrote_at(&self, profile: &ObjectRef<VirtualMachineProfile>, at: Instant, details: bool) {
        // Details written when the last outline write is forgotten: it was long enough ago.
        self.writes.set_at(profile.clone(), at, |outline| {
            if details {
                outline.copied().flatten()
            } else {
                Some(at)
            }
        });
    }

    /// Forgets a deleted profile.
    pub fn forget(&self, profile: &ObjectRef<VirtualMachineProfile>) {
        self.writes.remove(profile);
    }

    /// How many writes are remembered.
    pub fn len(&self) -> usize {
        self.writes.len()
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

    fn ago(seconds: u64) -> Instant {
        Instant::now()
            .checked_sub(Duration::from_secs(seconds))
            .expect("the clock is past a few minutes")
    }

    #[test]
    fn details_wait_for_the_interval_and_for_long_enough_after_the_outline() {
        let writes = StatusWrites::keeping(Duration::from_secs(300));
        let (interval, after) = (Duration::from_secs(30), Duration::from_secs(120));
        let a = profile(0);
        assert_eq!(
            writes.details_wait(&a, interval, after),
            None,
            "never written"
        );
        writes.wrote(&a);
        let fresh = writes
            .details_wait(&a, interval, after)
            .expect("just written");
        assert!(fresh > Duration::from_secs(119), "{fresh:?}");
        // Details written 10 s ago, the outline 100 s ago: 20 s more for both.
        writes.wrote_at(&a, ago(100), false);
        writes.wrote_at(&a, ago(10), true);
        let wait = writes.details_wait(&a, interval, after).expect("waits");
        assert!(
            wait > Duration::from_secs(19) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        // Past both: written now.
        let b = profile(1);
        writes.wrote_at(&b, ago(119), false);
        writes.wrote_at(&b, ago(31), true);
        let outline_due = writes.details_wait(&b, interval, after);
        assert!(
            outline_due.is_some_and(|w| w <= Duration::from_secs(1)),
            "{outline_due:?}"
        );
        writes.wrote_at(&b, ago(40), true);
        assert!(
            writes
                .details_wait(&b, interval, Duration::from_secs(60))
                .is_none(),
            "the outline 119 s ago, details 40 s ago"
        );
        // Details written once the outline write is forgotten wait for the interval alone.
        let c = profile(2);
        writes.wrote_at(&c, ago(301), false);
        writes.wrote_details(&c);
        let wait = writes
            .details_wait(&c, interval, after)
            .expect("just written");
        assert!(wait <= interval, "{wait:?}");
        // A write of more than details starts the wait again.
        writes.wrote(&b);
        assert!(writes.details_wait(&b, interval, after) > Some(Duration::from_secs(119)));
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
