//! `cargo xtask <task>`: project chores that are Rust programs rather than shell scripts.

mod bench;
mod demo;
mod demo_catalog;
mod demo_migrate;
mod demo_pool;
mod demo_snapshot;
mod image;
mod image_smoke;
mod semver;
#[cfg(test)]
mod sizes;

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "vm-operator project tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Write the VirtualMachineProfile CRD to deploy/crds/ (committed; a test fails when stale).
    Crdgen,
    /// Render the plain manifests of deploy/operator/ from the Helm chart (committed; a test
    /// fails when stale).
    Manifests,
    /// Build or install what the tests need: the kube-testenv control plane (Go) and kubectl.
    Setup,
    /// Everything CI checks: setup, formatting, clippy, licenses and sources, all tests, and
    /// the demo.
    Ci,
    /// CI's semver step alone: the public crates against the baseline release.
    Semver,
    /// Start the test control plane with simulators and print how to reach it (Ctrl-C stops).
    Testenv,
    /// The whole system on an embedded control plane: simulators, the operator, the examples.
    Demo(demo::DemoArgs),
    /// Convergence time and API writes for many profiles with instant simulators.
    Bench(bench::BenchArgs),
    /// The operator's container image as a tarball under target/image/ (no container engine).
    Image,
}

fn main() -> Result<()> {
    match Cli::parse().task {
        Task::Crdgen => crdgen(),
        Task::Manifests => manifests(),
        Task::Setup => setup(),
        Task::Ci => ci(),
        Task::Semver => semver::check(&workspace_root()),
        Task::Testenv => testenv(),
        Task::Demo(args) => demo::demo(&workspace_root(), args),
        Task::Bench(args) => bench::bench(args),
        Task::Image => image::image().map(|_| ()),
    }
}

fn workspace_root() -> PathBuf {
    vmop_testenv::tools::workspace_root()
}

