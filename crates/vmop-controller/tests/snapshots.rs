//! Snapshots and restore on the real control plane, with the test world's KubeVirt snapshot
//! and restore controllers (upstream CRDs, phases and policies): a scheduled policy keeps
//! exactly `keep` snapshots, a requested snapshot restores the VM to Running with the
//! restore's phase shown and the disks back in the profile's hands, a disk whose class has no
//! VolumeSnapshotClass is named in a condition, and a profile's deletion takes its snapshots
//! when its disks go; a restore asked for while the operator is killed is finished by the next
//! one.

mod common;

use std::collections::BTreeMap;

use common::{Operator, annotate, blank_disk_profile, condition, phase, wait_for, wait_gone};
use k8s_openapi::{api::core::v1::PersistentVolumeClaim, jiff::Timestamp};
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, ListParams, ObjectMeta, PostParams},
};
use vmop_api::{
    PROFILE_LABEL, Phase, RESTORE_ANNOTATION, RequestPhase, SCHEDULED_SNAPSHOT_LABEL,
    SNAPSHOT_ANNOTATION, SNAPSHOT_DUE_ANNOTATION, SnapshotPolicy, VirtualMachineProfile,
    external::kubevirt::{
        TypedLocalReference, VirtualMachine, VirtualMachineSnapshot, VirtualMachineSnapshotSpec,
    },
    fixtures::valid_profile,
    reasons::{SNAPSHOTS_AVAILABLE, SNAPSHOTS_UNAVAILABLE},
};
use vmop_testenv::{TestEnv, wait};

/// KubeVirt's annotation on a VM it restored.
const LAST_RESTORE_ANNOTATION: &str = "restore.kubevirt.io/lastRestoreUID";

/// The seed profile on the pod network: an image disk (a DataVolume) and a blank data disk
/// (a claim), both on a class with a VolumeSnapshotClass.
fn two_disks(name: &str) -> VirtualMachineProfile {
    let mut profile = valid_profile(name);
    profile.spec.networks.clear();
    profile.spec.disks[1].size = "2Gi".into();
    profile
}

fn request_phase(profile: &VirtualMachineProfile, restore: bool) -> Option<RequestPhase> {
    let status = profile.status.as_ref()?;
    let request = if restore {
        &status.restore
    } else {
        &status.snapshot
    };
    request.as_ref().map(|r| r.phase)
}

/// A scheduled snapshot of `profile` as if taken `minutes_ago`.
fn old_scheduled(profile: &str, minutes_ago: i64) -> VirtualMachineSnapshot {
    let due = Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_mins(minutes_ago + 10);
    VirtualMachineSnapshot {
        metadata: ObjectMeta {
            name: Some(format!("{profile}-old-{minutes_ago}")),
            labels: Some(BTreeMap::from([
                (PROFILE_LABEL.to_owned(), profile.to_owned()),
                (SCHEDULED_SNAPSHOT_LABEL.to_owned(), "true".to_owned()),
            ])),
            annotations: Some(BTreeMap::from([(
                SNAPSHOT_DUE_ANNOTATION.to_owned(),
                due.to_string(),
            )])),
            ..ObjectMeta::default()
        },
        spec: VirtualMachineSnapshotSpec {
            source: TypedLocalReference::virtual_machine(profile),
            ..VirtualMachineSnapshotSpec::default()
        },
        status: None,
    }
}

