//! Whether the watches are up. A watch that fails (the API server restarting, a network cut)
//! retries on its own with backoff; meanwhile the caches are as old as the last event, so the
//! operator is not ready. It is up again once the API server answers.
//!
//! kube-runtime's watcher resumes a broken watch from its last resourceVersion and yields
//! nothing when the resumed watch starts, so "a watch event arrived" cannot say it is back:
//! while down, one cheap request a second (`/version`) asks the API server. Nothing is asked
//! while the watches are up, so an idle operator still makes no requests.

use std::time::Duration;

use kube::Client;
use tokio::sync::watch;

/// How often the API server is asked whether it is back.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// The watches' health, shared by the controller (which reports failures) and the probes.
#[derive(Debug)]
pub struct WatchHealth {
    up: watch::Sender<bool>,
}

impl Default for WatchHealth {
    fn default() -> Self {
        WatchHealth {
            up: watch::Sender::new(true),
        }
    }
}

impl WatchHealth {
    /// A watch failed.
    pub fn failed(&self) {
        self.up.send_if_modified(|up| std::mem::replace(up, false));
    }

    /// Whether no watch has failed since the API server last answered.
    pub fn up(&self) -> bool {
        *self.up.borrow()
    }

    /// Changes of [`Self::up`], to wait on.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.up.subscribe()
    }

    pub(crate) fn recovered(&self) {
        self.up.send_if_modified(|up| !std::mem::replace(up, true));
    }

    /// Runs forever: after each failure, asks the API server once a second until it answers.
    pub(crate) async fn probe(&self, client: Client) {
        let mut changes = self.subscribe();
        loop {
            if changes.wait_for(|up| !*up).await.is_err() {
                return;
            }
            tracing::warn!("a watch failed: not ready until the API server answers");
            loop {
                tokio::time::sleep(PROBE_EVERY).await;
                if client.apiserver_version().await.is_ok() {
                    break;
                }
            }
            self.recovered();
            tracing::info!("the API server answers again: ready");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_is_down_until_recovered_and_changes_are_announced() {
        let health = WatchHealth::default();
        let mut changes = health.subscribe();
        assert!(health.up());
        health.failed();
        assert!(!health.up());
        assert!(changes.has_changed().unwrap_or(false));
        changes.mark_unchanged();
        health.failed();
        assert!(
            !changes.has_changed().unwrap_or(true),
            "a second failure changes nothing"
        );
        health.recovered();
        assert!(health.up());
        assert!(changes.has_changed().unwrap_or(false));
    }
}
