//! KubeVirt's snapshot controller (`pkg/storage/snapshot/snapshot.go`, v1.9.0) and a CSI
//! snapshotter: a VirtualMachineSnapshot gets its finalizer and status, a
//! VirtualMachineSnapshotContent with a VolumeBackup of each bound claim whose StorageClass
//! has a VolumeSnapshotClass for its provisioner (others are excluded, as upstream, and the
//! snapshot says which), a VolumeSnapshot per backup (`vmsnapshot-<uid>-volume-<volume>`)
//! that the snapshotter makes ready with its restore size, and then phase Succeeded,
//! `readyToUse` and `creationTime`. Deleting a snapshot deletes its content and volume
//! snapshots (deletionPolicy Delete, the default). Each VM's
//! `status.volumeSnapshotStatuses` says per volume whether it can be snapshotted, with
//! upstream's reasons. The restore controller is in [`restore`].
//!
//! Not modelled: the source lock and guest-agent freeze (the snapshot is taken at once) and
//! the cluster-wide VolumeSnapshotContents of the CSI snapshotter.

mod content;
mod restore;
mod volume_status;

use std::{sync::Arc, time::Duration};

use k8s_openapi::{api::core::v1::PersistentVolumeClaim, jiff::Timestamp};
use kube::{
    Api, Client, ResourceExt,
    api::{Patch, PatchParams, PostParams},
    runtime::{controller::Action, reflector::Store},
};
use serde_json::json;

use super::{
    SimConfig, SimContext, SimError, controller, drive, informer, keep_filled,
    kinds::{
        Condition,
        kubevirt::VirtualMachine,
        snapshot::{
            SnapshotVolumes, VirtualMachineSnapshot, VirtualMachineSnapshotContent,
            VirtualMachineSnapshotContentSpec, VirtualMachineSnapshotStatus, VolumeBackup,
            VolumeSnapshotClass,
        },
    },
    upstream::snapshot as up,
};

/// What the snapshot controllers read: the simulators' context and the
/// VolumeSnapshotClasses' informer.
pub(crate) struct SnapshotWorld {
    pub sim: Arc<SimContext>,
    pub snapshot_classes: Store<VolumeSnapshotClass>,
}

/// The retry policy of the snapshot controllers.
fn retry<K>(_: Arc<K>, _: &SimError, _: Arc<SnapshotWorld>) -> Action {
    Action::requeue(Duration::from_millis(200))
}

/// Runs the snapshot, content, snapshotter, restore and volume status controllers.
pub async fn run(client: Client, config: Arc<SimConfig>) {
    let (snapshot_classes, class_changes) = informer::<VolumeSnapshotClass>(&client);
    let world = Arc::new(SnapshotWorld {
        sim: SimContext::new(&client, &config),
        snapshot_classes,
    });
    let snapshots =
        controller::<VirtualMachineSnapshot>(&client).run(reconcile, retry, world.clone());
    let contents = controller::<VirtualMachineSnapshotContent>(&client).run(
        content::reconcile_content,
        retry,
        world.clone(),
    );
    let snapshotter = controller::<super::kinds::snapshot::VolumeSnapshot>(&client).run(
        content::snapshotter,
        retry,
        world.clone(),
    );
    let restores = controller::<super::kinds::snapshot::VirtualMachineRestore>(&client).run(
        restore::reconcile,
        retry,
        world.clone(),
    );
    let statuses =
        controller::<VirtualMachine>(&client).run(volume_status::reconcile, retry, world);
    tokio::join!(
        drive("kubevirt-snapshot", snapshots),
        drive("kubevirt-snapshot-content", contents),
        drive("csi-snapshotter", snapshotter),
        drive("kubevirt-restore", restores),
        drive("kubevirt-volume-snapshot-status", statuses),
        keep_filled(class_changes),
    );
}

/// The VolumeSnapshotClass for a StorageClass (`getVolumeSnapshotClassName`): the one whose
/// driver is the class's provisioner, or of several the default; `Ok(None)` when there is
/// none, `Err` with upstream's message when several claim to be it.
pub(crate) async fn snapshot_class_for(
    world: &SnapshotWorld,
    storage_class: &str,
) -> Result<Result<Option<String>, String>, SimError> {
    let Some(class) = world.sim.storage_class(storage_class).await? else {
        return Ok(Ok(None));
    };
    let matches: Vec<_> = world
        .snapshot_classes
        .state()
        .into_iter()
        .filter(|c| c.driver == class.provisioner)
        .collect();
    Ok(match matches.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.name_any())),
        several => several
            .iter()
            .find(|c| {
                c.annotations()
                    .contains_key(up::DEFAULT_SNAPSHOT_CLASS_ANNOTATION)
            })
            .map(|c| Ok(Some(c.name_any())))
            .unwrap_or_else(|| {
                Err(format!(
                    "{} matching VolumeSnapshotClasses for {storage_class}",
                    several.len()
                ))
            }),
    })
}

