//! KubeVirt's restore controller (`pkg/storage/snapshot/restore.go`, v1.9.0): a
//! VirtualMachineRestore is initialised, waits for (or with `StopTarget` makes) the target VM
//! stop, marks the VM `restoreInProgress`, lists its volume restores, replaces each claim
//! from its VolumeSnapshot (with `InPlace`, deleting the claim first; a DataVolume's claim is
//! marked pre-populated so CDI does not refill it, and the new claim is `populatedFor` it),
//! rewrites the VM's spec from the snapshot (keeping its run strategy), and completes.

use std::sync::Arc;

use k8s_openapi::{api::core::v1::PersistentVolumeClaim, jiff::Timestamp};
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, Patch, PatchParams, PostParams},
    runtime::controller::Action,
};
use serde_json::{Value, json};

use super::{SnapshotWorld, condition, now, set_finalizer};
use crate::sim::{
    SimError,
    kinds::{
        kubevirt::VirtualMachine,
        snapshot::{
            VirtualMachineRestore, VirtualMachineRestoreStatus, VirtualMachineSnapshot,
            VirtualMachineSnapshotContent, VolumeBackup, VolumeRestore, VolumeSnapshot,
        },
    },
    upstream::{run_strategy, snapshot as up},
};

type Step = Result<Action, SimError>;

pub(super) async fn reconcile(
    restore: Arc<VirtualMachineRestore>,
    world: Arc<SnapshotWorld>,
) -> Step {
    let ctx = &world.sim;
    let namespace = restore.namespace().unwrap_or_default();
    let restores = Api::<VirtualMachineRestore>::namespaced(ctx.client.clone(), &namespace);
    let name = restore.name_any();
    let Some(mut status) = restore.status.clone() else {
        let status = VirtualMachineRestoreStatus {
            complete: Some(false),
            conditions: progress("Initializing VirtualMachineRestore", true),
            ..Default::default()
        };
        write_status(&restores, &name, &status).await?;
        return Ok(ctx.config.next_step());
    };
    if restore.metadata.deletion_timestamp.is_some() {
        set_finalizer(&restores, &*restore, up::RESTORE_FINALIZER, false).await?;
        return Ok(Action::await_change());
    }
    let failed = status
        .conditions
        .iter()
        .any(|c| c.type_ == up::CONDITION_FAILURE && c.status == "True");
    if status.complete == Some(true) || failed {
        return Ok(Action::await_change());
    }
    if !restore
        .finalizers()
        .iter()
        .any(|f| f == up::RESTORE_FINALIZER)
    {
        set_finalizer(&restores, &*restore, up::RESTORE_FINALIZER, true).await?;
        return Ok(ctx.config.next_step());
    }
    let vms = Api::<VirtualMachine>::namespaced(ctx.client.clone(), &namespace);
    let Some(vm) = vms.get_opt(&restore.spec.target.name).await? else {
        return fail(&restores, &name, status, "restore target does not exist").await;
    };
    // Ready: the target has no instance.
    if ctx.instance(&namespace, &vm.name_any()).await?.is_some() {
        return target_not_ready(&world, &restore, &vm, status).await;
    }
    let content = match snapshot_content(&world, &restore).await? {
        Ok(content) => content,
        Err(message) => return fail(&restores, &name, status, &message).await,
    };
    let marker = format!("{name}-{}", restore.uid().unwrap_or_default());
    let restored = vm.annotations().get(up::LAST_RESTORE_ANNOTATION) == Some(&marker);
    if !restored && vm_status(&vm, "restoreInProgress").is_none() {
        patch_vm_status(&vms, &vm.name_any(), json!({"restoreInProgress": name})).await?;
    }
    let wanted = volume_restores(&restore, &content.spec.volume_backups, &status.restores);
    if wanted != status.restores {
        status.restores = wanted;
        status.conditions = progress("Creating new PVCs", true);
        write_status(&restores, &name, &status).await?;
        return Ok(ctx.config.next_step());
    }
    if !restored {
        if let Some(changed) =
            restore_volumes(&world, &restore, &content, &mut status, &marker).await?
        {
            if changed {
                write_status(&restores, &name, &status).await?;
            }
            return Ok(ctx.config.next_step());
        }
        rewrite_vm(&vms, &vm, &content, &marker).await?;
        status.conditions = progress("Updating target spec", true);
        write_status(&restores, &name, &status).await?;
        return Ok(ctx.config.next_step());
    }
    if vm_status(&vm, "restoreInProgress").is_some_and(|r| r == name) {
        patch_vm_status(
            &vms,
            &vm.name_any(),
            json!({"restoreInProgress": Value::Null}),
        )
        .await?;
    }
    status.complete = Some(true);
    status.restore_time = Some(now());
    status.conditions = vec![
        condition(up::CONDITION_PROGRESSING, false, "Operation complete"),
        condition(up::CONDITION_READY, true, "Operation complete"),
    ];
    write_status(&restores, &name, &status).await?;
    Ok(Action::await_change())
}

