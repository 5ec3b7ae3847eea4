//! Restore on request, pure: each new value of `vmoperator.io/restore-requested` (naming one
//! of the VM's snapshots, optionally `<snapshot>/<anything>` to restore the same one again)
//! is one VirtualMachineRestore, recorded in `status.restore` before it is created.
//!
//! The restore is KubeVirt's: `targetReadinessPolicy: StopTarget` (KubeVirt stops the VM),
//! `volumeRestorePolicy: InPlace` (each claim keeps its name, so the profile's disks stay
//! the VM's), `volumeOwnershipPolicy: None` (the restored claims are given back to the
//! profile, not to the VM). While it is under way the operator writes nothing to the VM or
//! its disks; once it completes, the profile's run strategy starts the VM again.

use std::{collections::BTreeMap, sync::Arc};

use kube::{ResourceExt, api::ObjectMeta};
use vmop_api::{
    PROFILE_LABEL, RequestPhase, RequestStatus,
    external::kubevirt::{
        FAILURE_CONDITION, TypedLocalReference, VirtualMachineRestore, VirtualMachineRestoreSpec,
        VirtualMachineSnapshot, restore_policy,
    },
};
use vmop_plugin::names::{derived_name, fnv1a};

/// `volumeOwnershipPolicy: None`: KubeVirt leaves the restored claims without an owner.
pub const VOLUME_OWNERSHIP_NONE: &str = "None";

/// What the pass does about a restore request.
#[derive(Debug, Clone, PartialEq)]
pub struct RestoreStep {
    /// `status.restore` after this pass.
    pub recorded: Option<RequestStatus>,
    /// Create this restore now.
    pub create: Option<VirtualMachineRestore>,
    /// The restore just completed: its claims are to be given back to the profile.
    pub completed: Option<String>,
}

impl RestoreStep {
    /// Whether a restore is under way: the operator leaves the VM and its disks alone.
    pub fn holds_children(&self) -> bool {
        self.recorded
            .as_ref()
            .is_some_and(|r| r.phase == RequestPhase::InProgress)
    }
}

/// The restore's name for a request.
pub fn restore_name(profile: &str, request: &str) -> String {
    derived_name(&[
        profile,
        "restore",
        &format!("{:08x}", fnv1a(request.as_bytes()) as u32),
    ])
}

fn restore_object(
    profile: &str,
    namespace: &str,
    name: &str,
    snapshot: &str,
) -> VirtualMachineRestore {
    let mut extra = vmop_api::external::Extra::default();
    extra.insert(
        "volumeOwnershipPolicy".into(),
        serde_json::Value::String(VOLUME_OWNERSHIP_NONE.into()),
    );
    VirtualMachineRestore {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.to_owned()),
            labels: Some(BTreeMap::from([(
                PROFILE_LABEL.to_owned(),
                profile.to_owned(),
            )])),
            ..ObjectMeta::default()
        },
        spec: VirtualMachineRestoreSpec {
            target: TypedLocalReference::virtual_machine(profile),
            virtual_machine_snapshot_name: snapshot.to_owned(),
            target_readiness_policy: Some(restore_policy::STOP_TARGET.into()),
            volume_restore_policy: Some(restore_policy::IN_PLACE.into()),
            extra,
        },
        status: None,
    }
}

