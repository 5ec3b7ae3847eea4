//! `vm-operator run`, the production path, as a process on the test control plane under
//! exactly the shipped RBAC (a token of its ServiceAccount): it becomes ready once its watches
//! synced, brings the seed's profile to Running, serves metrics, and stops on SIGTERM.

mod common;

use std::process::Command;

use common::{OperatorProcess, WAIT, http_get, publish_policy};
use kube::{Api, api::PostParams};
use vmop_api::{Phase, VirtualMachineProfile, fixtures::valid_profile};
use vmop_testenv::{TestEnv, wait};

#[tokio::test(flavor = "multi_thread")]
async fn the_operator_binary_runs_the_seed_profile_under_the_shipped_rbac() {
    let ns = TestEnv::shared().namespace("binary").await;
    // The administrator allows what the seed profile configures on nodes, for this
    // namespace only.
    common::publish_seed_policy("binary-test-policy", &ns.name).await;
    let mut operator = OperatorProcess::start(&ns.name, "binary-test-policy").await;
    let port = operator.port;
    let log_path = operator.log_path.clone();
    let show_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    assert_eq!(http_get(port, "/livez").map(|(c, _)| c), Some(200));

    common::run_seed_profile(&ns, "web-vm-01", || {
        format!("not Running under the shipped RBAC\n{}", show_log())
    })
    .await;

    hostile_user_data_is_refused_within_bounds(&ns, operator.child.id(), &show_log).await;

    let (code, metrics) = http_get(port, "/metrics").expect("metrics answer");
    assert_eq!(code, 200);
    assert!(metrics.contains("vmoperator_reconciles_total"), "{metrics}");
    assert!(
        metrics.contains("vmoperator_api_writes_total{kind=\"VirtualMachine\",verb=\"apply\"}"),
        "{metrics}"
    );

    let killed = Command::new("kill")
        .args(["-TERM", &operator.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = tokio::task::block_in_place(|| operator.child.wait()).expect("waits");
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
    wait::wait_for_phase(&profiles, "calm-vm", Phase::Running, WAIT)
        .await
        .map(|_| ())
        .unwrap_or_else(|e| panic!("{e}\n{}", show_log()));
    let peak = peak_rss(pid);
    assert!(
        peak < 100 * 1024 * 1024,
        "the operator peaked at {} MiB",
        peak / 1024 / 1024
    );
}

/// The shipped RBAC plus `secret-guard.yaml`: the operator's identity writes its own
/// cloud-init Secrets and nobody else's, whatever a bug or a tenant made it try.
#[tokio::test(flavor = "multi_thread")]
async fn the_operators_identity_writes_only_its_own_secrets() {
    use k8s_openapi::{ByteString, api::core::v1::Secret};
    use kube::api::{DeleteParams, Patch, PatchParams};

    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = common::service_account_kubeconfig(dir.path()).await;
    let ns = TestEnv::shared().namespace("secret-guard").await;
    let as_operator = vmop_testenv::client_for(&kubeconfig, None)
        .await
        .expect("the operator's client");
    let secret = |name: &str, labelled: bool| Secret {
        metadata: kube::core::ObjectMeta {
            name: Some(name.into()),
            labels: labelled
                .then(|| [("vmoperator.io/profile".to_owned(), "web".to_owned())].into()),
            ..Default::default()
        },
        data: Some(
            [(
                "userdata".to_owned(),
                ByteString(b"#cloud-config\n".to_vec()),
            )]
            .into(),
        ),
        ..Secret::default()
    };
    let mine: Api<Secret> = Api::namespaced(as_operator, &ns.name);
    let admin: Api<Secret> = ns.api();
    let refused = |result: Result<Secret, kube::Error>, what: &str| match result {
        Err(kube::Error::Api(s)) => {
            assert!(
                s.message.contains("vm-operator may"),
                "{what}: {}",
                s.message
            )
        }
        other => panic!("{what} must be refused: {other:?}"),
    };

    mine.create(&PostParams::default(), &secret("web--cloudinit", true))
        .await
        .expect("its own cloud-init Secret");
    refused(
        mine.create(&PostParams::default(), &secret("web--cloudinit-2", true))
            .await,
        "a Secret not named <profile>--cloudinit",
    );
    refused(
        mine.create(&PostParams::default(), &secret("db--cloudinit", false))
            .await,
        "an unlabelled Secret",
    );
    admin
        .create(&PostParams::default(), &secret("users--cloudinit", false))
        .await
        .expect("the user's Secret");
    refused(
        mine.patch(
            "users--cloudinit",
            &PatchParams::default(),
            &Patch::Merge(
                serde_json::json!({"metadata": {"labels": {"vmoperator.io/profile": "users"}}}),
            ),
        )
        .await,
        "taking over the user's Secret",
    );
    match mine
        .delete("users--cloudinit", &DeleteParams::default())
        .await
    {
        Err(kube::Error::Api(s)) => assert!(s.message.contains("vm-operator may"), "{}", s.message),
        other => panic!("deleting the user's Secret must be refused: {other:?}"),
    }
    mine.delete("web--cloudinit", &DeleteParams::default())
        .await
        .expect("deleting its own");
}

/// `deploy/operator/namespaced.yaml`: a Role in one namespace instead of the ClusterRole.
/// The binary runs a profile there to Running, and its identity sees nothing elsewhere.
#[tokio::test(flavor = "multi_thread")]
async fn the_binary_runs_under_the_namespaced_install() {
    let ns = TestEnv::shared().namespace("ns-install").await;
    let root = vmop_testenv::tools::workspace_root();
    let manifests = [
        "deploy/operator/namespaced.yaml",
        "deploy/operator/secret-guard.yaml",
    ]
    .map(|path| std::fs::read_to_string(root.join(path)).expect("manifest"))
    .join("\n---\n")
    .replace("vm-workloads", &ns.name);
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = common::account_kubeconfig(dir.path(), &ns.name, &manifests).await;
    let as_operator = vmop_testenv::client_for(&kubeconfig, None)
        .await
        .expect("the operator's client");
    match Api::<VirtualMachineProfile>::all(as_operator.clone())
        .list(&Default::default())
        .await
    {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 403, "{}", s.message),
        other => panic!("a namespaced install must not list profiles cluster-wide: {other:?}"),
    }
    let policy = "ns-install-test-policy";
    publish_policy(
        policy,
        &format!(
            "nodeNetworks:\n  - namespaces: [{}]\n    nodeInterfaces: [eth1]\n    bridges: [br-mgmt]\n    vlans: [\"100\"]\n",
            ns.name
        ),
    )
    .await;
    let operator = OperatorProcess::start_as(&ns.name, policy, dir, kubeconfig).await;
    vmop_testenv::profiles::existing_nad(&ns, "business-net").await;
    let profiles: Api<VirtualMachineProfile> = ns.api();
    profiles
        .create(&PostParams::default(), &valid_profile("web-vm-01"))
        .await
        .expect("profile");
    wait::wait_for_phase(&profiles, "web-vm-01", Phase::Running, WAIT)
        .await
        .map(|_| ())
        .unwrap_or_else(|e| {
            panic!(
                "{e}: not Running under the namespaced install\n{}",
                operator.log()
            )
        });
}

async fn lease() -> Option<k8s_openapi::api::coordination::v1::LeaseSpec> {
    use k8s_openapi::api::coordination::v1::Lease;
    Api::<Lease>::namespaced(TestEnv::shared().client().await, "vm-operator")
        .get_opt("vm-operator-cluster")
        .await
        .ok()
        .flatten()
        .and_then(|l| l.spec)
}

async fn lease_holder() -> Option<String> {
    lease().await?.holder_identity
}

fn reconciles(operator: &OperatorProcess) -> u64 {
    http_get(operator.port, "/metrics")
        .and_then(|(_, body)| {
            body.lines()
                .find_map(|l| l.strip_prefix("vmoperator_reconciles_total "))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Replicas with `--leader-election`: the Lease holder reconciles, a standby writes nothing;
/// a leader stopped with SIGTERM hands the Lease over at once, a killed one when it expires.
#[tokio::test(flavor = "multi_thread")]
async fn of_two_replicas_only_the_leader_reconciles_and_the_other_takes_over() {
    let ns = TestEnv::shared().namespace("leader").await;
    let policy = "leader-test-policy";
    publish_policy(policy, "{}\n").await;
    let start = |identity: &'static str| {
        let ns = ns.name.clone();
        async move {
            let dir = tempfile::tempdir().expect("temp dir");
            let kubeconfig = common::service_account_kubeconfig(dir.path()).await;
            OperatorProcess::start_with(
                &ns,
                policy,
                dir,
                kubeconfig,
                &["--leader-election", "--lease-name", "vm-operator-cluster"],
                identity,
            )
            .await
        }
    };
    let leads = |identity: &'static str| async move {
        wait::until(&format!("{identity} to lead"), WAIT, || async {
            (lease_holder().await.as_deref() == Some(identity)).then_some(())
        })
        .await
    };
    let small = |name: &str| {
        let mut p = valid_profile(name);
        p.spec.networks.clear();
        p.spec.disks.truncate(1);
        p.spec.disks[0].storage_class_name = Some("longhorn".into());
        p.spec.disks[0].image = None;
        p
    };
    let profiles: Api<VirtualMachineProfile> = ns.api();
    let runs = |name: &'static str| {
        let profiles = profiles.clone();
        async move {
            profiles
                .create(&PostParams::default(), &small(name))
                .await
                .expect("profile");
            wait::wait_for_phase(&profiles, name, Phase::Running, WAIT)
                .await
                .map(|_| ())
        }
    };

    let mut first = start("replica-a").await;
    leads("replica-a")
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", first.log()));
    let mut second = start("replica-b").await;
    runs("led-by-a")
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", first.log()));
    assert!(reconciles(&first) > 0);
    assert_eq!(
        reconciles(&second),
        0,
        "the standby reconciled:\n{}",
        second.log()
    );

    // SIGTERM: the leader finishes, releases the Lease, and exits cleanly.
    let stopped = Command::new("kill")
        .args(["-TERM", &first.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(stopped.success());
    let status = tokio::task::block_in_place(|| first.child.wait()).expect("waits");
    assert!(status.success(), "graceful stop: {status}\n{}", first.log());
    assert_ne!(
        lease_holder().await.as_deref(),
        Some("replica-a"),
        "a stopped leader releases the Lease before it exits"
    );
    leads("replica-b")
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", second.log()));
    runs("led-by-b")
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", second.log()));
    assert!(reconciles(&second) > 0);

    // SIGKILL: nothing released; the standby takes over when the Lease expires.
    let third = start("replica-c").await;
    let renewed_before_kill = lease()
        .await
        .and_then(|l| Some(l.renew_time?.0))
        .expect("the leader renews the Lease");
    second.child.kill().expect("kill the leader");
    let _ = second.child.wait();
    leads("replica-c")
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", third.log()));
    let taken = lease()
        .await
        .and_then(|l| Some(l.acquire_time?.0))
        .expect("the new holder records when it took the Lease");
    // Safety: the killed leader's Lease ran its full duration before anybody took it over.
    assert!(
        taken >= renewed_before_kill + std::time::Duration::from_secs(15),
        "taken at {taken}, but the killed leader had renewed at {renewed_before_kill}"
    );
    runs("led-by-c")
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", third.log()));
    // Exactly one of each child, whoever made it.
    let claims = ns
        .api::<k8s_openapi::api::core::v1::PersistentVolumeClaim>()
        .list(&Default::default())
        .await
        .expect("claims");
    assert_eq!(claims.items.len(), 3, "one claim per profile");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clone_from_another_namespace_runs_once_the_clone_source_role_is_bound_there() {
    use k8s_openapi::api::{
        core::v1::PersistentVolumeClaim,
        rbac::v1::{RoleBinding, RoleRef, Subject},
    };
    use vmop_api::{DiskSource, SourceReference};

    let env = TestEnv::shared();
    let golden = env.namespace("golden-images").await;
    let tenant = env.namespace("cloning-tenant").await;
    let claim: PersistentVolumeClaim = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "centos-golden"},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "longhorn",
            "resources": {"requests": {"storage": "1Gi"}}},
    }))
    .expect("claim");
    golden
        .api::<PersistentVolumeClaim>()
        .create(&PostParams::default(), &claim)
        .await
        .expect("golden claim");
    publish_policy(
        "clone-test-policy",
        &format!(
            "clones:\n  - namespaces: [{}]\n    sourceNamespaces: [{}]\n",
            tenant.name, golden.name
        ),
    )
    .await;
    let operator = OperatorProcess::start(&tenant.name, "clone-test-policy").await;
    let mut profile = vmop_testenv::profiles::small_profile("copy-vm");
    let disk = &mut profile.spec.disks[0];
    disk.image = None;
    disk.storage_class_name = Some("longhorn".into());
    disk.source = Some(DiskSource {
        pvc: Some(SourceReference {
            name: "centos-golden".into(),
            namespace: Some(golden.name.clone()),
        }),
        ..DiskSource::default()
    });
    let profiles: Api<VirtualMachineProfile> = tenant.api();
    profiles
        .create(&PostParams::default(), &profile)
        .await
        .expect("profile");

    // Allowed by the administrator's policy, refused by CDI: the operator may not clone there.
    let expected = format!(
        "insufficient permissions in clone source namespace {}",
        golden.name
    );
    wait::until("CDI's refusal in status", WAIT, || async {
        let p = profiles.get("copy-vm").await.ok()?;
        vmop_testenv::profiles::condition(&p, "Ready")
            .filter(|c| c.reason == "ApplyRejected" && c.message.contains(&expected))
            .map(|_| ())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", operator.log()));

    // As the shipped rbac.yaml says: bind vm-operator-clone-source in the source namespace.
    let binding = RoleBinding {
        metadata: kube::core::ObjectMeta {
            name: Some("vm-operator-clone-source".into()),
            ..Default::default()
        },
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "ClusterRole".into(),
            name: "vm-operator-clone-source".into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: "vm-operator".into(),
            namespace: Some("vm-operator".into()),
            ..Subject::default()
        }]),
    };
    golden
        .api::<RoleBinding>()
        .create(&PostParams::default(), &binding)
        .await
        .expect("RoleBinding");
    wait::wait_for_phase(&profiles, "copy-vm", Phase::Running, WAIT)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", operator.log()));
}
