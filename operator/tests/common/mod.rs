//! Running the `vm-operator` binary on the test control plane under the shipped RBAC.

#![allow(dead_code)]

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use k8s_openapi::api::{
    authentication::v1::{TokenRequest, TokenRequestSpec},
    core::v1::{ConfigMap, ServiceAccount},
};
use kube::{
    Api,
    api::{Patch, PatchParams, PostParams},
    config::Kubeconfig,
};
use vmop_api::VirtualMachineProfile;
use vmop_testenv::{TestEnv, tools, wait};

pub const WAIT: Duration = Duration::from_secs(90);

pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nhost: localhost\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let code = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    Some((code, body))
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A kubeconfig for the operator's ServiceAccount, bound only by the shipped ClusterRole.
pub async fn service_account_kubeconfig(dir: &std::path::Path) -> std::path::PathBuf {
    let manifests = [
        "deploy/operator/rbac.yaml",
        "deploy/operator/secret-guard.yaml",
    ]
    .map(|path| std::fs::read_to_string(tools::workspace_root().join(path)).expect("manifest"));
    account_kubeconfig(dir, "vm-operator", &manifests.join("\n---\n")).await
}

/// Applies `manifests` (YAML) as the administrator, then writes a kubeconfig with a token of
/// the ServiceAccount `vm-operator` in `namespace`, once its RBAC is in effect.
pub async fn account_kubeconfig(
    dir: &std::path::Path,
    namespace: &str,
    manifests: &str,
) -> std::path::PathBuf {
    let env = TestEnv::shared();
    let kubectl = tools::ensure_kubectl().expect("kubectl");
    // One apply at a time: `kubectl apply` reads, then creates what it did not find, so two
    // at once (two replicas starting together) race to create the same ClusterRole.
    static APPLYING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let applying = APPLYING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut apply = Command::new(kubectl)
        .arg("--kubeconfig")
        .arg(env.kubeconfig())
        .args(["apply", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl runs");
    apply
        .stdin
        .take()
        .expect("stdin")
        .write_all(manifests.as_bytes())
        .expect("manifests written");
    let applied = apply.wait_with_output().expect("kubectl ends");
    drop(applying);
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let accounts: Api<ServiceAccount> = Api::namespaced(env.client().await, namespace);
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            expiration_seconds: Some(3600),
            ..TokenRequestSpec::default()
        }),
        ..TokenRequest::default()
    };
    let token = accounts
        .create_token_request("vm-operator", &PostParams::default(), &request)
        .await
        .expect("a token for the ServiceAccount")
        .status
        .and_then(|s| s.token)
        .expect("a token in the status");
    let mut config = Kubeconfig::read_from(env.kubeconfig()).expect("admin kubeconfig");
    for user in &mut config.auth_infos {
        if let Some(auth) = user.auth_info.as_mut() {
            auth.token = Some(token.clone().into());
        }
    }
    let path = dir.join("vm-operator.kubeconfig");
    std::fs::write(&path, serde_yaml::to_string(&config).expect("yaml")).expect("written");
    // The RBAC authorizer learns of new bindings from a watch: wait until the identity can
    // read what the operator watches, so the binary does not start into a wall of 403s.
    let client = vmop_testenv::client_for(&path, None)
        .await
        .expect("a client for the ServiceAccount");
    let watched = if namespace == "vm-operator" {
        Api::<VirtualMachineProfile>::all(client.clone())
    } else {
        Api::<VirtualMachineProfile>::namespaced(client.clone(), namespace)
    };
    wait::until("the shipped RBAC to take effect", WAIT, || async {
        let profiles = watched.list(&Default::default()).await.ok();
        let classes = Api::<k8s_openapi::api::storage::v1::StorageClass>::all(client.clone())
            .list(&Default::default())
            .await
            .ok();
        (profiles.is_some() && classes.is_some()).then_some(())
    })
    .await
    .expect("RBAC in effect");
    path
}

/// Kills the process with this id when dropped (a failing test must not leave it running).
pub struct KillOnDrop(pub u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", &self.0.to_string()])
            .status();
    }
}

