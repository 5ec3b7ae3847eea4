//! `cargo xtask bench`: convergence of many profiles on the test control plane with instant
//! simulators, the operator's API writes per profile, and the writes of a reconcile of every
//! settled profile (the design's floor: zero).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Result, bail};
use kube::{
    Api, Client,
    api::{ListParams, Patch, PatchParams, PostParams},
};
use serde_json::json;
use vmop_api::{
    DiskSpec, NetworkSpec, Phase, VirtualMachineProfile, VirtualMachineProfileSpec,
    k8s_openapi::{api::core::v1::Namespace, apimachinery::pkg::apis::meta::v1::ObjectMeta},
};
use vmop_controller::{ControllerConfig, Metrics, Timing, controller};
use vmop_plugin::Registries;
use vmop_testenv::{ControlPlane, bootstrap, sim};

const NAMESPACE: &str = "bench";

/// Options of the benchmark.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// How many profiles to create.
    #[arg(long, default_value_t = 200)]
    profiles: usize,
    /// Profiles reconciled at once.
    #[arg(long, default_value_t = 16)]
    concurrency: u16,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 900)]
    timeout: u64,
}

fn profile(i: usize) -> VirtualMachineProfile {
    VirtualMachineProfile::new(
        &format!("vm-{i:05}"),
        VirtualMachineProfileSpec {
            cpu: 2,
            cpu_topology: None,
            memory: "4Gi".into(),
            run_strategy: Default::default(),
            high_availability: false,
            networks: vec![NetworkSpec {
                name: "mgmt".into(),
                bridge: Some("br-mgmt".into()),
                vlan: Some(100),
                ..NetworkSpec::default()
            }],
            disks: vec![DiskSpec {
                name: "system".into(),
                size: "20Gi".into(),
                storage_class_name: Some("huamei-sc-ssd".into()),
                image: Some("docker://registry.example.com/fedora:40".into()),
                boot_order: Some(1),
                ..DiskSpec::default()
            }],
            cloud_init: None,
            disk_retention_policy: Default::default(),
            template: None,
        },
    )
}

async fn running(api: &Api<VirtualMachineProfile>) -> Result<usize> {
    Ok(api
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .filter(|p| p.status.as_ref().and_then(|s| s.phase) == Some(Phase::Running))
        .count())
}

/// Runs the benchmark and prints its figures.
pub fn bench(args: BenchArgs) -> Result<()> {
    let _ = (
        vmop_net_bridge::link(),
        vmop_net_sriov::link(),
        vmop_storage_huamei::link(),
        vmop_storage_cdi::link(),
        vmop_storage_pvc::link(),
        vmop_template_cloudinit::link(),
    );
    let control_plane = ControlPlane::start_ephemeral()?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let client: Client = control_plane.client().await?;
        bootstrap(&client).await?;
        tokio::spawn(sim::run_all(client.clone(), sim::SimConfig::instant()));
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(NAMESPACE.into()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &namespace)
            .await?;

        let metrics = Arc::new(Metrics::default());
        let running_controller = controller(
            client.clone(),
            Arc::new(Registries::from_inventory()?),
            metrics.clone(),
            ControllerConfig {
                namespace: Some(NAMESPACE.into()),
                concurrency: args.concurrency,
                timing: Timing {
                    converging: Duration::from_secs(1),
                    settled: Duration::from_secs(3600),
                },
                policy: vmop_controller::PolicySource::Fixed(
                    vmop_controller::OperatorPolicy::allow_all(),
                ),
            },
            std::future::pending(),
        );
        tokio::spawn(running_controller.run());

        let api: Api<VirtualMachineProfile> = Api::namespaced(client.clone(), NAMESPACE);
        let started = Instant::now();
        for i in 0..args.profiles {
            api.create(&PostParams::default(), &profile(i)).await?;
        }
        let created = started.elapsed();
        loop {
            let done = running(&api).await?;
            if done == args.profiles {
                break;
            }
            if started.elapsed() > Duration::from_secs(args.timeout) {
                bail!(
                    "{done}/{} profiles Running after {}s",
                    args.profiles,
                    args.timeout
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let converged = started.elapsed();
        // Let the last status writes land before counting.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let writes = metrics.writes_total();
        let reconciles = metrics.reconciles_total();

        // Touch every profile: each is reconciled once more, with nothing to do.
        for i in 0..args.profiles {
            let patch = json!({"metadata": {"annotations": {"bench/touched": "1"}}});
            api.patch(
                &format!("vm-{i:05}"),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await?;
        }
        let target = reconciles + args.profiles as u64;
        let deadline = Instant::now() + Duration::from_secs(120);
        while metrics.reconciles_total() < target && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let idle_writes = metrics.writes_total() - writes;

        let n = args.profiles as f64;
        println!("profiles                          {}", args.profiles);
        println!(
            "created in                        {:.1} s",
            created.as_secs_f64()
        );
        println!(
            "all Running after                 {:.1} s",
            converged.as_secs_f64()
        );
        println!(
            "throughput                        {:.1} profiles/s",
            n / converged.as_secs_f64()
        );
        println!("operator API writes per profile   {:.2}", writes as f64 / n);
        println!(
            "reconciles per profile            {:.2}",
            reconciles as f64 / n
        );
        println!(
            "writes of {} no-op reconciles     {idle_writes}",
            metrics.reconciles_total() - reconciles
        );
        Ok(())
    })
}