/// The claim behind each of a VM's claim and DataVolume volumes: (volume, claim name).
pub(crate) fn claim_volumes(vm: &VirtualMachine) -> Vec<(String, String)> {
    vm.spec
        .template
        .as_ref()
        .and_then(|t| t.spec.as_ref())
        .map(|s| &s.volumes[..])
        .unwrap_or_default()
        .iter()
        .filter_map(|v| {
            let claim = v
                .persistent_volume_claim
                .as_ref()
                .map(|c| c.claim_name.clone())
                .or_else(|| v.data_volume.as_ref().map(|d| d.name.clone()))?;
            Some((v.name.clone(), claim))
        })
        .collect()
}

pub(crate) fn condition(type_: &str, status: bool, reason: &str) -> Condition {
    Condition {
        type_: type_.into(),
        status: if status { "True" } else { "False" }.into(),
        reason: Some(reason.into()),
        message: None,
        rest: Default::default(),
    }
}

async fn reconcile(
    snapshot: Arc<VirtualMachineSnapshot>,
    world: Arc<SnapshotWorld>,
) -> Result<Action, SimError> {
    let ctx = &world.sim;
    let namespace = snapshot.namespace().unwrap_or_default();
    let name = snapshot.name_any();
    let uid = snapshot.uid().unwrap_or_default();
    let snapshots = Api::<VirtualMachineSnapshot>::namespaced(ctx.client.clone(), &namespace);
    let contents = Api::<VirtualMachineSnapshotContent>::namespaced(ctx.client.clone(), &namespace);
    let content_name = format!("vmsnapshot-content-{uid}");
    let content = contents.get_opt(&content_name).await?;
    if snapshot.metadata.deletion_timestamp.is_some() {
        let delete_content = snapshot.spec.deletion_policy.as_deref() != Some("Retain");
        let live = content.filter(|c| c.metadata.deletion_timestamp.is_none());
        if let Some(content) = live.filter(|_| delete_content) {
            contents
                .delete(&content.name_any(), &Default::default())
                .await?;
            return Ok(ctx.config.next_step());
        }
        set_finalizer(&snapshots, &*snapshot, up::SNAPSHOT_FINALIZER, false).await?;
        return Ok(Action::await_change());
    }
    if !snapshot
        .finalizers()
        .iter()
        .any(|f| f == up::SNAPSHOT_FINALIZER)
    {
        set_finalizer(&snapshots, &*snapshot, up::SNAPSHOT_FINALIZER, true).await?;
        return Ok(ctx.config.next_step());
    }
    let vms = Api::<VirtualMachine>::namespaced(ctx.client.clone(), &namespace);
    let vm = vms.get_opt(&snapshot.spec.source.name).await?;
    let mut status = snapshot
        .status
        .clone()
        .unwrap_or(VirtualMachineSnapshotStatus {
            ready_to_use: Some(false),
            ..VirtualMachineSnapshotStatus::default()
        });
    let succeeded = status.phase.as_deref() == Some(up::SUCCEEDED);
    if let Some(vm) = &vm {
        status.source_uid = vm.uid();
        if content.is_none() && !succeeded {
            create_content(&world, &snapshot, vm, &content_name).await?;
        }
    }
    let content_status = content.as_ref().and_then(|c| c.status.clone());
    if let Some(done) = &content_status {
        status.virtual_machine_snapshot_content_name = Some(content_name.clone());
        status.creation_time = done.creation_time.clone();
        status.ready_to_use = done.ready_to_use;
    }
    status.conditions = if status.creation_time.is_some() {
        status.phase = Some(up::SUCCEEDED.into());
        status.snapshot_volumes = content.as_ref().map(snapshot_volumes);
        vec![
            condition(up::CONDITION_PROGRESSING, false, "Operation complete"),
            condition(
                up::CONDITION_READY,
                status.ready_to_use == Some(true),
                "Ready",
            ),
        ]
    } else {
        status.phase = Some(up::IN_PROGRESS.into());
        let source = if vm.is_some() {
            (true, "Source locked and operation in progress")
        } else {
            (false, "Source does not exist")
        };
        if vm.is_some() && online(ctx, &namespace, &snapshot.spec.source.name).await? {
            status.indications = vec![
                up::ONLINE_INDICATION.into(),
                up::NO_GUEST_AGENT_INDICATION.into(),
            ];
        }
        vec![
            condition(up::CONDITION_PROGRESSING, source.0, source.1),
            condition(up::CONDITION_READY, false, "Not ready"),
        ]
    };
    if snapshot.status.as_ref() != Some(&status) {
        snapshots
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": status})),
            )
            .await?;
    }
    Ok(if status.phase.as_deref() == Some(up::SUCCEEDED) {
        Action::await_change()
    } else {
        ctx.config.next_step()
    })
}

