//! One `kube-testenv` process: etcd, kube-apiserver and the controller manager's garbage
//! collector, namespace and service-account controllers.

use std::{
    collections::VecDeque,
    fs::File,
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, Stdio},
    sync::{Arc, Mutex, mpsc},
    thread,
    time::{Duration, Instant},
};

use kube::{
    Client, Config,
    config::{KubeConfigOptions, Kubeconfig},
};

use crate::{TestEnvError, tools};

/// How long a cold start may take (etcd, API server, CRD-free bootstrap).
const START_TIMEOUT: Duration = Duration::from_secs(180);

/// The environment variable choosing every control plane's datastore: `etcd` (the default)
/// or `sqlite` (kine in front of SQLite, k3s's default).
pub const DATASTORE_ENV: &str = "VMOP_TEST_DATASTORE";

/// Where a control plane keeps its objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Datastore {
    /// Embedded etcd, as kubeadm clusters and k3s's embedded-etcd mode run.
    Etcd,
    /// kine in front of SQLite, as a single-server k3s runs by default.
    Sqlite,
}

impl Datastore {
    /// The datastore [`DATASTORE_ENV`] names (etcd when unset).
    pub fn from_env() -> Result<Self, TestEnvError> {
        match std::env::var(DATASTORE_ENV).as_deref() {
            Err(_) | Ok("") | Ok("etcd") => Ok(Datastore::Etcd),
            Ok("sqlite") => Ok(Datastore::Sqlite),
            Ok(other) => Err(TestEnvError::Start {
                detail: format!("{DATASTORE_ENV}={other}: expected etcd or sqlite"),
                log: PathBuf::new(),
            }),
        }
    }
}

/// A running control plane. Dropping it shuts the process down.
#[derive(Debug)]
pub struct ControlPlane {
    child: Option<Child>,
    // Closing it tells kube-testenv to shut down: also when this process dies abruptly.
    stdin: Option<ChildStdin>,
    data_dir: PathBuf,
    kubeconfig: PathBuf,
    server: String,
    fault_webhook: String,
    // Given again on a restart.
    datastore: Datastore,
    extra_args: Vec<String>,
}

impl ControlPlane {
    /// Starts a control plane on `data_dir` (created if needed). Reusing the directory of an
    /// earlier control plane restarts it with all its objects and on the same port.
    pub fn start(data_dir: &Path) -> Result<Self, TestEnvError> {
        Self::start_with(data_dir, &[])
    }

    /// [`Self::start`] with more kube-testenv flags, kept for [`Self::restart`]: such as
    /// `--apiserver-arg=--etcd-compaction-interval=1s`.
    pub fn start_with(data_dir: &Path, extra_args: &[String]) -> Result<Self, TestEnvError> {
        Self::start_on(data_dir, Datastore::from_env()?, extra_args)
    }

    /// [`Self::start_with`] on this datastore, whatever [`DATASTORE_ENV`] says (a data dir
    /// keeps the datastore it was made with: restart it on the same one).
    pub fn start_on(
        data_dir: &Path,
        datastore: Datastore,
        extra_args: &[String],
    ) -> Result<Self, TestEnvError> {
        Self::launch(data_dir, false, datastore, extra_args)
    }

    /// Starts a control plane on a new temporary directory that kube-testenv removes when it
    /// exits, even when this process ends without dropping the value (a `static`).
    pub fn start_ephemeral() -> Result<Self, TestEnvError> {
        Self::start_ephemeral_with(&[])
    }

    /// [`Self::start_ephemeral`] with more kube-testenv flags, such as
    /// `--audit-log <path> --audit-user <name>` (the API server's own record of one client's
    /// requests).
    pub fn start_ephemeral_with(extra_args: &[String]) -> Result<Self, TestEnvError> {
        let dir = tempfile::Builder::new()
            .prefix("vmop-testenv-")
            .tempdir()
            .map_err(|e| TestEnvError::io(&std::env::temp_dir(), e))?
            .keep();
        Self::launch(&dir, true, Datastore::from_env()?, extra_args)
    }