/// The content of the restore's snapshot, or why there is none to restore from.
async fn snapshot_content(
    world: &SnapshotWorld,
    restore: &VirtualMachineRestore,
) -> Result<Result<VirtualMachineSnapshotContent, String>, SimError> {
    let namespace = restore.namespace().unwrap_or_default();
    let client = world.sim.client.clone();
    let wanted = &restore.spec.virtual_machine_snapshot_name;
    let snapshot = Api::<VirtualMachineSnapshot>::namespaced(client.clone(), &namespace)
        .get_opt(wanted)
        .await?
        .and_then(|s| s.status)
        .filter(|s| s.ready_to_use == Some(true));
    let Some(snapshot) = snapshot else {
        return Ok(Err(format!("VirtualMachineSnapshot {wanted} not ready")));
    };
    let name = snapshot
        .virtual_machine_snapshot_content_name
        .unwrap_or_default();
    let content = Api::<VirtualMachineSnapshotContent>::namespaced(client, &namespace)
        .get_opt(&name)
        .await?;
    Ok(content.ok_or_else(|| "VirtualMachineSnapshotContent missing".to_owned()))
}

fn progress(reason: &str, progressing: bool) -> Vec<crate::sim::kinds::Condition> {
    vec![
        condition(up::CONDITION_PROGRESSING, progressing, reason),
        condition(up::CONDITION_READY, false, reason),
    ]
}

fn vm_status<'a>(vm: &'a VirtualMachine, field: &str) -> Option<&'a str> {
    vm.status
        .as_ref()
        .and_then(|s| s.rest.get(field))
        .and_then(Value::as_str)
}

async fn patch_vm_status(
    vms: &Api<VirtualMachine>,
    name: &str,
    status: Value,
) -> Result<(), SimError> {
    vms.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": status })),
    )
    .await?;
    Ok(())
}

async fn write_status(
    api: &Api<VirtualMachineRestore>,
    name: &str,
    status: &VirtualMachineRestoreStatus,
) -> Result<(), SimError> {
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": status })),
    )
    .await?;
    Ok(())
}

async fn fail(
    api: &Api<VirtualMachineRestore>,
    name: &str,
    mut status: VirtualMachineRestoreStatus,
    message: &str,
) -> Step {
    status.conditions = vec![
        condition(up::CONDITION_PROGRESSING, false, "Operation failed"),
        condition(up::CONDITION_READY, false, "Operation failed"),
        condition(up::CONDITION_FAILURE, true, message),
    ];
    write_status(api, name, &status).await?;
    Ok(Action::await_change())
}

/// `handleVMRestoreTargetNotReady`: StopTarget stops the VM as virt-api's stop does (a VM
/// that always runs is set to Halted); FailImmediate fails; otherwise it waits, and the
/// default policy fails after the grace period.
async fn target_not_ready(
    world: &SnapshotWorld,
    restore: &VirtualMachineRestore,
    vm: &VirtualMachine,
    mut status: VirtualMachineRestoreStatus,
) -> Step {
    let ctx = &world.sim;
    let namespace = restore.namespace().unwrap_or_default();
    let restores = Api::<VirtualMachineRestore>::namespaced(ctx.client.clone(), &namespace);
    let name = restore.name_any();
    match restore.spec.target_readiness_policy.as_deref() {
        Some(up::STOP_TARGET) => {
            let vms = Api::<VirtualMachine>::namespaced(ctx.client.clone(), &namespace);
            if vm.spec.run_strategy.as_deref() != Some(run_strategy::HALTED) {
                vms.patch(
                    &vm.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"runStrategy": run_strategy::HALTED}})),
                )
                .await?;
            }
            status.conditions = progress(up::STOP_TARGET_MESSAGE, false);
        }
        Some(up::FAIL_IMMEDIATE) => {
            return fail(&restores, &name, status, up::TARGET_NOT_READY_FAILURE).await;
        }
        Some(up::WAIT_EVENTUALLY) => {
            status.conditions = progress(
                "Waiting for target VM to be powered off. Please stop the restore target to proceed with restore",
                false,
            )
        }
        _ => {
            let created = restore
                .metadata
                .creation_timestamp
                .as_ref()
                .map_or(Timestamp::now(), |t| t.0);
            if Timestamp::now().as_second() - created.as_second() > up::DEFAULT_GRACE_PERIOD_SECONDS
            {
                return fail(&restores, &name, status, up::GRACE_PERIOD_EXCEEDED).await;
            }
            status.conditions = progress(up::WAIT_GRACE_PERIOD_MESSAGE, false);
        }
    }
    if restore.status.as_ref() != Some(&status) {
        write_status(&restores, &name, &status).await?;
    }
    Ok(ctx.config.next_step())
}