/// Decides from the annotation, what status recorded, the profile's snapshots and the
/// restore (if one of the recorded name exists).
pub fn step(
    (profile, namespace): (&str, &str),
    requested: Option<&str>,
    recorded: Option<&RequestStatus>,
    snapshots: &[Arc<VirtualMachineSnapshot>],
    restore: Option<&VirtualMachineRestore>,
) -> RestoreStep {
    let keep = RestoreStep {
        recorded: recorded.cloned(),
        create: None,
        completed: None,
    };
    let Some(request) = requested.filter(|r| !r.is_empty()) else {
        return keep;
    };
    let Some(recorded) = recorded.filter(|r| r.request == request) else {
        // Recorded with the restore's name, a hash of the request: a pass that created it
        // but could not record it finds the name taken and creates nothing new.
        let accepted = accept(profile, request, snapshots);
        let create = match (&accepted.restore_name, &accepted.snapshot_name) {
            (Some(name), Some(snapshot)) => {
                Some(restore_object(profile, namespace, name, snapshot))
            }
            _ => None,
        };
        return RestoreStep {
            recorded: Some(accepted),
            create,
            completed: None,
        };
    };
    let (Some(name), Some(snapshot)) = (&recorded.restore_name, &recorded.snapshot_name) else {
        return keep;
    };
    if recorded.phase != RequestPhase::InProgress {
        return keep;
    }
    let Some(restore) = restore else {
        return RestoreStep {
            create: Some(restore_object(profile, namespace, name, snapshot)),
            ..keep
        };
    };
    let status = restore.status.clone().unwrap_or_default();
    let failure = status
        .conditions
        .iter()
        .find(|c| c.type_ == FAILURE_CONDITION && c.is_true());
    let (phase, message) = if status.complete == Some(true) {
        (
            RequestPhase::Succeeded,
            format!(
                "restored from snapshot {snapshot} at {}",
                status.restore_time.as_deref().unwrap_or("an unknown time")
            ),
        )
    } else if let Some(failure) = failure {
        (
            RequestPhase::Failed,
            format!(
                "restore {name} failed: {}",
                failure
                    .reason
                    .as_deref()
                    .unwrap_or("KubeVirt gave no reason")
            ),
        )
    } else {
        let progress = status
            .conditions
            .iter()
            .find(|c| c.type_ == "Progressing" || c.type_ == "Ready")
            .and_then(|c| c.reason.clone())
            .unwrap_or_else(|| "created".into());
        (
            RequestPhase::InProgress,
            format!("restore {name}: {progress}"),
        )
    };
    RestoreStep {
        completed: (phase == RequestPhase::Succeeded).then(|| name.clone()),
        recorded: Some(RequestStatus {
            phase,
            message,
            ..recorded.clone()
        }),
        create: None,
    }
}

/// A new request: accepted (recorded with its restore's name) when it names a ready
/// snapshot of this VM, refused with the reason otherwise.
fn accept(
    profile: &str,
    request: &str,
    snapshots: &[Arc<VirtualMachineSnapshot>],
) -> RequestStatus {
    let wanted = request.split('/').next().unwrap_or_default();
    let refused = |message: String| RequestStatus {
        request: request.to_owned(),
        phase: RequestPhase::Refused,
        message,
        ..RequestStatus::default()
    };
    let Some(snapshot) = snapshots
        .iter()
        .find(|s| s.name_any() == wanted && s.metadata.deletion_timestamp.is_none())
    else {
        return refused(format!(
            "{wanted:?} is not one of this VM's snapshots (see status.snapshots)"
        ));
    };
    // A snapshot labelled as the profile's but of another VM would restore that VM's disks
    // into this one (KubeVirt refuses it late; refused here at once).
    if snapshot.spec.source.kind != "VirtualMachine" || snapshot.spec.source.name != profile {
        return refused(format!(
            "snapshot {wanted} is of {} {}, not of this VM",
            snapshot.spec.source.kind, snapshot.spec.source.name
        ));
    }
    if snapshot.status.as_ref().and_then(|s| s.ready_to_use) != Some(true) {
        return refused(format!("snapshot {wanted} is not ready to use yet"));
    }
    let name = restore_name(profile, request);
    RequestStatus {
        request: request.to_owned(),
        phase: RequestPhase::InProgress,
        message: format!("restore {name} from snapshot {wanted} asked for"),
        snapshot_name: Some(wanted.to_owned()),
        restore_name: Some(name),
        ..RequestStatus::default()
    }
}

#[cfg(test)]
mod tests {
    use vmop_api::external::{
        UpstreamCondition,
        kubevirt::{VirtualMachineRestoreStatus, VirtualMachineSnapshotStatus},
    };

    use super::*;

    const AT: (&str, &str) = ("db", "team-a");

    fn snapshot(name: &str, ready: bool) -> Arc<VirtualMachineSnapshot> {
        snapshot_of("db", name, ready)
    }

    fn snapshot_of(vm: &str, name: &str, ready: bool) -> Arc<VirtualMachineSnapshot> {
        Arc::new(VirtualMachineSnapshot {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            spec: vmop_api::external::kubevirt::VirtualMachineSnapshotSpec {
                source: TypedLocalReference::virtual_machine(vm),
                ..Default::default()
            },
            status: Some(VirtualMachineSnapshotStatus {
                ready_to_use: Some(ready),
                ..VirtualMachineSnapshotStatus::default()
            }),
        })
    }

