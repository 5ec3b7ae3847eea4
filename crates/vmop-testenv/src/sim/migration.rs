//! KubeVirt's migration controller and virt-handler's part of a live migration: a
//! VirtualMachineInstanceMigration goes Pending, Scheduling, Scheduled (a target node other
//! than the source, satisfying the instance's node selector and affinity), PreparingTarget,
//! TargetReady, Running and Succeeded, one step at a time. The instance's
//! `status.migrationState` carries source and target node, the migration's UID and the
//! timestamps; on success the instance runs on the target node. A migration of an instance
//! that is gone, or whose `LiveMigratable` condition is not True, fails (upstream, virt-api's
//! admission refuses it; a migration that gets through anyway fails in virt-controller).

use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;
use kube::{
    Api, Client, ResourceExt,
    api::{Patch, PatchParams},
    runtime::controller::Action,
};
use serde_json::json;

use super::{
    SimConfig, SimContext, SimError, controller, drive,
    kinds::kubevirt::{VirtualMachineInstance, VirtualMachineInstanceMigration},
    kubevirt::eligible_nodes,
    retry,
    upstream::migration_phase as phase,
};

/// Runs the migration controller.
pub async fn run(client: Client, config: Arc<SimConfig>) {
    let context = SimContext::new(&client, &config);
    let stream =
        controller::<VirtualMachineInstanceMigration>(&client).run(reconcile, retry, context);
    drive("kubevirt-migration", stream).await;
}

fn migratable(vmi: &VirtualMachineInstance) -> bool {
    vmi.status
        .iter()
        .flat_map(|s| &s.conditions)
        .any(|c| c.type_ == "LiveMigratable" && c.status == "True")
}

fn node_of(vmi: &VirtualMachineInstance) -> String {
    vmi.status
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default()
}

async fn set_phase(
    api: &Api<VirtualMachineInstanceMigration>,
    name: &str,
    to: &str,
) -> Result<(), SimError> {
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"phase": to}})),
    )
    .await?;
    Ok(())
}

/// The instance's migration state, written with the object (VMIs have no status subresource).
async fn set_migration_state(
    vmis: &Api<VirtualMachineInstance>,
    name: &str,
    status: serde_json::Value,
) -> Result<(), SimError> {
    vmis.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": status })),
    )
    .await?;
    Ok(())
}

async fn reconcile(
    migration: Arc<VirtualMachineInstanceMigration>,
    ctx: Arc<SimContext>,
) -> Result<Action, SimError> {
    let current = migration
        .status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_default();
    if current == phase::SUCCEEDED || current == phase::FAILED {
        return Ok(Action::await_change());
    }
    let namespace = migration.namespace().unwrap_or_default();
    let name = migration.name_any();
    let migrations =
        Api::<VirtualMachineInstanceMigration>::namespaced(ctx.client.clone(), &namespace);
    let vmis = Api::<VirtualMachineInstance>::namespaced(ctx.client.clone(), &namespace);
    let vmi_name = &migration.spec.vmi_name;
    let Some(vmi) = vmis.get_opt(vmi_name).await? else {
        set_phase(&migrations, &name, phase::FAILED).await?;
        return Ok(Action::await_change());
    };
    if !migratable(&vmi) {
        set_phase(&migrations, &name, phase::FAILED).await?;
        return Ok(Action::await_change());
    }
    if let Some(wait) = ctx.wait_before_step(&migration.uid().unwrap_or_default()) {
        return Ok(Action::requeue(wait));
    }
    let instant = ctx.config.step_delay.is_zero();
    let next = match current.as_str() {
        "" if !instant => phase::PENDING,
        phase::PENDING if !instant => phase::SCHEDULING,
        "" | phase::PENDING | phase::SCHEDULING => {
            // The target pod is scheduled: any eligible node but the source.
            let source = node_of(&vmi);
            let (nodes, _) = eligible_nodes(&ctx, &vmi.spec).await?;
            let Some(target) = nodes.into_iter().find(|n| *n != source) else {
                set_phase(&migrations, &name, phase::FAILED).await?;
                return Ok(Action::await_change());
            };
            let state = json!({"migrationState": {
                "sourceNode": source,
                "targetNode": target,
                "migrationUid": migration.uid(),
                "startTimestamp": Timestamp::now().to_string(),
                "mode": "PreCopy",
            }});
            set_migration_state(&vmis, vmi_name, state).await?;
            if instant {
                phase::RUNNING
            } else {
                phase::SCHEDULED
            }
        }
        phase::SCHEDULED => phase::PREPARING_TARGET,
        phase::PREPARING_TARGET => phase::TARGET_READY,
        phase::TARGET_READY => phase::RUNNING,
        _ => {
            // Running: the memory is copied, the guest switches over to the target.
            let target = vmi
                .status
                .as_ref()
                .and_then(|s| s.migration_state.as_ref())
                .and_then(|m| m.get("targetNode"))
                .and_then(|t| t.as_str())
                .map(str::to_owned)
                .unwrap_or_default();
            let state = json!({
                "nodeName": target,
                "migrationState": {
                    "completed": true,
                    "endTimestamp": Timestamp::now().to_string(),
                },
            });
            set_migration_state(&vmis, vmi_name, state).await?;
            phase::SUCCEEDED
        }
    };
    set_phase(&migrations, &name, next).await?;
    Ok(if next == phase::SUCCEEDED {
        Action::await_change()
    } else {
        ctx.config.next_step()
    })
}