/// Publishes an administrator's policy as the ConfigMap `vm-operator/<name>` (creating the
/// namespace if no other test has yet).
pub async fn publish_policy(name: &str, policy_yaml: &str) {
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> =
        Api::all(TestEnv::shared().client().await);
    let namespace: k8s_openapi::api::core::v1::Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "vm-operator"}}))
            .expect("namespace");
    match namespaces.create(&PostParams::default(), &namespace).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => panic!("namespace vm-operator: {e}"),
    }
    let config_map: ConfigMap = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "vm-operator"},
        "data": {"policy.yaml": policy_yaml},
    }))
    .expect("policy");
    Api::<ConfigMap>::namespaced(TestEnv::shared().client().await, "vm-operator")
        .patch(
            name,
            &PatchParams::apply("operator-tests").force(),
            &Patch::Apply(&config_map),
        )
        .await
        .expect("policy ConfigMap");
}

/// The operator binary, running under the shipped RBAC, watching one namespace; killed when
/// dropped.
pub struct OperatorProcess {
    pub child: Child,
    pub port: u16,
    pub log_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl OperatorProcess {
    /// Starts it with the policy ConfigMap `vm-operator/<policy>` and waits until ready.
    pub async fn start(namespace: &str, policy: &str) -> OperatorProcess {
        let dir = tempfile::tempdir().expect("temp dir");
        let kubeconfig = service_account_kubeconfig(dir.path()).await;
        Self::start_as(namespace, policy, dir, kubeconfig).await
    }

    /// Starts it with this kubeconfig (kept in `dir`).
    pub async fn start_as(
        namespace: &str,
        policy: &str,
        dir: tempfile::TempDir,
        kubeconfig: PathBuf,
    ) -> OperatorProcess {
        Self::start_with(namespace, policy, dir, kubeconfig, &[], "vm-operator-test").await
    }

    /// Starts it with more arguments and this identity (`POD_NAME`).
    pub async fn start_with(
        namespace: &str,
        policy: &str,
        dir: tempfile::TempDir,
        kubeconfig: PathBuf,
        extra_args: &[&str],
        identity: &str,
    ) -> OperatorProcess {
        let port = free_port();
        let log_path = dir.path().join("vm-operator.log");
        let log = std::fs::File::create(&log_path).expect("log file");
        // VMOP_TEST_LOG=info,kube_runtime::watcher=debug shows what a test's watches do; a
        // test may give its own --log.
        let level = std::env::var("VMOP_TEST_LOG").unwrap_or_else(|_| "info".into());
        let log_args = if extra_args.contains(&"--log") {
            Vec::new()
        } else {
            vec!["--log", level.as_str()]
        };
        let child = Command::new(env!("CARGO_BIN_EXE_vm-operator"))
            .args([
                "run",
                "--namespace",
                namespace,
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--policy-configmap",
                &format!("vm-operator/{policy}"),
            ])
            .args(log_args)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(extra_args)
            .env("POD_NAME", identity)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("vm-operator starts");
        let process = OperatorProcess {
            child,
            port,
            log_path,
            _dir: dir,
        };
        wait::until("/readyz to answer 200", WAIT, || async {
            http_get(port, "/readyz").filter(|(c, _)| *c == 200)
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", process.log()));
        process
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The administrator's policy allowing what the seed profile configures on nodes, for
/// `namespace` only, published as `vm-operator/<name>`.
pub async fn publish_seed_policy(name: &str, namespace: &str) {
    publish_policy(
        name,
        &format!(
            "nodeNetworks:\n  - namespaces: [{namespace}]\n    nodeInterfaces: [eth1]\n    bridges: [br-mgmt]\n    vlans: [\"100\"]\n"
        ),
    )
    .await;
}

/// Creates the seed's profile `name` (and the user's NAD it names) in `ns`, and waits until
/// it runs; `log` is shown when it does not.
pub async fn run_seed_profile(
    ns: &vmop_testenv::TestNamespace,
    name: &str,
    log: impl Fn() -> String,
) -> kube::Api<vmop_api::VirtualMachineProfile> {
    use kube::api::PostParams;
    use vmop_api::{Phase, VirtualMachineProfile, fixtures::valid_profile};
    vmop_testenv::profiles::existing_nad(ns, "business-net").await;
    let profiles: kube::Api<VirtualMachineProfile> = ns.api();
    profiles
        .create(&PostParams::default(), &valid_profile(name))
        .await
        .expect("profile");
    wait::wait_for_phase(&profiles, name, Phase::Running, WAIT)
        .await
        .map(|_| ())
        .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    profiles
}
