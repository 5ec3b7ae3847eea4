//! The demo's live migration: asks for one on the HA example (`db-vm-01`) with the annotation
//! `vmoperator.io/migrate-requested`, as `kubectl annotate` would, and follows
//! `status.migration` through KubeVirt's phases until the VM runs on another node.

use std::time::Duration;

use anyhow::{Result, bail};
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
};
use serde_json::json;
use vmop_api::{MIGRATE_ANNOTATION, RequestPhase, VirtualMachineProfile};

use crate::demo::NAMESPACE;

const PROFILE: &str = "db-vm-01";

/// Migrates the HA example once and shows each step.
pub async fn run(client: &Client, timeout: u64) -> Result<()> {
    let profiles: Api<VirtualMachineProfile> = Api::namespaced(client.clone(), NAMESPACE);
    let request = vmop_api::k8s_openapi::jiff::Timestamp::now().to_string();
    println!("\n$ kubectl annotate vmprofile {PROFILE} {MIGRATE_ANNOTATION}={request}");
    profiles
        .patch(
            PROFILE,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {MIGRATE_ANNOTATION: request}}})),
        )
        .await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    let mut shown = String::new();
    loop {
        let profile = profiles.get(PROFILE).await?;
        let status = profile.status.unwrap_or_default();
        if let Some(migration) = status.migration.filter(|m| m.request == request) {
            if migration.message != shown {
                println!("  {:?}: {}", migration.phase, migration.message);
                shown = migration.message.clone();
            }
            match migration.phase {
                RequestPhase::Succeeded => {
                    println!(
                        "  {PROFILE} moved from {} to {}",
                        migration.source_node.unwrap_or_default(),
                        migration.target_node.unwrap_or_default()
                    );
                    return Ok(());
                }
                RequestPhase::Refused | RequestPhase::Failed => {
                    bail!(
                        "the migration of {PROFILE} did not happen: {}",
                        migration.message
                    )
                }
                RequestPhase::InProgress => {}
            }
        }
        if tokio::time::Instant::now() > deadline {
            bail!("the migration of {PROFILE} did not finish in {timeout}s");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