    fn launch(
        data_dir: &Path,
        remove_on_exit: bool,
        datastore: Datastore,
        extra_args: &[String],
    ) -> Result<Self, TestEnvError> {
        // A fresh start picks its ports just before binding them; another process can take one
        // in between, and the start then fails. Such a start is tried once more, on new ports.
        // A restart keeps its ports (its clients know the address) and gets no second try.
        let ports = data_dir.join("ports.json");
        let fresh = !ports.exists();
        match Self::launch_once(data_dir, remove_on_exit, datastore, extra_args) {
            Err(TestEnvError::Start { detail, .. }) if fresh && detail.contains(EXITED) => {
                eprintln!("kube-testenv: first start failed, trying again on new ports: {detail}");
                let _ = std::fs::remove_file(&ports);
                Self::launch_once(data_dir, remove_on_exit, datastore, extra_args)
            }
            other => other,
        }
    }

    fn launch_once(
        data_dir: &Path,
        remove_on_exit: bool,
        datastore: Datastore,
        extra_args: &[String],
    ) -> Result<Self, TestEnvError> {
        let binary = tools::ensure_kube_testenv()?;
        std::fs::create_dir_all(data_dir).map_err(|e| TestEnvError::io(data_dir, e))?;
        let log_path = data_dir.join("kube-testenv.log");
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| TestEnvError::io(&log_path, e))?;
        let mut command = Command::new(&binary);
        command
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--stop-on-stdin-eof")
            .arg("--crds")
            .arg(crd_dirs());
        if remove_on_exit {
            command.arg("--remove-data-dir-on-exit");
        }
        if datastore == Datastore::Sqlite {
            command
                .args(["--datastore", "sqlite", "--kine"])
                .arg(tools::ensure_kine()?);
        }
        command.args(extra_args);
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| TestEnvError::io(&binary, e))?;
        let stdin = child.stdin.take();
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(TestEnvError::Start {
                detail: "no stdout or stderr".into(),
                log: log_path,
            });
        };
        let log_tail = StderrTail::copy_to(stderr, log);
        let line = match wait_for_ready(&mut child, stdout) {
            Ok(line) => line,
            Err(detail) => {
                let tail = log_tail.last_lines();
                return Err(TestEnvError::Start {
                    detail: format!("{detail}; its log ends:\n{tail}"),
                    log: log_path,
                });
            }
        };
        let field = |key: &str| {
            line.split_whitespace()
                .find_map(|part| part.strip_prefix(key))
                .map(str::to_owned)
        };
        let (Some(kubeconfig), Some(server)) = (field("kubeconfig="), field("server=")) else {
            return Err(TestEnvError::Start {
                detail: format!("malformed READY line {line:?}"),
                log: log_path,
            });
        };
        Ok(ControlPlane {
            child: Some(child),
            stdin,
            data_dir: data_dir.to_path_buf(),
            kubeconfig: PathBuf::from(kubeconfig),
            server,
            fault_webhook: field("fault-webhook=").unwrap_or_default(),
            datastore,
            extra_args: extra_args.to_vec(),
        })
    }

    /// Path of the admin kubeconfig (contexts `testenv` and `restricted`).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The API server's URL.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The base URL of kube-testenv's fault webhook: an admission webhook that refuses every
    /// request sent to `<url>/refuse/<code>` with that status code (429, 503, ...), which the
    /// API server then answers the client with. Its certificate is signed by [`Self::ca_pem`].
    pub fn fault_webhook(&self) -> &str {
        &self.fault_webhook
    }

    /// The control plane's CA certificate (PEM), for a webhook's `caBundle`.
    pub fn ca_pem(&self) -> Result<Vec<u8>, TestEnvError> {
        let path = self.data_dir.join("pki").join("ca.crt");
        std::fs::read(&path).map_err(|e| TestEnvError::io(&path, e))
    }

    /// The directory holding etcd's data, the PKI and logs.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// A client of the admin identity (system:masters).
    pub async fn client(&self) -> Result<Client, TestEnvError> {
        client_for(&self.kubeconfig, None).await
    }

    /// A client of the `restricted` identity, which no RBAC rule grants anything.
    pub async fn restricted_client(&self) -> Result<Client, TestEnvError> {
        client_for(&self.kubeconfig, Some("restricted")).await
    }

    /// Stops the process and waits for it, gracefully when it cooperates.
    pub fn stop(&mut self) {
        drop(self.stdin.take());
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(45);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops and starts again on the same data dir: same objects, same address. Not for an
    /// ephemeral control plane, whose data dir goes with it.
    pub fn restart(&mut self) -> Result<(), TestEnvError> {
        self.stop();
        *self = ControlPlane::start_on(
            &self.data_dir.clone(),
            self.datastore,
            &self.extra_args.clone(),
        )?;
        Ok(())
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How a start that ended before READY is described (a retry looks for it).
const EXITED: &str = "kube-testenv exited with";

/// Waits for kube-testenv's READY line; the failure's description otherwise.
fn wait_for_ready(child: &mut Child, stdout: ChildStdout) -> Result<String, String> {
    // Read stdout on a thread so a silent process cannot block us past the timeout.
    let (ready_tx, ready_rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("READY ") {
                let _ = ready_tx.send(line);
            }
        }
    });
    let started = Instant::now();
    loop {
        if let Ok(line) = ready_rx.recv_timeout(Duration::from_millis(200)) {
            return Ok(line);
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("{EXITED} {status}"));
        }
        if started.elapsed() > START_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("no READY line after {START_TIMEOUT:?}"));
        }
    }
}