    fn restore(complete: bool, failure: Option<&str>) -> VirtualMachineRestore {
        let conditions = failure
            .map(|reason| UpstreamCondition {
                type_: FAILURE_CONDITION.into(),
                status: "True".into(),
                reason: Some(reason.into()),
                ..UpstreamCondition::default()
            })
            .into_iter()
            .collect();
        VirtualMachineRestore {
            status: Some(VirtualMachineRestoreStatus {
                complete: Some(complete),
                restore_time: complete.then(|| "2026-12-07T06:00:00Z".into()),
                conditions,
                ..VirtualMachineRestoreStatus::default()
            }),
            ..VirtualMachineRestore::default()
        }
    }

    #[test]
    fn a_request_is_recorded_then_created_once_and_holds_the_vm_until_complete() {
        let snapshots = vec![snapshot("db-20261207-0200", true)];
        let request = Some("db-20261207-0200");
        let first = step(AT, request, None, &snapshots, None);
        assert!(first.holds_children());
        let recorded = first.recorded.expect("recorded");
        assert_eq!(recorded.snapshot_name.as_deref(), Some("db-20261207-0200"));
        let created = first.create.expect("created with the record");
        // A pass that finds it recorded but not in the cache asks for the same name again.
        let second = step(AT, request, Some(&recorded), &snapshots, None);
        assert_eq!(
            second.create.map(|r| r.name_any()),
            Some(created.name_any())
        );
        assert_eq!(
            created.spec.virtual_machine_snapshot_name,
            "db-20261207-0200"
        );
        assert_eq!(created.spec.target.name, "db");
        assert_eq!(
            created.spec.target_readiness_policy.as_deref(),
            Some(restore_policy::STOP_TARGET)
        );
        assert_eq!(
            created.spec.volume_restore_policy.as_deref(),
            Some(restore_policy::IN_PLACE)
        );

        let under_way = step(
            AT,
            request,
            Some(&recorded),
            &snapshots,
            Some(&restore(false, None)),
        );
        assert_eq!(under_way.create, None);
        assert!(under_way.holds_children());
        let done = step(
            AT,
            request,
            Some(&recorded),
            &snapshots,
            Some(&restore(true, None)),
        );
        assert!(!done.holds_children());
        assert_eq!(done.completed, recorded.restore_name);
        let done = done.recorded.expect("recorded");
        assert_eq!(done.phase, RequestPhase::Succeeded);
        assert!(
            done.message.contains("2026-12-07T06:00:00Z"),
            "{}",
            done.message
        );
        // Finished requests stay as they are.
        let later = step(AT, request, Some(&done), &snapshots, None);
        assert_eq!(later.recorded, Some(done));
        assert_eq!(later.create, None);
    }

    #[test]
    fn a_failed_restore_says_why_and_releases_the_vm() {
        let snapshots = vec![snapshot("s1", true)];
        let recorded = step(AT, Some("s1"), None, &snapshots, None)
            .recorded
            .expect("recorded");
        let failed = step(
            AT,
            Some("s1"),
            Some(&recorded),
            &snapshots,
            Some(&restore(false, Some("Operation failed"))),
        );
        assert!(!failed.holds_children());
        let failed = failed.recorded.expect("recorded");
        assert_eq!(failed.phase, RequestPhase::Failed);
        assert!(failed.message.contains("Operation failed"));
    }

    #[test]
    fn an_unknown_or_unready_snapshot_is_refused_and_the_same_one_can_be_asked_again() {
        let snapshots = vec![snapshot("s1", false)];
        let unknown = step(AT, Some("other"), None, &snapshots, None)
            .recorded
            .expect("recorded");
        assert_eq!(unknown.phase, RequestPhase::Refused);
        assert!(unknown.message.contains("not one of this VM's snapshots"));
        let unready = step(AT, Some("s1"), None, &snapshots, None)
            .recorded
            .expect("recorded");
        assert_eq!(unready.phase, RequestPhase::Refused);
        assert!(unready.message.contains("not ready"));
        let of_another = vec![snapshot_of("web", "s1", true)];
        let another = step(AT, Some("s1"), None, &of_another, None)
            .recorded
            .expect("recorded");
        assert_eq!(another.phase, RequestPhase::Refused);
        assert!(
            another.message.contains("not of this VM"),
            "{}",
            another.message
        );
        let ready = vec![snapshot("s1", true)];
        let again = step(AT, Some("s1/2"), Some(&unready), &ready, None)
            .recorded
            .expect("recorded");
        assert_eq!(again.phase, RequestPhase::InProgress);
        assert_eq!(again.snapshot_name.as_deref(), Some("s1"));
        assert_ne!(again.restore_name, Some(restore_name("db", "s1")));
    }
}
