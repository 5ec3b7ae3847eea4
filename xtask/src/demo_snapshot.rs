//! The demo's snapshot and restore: takes a snapshot of `web-vm-01` with the annotation
//! `vmoperator.io/snapshot-requested`, then restores the VM from it with
//! `vmoperator.io/restore-requested`, following `status.snapshot` and `status.restore` until
//! the VM runs again.

use std::time::Duration;

use anyhow::{Result, bail};
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
};
use serde_json::json;
use vmop_api::{
    Phase, RESTORE_ANNOTATION, RequestPhase, RequestStatus, SNAPSHOT_ANNOTATION,
    VirtualMachineProfile, VirtualMachineProfileStatus,
};

use crate::demo::NAMESPACE;

const PROFILE: &str = "web-vm-01";

/// Snapshots the web example, restores it from that snapshot, and shows each step.
pub async fn run(client: &Client, timeout: u64) -> Result<()> {
    let profiles: Api<VirtualMachineProfile> = Api::namespaced(client.clone(), NAMESPACE);
    let taken = ask(&profiles, SNAPSHOT_ANNOTATION, "demo", timeout, |s| {
        s.snapshot.as_deref().cloned()
    })
    .await?;
    let snapshot = taken.snapshot_name.unwrap_or_default();
    let restored = ask(&profiles, RESTORE_ANNOTATION, &snapshot, timeout, |s| {
        s.restore.as_deref().cloned()
    })
    .await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    loop {
        let profile = profiles.get(PROFILE).await?;
        if profile.status.as_ref().and_then(|s| s.phase) == Some(Phase::Running) {
            println!("  {PROFILE} is Running again ({})", restored.message);
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("{PROFILE} did not run again in {timeout}s after its restore");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Sets `annotation` to `value` and follows the request `recorded` reads from status until it
/// succeeds.
async fn ask(
    profiles: &Api<VirtualMachineProfile>,
    annotation: &str,
    value: &str,
    timeout: u64,
    recorded: impl Fn(&VirtualMachineProfileStatus) -> Option<RequestStatus>,
) -> Result<RequestStatus> {
    println!("\n$ kubectl annotate vmprofile {PROFILE} {annotation}={value}");
    profiles
        .patch(
            PROFILE,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {annotation: value}}})),
        )
        .await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    let mut shown = String::new();
    loop {
        let status = profiles.get(PROFILE).await?.status.unwrap_or_default();
        if let Some(request) = recorded(&status).filter(|r| r.request == value) {
            if request.message != shown {
                println!("  {:?}: {}", request.phase, request.message);
                shown = request.message.clone();
            }
            match request.phase {
                RequestPhase::Succeeded => return Ok(request),
                RequestPhase::Refused | RequestPhase::Failed => {
                    bail!(
                        "{annotation} on {PROFILE} did not happen: {}",
                        request.message
                    )
                }
                RequestPhase::InProgress => {}
            }
        }
        if tokio::time::Instant::now() > deadline {
            bail!("{annotation} on {PROFILE} did not finish in {timeout}s");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