/// The restores of the content's backups: those recorded, then new ones named by policy.
fn volume_restores(
    restore: &VirtualMachineRestore,
    backups: &[VolumeBackup],
    recorded: &[VolumeRestore],
) -> Vec<VolumeRestore> {
    let in_place = restore.spec.volume_restore_policy.as_deref() == Some(up::IN_PLACE);
    backups
        .iter()
        .filter_map(|backup| {
            if let Some(known) = recorded
                .iter()
                .find(|r| r.volume_name == backup.volume_name)
            {
                return Some(known.clone());
            }
            let claim = backup.persistent_volume_claim["metadata"]["name"]
                .as_str()?
                .to_owned();
            Some(VolumeRestore {
                persistent_volume_claim: if in_place {
                    claim
                } else {
                    format!(
                        "{}-{}-{}",
                        up::DEFAULT_RESTORE_PREFIX,
                        restore.uid().unwrap_or_default(),
                        backup.volume_name
                    )
                },
                volume_snapshot_name: backup.volume_snapshot_name.clone()?,
                volume_name: backup.volume_name.clone(),
                data_volume_name: None,
            })
        })
        .collect()
}

/// `reconcileVolumeRestores` after the list is settled: `None` when every claim is restored
/// and bound enough; `Some(changed)` while it works (`changed`: the status must be written).
async fn restore_volumes(
    world: &SnapshotWorld,
    restore: &VirtualMachineRestore,
    content: &VirtualMachineSnapshotContent,
    status: &mut VirtualMachineRestoreStatus,
    marker: &str,
) -> Result<Option<bool>, SimError> {
    let ctx = &world.sim;
    let namespace = restore.namespace().unwrap_or_default();
    let claims = Api::<PersistentVolumeClaim>::namespaced(ctx.client.clone(), &namespace);
    let in_place = restore.spec.volume_restore_policy.as_deref() == Some(up::IN_PLACE);
    let mut working = None;
    for i in 0..status.restores.len() {
        let volume = status.restores[i].clone();
        let existing = claims.get_opt(&volume.persistent_volume_claim).await?;
        match existing {
            None => {
                let backup = content
                    .spec
                    .volume_backups
                    .iter()
                    .find(|b| b.volume_name == volume.volume_name);
                let Some(backup) = backup else { continue };
                let claim = restored_claim(world, restore, backup, &volume, marker).await?;
                claims.create(&PostParams::default(), &claim).await?;
                working = Some(working.unwrap_or(false));
            }
            Some(claim)
                if in_place
                    && claim
                        .annotations()
                        .get(up::LAST_RESTORE_ANNOTATION)
                        .map(String::as_str)
                        != Some(marker) =>
            {
                let owner_dv = claim
                    .owner_references()
                    .iter()
                    .find(|o| o.kind == "DataVolume" && o.controller == Some(true))
                    .map(|o| o.name.clone());
                if let Some(dv) = owner_dv {
                    if volume.data_volume_name.is_none() {
                        status.restores[i].data_volume_name = Some(dv);
                        return Ok(Some(true));
                    }
                    let dvs: Api<kube::api::DynamicObject> = Api::namespaced_with(
                        ctx.client.clone(),
                        &namespace,
                        &data_volume_resource(),
                    );
                    let annotations = json!({up::RESTORE_NAME_ANNOTATION: restore.name_any(), up::PRE_POPULATED_ANNOTATION: dv});
                    dvs.patch(
                        &dv,
                        &PatchParams::default(),
                        &Patch::Merge(json!({"metadata": {"annotations": annotations}})),
                    )
                    .await?;
                }
                if claim.metadata.deletion_timestamp.is_none() {
                    claims
                        .delete(&claim.name_any(), &DeleteParams::default())
                        .await?;
                }
                working = Some(working.unwrap_or(false));
            }
            Some(_) => {}
        }
    }
    if working.is_some() {
        status.conditions = progress("Creating new PVCs", true);
        return Ok(Some(true));
    }
    Ok(None)
}

