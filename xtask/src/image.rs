//! `cargo xtask image`: the operator's container image, assembled without a container engine.
//!
//! The release binary and the shared libraries it loads (from `ldd`) go into one layer,
//! with an `/etc/passwd` naming the non-root user 65532; crane appends it to an empty base,
//! sets the entrypoint, user and labels through a registry it serves on localhost for the
//! duration, and writes `target/image/vm-operator-<version>.tar`, which
//! `k3s ctr images import` (or `crane push` to a registry) takes as it is. Then the unpacked
//! root file system runs the operator under `chroot` through one profile's flow
//! ([`crate::image_smoke`]).

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use vmop_testenv::tools;

/// Crane, pinned, built from the Go module proxy.
pub const CRANE_MODULE: &str = "github.com/google/go-containerregistry/cmd/crane@v0.22.1";

pub const BINARY_IN_IMAGE: &str = "/usr/local/bin/vm-operator";
/// The non-root user and group the image runs as.
pub const IMAGE_USER: &str = "65532:65532";

fn run(command: &mut Command) -> Result<String> {
    let described = format!("{command:?}");
    let output = command.output().with_context(|| described.clone())?;
    if !output.status.success() {
        bail!(
            "{described}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Shared libraries `binary` loads, as absolute paths (the dynamic loader included).
fn libraries(binary: &Path) -> Result<Vec<PathBuf>> {
    let listed = run(Command::new("ldd").arg(binary))?;
    Ok(listed
        .lines()
        .filter_map(|line| {
            let path = match line.split_once("=>") {
                Some((_, target)) => target.split_whitespace().next()?,
                None => line.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect())
}

/// The image's file system: the binary, its libraries at their paths, a passwd file.
fn root_fs(binary: &Path, dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    let place = |from: &Path, to: &Path| -> Result<()> {
        let target = dir.join(to.strip_prefix("/").unwrap_or(to));
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        // Follow symlinks: the image holds the files themselves.
        std::fs::copy(from, &target).with_context(|| format!("copying {}", from.display()))?;
        Ok(())
    };
    place(binary, Path::new(BINARY_IN_IMAGE))?;
    for library in libraries(binary)? {
        place(&library, &library)?;
    }
    std::fs::create_dir_all(dir.join("etc"))?;
    std::fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
    )?;
    std::fs::write(dir.join("etc/group"), "root:x:0:\nnonroot:x:65532:\n")?;
    std::fs::create_dir_all(dir.join("tmp"))?;
    Ok(())
}

/// `crane registry serve` on a free port, stopped when dropped.
struct LocalRegistry(Child, u16);

impl LocalRegistry {
    fn start(crane: &Path) -> Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(crane)
            .args([
                "registry",
                "serve",
                "--address",
                &format!("127.0.0.1:{port}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("crane registry serve")?;
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > Duration::from_secs(30) {
                bail!("crane registry serve did not listen on {port}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(LocalRegistry(child, port))
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Builds the image tarball; returns its path.
pub fn image() -> Result<PathBuf> {
    let root = tools::workspace_root();
    let version = env!("CARGO_PKG_VERSION");
    run(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([
                "build",
                "--release",
                "-p",
                "vm-operator",
                "--bin",
                "vm-operator",
            ])
            .current_dir(&root),
    )?;
    let binary = root.join("target/release/vm-operator");
    let out = root.join("target/image");
    let fs_dir = out.join("rootfs");
    root_fs(&binary, &fs_dir)?;
    let layer = out.join("layer.tar");
    // Reproducible: fixed owner, times and order.
    run(Command::new("tar")
        .args([
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "--mtime=@0",
            "--sort=name",
        ])
        .arg("-C")
        .arg(&fs_dir)
        .arg("-cf")
        .arg(&layer)
        .arg("."))?;

    let crane = tools::ensure_go_tool(CRANE_MODULE)?;
    let registry = LocalRegistry::start(&crane)?;
    // Assembled twice from the same files: the digests must agree (no timestamps, no
    // ordering by chance), so the same commit gives the same image.
    let (reference, digest) = assemble(&crane, registry.1, &layer, version, "")?;
    let (_, again) = assemble(&crane, registry.1, &layer, version, "-again")?;
    if digest != again {
        bail!("the image is not reproducible: {digest} then {again}");
    }
    let pulled = out.join("pulled.tar");
    run(Command::new(&crane)
        .args(["pull", "--insecure", &reference])
        .arg(&pulled))?;
    let config = run(Command::new(&crane).args(["config", "--insecure", &reference]))?;
    drop(registry);
    check_config(&config)?;
    check_runs(&fs_dir)?;
    // The layer as the image carries it, unpacked afresh.
    let unpacked = out.join("unpacked");
    if unpacked.exists() {
        std::fs::remove_dir_all(&unpacked)?;
    }
    std::fs::create_dir_all(&unpacked)?;
    run(Command::new("tar")
        .arg("-C")
        .arg(&unpacked)
        .arg("-xf")
        .arg(&layer))?;
    super::image_smoke::run(&unpacked)?;
    let tarball = out.join(format!("vm-operator-{version}.tar"));
    retag(
        &pulled,
        &format!("vm-operator:{version}"),
        &tarball,
        &out.join("retag"),
    )?;
    std::fs::write(out.join("digest"), format!("{digest}\n"))?;
    println!(
        "wrote {} (load with `k3s ctr images import`), manifest digest {digest}",
        tarball.display()
    );
    Ok(tarball)
}

/// The image from `layer` pushed to the local registry as `vm-operator:<version><suffix>`:
/// returns its reference and manifest digest.
fn assemble(
    crane: &Path,
    port: u16,
    layer: &Path,
    version: &str,
    suffix: &str,
) -> Result<(String, String)> {
    let reference = format!("127.0.0.1:{port}/vm-operator:{version}{suffix}");
    run(Command::new(crane)
        .args(["append", "--oci-empty-base", "--insecure", "-f"])
        .arg(layer)
        .args(["-t", &reference]))?;
    run(Command::new(crane).args([
        "mutate",
        "--insecure",
        &reference,
        "--entrypoint",
        BINARY_IN_IMAGE,
        "--cmd",
        "run",
        "--user",
        IMAGE_USER,
        "--workdir",
        "/",
        "--label",
        &format!("org.opencontainers.image.version={version}"),
        "--label",
        "org.opencontainers.image.title=vm-operator",
        "-t",
        &reference,
    ]))?;
    let digest = run(Command::new(crane).args(["digest", "--insecure", &reference]))?;
    Ok((reference, digest.trim().to_owned()))
}

/// The tarball names the image as the Deployment does (`vm-operator:<version>`), not by the
/// temporary registry it came through: `manifest.json`'s RepoTags rewritten.
fn retag(pulled: &Path, tag: &str, tarball: &Path, work: &Path) -> Result<()> {
    if work.exists() {
        std::fs::remove_dir_all(work)?;
    }
    std::fs::create_dir_all(work)?;
    run(Command::new("tar")
        .arg("-C")
        .arg(work)
        .arg("-xf")
        .arg(pulled))?;
    let path = work.join("manifest.json");
    let mut manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)?;
    for image in manifest.as_array_mut().into_iter().flatten() {
        image["RepoTags"] = serde_json::json!([tag]);
    }
    std::fs::write(&path, serde_json::to_vec(&manifest)?)?;
    // Entries named as crane wrote them (`manifest.json`, not `./manifest.json`).
    let mut entries: Vec<String> = std::fs::read_dir(work)?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    entries.sort();
    run(Command::new("tar")
        .args(["--owner=0", "--group=0", "--numeric-owner", "--mtime=@0"])
        .arg("-C")
        .arg(work)
        .arg("-cf")
        .arg(tarball)
        .args(&entries))?;
    Ok(())
}

/// The image runs the operator as the non-root user.
fn check_config(config: &str) -> Result<()> {
    let config: serde_json::Value = serde_json::from_str(config)?;
    let inner = &config["config"];
    if inner["Entrypoint"] != serde_json::json!([BINARY_IN_IMAGE]) || inner["User"] != IMAGE_USER {
        bail!("unexpected image config: {inner}");
    }
    Ok(())
}

/// The binary starts with the libraries in the image alone (through the image's own dynamic
/// loader, nothing from the host).
fn check_runs(fs_dir: &Path) -> Result<()> {
    let loader = fs_dir.join("lib64/ld-linux-x86-64.so.2");
    let listed = run(Command::new(&loader)
        .arg("--library-path")
        .arg(fs_dir.join("lib/x86_64-linux-gnu"))
        .arg(fs_dir.join(BINARY_IN_IMAGE.trim_start_matches('/')))
        .arg("plugins"))?;
    if !listed.contains("bridge") {
        bail!("the image's binary did not list its plugins: {listed}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Dockerfile's final stage says what `cargo xtask image` builds.
    #[test]
    fn the_dockerfile_builds_the_same_layout() {
        let dockerfile = std::fs::read_to_string(tools::workspace_root().join("Dockerfile"))
            .expect("Dockerfile");
        let last = dockerfile
            .rsplit_once("FROM scratch")
            .map(|(_, stage)| stage)
            .expect("a final stage from scratch");
        let version = env!("CARGO_PKG_VERSION");
        for line in [
            format!("USER {IMAGE_USER}"),
            format!("ENTRYPOINT [\"{BINARY_IN_IMAGE}\"]"),
            "CMD [\"run\"]".to_owned(),
            format!("org.opencontainers.image.version=\"{version}\""),
        ] {
            assert!(last.contains(&line), "the Dockerfile lacks {line}");
        }
        assert!(
            dockerfile.contains(&format!("/rootfs{BINARY_IN_IMAGE}")),
            "the binary at {BINARY_IN_IMAGE}"
        );
    }
}
