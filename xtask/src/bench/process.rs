//! The release-built operator as its own process: started under its ServiceAccount's token,
//! measured from /proc (peak and current RSS, CPU seconds) and from its /metrics.

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::{Context, Result, bail};

/// The running operator; killed when dropped.
#[derive(Debug)]
pub struct Operator {
    child: Child,
    port: u16,
}

/// Builds the `vm-operator` and `vmop-sims` binaries in release mode; returns their paths.
/// With `heap_profile` the operator allocates through dhat instead of jemalloc (one build of
/// both, so the crates they share are built once, with the same features).
pub fn build_release(root: &Path, heap_profile: bool) -> Result<(PathBuf, PathBuf)> {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command
        .args([
            "build",
            "--release",
            "-p",
            "vm-operator",
            "-p",
            "vmop-testenv",
        ])
        .args(["--bin", "vm-operator", "--bin", "vmop-sims"]);
    if heap_profile {
        command.args(["--features", "vm-operator/dhat-heap"]);
    }
    let status = command
        .current_dir(root)
        .status()
        .context("cargo build --release")?;
    if !status.success() {
        bail!("cargo build --release of vm-operator and vmop-sims failed");
    }
    Ok((
        root.join("target/release/vm-operator"),
        root.join("target/release/vmop-sims"),
    ))
}

/// A child process killed when dropped.
#[derive(Debug)]
pub struct Sims(Child);

impl Sims {
    pub fn start(binary: &Path, kubeconfig: &Path, log: &Path) -> Result<Self> {
        Ok(Sims(
            Command::new(binary)
                .arg(kubeconfig)
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(log)?)
                .spawn()
                .context("starting vmop-sims")?,
        ))
    }
}

impl Drop for Sims {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Operator {
    pub fn start(
        binary: &Path,
        kubeconfig: &Path,
        namespace: &str,
        concurrency: u16,
        log_level: &str,
        work: &Path,
    ) -> Result<Self> {
        let port = free_port()?;
        let child = Command::new(binary)
            .args(["run", "--namespace", namespace, "--log", log_level])
            .args(["--concurrency", &concurrency.to_string()])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--kubeconfig")
            .arg(kubeconfig)
            // As the shipped Deployment runs it (deploy/operator/deployment.yaml).
            .env("MALLOC_ARENA_MAX", "2")
            // Only read by an operator built with `dhat-heap`.
            .env(super::heap_profile::FILE_ENV, work.join("dhat-heap.json"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(work.join("vm-operator.log"))?)
            .spawn()
            .context("starting vm-operator")?;
        Ok(Operator { child, port })
    }

    fn get(&self, path: &str) -> Option<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(stream, "GET {path} HTTP/1.1\r\nhost: localhost\r\n\r\n").ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        response.starts_with("HTTP/1.1 200").then_some(response)
    }

    pub fn ready(&self) -> bool {
        self.get("/readyz").is_some()
    }

    /// `vmoperator_reconciles_total` from /metrics.
    pub fn reconciles(&self) -> Result<u64> {
        let metrics = self.get("/metrics").context("/metrics")?;
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("vmoperator_reconciles_total "))
            .and_then(|v| v.trim().parse().ok())
            .context("vmoperator_reconciles_total")
    }

    fn status_field(&self, field: &str) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib * 1024)
            .with_context(|| format!("{field} in /proc/<pid>/status"))
    }

    /// Peak resident memory so far, bytes.
    pub fn peak_rss(&self) -> Result<u64> {
        self.status_field("VmHWM:")
    }

    /// Resident memory now, bytes.
    pub fn rss(&self) -> Result<u64> {
        self.status_field("VmRSS:")
    }

    /// User plus system CPU time so far, seconds.
    pub fn cpu_seconds(&self) -> Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        // Fields after the command name (which may contain spaces) start at ") ".
        let fields: Vec<&str> = stat
            .rsplit_once(") ")
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        // utime and stime are fields 14 and 15 of stat: 11 and 12 after the name.
        let clock = 100.0; // USER_HZ on Linux
        Ok((ticks(11) + ticks(12)) as f64 / clock)
    }
}

impl Operator {
    /// Asks the operator to stop (SIGTERM) and waits for it to exit.
    pub fn stop(&mut self, timeout: Duration) -> Result<()> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .context("kill -TERM")?;
        if !status.success() {
            bail!("kill -TERM {} failed", self.child.id());
        }
        let started = std::time::Instant::now();
        while self.child.try_wait()?.is_none() {
            if started.elapsed() > timeout {
                bail!("the operator did not exit within {timeout:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(())
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