fn data_volume_resource() -> kube::api::ApiResource {
    kube::api::ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk("cdi.kubevirt.io", "v1beta1", "DataVolume"),
        "datavolumes",
    )
}

/// `CreateRestorePVCDefFromVMRestore` with `createRestorePVC`'s ownership.
async fn restored_claim(
    world: &SnapshotWorld,
    restore: &VirtualMachineRestore,
    backup: &VolumeBackup,
    volume: &VolumeRestore,
    marker: &str,
) -> Result<PersistentVolumeClaim, SimError> {
    let namespace = restore.namespace().unwrap_or_default();
    let source = &backup.persistent_volume_claim;
    let mut annotations: serde_json::Map<String, Value> = source["metadata"]["annotations"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    annotations.retain(|key, _| {
        key == up::CONTENT_TYPE_ANNOTATION
            || !up::RESTORE_ANNOTATIONS_TO_DELETE
                .iter()
                .any(|p| key.starts_with(p))
    });
    annotations.insert(
        up::RESTORE_NAME_ANNOTATION.into(),
        json!(restore.name_any()),
    );
    annotations.insert(up::LAST_RESTORE_ANNOTATION.into(), json!(marker));
    if let Some(dv) = &volume.data_volume_name {
        annotations.insert(up::POPULATED_FOR_ANNOTATION.into(), json!(dv));
    }
    let mut labels = source["metadata"]["labels"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let source_vm = restore.spec.target.name.clone();
    labels.insert(up::RESTORE_SOURCE_NAME_LABEL.into(), json!(source_vm));
    labels.insert(up::RESTORE_SOURCE_NAMESPACE_LABEL.into(), json!(namespace));
    let spec = &source["spec"];
    let snapshots = Api::<VolumeSnapshot>::namespaced(world.sim.client.clone(), &namespace);
    let restore_size = snapshots
        .get_opt(&volume.volume_snapshot_name)
        .await?
        .and_then(|s| s.status.and_then(|s| s.restore_size));
    let requested = spec["resources"]["requests"]["storage"]
        .as_str()
        .map(str::to_owned);
    let size = larger(requested, restore_size);
    let reference = json!({"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": volume.volume_snapshot_name});
    let claim = json!({
        "metadata": {"name": volume.persistent_volume_claim, "namespace": namespace, "labels": labels, "annotations": annotations},
        "spec": {
            "accessModes": spec["accessModes"],
            "resources": {"requests": {"storage": size}},
            "storageClassName": spec["storageClassName"],
            "volumeMode": spec["volumeMode"],
            "dataSource": reference,
            "dataSourceRef": reference,
        },
    });
    serde_json::from_value(claim).map_err(|e| SimError::Invalid(format!("restored claim: {e}")))
}

/// The larger of two sizes (`Cmp` of quantities), either possibly unknown.
fn larger(a: Option<String>, b: Option<String>) -> Option<String> {
    let bytes = |q: &Option<String>| q.as_deref().and_then(crate::sim::kinds::bytes);
    match (bytes(&a), bytes(&b)) {
        (Some(x), Some(y)) if y > x => b,
        (None, _) => b,
        _ => a,
    }
}

/// `reconcileSpec`: the snapshot's VM spec (volumes restored in place keep their names), the
/// current run strategy, and the last-restore annotation.
async fn rewrite_vm(
    vms: &Api<VirtualMachine>,
    vm: &VirtualMachine,
    content: &VirtualMachineSnapshotContent,
    marker: &str,
) -> Result<(), SimError> {
    let mut spec = content.spec.source["virtualMachine"]["spec"].clone();
    if let Some(strategy) = &vm.spec.run_strategy {
        spec["runStrategy"] = json!(strategy);
    }
    let patch = json!({
        "metadata": {"annotations": {up::LAST_RESTORE_ANNOTATION: marker}},
        "spec": spec,
    });
    vms.patch(
        &vm.name_any(),
        &PatchParams::default(),
        &Patch::Merge(patch),
    )
    .await?;
    Ok(())
}
