//! How long to wait after a failure, with jitter so that many profiles (or many watches)
//! failing together do not retry in step, built on `backon` (which kube-runtime's own watch
//! backoff uses).
//!
//! - Watches: 0.5 s doubling to at most 5 s, reset after a minute without failure.
//!   client-go waits up to 30 s; one operator with a score of watches is a small load, and
//!   after an API server restart every second of waiting leaves every profile stale.
//! - Reconciles that failed: 1 s doubling to at most 5 minutes, per profile, by the number
//!   of failures in a row.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use kube::runtime::{utils::ResetTimerBackoff, watcher::ExponentialBackoff};

/// The backoff of every watch of the controller.
pub(crate) fn watch() -> ResetTimerBackoff<ExponentialBackoff> {
    let builder = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(500))
        .with_max_delay(Duration::from_secs(5))
        .with_factor(2.0)
        .with_jitter()
        .without_max_times();
    ResetTimerBackoff::new(builder.into(), Duration::from_secs(60))
}

/// The wait before retrying a profile after its `attempts`-th failure in a row: about
/// 1 s, 2 s, 4 s ... up to 5 minutes, each plus up to as much again of jitter.
pub fn reconcile(attempts: u32) -> Duration {
    let mut delays = ExponentialBuilder::default()
        .with_min_delay(Duration::from_secs(1))
        .with_max_delay(Duration::from_secs(300))
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build();
    delays
        .nth(attempts.saturating_sub(1).min(16) as usize)
        .unwrap_or(Duration::from_secs(300))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconcile_retries_grow_with_jitter_and_are_capped() {
        for attempts in 1..=12u32 {
            let base =
                Duration::from_secs(1u64 << (attempts - 1).min(9)).min(Duration::from_secs(300));
            let delay = reconcile(attempts);
            assert!(delay >= base, "{attempts}: {delay:?} below {base:?}");
            assert!(
                delay <= base * 2,
                "{attempts}: {delay:?} above twice {base:?}"
            );
        }
        let spread: std::collections::BTreeSet<_> = (0..20).map(|_| reconcile(4)).collect();
        assert!(spread.len() > 1, "jittered: {spread:?}");
    }

    #[test]
    fn watch_retries_stay_within_five_seconds_plus_jitter() {
        let delays: Vec<Duration> = watch().take(10).collect();
        assert!(delays[0] >= Duration::from_millis(500));
        assert!(
            delays.iter().all(|d| *d <= Duration::from_secs(10)),
            "{delays:?}"
        );
    }
}
