//! `vm-operator run`: the controller with its health and metrics endpoint.

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use anyhow::{Context, Result, bail};
use clap::Args;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{
    Api, Client, Config,
    config::{KubeConfigOptions, Kubeconfig},
};
use tracing::info;
use vmop_controller::{
    AdminPolicySource, ControllerConfig, Metrics, Running, controller, lease, node_policy_scope,
};
use vmop_plugin::Registries;

use crate::{
    http,
    telemetry::{self, LogFormat, Telemetry},
};

const CRD_NAME: &str = "virtualmachineprofiles.vmoperator.io";

/// Options of `vm-operator run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// Kubeconfig to use; without it, the in-cluster config or the default kubeconfig.
    #[arg(long, env = "VMOP_KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// Watch only this namespace (default: all).
    #[arg(long, env = "VMOP_NAMESPACE")]
    namespace: Option<String>,
    /// Profiles reconciled at once.
    #[arg(long, default_value_t = 8)]
    concurrency: u16,
    /// At most this many VMs starting at once (created or started, not yet running); the
    /// others wait `Queued`, in order of creation, fair across namespaces. Default: no limit.
    #[arg(long)]
    max_concurrent_starts: Option<usize>,
    /// At most this many DataVolume imports running at once (from a registry, http or S3);
    /// the disks of the others wait `Queued`, in order, fair across namespaces. Default: no
    /// limit.
    #[arg(long)]
    max_concurrent_imports: Option<usize>,
    /// Address serving /livez, /readyz and /metrics.
    #[arg(long, default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    /// The administrator's policy: `<namespace>/<name>` of a ConfigMap whose `policy.yaml`
    /// says which node networking and clone sources tenants may use (docs/security.md).
    /// Missing, it allows nothing.
    #[arg(
        long,
        env = "VMOP_POLICY_CONFIGMAP",
        default_value = "vm-operator/vm-operator-policy"
    )]
    policy_configmap: String,
    /// Log filter, such as `info` or `vmop_controller=debug`.
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    log: String,
    /// Log line format.
    #[arg(long, env = "VMOP_LOG_FORMAT", value_enum, default_value_t)]
    log_format: LogFormat,
    /// OpenTelemetry collector to send spans to over OTLP/HTTP, such as
    /// `http://otel-collector.monitoring:4318` (spans go to `<endpoint>/v1/traces`).
    /// Unset: no spans are exported.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    otlp_endpoint: Option<String>,
    /// Of several replicas, only the holder of a Lease reconciles; the others wait, ready
    /// to take over. Off: this process reconciles at once (one replica only).
    #[arg(long, env = "VMOP_LEADER_ELECTION")]
    leader_election: bool,
    /// Namespace of the Lease.
    #[arg(long, env = "VMOP_LEASE_NAMESPACE", default_value = "vm-operator")]
    lease_namespace: String,
    /// Name of the Lease (default: `vm-operator-cluster`, or `vm-operator-ns-<namespace>`
    /// with `--namespace`, so operators of different scopes never compete).
    #[arg(long, env = "VMOP_LEASE_NAME")]
    lease_name: Option<String>,
}

impl RunArgs {
    /// Installs logging and tracing; call it outside the async runtime (the OTLP exporter
    /// runs its blocking HTTP client on a thread of its own) and keep the guard until exit.
    pub fn telemetry(&self) -> Result<Telemetry> {
        telemetry::init(&self.log, self.log_format, self.otlp_endpoint.as_deref())
    }
}