async fn scheduled_snapshots(api: &Api<VirtualMachineSnapshot>) -> Vec<VirtualMachineSnapshot> {
    let selector = format!("{SCHEDULED_SNAPSHOT_LABEL}=true");
    api.list(&ListParams::default().labels(&selector))
        .await
        .expect("list")
        .items
        .into_iter()
        .filter(|s| s.metadata.deletion_timestamp.is_none())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scheduled_policy_keeps_exactly_keep_snapshots_and_takes_the_due_one() {
    let ns = TestEnv::shared().namespace("snapshot-keep").await;
    let _operator = Operator::start(&ns).await;
    let profiles: Api<VirtualMachineProfile> = ns.api();
    profiles
        .create(&PostParams::default(), &two_disks("db"))
        .await
        .expect("profile");
    wait_for(&profiles, "db", "Running", |p| {
        phase(p) == Some(Phase::Running)
    })
    .await;
    // Three taken on an earlier schedule; the policy keeps two.
    let snapshots: Api<VirtualMachineSnapshot> = ns.api();
    for minutes_ago in [30, 20, 10] {
        snapshots
            .create(&PostParams::default(), &old_scheduled("db", minutes_ago))
            .await
            .expect("an earlier snapshot");
    }
    let started = Timestamp::now();
    let mut with_policy = profiles.get("db").await.expect("profile");
    with_policy.spec.snapshots = Some(SnapshotPolicy {
        schedule: "* * * * *".into(),
        keep: 2,
    });
    with_policy.metadata.managed_fields = None;
    profiles
        .replace("db", &PostParams::default(), &with_policy)
        .await
        .expect("set the policy");

    // The next minute's snapshot is taken and the oldest go: exactly two are left, the new one
    // among them.
    wait::until(
        "two scheduled snapshots, one of them new and ready",
        common::WAIT * 2,
        || async {
            let left = scheduled_snapshots(&snapshots).await;
            let new = left.iter().any(|s| {
                s.creation_timestamp().is_some_and(|t| t.0 >= started)
                    && s.status.as_ref().and_then(|s| s.ready_to_use) == Some(true)
            });
            (left.len() == 2 && new).then_some(())
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let listed = wait_for(&profiles, "db", "status listing the two", |p| {
        p.status.as_ref().is_some_and(|s| {
            s.snapshots.iter().filter(|s| s.scheduled).count() == 2
                && s.snapshots.first().is_some_and(|s| s.ready)
        })
    })
    .await;
    let newest = &listed.status.as_ref().expect("status").snapshots[0];
    assert!(newest.name.starts_with("db-"), "{newest:?}");
    assert!(
        !newest.name.contains("-old-"),
        "the newest is the one just taken"
    );
    let available = condition(&listed, SNAPSHOTS_AVAILABLE).expect("SnapshotsAvailable");
    assert_eq!(available.status, "True", "{available:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restore_returns_the_vm_to_running_with_its_phase_shown() {
    let ns = TestEnv::shared().namespace("snapshot-restore").await;
    let _operator = Operator::start(&ns).await;
    let profiles: Api<VirtualMachineProfile> = ns.api();
    profiles
        .create(&PostParams::default(), &two_disks("app"))
        .await
        .expect("profile");
    wait_for(&profiles, "app", "Running", |p| {
        phase(p) == Some(Phase::Running)
    })
    .await;

    annotate(&profiles, "app", SNAPSHOT_ANNOTATION, "before-upgrade").await;
    let taken = wait_for(&profiles, "app", "the snapshot ready", |p| {
        request_phase(p, false) == Some(RequestPhase::Succeeded)
    })
    .await;
    let snapshot = taken
        .status
        .as_ref()
        .and_then(|s| s.snapshot.as_ref())
        .and_then(|r| r.snapshot_name.clone())
        .expect("the snapshot's name");
    let listed = taken.status.as_ref().expect("status").snapshots.clone();
    let entry = listed
        .iter()
        .find(|s| s.name == snapshot)
        .expect("listed in status.snapshots");
    assert!(entry.ready && !entry.scheduled, "{entry:?}");
    // The VolumeSnapshots' restore sizes: the 80Gi system disk and the 2Gi data disk.
    assert_eq!(entry.size.as_deref(), Some("82Gi"), "{entry:?}");

    annotate(&profiles, "app", RESTORE_ANNOTATION, &snapshot).await;
    let restoring = wait_for(&profiles, "app", "the restore under way or done", |p| {
        request_phase(p, true).is_some()
    })
    .await;
    let recorded = restoring
        .status
        .as_ref()
        .and_then(|s| s.restore.clone())
        .expect("restore");
    assert_ne!(
        recorded.phase,
        RequestPhase::Refused,
        "{}",
        recorded.message
    );
    let restored = wait_for(&profiles, "app", "restored and Running again", |p| {
        request_phase(p, true) == Some(RequestPhase::Succeeded) && phase(p) == Some(Phase::Running)
    })
    .await;
    let message = &restored
        .status
        .as_ref()
        .and_then(|s| s.restore.as_ref())
        .expect("restore")
        .message;
    assert!(message.contains(&snapshot), "{message}");

    // KubeVirt restored the VM (its mark) and the claims in place; the blank disk's claim is
    // the profile's again, the image disk's its DataVolume's.
    let vms: Api<VirtualMachine> = ns.api();
    let vm = vms.get("app").await.expect("vm");
    assert!(
        vm.annotations().contains_key(LAST_RESTORE_ANNOTATION),
        "{:?}",
        vm.annotations()
    );
    let claims: Api<PersistentVolumeClaim> = ns.api();
    let data = claims.get("app--data").await.expect("data claim");
    assert!(
        data.annotations().contains_key("restore.kubevirt.io/name"),
        "a restored claim"
    );
    let profile_uid = restored.uid().expect("uid");
    assert!(
        data.owner_references().iter().any(|o| o.uid == profile_uid),
        "{:?}",
        data.owner_references()
    );
    let system = claims.get("app--system").await.expect("system claim");
    assert!(
        system
            .owner_references()
            .iter()
            .any(|o| o.kind == "DataVolume"),
        "{:?}",
        system.owner_references()
    );
    let ready = condition(&restored, "Ready").expect("Ready");
    assert_eq!(ready.status, "True", "{ready:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_disk_without_a_snapshot_class_is_named_and_deletion_takes_the_snapshots() {
    let ns = TestEnv::shared().namespace("snapshot-unavailable").await;
    let _operator = Operator::start(&ns).await;
    let profiles: Api<VirtualMachineProfile> = ns.api();
    let mut profile = blank_disk_profile("scratch", "tmp", "local-path");
    profile.spec.snapshots = Some(SnapshotPolicy {
        schedule: "0 2 * * *".into(),
        keep: 7,
    });
    profiles
        .create(&PostParams::default(), &profile)
        .await
        .expect("profile");
    let named = wait_for(&profiles, "scratch", "SnapshotsAvailable False", |p| {
        condition(p, SNAPSHOTS_AVAILABLE).is_some_and(|c| c.status == "False")
    })
    .await;
    let unavailable = condition(&named, SNAPSHOTS_AVAILABLE).expect("condition");
    assert_eq!(unavailable.reason, SNAPSHOTS_UNAVAILABLE);
    assert!(
        unavailable.message.contains("disk tmp") && unavailable.message.contains("local-path"),
        "{}",
        unavailable.message
    );
    // Nothing due yet: no scheduled snapshot at creation.
    let snapshots: Api<VirtualMachineSnapshot> = ns.api();
    assert!(scheduled_snapshots(&snapshots).await.is_empty());

    // A requested snapshot leaves the disk out but completes; the profile's deletion (its
    // disk's retention is Delete) takes it.
    annotate(&profiles, "scratch", SNAPSHOT_ANNOTATION, "t1").await;
    let taken = wait_for(&profiles, "scratch", "the snapshot ready", |p| {
        request_phase(p, false) == Some(RequestPhase::Succeeded)
    })
    .await;
    let name = taken
        .status
        .and_then(|s| s.snapshot)
        .and_then(|r| r.snapshot_name)
        .expect("name");
    assert!(snapshots.get_opt(&name).await.expect("get").is_some());
    profiles
        .delete("scratch", &DeleteParams::default())
        .await
        .expect("delete");
    wait_gone(&profiles, "scratch", "the profile gone").await;
    wait_gone(&snapshots, &name, "its snapshot gone").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restore_asked_for_while_the_operator_is_killed_is_finished_by_the_next_one() {
    let ns = TestEnv::shared().namespace("snapshot-restore-kill").await;
    let operator = Operator::start(&ns).await;
    let profiles: Api<VirtualMachineProfile> = ns.api();
    profiles
        .create(&PostParams::default(), &two_disks("kv"))
        .await
        .expect("profile");
    wait_for(&profiles, "kv", "Running", |p| {
        phase(p) == Some(Phase::Running)
    })
    .await;
    annotate(&profiles, "kv", SNAPSHOT_ANNOTATION, "t1").await;
    let taken = wait_for(&profiles, "kv", "the snapshot ready", |p| {
        request_phase(p, false) == Some(RequestPhase::Succeeded)
    })
    .await;
    let snapshot = taken
        .status
        .and_then(|s| s.snapshot)
        .and_then(|r| r.snapshot_name)
        .expect("the snapshot's name");

    // Killed mid-whatever right after the request: before or after it recorded the request,
    // created the restore or saw it complete.
    annotate(&profiles, "kv", RESTORE_ANNOTATION, &snapshot).await;
    operator.kill();
    let _next = Operator::start(&ns).await;
    let restored = wait_for(&profiles, "kv", "restored and Running again", |p| {
        request_phase(p, true) == Some(RequestPhase::Succeeded) && phase(p) == Some(Phase::Running)
    })
    .await;
    let recorded = restored
        .status
        .and_then(|s| s.restore)
        .expect("status.restore");
    assert_eq!(recorded.snapshot_name.as_deref(), Some(snapshot.as_str()));
    let vms: Api<VirtualMachine> = ns.api();
    let vm = vms.get("kv").await.expect("vm");
    assert!(vm.annotations().contains_key(LAST_RESTORE_ANNOTATION));
}