/// Whether the VM has a running instance (an online snapshot).
async fn online(ctx: &SimContext, namespace: &str, name: &str) -> Result<bool, SimError> {
    Ok(ctx.instance(namespace, name).await?.is_some())
}

/// Which of the VM's volumes the content backs up, and which it leaves out.
fn snapshot_volumes(content: &VirtualMachineSnapshotContent) -> SnapshotVolumes {
    let backed: Vec<String> = content
        .spec
        .volume_backups
        .iter()
        .map(|b| b.volume_name.clone())
        .collect();
    let all: Vec<String> =
        content.spec.source["virtualMachine"]["spec"]["template"]["spec"]["volumes"]
            .as_array()
            .map(|volumes| {
                volumes
                    .iter()
                    .filter_map(|v| v["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
    SnapshotVolumes {
        excluded_volumes: all
            .iter()
            .filter(|v| !backed.contains(v))
            .cloned()
            .collect(),
        included_volumes: backed,
    }
}

/// `createContent`: a VolumeBackup of each bound claim whose class can be snapshotted.
async fn create_content(
    world: &SnapshotWorld,
    snapshot: &VirtualMachineSnapshot,
    vm: &VirtualMachine,
    content_name: &str,
) -> Result<(), SimError> {
    let ctx = &world.sim;
    let namespace = snapshot.namespace().unwrap_or_default();
    let uid = snapshot.uid().unwrap_or_default();
    let mut backups = Vec::new();
    for (volume, claim_name) in claim_volumes(vm) {
        let Some(claim) = ctx.claim(&namespace, &claim_name).await? else {
            continue;
        };
        if !snapshottable(world, &claim).await? {
            continue;
        }
        backups.push(VolumeBackup {
            volume_snapshot_name: Some(format!("vmsnapshot-{uid}-volume-{volume}")),
            volume_name: volume,
            persistent_volume_claim: json!({
                "metadata": {
                    "name": claim.name_any(),
                    "namespace": namespace,
                    "labels": claim.labels(),
                    "annotations": claim.annotations(),
                },
                "spec": claim.spec,
            }),
        });
    }
    let content = VirtualMachineSnapshotContent {
        metadata: kube::api::ObjectMeta {
            name: Some(content_name.to_owned()),
            namespace: Some(namespace.clone()),
            finalizers: Some(vec![up::CONTENT_FINALIZER.into()]),
            ..Default::default()
        },
        spec: VirtualMachineSnapshotContentSpec {
            virtual_machine_snapshot_name: Some(snapshot.name_any()),
            source: json!({"virtualMachine": {
                "metadata": {"name": vm.name_any(), "namespace": namespace, "labels": vm.labels()},
                "spec": vm.spec,
            }}),
            volume_backups: backups,
            rest: Default::default(),
        },
        status: None,
    };
    let contents = Api::<VirtualMachineSnapshotContent>::namespaced(ctx.client.clone(), &namespace);
    match contents.create(&PostParams::default(), &content).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// `getSnapshotPVC`: bound, with a class that has a VolumeSnapshotClass.
async fn snapshottable(
    world: &SnapshotWorld,
    claim: &PersistentVolumeClaim,
) -> Result<bool, SimError> {
    let bound = claim.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound");
    let Some(class) = claim
        .spec
        .as_ref()
        .and_then(|s| s.storage_class_name.clone())
    else {
        return Ok(false);
    };
    Ok(bound && matches!(snapshot_class_for(world, &class).await?, Ok(Some(_))))
}

/// Adds or removes `finalizer` on `object`.
pub(crate) async fn set_finalizer<K>(
    api: &Api<K>,
    object: &K,
    finalizer: &str,
    present: bool,
) -> Result<(), SimError>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let mut finalizers: Vec<String> = object
        .finalizers()
        .iter()
        .filter(|f| *f != finalizer)
        .cloned()
        .collect();
    if present {
        finalizers.push(finalizer.into());
    }
    api.patch(
        &object.name_any(),
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": finalizers}})),
    )
    .await?;
    Ok(())
}

/// Now, as the API server writes times.
pub(crate) fn now() -> String {
    Timestamp::now()
        .round(k8s_openapi::jiff::Unit::Second)
        .unwrap_or_else(|_| Timestamp::now())
        .to_string()
}