async fn cluster_config(kubeconfig: Option<&PathBuf>) -> Result<Config> {
    Ok(match kubeconfig {
        Some(path) => {
            let file = Kubeconfig::read_from(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Config::from_custom_kubeconfig(file, &KubeConfigOptions::default()).await?
        }
        None => Config::infer()
            .await
            .context("no kubeconfig given and none found")?,
    })
}

/// Runs until SIGTERM or Ctrl-C, then finishes the reconciles in flight.
pub async fn run(args: RunArgs) -> Result<()> {
    info!(version = env!("CARGO_PKG_VERSION"), "vm-operator starting");
    let cluster = cluster_config(args.kubeconfig.as_ref()).await?;
    // kube's client retries 429, 503 and 504 itself, up to 15 times over minutes, silently
    // and holding the reconcile's slot meanwhile. The controller's own backoff (per profile,
    // jittered) retries instead, frees the slot, and says so in metrics and logs. The Lease
    // keeps kube's retries: a renewal should try hard before leadership is given up.
    let mut client_config = cluster.clone();
    client_config.default_retry = false;
    let client = Client::try_from(client_config)?;
    require_crd(&client).await?;
    let registries = registries()?;

    let metrics = Arc::new(Metrics::default());
    let mut registry = prometheus_client::registry::Registry::default();
    metrics.register(&mut registry);
    let ready = Arc::new(AtomicBool::new(false));
    let server = http::serve(args.listen, Arc::new(registry), ready.clone()).await?;
    info!(address = %args.listen, "serving /livez, /readyz, /metrics");

    let config = controller_config(&args)?;
    let mut leadership = None;
    let mut election = None;
    if args.leader_election {
        let identity = std::env::var("POD_NAME")
            .unwrap_or_else(|_| format!("{}-{}", hostname(), std::process::id()));
        let name = args.lease_name.clone().unwrap_or_else(|| {
            format!(
                "vm-operator-{}",
                node_policy_scope(args.namespace.as_deref())
            )
        });
        let config = lease::LeaseConfig::new(args.lease_namespace.clone(), name.clone(), identity);
        let elected = lease::elect(cluster.clone(), config).await?;
        let mut waiting = elected.leadership();
        election = Some(elected);
        info!(lease = %format!("{}/{name}", args.lease_namespace), "waiting to lead");
        // A standby is alive and ready (it can take over); it writes nothing.
        ready.store(true, Ordering::Relaxed);
        tokio::select! {
            () = waiting.acquired() => {}
            () = shutdown_signal() => {
                server.abort();
                return Ok(());
            }
        }
        ready.store(false, Ordering::Relaxed);
        leadership = Some(waiting);
    }
    let lost = async move {
        match leadership {
            Some(mut leadership) => leadership.lost().await,
            None => std::future::pending().await,
        }
    };
    let lost_lease = Arc::new(AtomicBool::new(false));
    let stop = {
        let lost_lease = lost_lease.clone();
        async move {
            tokio::select! {
                () = shutdown_signal() => {}
                () = lost => {
                    lost_lease.store(true, Ordering::Relaxed);
                }
            }
        }
    };
    let running = controller(client.clone(), registries, metrics, config, stop);
    tokio::spawn(report_readiness(running.context.clone(), ready));
    running.run().await;
    server.abort();
    if lost_lease.load(Ordering::Relaxed) {
        // Another replica may lead now: exit, and let the restart wait for the Lease.
        bail!("lost the lease: stopped reconciling");
    }
    if let Some(election) = election {
        // Stopped (SIGTERM) with every reconcile finished: hand over at once.
        if let Err(error) = election.release().await {
            tracing::warn!(%error, "releasing the lease failed; it expires by itself");
        }
    }
    info!("stopped");
    Ok(())
}

/// Refuses to start without the profile CRD, saying how to install it.
async fn require_crd(client: &Client) -> Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    if crds
        .get_opt(CRD_NAME)
        .await
        .context("looking up the CRD")?
        .is_none()
    {
        bail!(
            "the VirtualMachineProfile CRD is not installed: run `vm-operator crd | kubectl apply -f -`"
        );
    }
    Ok(())
}

/// The plugins linked into this binary, each logged.
fn registries() -> Result<Arc<Registries>> {
    let registries = Arc::new(Registries::from_inventory()?);
    for (name, _) in registries
        .networks
        .entries()
        .chain(registries.storage.entries())
        .chain(registries.templates.entries())
    {
        info!(plugin = name, "plugin registered");
    }
    Ok(registries)
}

/// The controller's settings from the command line.
fn controller_config(args: &RunArgs) -> Result<ControllerConfig> {
    let Some((policy_namespace, policy_name)) = args.policy_configmap.split_once('/') else {
        bail!(
            "--policy-configmap must be <namespace>/<name>, not {:?}",
            args.policy_configmap
        );
    };
    let config = ControllerConfig::default()
        .concurrency(args.concurrency)
        .admin_policy(AdminPolicySource::ConfigMap {
            namespace: policy_namespace.to_owned(),
            name: policy_name.to_owned(),
        });
    let config = match args.max_concurrent_starts {
        Some(max) => config.max_concurrent_starts(max),
        None => config,
    };
    let config = match args.max_concurrent_imports {
        Some(max) => config.max_concurrent_imports(max),
        None => config,
    };
    Ok(match &args.namespace {
        Some(namespace) => config.namespace(namespace.clone()),
        None => config,
    })
}

/// Ready means every watch has synced and none is down, not merely that the process is up.
async fn report_readiness(context: Arc<vmop_controller::Context>, ready: Arc<AtomicBool>) {
    if !Running::ready(&context).await {
        return;
    }
    info!("watch caches synced: ready");
    let mut watches = context.watch_health.subscribe();
    loop {
        ready.store(*watches.borrow_and_update(), Ordering::Relaxed);
        if watches.changed().await.is_err() {
            return;
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "vm-operator".into())
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    info!("shutting down");
    // Before the caches are let go of: the profile shows what the running operator held.
    crate::heap::finish();
}
