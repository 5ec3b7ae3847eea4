//! `cargo xtask <task>`: project chores that are Rust programs rather than shell scripts.

use std::{fs, path::PathBuf};

use anyhow::{Context, Result};
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
}

fn main() -> Result<()> {
    match Cli::parse().task {
        Task::Crdgen => crdgen(),
    }
}

fn workspace_root() -> PathBuf {
    // xtask lives one level below the workspace root.
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

fn crdgen() -> Result<()> {
    let path = workspace_root().join(vmop_api::CRD_PATH);
    let yaml = vmop_api::crd_yaml().context("serializing the CRD")?;
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    fs::write(&path, yaml).with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}
