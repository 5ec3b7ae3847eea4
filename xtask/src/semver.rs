//! CI's semver step: cargo-semver-checks compares each public crate's rustdoc JSON with the
//! baseline release's.
//!
//! The JSON is built here rather than by cargo-semver-checks, which documents each crate and
//! each version in a target directory of its own: six builds of every dependency (400 s on
//! this 2-core machine). Here both versions are documented in the workspace's target
//! directory, whose dependencies clippy has already checked. Rustdoc's JSON output is
//! unstable, so rustdoc alone runs with `RUSTC_BOOTSTRAP=1` (a `RUSTDOC` wrapper): set for the
//! whole build, it would rerun the build scripts that probe for a nightly compiler
//! (proc-macro2's among them) and rebuild everything above them.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context, Result, bail};

use crate::{ensure_cargo_tool, step, step_with_env};

/// cargo-semver-checks, pinned: it reads rustdoc JSON, whose format follows the toolchain.
const SEMVER_CHECKS: &str = "cargo-semver-checks@0.51.0";
/// The public crates whose API plugin authors and embedders build on.
pub const PUBLIC_CRATES: [&str; 3] = ["vmop-api", "vmop-plugin", "vmop-controller"];
/// The file naming the release those crates are checked against.
const SEMVER_BASELINE: &str = "semver-baseline";

/// The baseline commit: the first line of [`SEMVER_BASELINE`] that is not a comment.
fn baseline(root: &Path) -> Result<String> {
    let path = root.join(SEMVER_BASELINE);
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .with_context(|| format!("{} names no commit", path.display()))
}

/// The public crates against the baseline release: a breaking change fails unless the
/// crate's version says so.
pub fn check(root: &Path) -> Result<()> {
    let baseline = baseline(root)?;
    let known = Command::new("git")
        .args(["cat-file", "-e", &format!("{baseline}^{{commit}}")])
        .current_dir(root)
        .status()
        .is_ok_and(|status| status.success());
    if !known {
        // A shallow clone has no baseline to compare with: say so rather than fail the run.
        println!(
            "==> semver: baseline {baseline} is not in this clone's history (shallow?); not checked"
        );
        return Ok(());
    }
    ensure_cargo_tool("semver-checks", SEMVER_CHECKS)?;
    let work = root.join("target").join("semver");
    let source = work.join(&baseline);
    if !source.join("Cargo.toml").exists() {
        extract(root, &baseline, &source)?;
    }
    let rustdoc = rustdoc_wrapper(&work)?;
    let baseline_json = document(&source, root, &rustdoc, &work.join("baseline"))?;
    let current_json = document(root, root, &rustdoc, &work.join("current"))?;
    for (krate, (baseline, current)) in PUBLIC_CRATES
        .iter()
        .zip(baseline_json.iter().zip(&current_json))
    {
        step(
            &format!("semver {krate}"),
            "cargo",
            &[
                "semver-checks",
                "check-release",
                "--baseline-rustdoc",
                &baseline.to_string_lossy(),
                "--current-rustdoc",
                &current.to_string_lossy(),
            ],
            root,
        )?;
    }
    Ok(())
}

/// The baseline's sources, from git, under `into`.
fn extract(root: &Path, baseline: &str, into: &Path) -> Result<()> {
    fs::create_dir_all(into).with_context(|| format!("creating {}", into.display()))?;
    let mut archive = Command::new("git")
        .args(["archive", "--format=tar", baseline])
        .current_dir(root)
        .stdout(Stdio::piped())
        .spawn()
        .context("running git archive")?;
    let stdout = archive.stdout.take().context("git archive's output")?;
    let unpacked = Command::new("tar")
        .args(["-x", "-C"])
        .arg(into)
        .stdin(stdout)
        .status()
        .context("running tar")?;
    if !archive.wait()?.success() || !unpacked.success() {
        bail!("extracting {baseline} into {} failed", into.display());
    }
    Ok(())
}

/// A `RUSTDOC` that lets rustdoc alone use unstable options.
fn rustdoc_wrapper(work: &Path) -> Result<PathBuf> {
    let path = work.join("rustdoc-json");
    fs::create_dir_all(work).with_context(|| format!("creating {}", work.display()))?;
    fs::write(&path, "#!/bin/sh\nRUSTC_BOOTSTRAP=1 exec rustdoc \"$@\"\n")
        .with_context(|| format!("writing {}", path.display()))?;
    let made_executable = Command::new("chmod")
        .arg("+x")
        .arg(&path)
        .status()
        .context("running chmod")?;
    if !made_executable.success() {
        bail!("chmod +x {} failed", path.display());
    }
    Ok(path)
}

/// The public crates of the workspace at `workspace` documented as JSON in `root`'s target
/// directory, copied to `into`: one file per crate, in [`PUBLIC_CRATES`]' order.
fn document(workspace: &Path, root: &Path, rustdoc: &Path, into: &Path) -> Result<Vec<PathBuf>> {
    let target = root.join("target");
    let manifest = workspace.join("Cargo.toml");
    let mut args = vec![
        "doc".to_owned(),
        "--no-deps".into(),
        "--lib".into(),
        "--all-features".into(),
        "--manifest-path".into(),
        manifest.to_string_lossy().into_owned(),
        "--target-dir".into(),
        target.to_string_lossy().into_owned(),
    ];
    for krate in PUBLIC_CRATES {
        args.extend(["--package".into(), krate.into()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    step_with_env(
        &format!("rustdoc JSON of {}", workspace.display()),
        "cargo",
        &args,
        &[
            ("RUSTDOC", &rustdoc.to_string_lossy()),
            ("RUSTDOCFLAGS", "-Z unstable-options --output-format json"),
        ],
        root,
    )?;
    fs::create_dir_all(into).with_context(|| format!("creating {}", into.display()))?;
    PUBLIC_CRATES
        .iter()
        .map(|krate| {
            let file = format!("{}.json", krate.replace('-', "_"));
            let built = target.join("doc").join(&file);
            let kept = into.join(&file);
            fs::copy(&built, &kept)
                .with_context(|| format!("copying {} to {}", built.display(), kept.display()))?;
            Ok(kept)
        })
        .collect()
}
