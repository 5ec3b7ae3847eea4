//! Where the machine's CPU goes while the profiles converge: CPU seconds of every process,
//! grouped by its part in the run (API server with etcd, kube-controller-manager, the
//! simulators, the operator, this load generator, anything else), and how busy the machine
//! was. It says whether a run was bound by CPU, and by whose.

use std::collections::BTreeMap;

use anyhow::{Context, Result};

/// Linux's USER_HZ: /proc counts CPU time in hundredths of a second.
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU time so far: per process (pid → part, ticks) and the machine's busy and total ticks.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    processes: BTreeMap<u32, (&'static str, u64)>,
    machine_busy: u64,
    machine_total: u64,
}

/// CPU seconds between two snapshots, by part, and the machine's busy share.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    /// Part of the run → CPU seconds.
    pub by_part: BTreeMap<&'static str, f64>,
    /// Busy share of all CPUs, 0 to 1.
    pub busy: f64,
}

/// The part a process plays, from its command line (`argv[0]`, `argv[1]`).
fn part_of(pid: u32, argv0: &str, argv1: Option<&str>) -> &'static str {
    let program = argv0.rsplit('/').next().unwrap_or(argv0);
    match (program, argv1) {
        _ if pid == std::process::id() => "bench client",
        ("vm-operator", _) => "operator",
        ("vmop-sims", _) => "simulators",
        ("kube-testenv", Some("controller-manager")) => "kube-controller-manager",
        ("kube-testenv", _) => "kube-apiserver + etcd",
        _ => "other",
    }
}

/// utime + stime of a `/proc/<pid>/stat` line.
fn ticks_of(stat: &str) -> Option<u64> {
    // The command name may hold spaces; the fields after it start at ") ".
    let (_, rest) = stat.rsplit_once(") ")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat: 11 and 12 after the name.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// (busy, total) ticks of the `cpu` line of `/proc/stat`.
fn machine_ticks(proc_stat: &str) -> Option<(u64, u64)> {
    let line = proc_stat.lines().find(|l| l.starts_with("cpu "))?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let total: u64 = values.iter().take(8).sum();
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

impl Snapshot {
    /// Reads every process's CPU time and the machine's.
    pub fn take() -> Result<Snapshot> {
        let proc_stat = std::fs::read_to_string("/proc/stat").context("/proc/stat")?;
        let (machine_busy, machine_total) =
            machine_ticks(&proc_stat).context("the cpu line of /proc/stat")?;
        let mut processes = BTreeMap::new();
        for entry in std::fs::read_dir("/proc")?.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            // A process may end between listing and reading: skip it.
            let (Ok(stat), Ok(cmdline)) = (
                std::fs::read_to_string(entry.path().join("stat")),
                std::fs::read(entry.path().join("cmdline")),
            ) else {
                continue;
            };
            let Some(ticks) = ticks_of(&stat) else {
                continue;
            };
            let mut args = cmdline
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned());
            let argv0 = args.next().unwrap_or_default();
            let argv1 = args.next();
            processes.insert(pid, (part_of(pid, &argv0, argv1.as_deref()), ticks));
        }
        Ok(Snapshot {
            processes,
            machine_busy,
            machine_total,
        })
    }

    /// What was used from `self` until `later` (processes started since count from zero).
    pub fn until(&self, later: &Snapshot) -> Usage {
        let mut by_part = BTreeMap::new();
        for (pid, (part, ticks)) in &later.processes {
            let before = self.processes.get(pid).map_or(0, |(_, t)| *t);
            *by_part.entry(*part).or_insert(0.0) +=
                ticks.saturating_sub(before) as f64 / TICKS_PER_SECOND;
        }
        let total = later.machine_total.saturating_sub(self.machine_total);
        let busy = later.machine_busy.saturating_sub(self.machine_busy);
        Usage {
            by_part,
            busy: if total == 0 {
                0.0
            } else {
                busy as f64 / total as f64
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processes_are_grouped_by_their_part_in_the_run() {
        assert_eq!(
            part_of(1, "/x/kube-testenv", Some("controller-manager")),
            "kube-controller-manager"
        );
        assert_eq!(
            part_of(1, "/x/kube-testenv", Some("--data-dir")),
            "kube-apiserver + etcd"
        );
        assert_eq!(part_of(1, "target/release/vm-operator", None), "operator");
        assert_eq!(part_of(1, "vmop-sims", Some("kubeconfig")), "simulators");
        assert_eq!(part_of(1, "bash", None), "other");
        assert_eq!(
            part_of(std::process::id(), "vm-operator", None),
            "bench client"
        );
    }

    #[test]
    fn cpu_time_is_read_after_a_command_name_with_spaces() {
        let stat = "42 (a b) S 1 42 42 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 1 0 5 0 0";
        assert_eq!(ticks_of(stat), Some(325));
        assert_eq!(ticks_of("garbage"), None);
    }

    #[test]
    fn usage_counts_new_processes_from_zero_and_the_machine_share() {
        let before = Snapshot {
            processes: BTreeMap::from([(1, ("operator", 100)), (2, ("simulators", 50))]),
            machine_busy: 1_000,
            machine_total: 2_000,
        };
        let after = Snapshot {
            processes: BTreeMap::from([
                (1, ("operator", 300)),
                (3, ("simulators", 40)),
                (4, ("operator", 10)),
            ]),
            machine_busy: 1_750,
            machine_total: 3_000,
        };
        let usage = before.until(&after);
        assert_eq!(usage.by_part.get("operator"), Some(&2.1));
        assert_eq!(usage.by_part.get("simulators"), Some(&0.4));
        assert!((usage.busy - 0.75).abs() < 1e-9, "{}", usage.busy);
        assert_eq!(
            machine_ticks("cpu  10 0 10 70 10 0 0 0 0 0\ncpu0 1 0 1 1 1 0 0 0 0 0"),
            Some((20, 100))
        );
    }
}
