//! A VM's `status.volumeSnapshotStatuses` (`updateVolumeSnapshotStatuses`,
//! `getVolumeSnapshotStatus`): per volume, whether KubeVirt can snapshot it, with upstream's
//! reasons.

use std::sync::Arc;

use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams},
    runtime::controller::Action,
};
use serde_json::{Value, json};

use super::{SnapshotWorld, snapshot_class_for};
use crate::sim::{SimError, kinds::kubevirt::VirtualMachine};

pub(super) async fn reconcile(
    vm: Arc<VirtualMachine>,
    world: Arc<SnapshotWorld>,
) -> Result<Action, SimError> {
    if vm.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let namespace = vm.namespace().unwrap_or_default();
    let volumes = vm
        .spec
        .template
        .as_ref()
        .and_then(|t| t.spec.as_ref())
        .map(|s| s.volumes.clone())
        .unwrap_or_default();
    let mut statuses = Vec::new();
    let mut claim_missing = false;
    for volume in &volumes {
        let claim = volume
            .persistent_volume_claim
            .as_ref()
            .map(|c| c.claim_name.clone())
            .or_else(|| volume.data_volume.as_ref().map(|d| d.name.clone()));
        let Some(claim) = claim else {
            statuses.push(disabled(
                &volume.name,
                &format!(
                    "Snapshot is not supported for this volumeSource type [{}]",
                    volume.name
                ),
            ));
            continue;
        };
        let class = world
            .sim
            .claim(&namespace, &claim)
            .await?
            .and_then(|c| c.spec.and_then(|s| s.storage_class_name));
        let Some(class) = class else {
            claim_missing = true;
            statuses.push(disabled(&volume.name, "PVC not found"));
            continue;
        };
        statuses.push(match snapshot_class_for(&world, &class).await? {
            Ok(Some(_)) => json!({"name": volume.name, "enabled": true}),
            Ok(None) => disabled(
                &volume.name,
                &format!(
                    "No VolumeSnapshotClass: Volume snapshots are not configured for this StorageClass [{class}] [{}]",
                    volume.name
                ),
            ),
            Err(message) => disabled(&volume.name, &message),
        });
    }
    let current = vm
        .status
        .as_ref()
        .and_then(|s| s.rest.get("volumeSnapshotStatuses"))
        .cloned()
        .unwrap_or(Value::Array(Vec::new()));
    if current != Value::Array(statuses.clone()) {
        Api::<VirtualMachine>::namespaced(world.sim.client.clone(), &namespace)
            .patch_status(
                &vm.name_any(),
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"volumeSnapshotStatuses": statuses}})),
            )
            .await?;
    }
    // A claim not made yet (its DataVolume's) is looked at again; nothing else changes
    // without a VM event.
    Ok(if claim_missing {
        Action::requeue(std::time::Duration::from_secs(2))
    } else {
        Action::await_change()
    })
}

fn disabled(name: &str, reason: &str) -> Value {
    json!({"name": name, "enabled": false, "reason": reason})
}
