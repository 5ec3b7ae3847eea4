//! `cargo xtask bench`: the release-built operator binary, as its own process under its
//! shipped RBAC, converging many profiles on the test control plane with instant simulators
//! (release-built `vmop-sims`, another process), measured against the API server's own floor
//! in the same run.
//!
//! Reported (printed, and written as JSON under `target/bench/`): the floor and the time to
//! all Running with their ratio; the volume binder's floor (as many plain claims bound by the
//! cluster alone, before the operator starts) and the world's floor (the operator's children
//! created directly once it is done, until every VM runs), with the ratios to them (neither
//! in `--memory`); the operator's requests per profile by verb and resource, counted by the
//! API server's audit log; reconciles per profile; p50/p99 create-to-Running; requests during
//! an idle window; deletion time until every child is gone; the operator's peak RSS and CPU
//! seconds from /proc, and every process's CPU while the profiles converge. `--memory`
//! creates 10,000 profiles and reports RSS at 1,000 and at 10,000 Running.

mod audit;
mod binder_floor;
mod catalog;
mod floor;
mod heap_profile;
mod identity;
mod machine_cpu;
mod process;
mod report;
mod running;
mod shape;
mod world_floor;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Result, bail};
use futures::{StreamExt, TryStreamExt, stream};
use kube::{
    Api, Client,
    api::{DeleteParams, ListParams, PostParams},
};
use vmop_api::{
    VirtualMachineProfile,
    external::{cdi::DataVolume, kubevirt::VirtualMachine, multus::NetworkAttachmentDefinition},
    k8s_openapi::{
        api::core::v1::{Namespace, PersistentVolume, PersistentVolumeClaim},
        apimachinery::pkg::apis::meta::v1::ObjectMeta,
    },
};
use vmop_testenv::{ControlPlane, bootstrap, tools};

use self::{
    audit::AuditLog,
    process::Operator,
    report::{Convergence, Memory, Report},
    running::RunningTimes,
    shape::Shape,
};

const NAMESPACE: &str = "bench";
const FLOOR_NAMESPACE: &str = "bench-floor";
/// Where the world's floor creates its copies of the operator's children.
const WORLD_NAMESPACE: &str = "bench-world";
/// Profiles of `--memory`, and the point where memory is sampled on the way.
const MEMORY_PROFILES: usize = 10_000;
const MEMORY_SAMPLE_AT: usize = 1_000;
/// kube-controller-manager's client rate in the bench. Upstream's default (20 requests a
/// second) lets the volume binder bind about four claims a second, which would bound the run
/// however fast the operator and the API server are; see the README's "Scale" on raising it
/// on k3s.
const CONTROLLER_MANAGER_QPS: u32 = 1_000;

/// The bench profiles' disk class (Immediate binding, like Longhorn's or a SAN's).
const STORAGE_CLASS: &str = "huamei-sc-ssd";

/// Options of the benchmark.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// How many profiles to create.
    #[arg(long, default_value_t = 1000)]
    profiles: usize,
    /// Concurrency of the load generator, of the floor's client and of the operator.
    #[arg(long, default_value_t = 16)]
    concurrency: u16,
    /// Seconds of idle after convergence in which the operator's requests are counted.
    #[arg(long, default_value_t = 60)]
    idle_seconds: u64,
    /// The profiles' shape: `minimal` (one bridge network, one image disk) or `seed` (the
    /// user's web-vm-01: a VLAN bridge on the nodes with a static address, a reused NAD, an
    /// image and a blank disk, cloud-init).
    #[arg(long, value_enum, default_value_t = Shape::Minimal)]
    shape: Shape,
    /// Memory mode: 10,000 profiles, RSS at 1,000 and at 10,000 Running; no deletion.
    #[arg(long)]
    memory: bool,
    /// Heap profile: the operator built with dhat (slow; its times and RSS are not the
    /// release build's), stopped after the idle window; what it held then, by call site, is
    /// printed and written to `target/bench/heap-<shape>-<profiles>.txt`. No deletion.
    #[arg(long)]
    heap_profile: bool,
    /// The operator's log level (its log is `target/bench/run/vm-operator.log`): `info`
    /// shows every phase change.
    #[arg(long, default_value = "warn")]
    operator_log: String,
    /// Give up after this many seconds of waiting for convergence or deletion.
    #[arg(long, default_value_t = 1800)]
    timeout: u64,
}

