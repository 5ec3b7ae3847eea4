//! The demo's pool: applies `examples/pools/web-pool.yaml` (3 replicas), then scales it to 5
//! and back to 2 through the scale subresource (what `kubectl scale` uses), showing the
//! `kubectl get vmprofilepool` view and each member's address after each step.

use std::{path::Path, time::Duration};

use anyhow::{Context, Result, bail};
use kube::{
    Api, Client, ResourceExt,
    api::{Patch, PatchParams},
};
use serde_json::json;
use vmop_api::pool::VirtualMachineProfilePool;

use crate::demo::NAMESPACE;

fn ready(pool: &VirtualMachineProfilePool, replicas: i32) -> bool {
    pool.status.as_ref().is_some_and(|s| {
        s.replicas == replicas
            && s.ready_replicas == replicas
            && s.observed_generation == pool.metadata.generation
    })
}

fn print(pool: &VirtualMachineProfilePool) {
    let status = pool.status.clone().unwrap_or_default();
    let reason = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map_or("-", |c| c.reason.as_str())
        .to_owned();
    println!(
        "\n{:<6} {:<8} {:<8} {:<6} STATUS",
        "NAME", "DESIRED", "CURRENT", "READY"
    );
    println!(
        "{:<6} {:<8} {:<8} {:<6} {reason}",
        pool.name_any(),
        pool.spec.replicas,
        status.replicas,
        status.ready_replicas
    );
    for member in &status.members {
        let address = member
            .addresses
            .first()
            .map(|a| format!("{} {}", a.ip_address, a.mac_address))
            .unwrap_or_default();
        println!(
            "  {:<7} {:<9} {address}",
            member.name,
            member.phase.as_deref().unwrap_or("-")
        );
    }
}

async fn wait_ready(
    pools: &Api<VirtualMachineProfilePool>,
    replicas: i32,
    timeout: u64,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    loop {
        let pool = pools.get("web").await?;
        if ready(&pool, replicas) {
            print(&pool);
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            print(&pool);
            bail!("the pool did not reach {replicas} ready replicas in {timeout}s");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Applies the pool, scales it 3 -> 5 -> 2, and shows each step.
pub async fn run(client: &Client, root: &Path, timeout: u64) -> Result<()> {
    let path = root.join("examples/pools/web-pool.yaml");
    let pool: VirtualMachineProfilePool = serde_yaml::from_str(
        &std::fs::read_to_string(&path).with_context(|| path.display().to_string())?,
    )?;
    let pools: Api<VirtualMachineProfilePool> = Api::namespaced(client.clone(), NAMESPACE);
    pools
        .patch(
            "web",
            &PatchParams::apply("vmop-demo").force(),
            &Patch::Apply(&pool),
        )
        .await?;
    println!("\napplied the pool examples/pools/web-pool.yaml (3 replicas)");
    wait_ready(&pools, 3, timeout).await?;
    for replicas in [5, 2] {
        println!("\n$ kubectl scale vmprofilepool web --replicas={replicas}");
        pools
            .patch_scale(
                "web",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"replicas": replicas}})),
            )
            .await?;
        wait_ready(&pools, replicas, timeout).await?;
    }
    Ok(())
}
