//! One control plane per test binary, with the simulators running beside it.

use std::{
    path::PathBuf,
    sync::{
        OnceLock,
        atomic::{AtomicU32, Ordering},
        mpsc,
    },
    thread,
    time::Duration,
};

use k8s_openapi::{api::core::v1::Namespace, apimachinery::pkg::apis::meta::v1::ObjectMeta};
use kube::{Api, Client, api::PostParams};

use crate::{ControlPlane, TestEnvError, bootstrap, client_for, sim};

/// The control plane shared by the tests of one binary.
#[derive(Debug)]
pub struct TestEnv {
    kubeconfig: PathBuf,
    server: String,
    // Kept alive for the life of the process; its stdin closes when the process exits and
    // kube-testenv then removes its data dir.
    _control_plane: ControlPlane,
}

static SHARED: OnceLock<Result<TestEnv, String>> = OnceLock::new();
static NAMESPACES: AtomicU32 = AtomicU32::new(0);

impl TestEnv {
    /// The shared environment, started on first use: control plane, CRDs, nodes, classes and
    /// the simulators (instant, with the default fault markers of [`sim::SimConfig`]).
    ///
    /// Panics with the cause when it cannot start: every test of the binary needs it.
    pub fn shared() -> &'static TestEnv {
        let env = SHARED.get_or_init(|| start().map_err(|e| e.to_string()));
        match env {
            Ok(env) => env,
            Err(e) => panic!("test control plane unavailable: {e}"),
        }
    }

    /// Path of the admin kubeconfig.
    pub fn kubeconfig(&self) -> &std::path::Path {
        &self.kubeconfig
    }

    /// The API server's URL.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// A new admin client. Each test makes its own: a client must not outlive the runtime
    /// of the test that made it.
    pub async fn client(&self) -> Client {
        client_for(&self.kubeconfig, None)
            .await
            .unwrap_or_else(|e| panic!("client for the test control plane: {e}"))
    }

    /// A fresh namespace named after `prefix`, and a client.
    pub async fn namespace(&self, prefix: &str) -> TestNamespace {
        let client = self.client().await;
        let unique = format!(
            "{}-{}-{}",
            prefix,
            std::process::id(),
            NAMESPACES.fetch_add(1, Ordering::Relaxed)
        );
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(unique.clone()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &namespace)
            .await
            .unwrap_or_else(|e| panic!("creating namespace {unique}: {e}"));
        TestNamespace {
            name: unique,
            client,
        }
    }
}

/// A test's own namespace and client.
#[derive(Clone)]
pub struct TestNamespace {
    pub name: String,
    pub client: Client,
}

impl std::fmt::Debug for TestNamespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestNamespace")
            .field("name", &self.name)
            .finish()
    }
}

impl TestNamespace {
    /// A namespaced API in this namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.name)
    }
}

fn start() -> Result<TestEnv, TestEnvError> {
    let control_plane = ControlPlane::start_ephemeral()?;
    let kubeconfig = control_plane.kubeconfig().to_path_buf();
    let server = control_plane.server().to_owned();

    // Bootstrap, then run the simulators for the rest of the process, on a runtime of their
    // own: tests each have their own short-lived runtime.
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
    let sim_kubeconfig = kubeconfig.clone();
    thread::Builder::new()
        .name("vmop-testenv-simulators".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
            };
            runtime.block_on(async move {
                let client = match client_for(&sim_kubeconfig, None).await {
                    Ok(client) => client,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                if let Err(e) = bootstrap(&client).await {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
                let _ = ready_tx.send(Ok(()));
                sim::run_all(client, sim::SimConfig::instant()).await;
            });
        })
        .map_err(|e| TestEnvError::io(&kubeconfig, e))?;
    ready_rx
        .recv_timeout(Duration::from_secs(120))
        .map_err(|_| TestEnvError::Timeout {
            what: "bootstrap of the test control plane".into(),
            seconds: 120,
        })?
        .map_err(|detail| TestEnvError::Bootstrap { detail })?;

    Ok(TestEnv {
        kubeconfig,
        server,
        _control_plane: control_plane,
    })
}
