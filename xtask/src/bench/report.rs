//! The benchmark's figures: printed side by side with the floor, and written as JSON.

use std::{path::PathBuf, time::Duration};

use anyhow::Result;
use serde_json::{Value, json};

use super::audit::{Counts, writes_and_reads};

/// Resident memory at a profile count: (profiles Running, bytes).
#[derive(Debug, Default)]
pub struct Memory {
    pub at_sample: Option<(usize, u64)>,
    pub at_end: Option<(usize, u64)>,
}

/// What a run measured.
#[derive(Debug)]
pub struct Inputs {
    pub shape: super::Shape,
    pub profiles: usize,
    pub concurrency: usize,
    pub floor: Duration,
    pub floor_writes: usize,
    /// How long the cluster alone took to bind as many plain claims (see `binder_floor`).
    pub binder_floor: Option<Duration>,
    /// The operator's children created directly, and how long until every VM ran (see
    /// `world_floor`).
    pub world_floor: Option<(usize, Duration)>,
    /// From the first profile created to the last one Running.
    pub run: Convergence,
    pub latencies: Vec<Duration>,
    pub start_up: Counts,
    pub creation: Counts,
    /// Everybody else's requests while the profiles converged, by user.
    pub creation_others: std::collections::BTreeMap<String, u64>,
    /// Seconds from the first create until kube-controller-manager's volume binder bound the
    /// last claim: the upstream bound on the run (a VM starts once its disk is bound).
    pub last_claim_bound: Option<f64>,
    pub idle: Counts,
    pub idle_seconds: u64,
    pub deletion: Option<(Duration, Counts)>,
    pub cpu_total: f64,
    pub peak_rss: u64,
}

/// What the operator did from the first profile created to the last one Running.
#[derive(Debug)]
pub struct Convergence {
    pub created: Duration,
    pub converged: Duration,
    pub reconciles: u64,
    pub cpu_converge: f64,
    /// Every process's CPU while the profiles converged, by its part in the run.
    pub machine_cpu: super::machine_cpu::Usage,
    pub memory: Memory,
}

#[derive(Debug)]
pub struct Report(Value);

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index].as_secs_f64()
}