async fn create_namespace(client: &Client, name: &str) -> Result<()> {
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await?;
    Ok(())
}

/// Polls `done` every 200 ms until it holds or `timeout` passes.
async fn until<F, Fut>(what: &str, timeout: Duration, mut done: F) -> Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let started = Instant::now();
    while !done().await? {
        if started.elapsed() > timeout {
            bail!("{what}: not after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(started.elapsed())
}

async fn empty<K>(api: &Api<K>) -> Result<bool>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    Ok(api
        .list(&ListParams::default().limit(1))
        .await?
        .items
        .is_empty())
}

/// Runs the benchmark and prints its figures.
pub fn bench(args: BenchArgs) -> Result<()> {
    let profiles = if args.memory {
        MEMORY_PROFILES
    } else {
        args.profiles
    };
    let concurrency = usize::from(args.concurrency);
    let root = tools::workspace_root();
    let (binary, sims_binary) = process::build_release(&root, args.heap_profile)?;
    let work = tempfile_dir()?;
    let audit_path = work.join("audit.log");
    let control_plane = ControlPlane::start_ephemeral_with(&[
        "--audit-log".into(),
        audit_path.display().to_string(),
        "--controller-manager-qps".into(),
        CONTROLLER_MANAGER_QPS.to_string(),
    ])?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let (client, _sims, kubeconfig) = prepare(&control_plane, &sims_binary, &work).await?;
        shape::prepare(&client, args.shape, NAMESPACE).await?;
        catalog::create(&client, NAMESPACE).await?;

        // The floors first, on an idle API server.
        let floor_writes = profiles * floor::writes_per_profile(args.shape);
        let floor = floor::measure(&client, FLOOR_NAMESPACE, floor_writes, concurrency).await?;
        println!(
            "floor: {floor_writes} creates in {:.1} s",
            floor.as_secs_f64()
        );
        let binder_floor = if args.memory {
            None
        } else {
            Some(measure_binder_floor(&client, &args, profiles).await?)
        };
        let operator = start_operator(&binary, &kubeconfig, &args, &work).await?;
        catalog::wait_ready(&client, NAMESPACE, Duration::from_secs(args.timeout)).await?;
        let mut audit = AuditLog::new(audit_path.clone());
        let start_up = audit.since_last(identity::OPERATOR_USER)?;

        let api: Api<VirtualMachineProfile> = Api::namespaced(client.clone(), NAMESPACE);
        let times = Arc::new(RunningTimes::default());
        tokio::spawn(running::watch(api.clone(), times.clone()));
        let started_at = vmop_api::k8s_openapi::jiff::Timestamp::now();
        let run = create_until_running(&api, &times, &operator, &args, profiles).await?;
        // The status writes of the last profiles land right after they show Running.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let creation = audit.since_last(identity::OPERATOR_USER)?;
        println!("all Running after {:.1} s", run.converged.as_secs_f64());

        tokio::time::sleep(Duration::from_secs(args.idle_seconds)).await;
        let idle = audit.since_last(identity::OPERATOR_USER)?;
        let timeout = Duration::from_secs(args.timeout);
        let (cpu_total, peak_rss) = (operator.cpu_seconds()?, operator.peak_rss()?);
        if args.heap_profile {
            write_heap_profile(operator, &work, &root, &args, profiles)?;
        }
        let (children, deletion) = if args.memory || args.heap_profile {
            (None, None)
        } else {
            let children = world_floor::capture(&client, NAMESPACE, WORLD_NAMESPACE).await?;
            let took = delete_all(&client, &api, profiles, concurrency, timeout).await?;
            let writes = audit.since_last(identity::OPERATOR_USER)?.operator;
            catalog::delete(&client, NAMESPACE).await?;
            (Some(children), Some((took, writes)))
        };

        // Last, on a cluster idle again: the same children without the operator.
        let world_floor =
            measure_world_floor(&client, args.shape, children, concurrency, timeout).await?;

        let report = Report::new(report::Inputs {
            shape: args.shape,
            profiles,
            concurrency,
            floor,
            floor_writes,
            binder_floor,
            world_floor,
            latencies: times.latencies(),
            start_up: start_up.operator,
            creation_others: creation.others,
            last_claim_bound: creation
                .last_claim_bound
                .map(|at| at.duration_since(started_at).as_secs_f64()),
            creation: creation.operator,
            idle: idle.operator,
            idle_seconds: args.idle_seconds,
            deletion,
            cpu_total,
            peak_rss,
            run,
        });
        report.print();
        let path = report.write(&root)?;
        println!("written to {}", path.display());
        Ok(())
    })
}

