//! When each profile's status was last written, to coalesce detail-only updates, and what
//! that write was, to know a cache that has not shown it yet.
//!
//! Only writes younger than the longest coalescing interval matter, so older entries are
//! pruned as the map grows: it holds the profiles written lately (after a mass creation, the
//! last two minutes'), not one entry for every profile that ever had its status written.

use std::time::{Duration, Instant};

use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};
use kube::runtime::reflector::ObjectRef;
use vmop_api::VirtualMachineProfile;

use crate::{cache::expiring::Expiring, report::write::PROGRESS_AFTER};

/// The last status write of each profile written within the interval it was built to keep,
/// with the time of the last write that changed more than details.
#[derive(Debug)]
pub struct StatusWrites {
    /// Per profile, stamped at the last write.
    writes: Expiring<ObjectRef<VirtualMachineProfile>, Written>,
}

#[derive(Debug, Clone, Copy)]
struct Written {
    /// When the outline (phase, conditions, requests) was last written; `None` when that was
    /// before the last `keep` (or before a restart).
    outline: Option<Instant>,
    /// The resourceVersion the last write returned, and a hash of the status it wrote.
    version_and_content: Option<(u64, u64)>,
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
        let wait = self.writes.read(profile, |age, written| {
            let outline_wait = written.outline.map_or(Duration::ZERO, |at| {
                after_outline.saturating_sub(at.elapsed())
            });
            interval.saturating_sub(age).max(outline_wait)
        })?;
        (!wait.is_zero()).then_some(wait)
    }

    /// Notes a write of `profile`'s status now, one that changed more than details.
    pub fn wrote(&self, profile: &ObjectRef<VirtualMachineProfile>) {
        self.wrote_at(profile, Instant::now(), false, None);
    }

    /// Notes a write of `profile`'s status now that changed only details.
    pub fn wrote_details(&self, profile: &ObjectRef<VirtualMachineProfile>) {
        self.wrote_at(profile, Instant::now(), true, None);
    }

    /// Notes a write of `profile`'s status now (of details only, or not) that returned
    /// `resource_version`, of a status whose [`content_hash`] is `content`.
    pub fn wrote_status(
        &self,
        profile: &ObjectRef<VirtualMachineProfile>,
        details: bool,
        resource_version: Option<&str>,
        content: u64,
    ) {
        let written = resource_version.and_then(comparable).map(|v| (v, content));
        self.wrote_at(profile, Instant::now(), details, written);
    }

    /// When the cached profile (at `cached_version`) is older than the last write of
    /// `profile`'s status, made less than [`CACHE_BEHIND_FOR`] ago, that write's
    /// [`content_hash`]: the cache has not shown it yet. Without comparable versions
    /// (Kubernetes 1.35 made them so; KEP-5504), never.
    pub fn cache_behind(
        &self,
        profile: &ObjectRef<VirtualMachineProfile>,
        cached_version: Option<&str>,
    ) -> Option<u64> {
        let cached = cached_version.and_then(comparable)?;
        self.writes
            .read(profile, |age, written| {
                written
                    .version_and_content
                    .filter(|(version, _)| age < CACHE_BEHIND_FOR && cached < *version)
                    .map(|(_, content)| content)
            })
            .flatten()
    }

    fn wrote_at(
        &self,
        profile: &ObjectRef<VirtualMachineProfile>,
        at: Instant,
        details: bool,
        version_and_content: Option<(u64, u64)>,
    ) {
        // Details written when the last outline write is forgotten: it was long enough ago.
        self.writes.set_at(profile.clone(), at, |before| Written {
            outline: if details {
                before.and_then(|w| w.outline)
            } else {
                Some(at)
            },
            version_and_content,
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

/// How long after a status write a cache that has not shown it is waited for. A watch that
/// lags longer may be down (an API server restarting): the status is then compared with the
/// cached one and written as it would be without this.
pub const CACHE_BEHIND_FOR: Duration = Duration::from_secs(10);

/// A resourceVersion as the number it is (KEP-5504: decimal digits, no leading zero, never
/// 0), or `None` for one that is not.
fn comparable(resource_version: &str) -> Option<u64> {
    let digits = resource_version.bytes().all(|b| b.is_ascii_digit());
    (digits && !resource_version.starts_with('0'))
        .then(|| resource_version.parse().ok())
        .flatten()
}

/// A hash of a status as it is written (its JSON), to recognise the same status again; all
/// but the conditions' transition times, which a reconcile working from an older status
/// stamps anew.
pub fn content_hash(status: &vmop_api::VirtualMachineProfileStatus) -> u64 {
    use std::hash::{DefaultHasher, Hasher};
    let mut timeless = status.clone();
    for condition in &mut timeless.conditions {
        condition.last_transition_time = Time(Timestamp::UNIX_EPOCH);
    }
    let mut hasher = DefaultHasher::new();
    hasher.write(&serde_json::to_vec(&timeless).unwrap_or_default());
    hasher.finish()
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
        writes.wrote_at(&a, ago(100), false, None);
        writes.wrote_at(&a, ago(10), true, None);
        let wait = writes.details_wait(&a, interval, after).expect("waits");
        assert!(
            wait > Duration::from_secs(19) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        // Past both: written now.
        let b = profile(1);
        writes.wrote_at(&b, ago(119), false, None);
        writes.wrote_at(&b, ago(31), true, None);
        let outline_due = writes.details_wait(&b, interval, after);
        assert!(
            outline_due.is_some_and(|w| w <= Duration::from_secs(1)),
            "{outline_due:?}"
        );
        writes.wrote_at(&b, ago(40), true, None);
        assert!(
            writes
                .details_wait(&b, interval, Duration::from_secs(60))
                .is_none(),
            "the outline 119 s ago, details 40 s ago"
        );
        // Details written once the outline write is forgotten wait for the interval alone.
        let c = profile(2);
        writes.wrote_at(&c, ago(301), false, None);
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
    fn a_cache_older_than_the_last_write_is_behind_and_names_what_it_wrote() {
        let writes = StatusWrites::keeping(Duration::from_secs(120));
        let a = profile(0);
        writes.wrote_status(&a, false, Some("120"), 7);
        assert_eq!(writes.cache_behind(&a, Some("119")), Some(7));
        assert_eq!(
            writes.cache_behind(&a, Some("99")),
            Some(7),
            "fewer digits, older"
        );
        assert_eq!(
            writes.cache_behind(&a, Some("120")),
            None,
            "the cache shows it"
        );
        assert_eq!(writes.cache_behind(&a, Some("1000")), None, "written since");
        for unknown in [
            None,
            Some(""),
            Some("0"),
            Some("0119"),
            Some("+119"),
            Some("x"),
        ] {
            assert_eq!(writes.cache_behind(&a, unknown), None, "{unknown:?}");
        }
        assert_eq!(
            writes.cache_behind(&profile(1), Some("119")),
            None,
            "never written"
        );
        // A write whose version cannot be compared is never assumed.
        writes.wrote_status(&a, true, Some("v120"), 7);
        assert_eq!(writes.cache_behind(&a, Some("119")), None);
        writes.wrote_status(&a, true, Some("130"), 9);
        assert_eq!(writes.cache_behind(&a, Some("120")), Some(9));
        // A watch that lags this long is not waited for.
        let b = profile(2);
        let written = Some((130, 9));
        writes.wrote_at(&b, ago(CACHE_BEHIND_FOR.as_secs() + 1), false, written);
        assert_eq!(writes.cache_behind(&b, Some("120")), None);
        writes.wrote_at(&b, ago(CACHE_BEHIND_FOR.as_secs() - 1), false, written);
        assert_eq!(writes.cache_behind(&b, Some("120")), Some(9));
        assert!(
            writes.details_wait(&a, Duration::from_secs(30), Duration::from_secs(120))
                > Some(Duration::from_secs(100)),
            "details kept the outline's time"
        );
    }

    #[test]
    fn the_content_hash_is_the_statuss_but_for_its_transition_times() {
        let status = |message: &str, at: i64| vmop_api::VirtualMachineProfileStatus {
            conditions: vec![k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
                type_: "Ready".into(),
                status: "False".into(),
                reason: "Progressing".into(),
                message: message.into(),
                last_transition_time: Time(Timestamp::from_second(at).expect("a time")),
                observed_generation: Some(1),
            }],
            ..Default::default()
        };
        assert_eq!(
            content_hash(&status("disk: 10%", 1)),
            content_hash(&status("disk: 10%", 9))
        );
        assert_ne!(
            content_hash(&status("disk: 10%", 1)),
            content_hash(&status("disk: 45%", 1))
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