/// kube-testenv's stderr, copied to its log file, with the last lines kept in memory: an
/// ephemeral control plane's log goes with its data dir when it exits, also when it fails.
struct StderrTail {
    lines: Arc<Mutex<VecDeque<String>>>,
    done: mpsc::Receiver<()>,
}

impl StderrTail {
    const KEPT: usize = 20;

    fn copy_to(stderr: ChildStderr, mut log: File) -> Self {
        let lines = Arc::new(Mutex::new(VecDeque::with_capacity(Self::KEPT)));
        let kept = Arc::clone(&lines);
        let (done_tx, done) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = writeln!(log, "{line}");
                if let Ok(mut kept) = kept.lock() {
                    if kept.len() == Self::KEPT {
                        kept.pop_front();
                    }
                    kept.push_back(line);
                }
            }
            let _ = done_tx.send(());
        });
        StderrTail { lines, done }
    }

    /// The last lines written, once the process's stderr has closed (or after a second: a
    /// child of it may hold it open).
    fn last_lines(&self) -> String {
        let _ = self.done.recv_timeout(Duration::from_secs(1));
        self.lines
            .lock()
            .map(|lines| Vec::from(lines.clone()).join("\n"))
            .unwrap_or_default()
    }
}

/// Our CRD and the upstream stand-ins, installed by kube-testenv before its controller
/// manager starts, so the garbage collector knows the custom kinds from the start.
fn crd_dirs() -> String {
    let root = tools::workspace_root();
    [
        root.join("deploy").join("crds"),
        root.join("crates").join("vmop-testenv").join("crds"),
    ]
    .iter()
    .map(|p| p.display().to_string())
    .collect::<Vec<_>>()
    .join(",")
}

/// A client for a kubeconfig file, optionally of a named context.
pub async fn client_for(kubeconfig: &Path, context: Option<&str>) -> Result<Client, TestEnvError> {
    let file = Kubeconfig::read_from(kubeconfig).map_err(|e| TestEnvError::Client {
        detail: e.to_string(),
    })?;
    let options = KubeConfigOptions {
        context: context.map(str::to_owned),
        ..KubeConfigOptions::default()
    };
    let config = Config::from_custom_kubeconfig(file, &options)
        .await
        .map_err(|e| TestEnvError::Client {
            detail: e.to_string(),
        })?;
    Client::try_from(config).map_err(|e| TestEnvError::Client {
        detail: e.to_string(),
    })
}