/// Requests per profile by verb and resource. Watches are left out: each is one long-running
/// request per cache, logged when it ends (the server closes it after minutes), not work
/// done per profile.
fn per_profile(counts: &Counts, n: f64) -> Value {
    counts
        .iter()
        .filter(|(k, _)| !k.starts_with("watch "))
        .map(|(k, v)| (k.clone(), json!((*v as f64 / n * 100.0).round() / 100.0)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn mib(bytes: u64) -> f64 {
    (bytes as f64 / 1024.0 / 1024.0 * 10.0).round() / 10.0
}

impl Report {
    pub fn new(i: Inputs) -> Report {
        let n = i.profiles as f64;
        let (writes, reads) = writes_and_reads(&i.creation);
        let (idle_writes, idle_reads) = writes_and_reads(&i.idle);
        let nproc = std::thread::available_parallelism().map_or(0, |p| p.get());
        let commit = std::process::Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        let rss_at: Vec<Value> = [i.run.memory.at_sample, i.run.memory.at_end]
            .iter()
            .flatten()
            .map(|(count, bytes)| json!({"running": count, "rss_mib": mib(*bytes)}))
            .collect();
        Report(json!({
            "commit": commit,
            "cpus": nproc,
            "shape": i.shape.name(),
            "profiles": i.profiles,
            "concurrency": i.concurrency,
            "floor": {
                "writes": i.floor_writes,
                "writes_per_profile": super::floor::writes_per_profile(i.shape),
                "seconds": i.floor.as_secs_f64(),
            },
            "binder_floor": i.binder_floor.map(|bound| json!({
                "claims": i.profiles,
                "seconds": bound.as_secs_f64(),
            })),
            "world_floor": i.world_floor.map(|(objects, took)| json!({
                "objects": objects,
                "seconds": took.as_secs_f64(),
            })),
            "ratio_to_world_floor": i.world_floor
                .map(|(_, took)| i.run.converged.as_secs_f64() / took.as_secs_f64()),
            "ratio_to_binder_floor": i.binder_floor
                .map(|bound| i.run.converged.as_secs_f64() / bound.as_secs_f64()),
            "created_seconds": i.run.created.as_secs_f64(),
            "all_running_seconds": i.run.converged.as_secs_f64(),
            "last_claim_bound_seconds": i.last_claim_bound,
            "ratio_to_floor": i.run.converged.as_secs_f64() / i.floor.as_secs_f64(),
            "create_to_running_seconds": {
                "p50": percentile(&i.latencies, 0.5),
                "p99": percentile(&i.latencies, 0.99),
            },
            "reconciles_per_profile": i.run.reconciles as f64 / n,
            "writes_per_profile": writes as f64 / n,
            "reads_per_profile": reads as f64 / n,
            "requests_per_profile": per_profile(&i.creation, n),
            "other_clients_requests_per_profile": per_profile(&i.creation_others, n),
            "start_up_requests": i.start_up,
            "idle": {"seconds": i.idle_seconds, "writes": idle_writes, "reads": idle_reads, "requests": i.idle},
            "deletion": i.deletion.as_ref().map(|(d, counts)| json!({
                "seconds": d.as_secs_f64(),
                "requests_per_profile": per_profile(counts, n),
            })),
            "cpu_while_converging": {
                "cpu_seconds_available": i.run.converged.as_secs_f64() * nproc as f64,
                "machine_busy": (i.run.machine_cpu.busy * 1000.0).round() / 1000.0,
                "cpu_seconds_by_part": i.run.machine_cpu.by_part.iter()
                    .map(|(part, seconds)| ((*part).to_owned(), json!((seconds * 10.0).round() / 10.0)))
                    .collect::<serde_json::Map<_, _>>(),
            },
            "operator": {
                "cpu_seconds_to_converge": i.run.cpu_converge,
                "cpu_seconds_total": i.cpu_total,
                "peak_rss_mib": mib(i.peak_rss),
                "rss_mib_at": rss_at,
            },
        }))
    }

    pub fn print(&self) {
        let r = &self.0;
        println!(
            "\n{} profiles of the {} shape, {} CPUs, commit {}",
            r["profiles"], r["shape"], r["cpus"], r["commit"]
        );
        println!(
            "floor ({} creates, concurrency {})   {:.1} s",
            r["floor"]["writes"],
            r["concurrency"],
            r["floor"]["seconds"].as_f64().unwrap_or_default()
        );
        println!(
            "all Running after                  {:.1} s   ({:.2}x the floor)",
            r["all_running_seconds"].as_f64().unwrap_or_default(),
            r["ratio_to_floor"].as_f64().unwrap_or_default()
        );
        if let (Some(bound), Some(ratio)) = (
            r["binder_floor"]["seconds"].as_f64(),
            r["ratio_to_binder_floor"].as_f64(),
        ) {
            println!(
                "binder floor ({} plain claims)    {bound:.1} s   (all Running: {ratio:.2}x)",
                r["binder_floor"]["claims"]
            );
        }
        if let (Some(took), Some(ratio)) = (
            r["world_floor"]["seconds"].as_f64(),
            r["ratio_to_world_floor"].as_f64(),
        ) {
            println!(
                "world floor ({} children, no operator) {took:.1} s   (all Running: {ratio:.2}x)",
                r["world_floor"]["objects"]
            );
        }
        if let Some(bound) = r["last_claim_bound_seconds"].as_f64() {
            println!("last claim bound (volume binder)   {bound:.1} s");
        }
        println!(
            "create-to-Running p50 / p99        {:.1} s / {:.1} s",
            r["create_to_running_seconds"]["p50"]
                .as_f64()
                .unwrap_or_default(),
            r["create_to_running_seconds"]["p99"]
                .as_f64()
                .unwrap_or_default()
        );
        println!(
            "reconciles per profile             {:.2}",
            r["reconciles_per_profile"].as_f64().unwrap_or_default()
        );
        println!(
            "writes / reads per profile         {:.2} / {:.2}   (floor {})",
            r["writes_per_profile"].as_f64().unwrap_or_default(),
            r["reads_per_profile"].as_f64().unwrap_or_default(),
            r["floor"]["writes_per_profile"]
        );
        println!(
            "requests per profile (audit log)   {}",
            r["requests_per_profile"]
        );
        println!(
            "idle {} s: writes / reads           {} / {}",
            r["idle"]["seconds"], r["idle"]["writes"], r["idle"]["reads"]
        );
        if let Some(seconds) = r["deletion"]["seconds"].as_f64() {
            println!("deletion until every child gone    {seconds:.1} s");
        }
        println!(
            "operator CPU to converge           {:.1} s",
            r["operator"]["cpu_seconds_to_converge"]
                .as_f64()
                .unwrap_or_default()
        );
        let cpu = &r["cpu_while_converging"];
        println!(
            "machine busy while converging      {:.0} % of {:.0} CPU-seconds: {}",
            cpu["machine_busy"].as_f64().unwrap_or_default() * 100.0,
            cpu["cpu_seconds_available"].as_f64().unwrap_or_default(),
            cpu["cpu_seconds_by_part"]
        );
        println!(
            "operator peak RSS                  {} MiB",
            r["operator"]["peak_rss_mib"]
        );
        println!(
            "operator RSS at                    {}",
            r["operator"]["rss_mib_at"]
        );
    }

    /// Writes `target/bench/bench-<profiles>.json` (minimal shape) or
    /// `bench-seed-<profiles>.json`.
    pub fn write(&self, root: &std::path::Path) -> Result<PathBuf> {
        let dir = root.join("target/bench");
        std::fs::create_dir_all(&dir)?;
        let shape = match self.0["shape"].as_str() {
            Some("minimal") | None => String::new(),
            Some(other) => format!("{other}-"),
        };
        let path = dir.join(format!("bench-{shape}{}.json", self.0["profiles"]));
        std::fs::write(&path, serde_json::to_string_pretty(&self.0)?)?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_profile_counts_leave_out_the_long_running_watches() {
        let counts: Counts = [
            ("patch datavolumes".to_owned(), 1_000),
            ("watch datavolumes".to_owned(), 3),
        ]
        .into();
        assert_eq!(
            per_profile(&counts, 1_000.0),
            json!({"patch datavolumes": 1.0})
        );
    }
}