fn crdgen() -> Result<()> {
    let profiles = vmop_api::crd_yaml().context("serializing the CRD")?;
    let pools = vmop_api::pool_crd_yaml().context("serializing the pool CRD")?;
    let images = vmop_api::image_crd_yaml().context("serializing the image CRD")?;
    let targets = [
        (vmop_api::CRD_PATH, &profiles),
        (vmop_api::CHART_CRD_PATH, &profiles),
        (vmop_api::POOL_CRD_PATHS[0], &pools),
        (vmop_api::POOL_CRD_PATHS[1], &pools),
        (vmop_api::IMAGE_CRD_PATHS[0], &images),
        (vmop_api::IMAGE_CRD_PATHS[1], &images),
    ];
    for (path, yaml) in targets {
        let path = workspace_root().join(path);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        fs::write(&path, yaml).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn manifests() -> Result<()> {
    for (path, text) in vmop_testenv::manifests::render()? {
        fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn setup() -> Result<()> {
    let started = Instant::now();
    let binary = vmop_testenv::tools::ensure_kube_testenv()?;
    println!(
        "control plane: {} ({:.0?})",
        binary.display(),
        started.elapsed()
    );
    let started = Instant::now();
    let kubectl = vmop_testenv::tools::ensure_kubectl()?;
    println!("kubectl: {} ({:.0?})", kubectl.display(), started.elapsed());
    let started = Instant::now();
    let kine = vmop_testenv::tools::ensure_kine()?;
    println!("kine: {} ({:.0?})", kine.display(), started.elapsed());
    Ok(())
}

/// Runs one step of CI, failing with its name.
fn step(name: &str, program: &str, args: &[&str], dir: &Path) -> Result<()> {
    step_with_env(name, program, args, &[], dir)
}

/// [`step`] with extra environment variables.
fn step_with_env(
    name: &str,
    program: &str,
    args: &[&str],
    env: &[(&str, &str)],
    dir: &Path,
) -> Result<()> {
    println!("==> {name}: {program} {}", args.join(" "));
    let started = Instant::now();
    let status = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .status()
        .with_context(|| format!("running {program}"))?;
    if !status.success() {
        bail!("{name} failed ({status})");
    }
    println!("==> {name} passed in {:.0?}", started.elapsed());
    Ok(())
}

/// Installs the cargo subcommand `subcommand` from crates.io (`package`, pinned) unless it is
/// there: CI's own set-up, nothing installed by hand.
fn ensure_cargo_tool(subcommand: &str, package: &str) -> Result<()> {
    let installed = Command::new("cargo")
        .args([subcommand, "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        step(
            &format!("install {package}"),
            "cargo",
            &["install", "--locked", package],
            &workspace_root(),
        )?;
    }
    Ok(())
}

/// `command` followed by `--package <crate>` for each public crate.
fn public_crate_args<'a>(command: &[&'a str]) -> Vec<&'a str> {
    let mut args = command.to_vec();
    for krate in semver::PUBLIC_CRATES {
        args.extend(["--package", krate]);
    }
    args
}

/// The suites CI runs a second time on SQLite: the full flow (with and without kills), the
/// operator's restart, the API server's restart and expired watches.
const SQLITE_SUITES: [&str; 11] = [
    "test",
    "-p",
    "vmop-controller",
    "--test",
    "full_flow",
    "-p",
    "vm-operator",
    "--test",
    "kill_loop",
    "--test",
    "api_faults",
];

fn ci() -> Result<()> {
    let root = workspace_root();
    let go_dir = root.join("tools").join("kube-testenv");
    setup()?;
    step(
        "rustfmt",
        "cargo",
        &["fmt", "--all", "--", "--check"],
        &root,
    )?;
    let unformatted = Command::new("gofmt")
        .args(["-l", "."])
        .current_dir(&go_dir)
        .output()
        .context("running gofmt")?;
    println!(
        "==> gofmt -l: {}",
        if unformatted.stdout.is_empty() {
            "clean"
        } else {
            "unformatted files"
        }
    );
    if !unformatted.stdout.is_empty() {
        bail!(
            "gofmt: unformatted files: {}",
            String::from_utf8_lossy(&unformatted.stdout)
        );
    }
    step("go vet", "go", &["vet", "."], &go_dir)?;
    step(
        "clippy",
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        &root,
    )?;
    // Advisories need the RustSec database from the network, which CI cannot reach.
    ensure_cargo_tool("deny", "cargo-deny@0.20.2")?;
    step(
        "cargo deny",
        "cargo",
        &["deny", "check", "bans", "licenses", "sources"],
        &root,
    )?;
    // The public crates' rustdoc: every item documented (`deny(missing_docs)`), every link
    // resolved.
    step_with_env(
        "docs",
        "cargo",
        &public_crate_args(&["doc", "--no-deps"]),
        &[("RUSTDOCFLAGS", "-D warnings")],
        &root,
    )?;
    semver::check(&root)?;
    step("tests", "cargo", &["test", "--workspace"], &root)?;
    // k3s's default datastore: the flow, restart and watch-expiry suites again, on kine in
    // front of SQLite.
    step_with_env(
        "tests on SQLite (kine)",
        "cargo",
        &SQLITE_SUITES,
        &[(vmop_testenv::DATASTORE_ENV, "sqlite")],
        &root,
    )?;
    // The image users install: it builds, runs as non-root, and its binary starts with the
    // libraries it carries.
    step("image", "cargo", &["xtask", "image"], &root)?;
    // The README's first command, non-interactively: it must converge and exit 0.
    step(
        "demo",
        "cargo",
        &["xtask", "demo", "--timeout", "180"],
        &root,
    )?;
    Ok(())
}

fn testenv() -> Result<()> {
    let control_plane = vmop_testenv::ControlPlane::start_ephemeral()?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let client = control_plane.client().await?;
        vmop_testenv::bootstrap(&client).await?;
        println!("control plane ready at {}", control_plane.server());
        println!(
            "  export KUBECONFIG={}\n  kubectl get nodes,storageclasses\n  kubectl apply -f examples/manifests/\n  kubectl get vmprofile",
            control_plane.kubeconfig().display()
        );
        println!("simulators running (CSI, CDI, NMState, KubeVirt); Ctrl-C stops");
        tokio::select! {
            () = vmop_testenv::sim::run_all(client, vmop_testenv::sim::SimConfig::realistic()) => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        anyhow::Ok(())
    })?;
    drop(control_plane);
    Ok(())
}
