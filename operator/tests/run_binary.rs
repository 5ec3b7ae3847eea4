//! `vm-operator run`, the production path, as a process on the test control plane under
//! exactly the shipped RBAC (a token of its ServiceAccount): it becomes ready once its watches
//! synced, brings the seed's profile to Running, serves metrics, and stops on SIGTERM.

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    process::{Command, Stdio},
    time::Duration,
};

use k8s_openapi::api::{
    authentication::v1::{TokenRequest, TokenRequestSpec},
    core::v1::ServiceAccount,
};
use kube::{Api, api::PostParams, config::Kubeconfig};
use vmop_api::{
    Phase, VirtualMachineProfile,
    external::multus::{NetworkAttachmentDefinition, NetworkAttachmentDefinitionSpec},
    fixtures::valid_profile,
};
use vmop_testenv::{TestEnv, tools, wait};

const WAIT: Duration = Duration::from_secs(90);

fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
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

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A kubeconfig for the operator's ServiceAccount, bound only by the shipped ClusterRole.
async fn service_account_kubeconfig(dir: &std::path::Path) -> std::path::PathBuf {
    let env = TestEnv::shared();
    let kubectl = tools::ensure_kubectl().expect("kubectl");
    let applied = Command::new(kubectl)
        .arg("--kubeconfig")
        .arg(env.kubeconfig())
        .args(["apply", "-f", "deploy/operator/rbac.yaml"])
        .current_dir(tools::workspace_root())
        .output()
        .expect("kubectl runs");
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let accounts: Api<ServiceAccount> = Api::namespaced(env.client().await, "vm-operator");
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
    wait::until("the shipped RBAC to take effect", WAIT, || async {
        let profiles = Api::<VirtualMachineProfile>::all(client.clone())
            .list(&Default::default())
            .await
            .ok();
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
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", &self.0.to_string()])
            .status();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_operator_binary_runs_the_seed_profile_under_the_shipped_rbac() {
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = service_account_kubeconfig(dir.path()).await;
    let ns = TestEnv::shared().namespace("binary").await;
    // The administrator allows what the seed profile configures on nodes, for this
    // namespace only.
    let policy: k8s_openapi::api::core::v1::ConfigMap = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "vm-operator-policy", "namespace": "vm-operator"},
        "data": {"policy.yaml": format!(
            "nodeNetworks:\n  - namespaces: [{}]\n    nodeInterfaces: [eth1]\n    bridges: [br-mgmt]\n    vlans: [\"100\"]\n",
            ns.name
        )}
    }))
    .expect("policy");
    Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(
        TestEnv::shared().client().await,
        "vm-operator",
    )
    .patch(
        "vm-operator-policy",
        &kube::api::PatchParams::apply("run-binary-test").force(),
        &kube::api::Patch::Apply(&policy),
    )
    .await
    .expect("policy ConfigMap");
    let port = free_port();
    let log_path = dir.path().join("vm-operator.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_vm-operator"))
        .args([
            "run",
            "--namespace",
            &ns.name,
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--log",
            "info,vmop_controller=debug",
        ])
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("vm-operator starts");
    // However the test ends, the operator must not outlive it.
    let guard = KillOnDrop(child.id());
    let show_log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    wait::until("/readyz to answer 200", WAIT, || async {
        http_get(port, "/readyz").filter(|(c, _)| *c == 200)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", show_log()));
    assert_eq!(http_get(port, "/livez").map(|(c, _)| c), Some(200));

    let nad = NetworkAttachmentDefinition::new(
        "business-net",
        NetworkAttachmentDefinitionSpec::default(),
    );
    ns.api::<NetworkAttachmentDefinition>()
        .create(&PostParams::default(), &nad)
        .await
        .expect("NAD");
    let profiles: Api<VirtualMachineProfile> = ns.api();
    profiles
        .create(&PostParams::default(), &valid_profile("web-vm-01"))
        .await
        .expect("profile");
    wait::until("the profile to run", WAIT, || async {
        let p = profiles.get_opt("web-vm-01").await.ok().flatten()?;
        (p.status.and_then(|s| s.phase) == Some(Phase::Running)).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: not Running under the shipped RBAC\n{}", show_log()));

    hostile_user_data_is_refused_within_bounds(&ns, child.id(), &show_log).await;

    let (code, metrics) = http_get(port, "/metrics").expect("metrics answer");
    assert_eq!(code, 200);
    assert!(metrics.contains("vmoperator_reconciles_total"), "{metrics}");
    assert!(
        metrics.contains("vmoperator_api_writes_total{kind=\"VirtualMachine\",verb=\"apply\"}"),
        "{metrics}"
    );

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("waits");
    std::mem::forget(guard);
    assert!(status.success(), "graceful stop: {status}\n{}", show_log());
}

/// Peak resident memory of a process, in bytes (`VmHWM` of /proc).
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kib * 1024
}

/// A "billion laughs" cloud-config in a tenant's Secret: refused with the field named, while
/// another tenant's profile runs, and the operator stays small.
async fn hostile_user_data_is_refused_within_bounds(
    ns: &vmop_testenv::TestNamespace,
    pid: u32,
    show_log: &dyn Fn() -> String,
) {
    use k8s_openapi::{ByteString, api::core::v1::Secret};
    use vmop_api::{CloudInitSpec, DiskSpec, SecretReference};

    let mut bomb = String::from(
        "#cloud-config\na0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for level in 1..12 {
        let refs = vec![format!("*a{}", level - 1); 9].join(",");
        bomb.push_str(&format!("a{level}: &a{level} [{refs}]\n"));
    }
    let secret = Secret {
        metadata: kube::core::ObjectMeta {
            name: Some("laughs".into()),
            ..Default::default()
        },
        data: Some([("userdata".to_owned(), ByteString(bomb.into_bytes()))].into()),
        ..Secret::default()
    };
    ns.api::<Secret>()
        .create(&PostParams::default(), &secret)
        .await
        .expect("secret");
    let small = |name: &str| {
        let mut p = valid_profile(name);
        p.spec.networks.clear();
        p.spec.disks = vec![DiskSpec {
            name: "data".into(),
            size: "1Gi".into(),
            storage_class_name: Some("longhorn".into()),
            ..DiskSpec::default()
        }];
        p
    };
    let mut hostile = small("bomb-vm");
    hostile.spec.cloud_init = Some(CloudInitSpec {
        user_data_secret_ref: Some(SecretReference {
            name: "laughs".into(),
        }),
        ..CloudInitSpec::default()
    });
    let profiles: Api<VirtualMachineProfile> = ns.api();
    profiles
        .create(&PostParams::default(), &hostile)
        .await
        .expect("hostile profile");
    profiles
        .create(&PostParams::default(), &small("calm-vm"))
        .await
        .expect("calm profile");
    let refused = wait::until("the alias bomb to be refused", WAIT, || async {
        let p = profiles.get_opt("bomb-vm").await.ok().flatten()?;
        let ready = p
            .status?
            .conditions
            .into_iter()
            .find(|c| c.type_ == "Ready")?;
        ready.message.contains("nodes").then_some(ready)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", show_log()));
    assert_eq!(refused.status, "False");
    assert!(
        refused
            .message
            .starts_with("spec.cloudInit.userDataSecretRef: the Secret's userdata")
            && refused.message.contains("has more than 20000 nodes"),
        "{}",
        refused.message
    );
    wait::until("the other tenant's profile to run", WAIT, || async {
        let p = profiles.get_opt("calm-vm").await.ok().flatten()?;
        (p.status.and_then(|s| s.phase) == Some(Phase::Running)).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", show_log()));
    let peak = peak_rss(pid);
    assert!(
        peak < 100 * 1024 * 1024,
        "the operator peaked at {} MiB",
        peak / 1024 / 1024
    );
}
