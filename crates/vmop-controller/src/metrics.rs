//! Prometheus metrics of the controller: reconciles, failures by category, API writes by kind
//! and verb, and reconcile duration.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Instant,
};

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, histogram::Histogram},
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

/// The controller's metrics, registered under `vmoperator_`.
#[derive(Debug)]
pub struct Metrics {
    reconciles: Counter,
    failures: Family<CategoryLabel, Counter>,
    writes: Family<WriteLabel, Counter>,
    duration: Histogram,
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
            duration: Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]),
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
            "reconcile_duration_seconds",
            "Duration of reconciles",
            self.duration.clone(),
        );
    }

    /// Counts a reconcile; the returned guard records its duration when dropped.
    pub fn reconcile_started(&self) -> DurationGuard<'_> {
        self.reconciles.inc();
        self.reconciles_total.fetch_add(1, Ordering::Relaxed);
        DurationGuard {
            histogram: &self.duration,
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
    started: Instant,
}

impl Drop for DurationGuard<'_> {
    fn drop(&mut self) {
        self.histogram.observe(self.started.elapsed().as_secs_f64());
    }
}
