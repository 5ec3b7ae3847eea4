//! A VirtualMachineSnapshotContent's VolumeSnapshots (`updateVMSnapshotContent`,
//! `createVolumeSnapshot`) and the CSI snapshotter that makes them ready.

use std::sync::Arc;

use kube::{
    Api, ResourceExt,
    api::{DeleteParams, Patch, PatchParams, PostParams},
    runtime::controller::Action,
};
use serde_json::json;

use super::{SnapshotWorld, now, set_finalizer, snapshot_class_for};
use crate::sim::{
    SimError,
    kinds::snapshot::{
        VirtualMachineSnapshotContent, VirtualMachineSnapshotContentStatus, VolumeSnapshot,
        VolumeSnapshotSource, VolumeSnapshotSpec, VolumeSnapshotStatus,
    },
    upstream::snapshot as up,
};

/// Creates the content's VolumeSnapshots and reports them; on deletion deletes them and lets
/// the content go.
pub(super) async fn reconcile_content(
    content: Arc<VirtualMachineSnapshotContent>,
    world: Arc<SnapshotWorld>,
) -> Result<Action, SimError> {
    let ctx = &world.sim;
    let namespace = content.namespace().unwrap_or_default();
    let contents = Api::<VirtualMachineSnapshotContent>::namespaced(ctx.client.clone(), &namespace);
    let volume_snapshots = Api::<VolumeSnapshot>::namespaced(ctx.client.clone(), &namespace);
    if content.metadata.deletion_timestamp.is_some() {
        delete_content(&contents, &volume_snapshots, &content).await?;
        return Ok(Action::await_change());
    }
    let mut statuses = Vec::new();
    let mut all_ready = true;
    for backup in &content.spec.volume_backups {
        let Some(name) = &backup.volume_snapshot_name else {
            continue;
        };
        let existing = match volume_snapshots.get_opt(name).await? {
            Some(existing) => existing,
            None => {
                let claim = backup.persistent_volume_claim["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let class = backup.persistent_volume_claim["spec"]["storageClassName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let snapshot_class = snapshot_class_for(&world, &class).await?.ok().flatten();
                let object = VolumeSnapshot {
                    metadata: kube::api::ObjectMeta {
                        name: Some(name.clone()),
                        namespace: Some(namespace.clone()),
                        ..Default::default()
                    },
                    spec: VolumeSnapshotSpec {
                        source: VolumeSnapshotSource {
                            persistent_volume_claim_name: Some(claim),
                        },
                        volume_snapshot_class_name: snapshot_class,
                    },
                    status: None,
                };
                volume_snapshots
                    .create(&PostParams::default(), &object)
                    .await?
            }
        };
        let status = existing.status.clone().unwrap_or_default();
        let ready = status.ready_to_use == Some(true);
        all_ready &= ready;
        statuses.push(json!({
            "volumeSnapshotName": name,
            "readyToUse": ready,
            "creationTime": status.creation_time,
        }));
    }
    let old = content.status.clone().unwrap_or_default();
    let status = VirtualMachineSnapshotContentStatus {
        creation_time: old.creation_time.clone().or_else(|| all_ready.then(now)),
        ready_to_use: Some(all_ready),
        volume_snapshot_status: statuses,
        rest: Default::default(),
    };
    if content.status.as_ref() != Some(&status) {
        contents
            .patch_status(
                &content.name_any(),
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": status })),
            )
            .await?;
    }
    Ok(if all_ready {
        Action::await_change()
    } else {
        ctx.config.next_step()
    })
}

/// A deleted content's VolumeSnapshots go, then its finalizer.
async fn delete_content(
    contents: &Api<VirtualMachineSnapshotContent>,
    volume_snapshots: &Api<VolumeSnapshot>,
    content: &VirtualMachineSnapshotContent,
) -> Result<(), SimError> {
    let names = content
        .spec
        .volume_backups
        .iter()
        .filter_map(|b| b.volume_snapshot_name.clone());
    for name in names {
        match volume_snapshots
            .delete(&name, &DeleteParams::default())
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => return Err(error.into()),
        }
    }
    set_finalizer(contents, content, up::CONTENT_FINALIZER, false).await?;
    Ok(())
}

/// The CSI snapshotter: a VolumeSnapshot of a claim is cut and ready, its restore size the
/// claim's capacity.
pub(super) async fn snapshotter(
    snapshot: Arc<VolumeSnapshot>,
    world: Arc<SnapshotWorld>,
) -> Result<Action, SimError> {
    let ctx = &world.sim;
    if snapshot.status.as_ref().and_then(|s| s.ready_to_use) == Some(true)
        || snapshot.metadata.deletion_timestamp.is_some()
    {
        return Ok(Action::await_change());
    }
    if let Some(wait) = ctx.wait_before_step(&snapshot.uid().unwrap_or_default()) {
        return Ok(Action::requeue(wait));
    }
    let namespace = snapshot.namespace().unwrap_or_default();
    let Some(claim_name) = &snapshot.spec.source.persistent_volume_claim_name else {
        return Ok(Action::await_change());
    };
    let Some(claim) = ctx.claim(&namespace, claim_name).await? else {
        return Ok(ctx.config.next_step());
    };
    let size = claim
        .status
        .as_ref()
        .and_then(|s| s.capacity.as_ref())
        .and_then(|c| c.get("storage"))
        .or_else(|| {
            claim
                .spec
                .as_ref()
                .and_then(|s| s.resources.as_ref())
                .and_then(|r| r.requests.as_ref())
                .and_then(|r| r.get("storage"))
        })
        .map(|q| q.0.clone());
    let status = VolumeSnapshotStatus {
        bound_volume_snapshot_content_name: Some(format!(
            "snapcontent-{}",
            snapshot.uid().unwrap_or_default()
        )),
        creation_time: Some(now()),
        ready_to_use: Some(true),
        restore_size: size,
    };
    Api::<VolumeSnapshot>::namespaced(ctx.client.clone(), &namespace)
        .patch_status(
            &snapshot.name_any(),
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await?;
    Ok(Action::await_change())
}