/// A scratch directory for the run (audit log, kubeconfig, operator log), kept for reading.
fn tempfile_dir() -> Result<std::path::PathBuf> {
    let dir = tools::workspace_root().join("target/bench/run");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Creates the profiles, `concurrency` at a time, and waits until every one is Running
/// (sampling the operator's memory on the way in memory mode).
async fn create_until_running(
    api: &Api<VirtualMachineProfile>,
    times: &Arc<RunningTimes>,
    operator: &Operator,
    args: &BenchArgs,
    profiles: usize,
) -> Result<Convergence> {
    let concurrency = usize::from(args.concurrency);
    let started = Instant::now();
    let cpu_before = operator.cpu_seconds()?;
    let machine_before = machine_cpu::Snapshot::take()?;
    let mut memory = Memory::default();
    let created = {
        let times = times.clone();
        stream::iter(0..profiles)
            .map(|i| {
                let (api, times) = (api.clone(), times.clone());
                async move {
                    let p = shape::profile(args.shape, i);
                    times.created(&shape::name(i));
                    api.create(&PostParams::default(), &p).await.map(|_| ())
                }
            })
            .buffer_unordered(concurrency)
            .try_collect::<()>()
            .await?;
        started.elapsed()
    };
    println!(
        "created {profiles} profiles in {:.1} s",
        created.as_secs_f64()
    );
    let timeout = Duration::from_secs(args.timeout);
    let sample = std::sync::Mutex::new(None);
    until("every profile Running", timeout, || async {
        let running = times.running();
        let mut sample = sample
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if args.memory && sample.is_none() && running >= MEMORY_SAMPLE_AT {
            *sample = Some((MEMORY_SAMPLE_AT, operator.rss()?));
        }
        Ok(running >= profiles)
    })
    .await?;
    memory.at_sample = sample
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let converged = started.elapsed();
    let cpu_converge = operator.cpu_seconds()? - cpu_before;
    let machine_cpu = machine_before.until(&machine_cpu::Snapshot::take()?);
    memory.at_end = Some((profiles, operator.rss()?));
    let reconciles = operator.reconciles()?;
    Ok(Convergence {
        created,
        converged,
        cpu_converge,
        machine_cpu,
        reconciles,
        memory,
    })
}

/// The cluster made ready for a run: CRDs and simulators, the namespaces, and a kubeconfig
/// for the operator's own identity (bound to the shipped RBAC).
async fn prepare(
    control_plane: &ControlPlane,
    sims_binary: &std::path::Path,
    work: &std::path::Path,
) -> Result<(Client, process::Sims, std::path::PathBuf)> {
    let client: Client = control_plane.client().await?;
    bootstrap(&client).await?;
    let sims = process::Sims::start(
        sims_binary,
        control_plane.kubeconfig(),
        &work.join("vmop-sims.log"),
    )?;
    create_namespace(&client, NAMESPACE).await?;
    create_namespace(&client, FLOOR_NAMESPACE).await?;
    let kubeconfig =
        identity::operator_kubeconfig(&client, control_plane.kubeconfig(), work).await?;
    Ok((client, sims, kubeconfig))
}

/// The operator binary under test, once it says it is ready.
async fn start_operator(
    binary: &std::path::Path,
    kubeconfig: &std::path::Path,
    args: &BenchArgs,
    work: &std::path::Path,
) -> Result<Operator> {
    let operator = Operator::start(
        binary,
        kubeconfig,
        NAMESPACE,
        args.concurrency,
        &args.operator_log,
        work,
    )?;
    until(
        "the operator to be ready",
        Duration::from_secs(120),
        || async { Ok(operator.ready()) },
    )
    .await?;
    Ok(operator)
}

/// Stops the dhat-built operator (it writes its profile when told to stop) and prints what
/// it held by call site.
fn write_heap_profile(
    mut operator: Operator,
    work: &std::path::Path,
    root: &std::path::Path,
    args: &BenchArgs,
    profiles: usize,
) -> Result<()> {
    operator.stop(Duration::from_secs(300))?;
    let (total, holders) = heap_profile::holders(&work.join("dhat-heap.json"))?;
    let text = heap_profile::render(total, &holders, profiles, 40);
    print!("{text}");
    let path = root.join(format!(
        "target/bench/heap-{}-{profiles}.txt",
        args.shape.name()
    ));
    std::fs::write(&path, text)?;
    println!("written to {}", path.display());
    Ok(())
}

/// How long the volume binder takes to bind as many claims, without the operator.
async fn measure_binder_floor(
    client: &Client,
    args: &BenchArgs,
    profiles: usize,
) -> Result<Duration> {
    let bound = binder_floor::measure(
        client,
        FLOOR_NAMESPACE,
        STORAGE_CLASS,
        profiles,
        usize::from(args.concurrency),
        Duration::from_secs(args.timeout),
    )
    .await?;
    println!(
        "binder floor: {profiles} claims bound in {:.1} s",
        bound.as_secs_f64()
    );
    Ok(bound)
}

/// Deletes every profile and waits until they and their children are gone.
async fn delete_all(
    client: &Client,
    api: &Api<VirtualMachineProfile>,
    profiles: usize,
    concurrency: usize,
    timeout: Duration,
) -> Result<Duration> {
    let started = Instant::now();
    stream::iter(0..profiles)
        .map(|i| {
            let api = api.clone();
            async move {
                api.delete(&shape::name(i), &DeleteParams::default())
                    .await
                    .map(|_| ())
            }
        })
        .buffer_unordered(concurrency)
        .try_collect::<()>()
        .await?;
    let (nads, dvs, vms) = (
        Api::<NetworkAttachmentDefinition>::namespaced(client.clone(), NAMESPACE),
        Api::<DataVolume>::namespaced(client.clone(), NAMESPACE),
        Api::<VirtualMachine>::namespaced(client.clone(), NAMESPACE),
    );
    // The profiles' own children: the NAD seed profiles reuse is its user's, and the catalog
    // image's version is the image's; both stay.
    let profiles_own = ListParams::default()
        .labels(vmop_api::PROFILE_LABEL)
        .limit(1);
    until("every profile and child gone", timeout, || async {
        Ok(empty(api).await?
            && nads.list(&profiles_own).await?.items.is_empty()
            && dvs.list(&profiles_own).await?.items.is_empty()
            && empty(&vms).await?)
    })
    .await?;
    Ok(started.elapsed())
}

/// The world's floor: the same children created directly, on a cluster idle again, until
/// every VM is Running; (objects, time).
async fn measure_world_floor(
    client: &Client,
    shape: Shape,
    children: Option<world_floor::Children>,
    concurrency: usize,
    timeout: Duration,
) -> Result<Option<(usize, Duration)>> {
    let Some(children) = children else {
        return Ok(None);
    };
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), NAMESPACE);
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    until("the run's claims and volumes gone", timeout, || async {
        Ok(empty(&claims).await? && empty(&volumes).await?)
    })
    .await?;
    create_namespace(client, WORLD_NAMESPACE).await?;
    // The user's own NAD exists before, as in the run.
    shape::shared_nad(client, shape, WORLD_NAMESPACE).await?;
    let objects = children.count();
    let took = children
        .measure(client, WORLD_NAMESPACE, concurrency, timeout)
        .await?;
    println!(
        "world floor: {objects} children created directly, every VM Running in {:.1} s",
        took.as_secs_f64()
    );
    Ok(Some((objects, took)))
}
