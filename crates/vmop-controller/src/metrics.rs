//! Prometheus metrics of the controller: reconciles, failures by category, API writes (and
//! reads the caches cannot serve) by kind and verb, reconcile duration, reconciles in flight, and the seed's lifecycle metrics:
//! profiles created, updated and deleted; VM starts, network configurations and storage
//! bindings by result (success rates are their ratios); time from creation to Running; and
//! the work queue: depth, additions, and the wait from trigger to reconcile.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Instant,
};

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CategoryLabel {
    category: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WriteLabel {
    kind: &'static str,
    verb: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabel {
    event: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    stage: &'static str,
    result: &'static str,
}

/// The controller's metrics, registered under `vmoperator_`.
#[derive(Debug)]
pub struct Metrics {
    reconciles: Counter,
    failures: Family<CategoryLabel, Counter>,
    writes: Family<WriteLabel, Counter>,
    reads: Family<WriteLabel, Counter>,
    duration: Histogram,
    in_flight: Gauge,
    profiles: Family<EventLabel, Counter>,
    outcomes: Family<OutcomeLabel, Counter>,
    time_to_running: Histogram,
    queue_depth: Gauge,
    queue_adds: Counter,
    queue_wait: Histogram,
    // Plain totals for tests and benchmarks, which read them without parsing the exposition.
    writes_total: AtomicU64,
    reconciles_total: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            reconciles: Counter::default(),
            failures: Family::default(),
            writes: Family::default(),
            reads: Family::default(),
            duration: Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]),
            in_flight: Gauge::default(),
            profiles: Family::default(),
            outcomes: Family::default(),
            time_to_running: Histogram::new([
                1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
            ]),
            queue_depth: Gauge::default(),
            queue_adds: Counter::default(),
            queue_wait: Histogram::new([0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 60.0]),
            writes_total: AtomicU64::new(0),
            reconciles_total: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// Registers every metric in `registry` (a sub-registry prefixed `vmoperator`).
    pub fn register(&self, registry: &mut Registry) {
        let sub = registry.sub_registry_with_prefix("vmoperator");
        sub.register(
            "reconciles",
            "Reconciles of VirtualMachineProfiles",
            self.reconciles.clone(),
        );
        sub.register(
            "reconcile_failures",
            "Failed reconciles by error category",
            self.failures.clone(),
        );
        sub.register(
            "api_writes",
            "Writes to the API server by kind and verb",
            self.writes.clone(),
        );
        sub.register(
            "api_reads",
            "Reads the watch caches cannot serve (a GET or a list), by kind and verb",
            self.reads.clone(),
        );
        sub.register(
            "reconcile_duration_seconds",
            "Duration of reconciles",
            self.duration.clone(),
        );
        sub.register(
            "reconciles_in_flight",
            "Reconciles running now",
            self.in_flight.clone(),
        );
        sub.register(
            "profiles",
            "Profiles created (first status), updated (spec changed) and deleted (cleaned up)",
            self.profiles.clone(),
        );
        sub.register(
            "stage_outcomes",
            "VM starts, network configurations and storage bindings by result",
            self.outcomes.clone(),
        );
        sub.register(
            "time_to_running_seconds",
            "Time from a profile's creation to its VM first Running",
            self.time_to_running.clone(),
        );
        sub.register(
            "work_queue_depth",
            "Profiles a watch event triggered that wait for a reconcile to start",
            self.queue_depth.clone(),
        );
        sub.register(
            "work_queue_adds",
            "Profiles added to the work queue (a trigger of a profile already waiting is not counted)",
            self.queue_adds.clone(),
        );
        sub.register(
            "work_queue_wait_seconds",
            "Time from a profile's first trigger to the start of its reconcile",
            self.queue_wait.clone(),
        );
    }

    /// A profile joined the work queue, now `depth` long.
    pub fn queued(&self, depth: usize) {
        self.queue_adds.inc();
        self.queue_depth.set(depth as i64);
    }

    /// A reconcile started after waiting `waited` (none: a timed requeue); `depth` left.
    pub fn dequeued(&self, waited: Option<std::time::Duration>, depth: usize) {
        if let Some(waited) = waited {
            self.queue_wait.observe(waited.as_secs_f64());
        }
        self.queue_depth.set(depth as i64);
    }

    /// Counts what a status write says happened.
    pub fn record(&self, transitions: &[crate::report::transitions::Transition]) {
        use crate::report::transitions::Transition;
        for transition in transitions {
            match *transition {
                Transition::Created => self.profile_event("created"),
                Transition::Updated => self.profile_event("updated"),
                Transition::Outcome { stage, success } => {
                    let result = if success { "success" } else { "failure" };
                    self.outcomes
                        .get_or_create(&OutcomeLabel { stage, result })
                        .inc();
                }
                Transition::FirstRunning { seconds } => self.time_to_running.observe(seconds),
            }
        }
    }

    /// Counts a profile event (`created`, `updated`, `deleted`).
    pub fn profile_event(&self, event: &'static str) {
        self.profiles.get_or_create(&EventLabel { event }).inc();
    }

    /// Counts a reconcile; the returned guard records its duration when dropped.
    pub fn reconcile_started(&self) -> DurationGuard<'_> {
        self.reconciles.inc();
        self.reconciles_total.fetch_add(1, Ordering::Relaxed);
        self.in_flight.inc();
        DurationGuard {
            histogram: &self.duration,
            in_flight: &self.in_flight,
            started: Instant::now(),
        }
    }

    /// Counts a failed reconcile.
    pub fn failed(&self, category: &'static str) {
        self.failures
            .get_or_create(&CategoryLabel { category })
            .inc();
    }

    /// Counts one write to the API server.
    pub fn wrote(&self, kind: &'static str, verb: &'static str) {
        self.writes.get_or_create(&WriteLabel { kind, verb }).inc();
        self.writes_total.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one read the watch caches could not serve.
    pub fn read(&self, kind: &'static str, verb: &'static str) {
        self.reads.get_or_create(&WriteLabel { kind, verb }).inc();
    }

    /// Reads of one kind and verb since start.
    pub fn reads_of(&self, kind: &'static str, verb: &'static str) -> u64 {
        self.reads
            .get(&WriteLabel { kind, verb })
            .map_or(0, |counter| counter.get())
    }

    /// Reconciles since start.
    pub fn reconciles_total(&self) -> u64 {
        self.reconciles_total.load(Ordering::Relaxed)
    }

    /// Writes since start.
    pub fn writes_total(&self) -> u64 {
        self.writes_total.load(Ordering::Relaxed)
    }

    /// Writes of one kind since start, every verb.
    pub fn writes_of(&self, kind: &'static str) -> u64 {
        ["apply", "delete", "retain", "label", "expand", "status"]
            .iter()
            .map(|verb| {
                // Read without creating: a family entry appears only once written.
                let label = WriteLabel { kind, verb };
                self.writes.get(&label).map_or(0, |counter| counter.get())
            })
            .sum()
    }
}

/// Records a reconcile's duration when dropped, whichever way the reconcile ends.
#[derive(Debug)]
pub struct DurationGuard<'a> {
    histogram: &'a Histogram,
    in_flight: &'a Gauge,
    started: Instant,
}

impl Drop for DurationGuard<'_> {
    fn drop(&mut self) {
        self.histogram.observe(self.started.elapsed().as_secs_f64());
        self.in_flight.dec();
    }
}
