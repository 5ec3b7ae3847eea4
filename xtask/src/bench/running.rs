//! When each profile was created and when it was first seen Running, from a watch.

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use futures::StreamExt;
use kube::{
    Api, ResourceExt,
    runtime::{WatchStreamExt, watcher},
};
use vmop_api::{Phase, VirtualMachineProfile};

#[derive(Debug, Default)]
pub struct RunningTimes(Mutex<Times>);

#[derive(Debug, Default)]
struct Times {
    created: HashMap<String, Instant>,
    running: HashMap<String, Instant>,
}

impl RunningTimes {
    fn lock(&self) -> std::sync::MutexGuard<'_, Times> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Called just before the create request.
    pub fn created(&self, name: &str) {
        self.lock().created.insert(name.to_owned(), Instant::now());
    }

    /// How many have been seen Running.
    pub fn running(&self) -> usize {
        self.lock().running.len()
    }

    /// Create-to-Running of every profile seen Running, sorted.
    pub fn latencies(&self) -> Vec<Duration> {
        let times = self.lock();
        let mut all: Vec<Duration> = times
            .running
            .iter()
            .filter_map(|(name, at)| Some(at.duration_since(*times.created.get(name)?)))
            .collect();
        all.sort();
        all
    }
}

/// Records the first time each profile shows phase Running.
pub async fn watch(api: Api<VirtualMachineProfile>, times: std::sync::Arc<RunningTimes>) {
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .applied_objects();
    futures::pin_mut!(stream);
    while let Some(Ok(profile)) = stream.next().await {
        if profile.status.as_ref().and_then(|s| s.phase) == Some(Phase::Running) {
            times
                .lock()
                .running
                .entry(profile.name_any())
                .or_insert_with(Instant::now);
        }
    }
}
