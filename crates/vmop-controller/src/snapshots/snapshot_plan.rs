//! Which snapshots a profile needs now, pure: the one due on its schedule, the one asked for
//! with `vmoperator.io/snapshot-requested`, the scheduled ones beyond `keep` to delete, and
//! what `status.snapshots` lists.
//!
//! A scheduled snapshot is named after the time it was due, so taking it is idempotent: a
//! pass that finds it missing (not yet in the cache) asks for the same name again. Only the
//! latest due time is taken; one missed while the operator was down is taken when it is
//! back, one before the profile existed never is.

use std::{collections::BTreeMap, sync::Arc};

use k8s_openapi::jiff::Timestamp;
use kube::{ResourceExt, api::ObjectMeta};
use vmop_api::{
    MAX_LISTED_SNAPSHOTS, PROFILE_LABEL, RequestPhase, RequestStatus, SCHEDULED_SNAPSHOT_LABEL,
    SNAPSHOT_DUE_ANNOTATION, SnapshotStatus,
    external::kubevirt::{
        TypedLocalReference, VirtualMachineSnapshot, VirtualMachineSnapshotSpec, snapshot_phase,
    },
};
use vmop_plugin::names::{derived_name, fnv1a};

use crate::snapshots::schedule::Schedule;

/// What the snapshot part of a pass starts from.
#[derive(Debug)]
pub struct SnapshotInputs<'a> {
    /// The profile's (and its VM's) name.
    pub profile: &'a str,
    /// Its namespace.
    pub namespace: &'a str,
    /// `spec.snapshots`: the parsed schedule and `keep`.
    pub schedule: Option<(&'a Schedule, usize)>,
    /// The annotation `vmoperator.io/snapshot-requested`.
    pub requested: Option<&'a str>,
    /// `status.snapshot` as the last pass left it.
    pub recorded: Option<&'a RequestStatus>,
    /// The profile's snapshots in the cache.
    pub existing: &'a [Arc<VirtualMachineSnapshot>],
    /// `status.snapshots` as the last pass left it (sizes once read are kept).
    pub old_listed: &'a [SnapshotStatus],
    /// Whether the VM exists (a snapshot of no VM never completes).
    pub vm_exists: bool,
    /// When the profile was created: due times before it are not taken.
    pub created: Timestamp,
    /// Now.
    pub now: Timestamp,
}

/// What the pass does about snapshots.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SnapshotStep {
    /// Snapshots to create.
    pub create: Vec<VirtualMachineSnapshot>,
    /// Scheduled snapshots beyond `keep`, oldest first, to delete.
    pub delete: Vec<String>,
    /// `status.snapshot` after this pass.
    pub recorded: Option<RequestStatus>,
    /// `status.snapshots` after this pass, newest first.
    pub listed: Vec<SnapshotStatus>,
    /// When the next scheduled snapshot is due.
    pub next_due: Option<Timestamp>,
}

/// The name of the snapshot due at `due`: `<profile>-<yyyymmdd>-<hhmm>`.
pub fn scheduled_name(profile: &str, due: Timestamp) -> String {
    format!("{profile}-{}", due.strftime("%Y%m%d-%H%M"))
}

/// The name of the snapshot a request asks for.
pub fn requested_name(profile: &str, request: &str) -> String {
    derived_name(&[
        profile,
        "snapshot",
        &format!("{:08x}", fnv1a(request.as_bytes()) as u32),
    ])
}

/// When a snapshot the operator made was due (its annotation), else when it was created.
fn due_of(snapshot: &VirtualMachineSnapshot) -> Option<Timestamp> {
    snapshot
        .annotations()
        .get(SNAPSHOT_DUE_ANNOTATION)
        .and_then(|t| t.parse().ok())
        .or_else(|| snapshot.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

fn is_scheduled(snapshot: &VirtualMachineSnapshot) -> bool {
    snapshot
        .labels()
        .get(SCHEDULED_SNAPSHOT_LABEL)
        .is_some_and(|v| v == "true")
}

/// A snapshot of the profile's VM, labelled as the profile's and stamped with its due time.
fn snapshot_object(
    inputs: &SnapshotInputs<'_>,
    name: &str,
    due: Timestamp,
    scheduled: bool,
) -> VirtualMachineSnapshot {
    let mut labels = BTreeMap::from([(PROFILE_LABEL.to_owned(), inputs.profile.to_owned())]);
    if scheduled {
        labels.insert(SCHEDULED_SNAPSHOT_LABEL.to_owned(), "true".to_owned());
    }
    VirtualMachineSnapshot {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(inputs.namespace.to_owned()),
            labels: Some(labels),
            annotations: Some(BTreeMap::from([(
                SNAPSHOT_DUE_ANNOTATION.to_owned(),
                due.to_string(),
            )])),
            ..ObjectMeta::default()
        },
        spec: VirtualMachineSnapshotSpec {
            source: TypedLocalReference::virtual_machine(inputs.profile),
            ..VirtualMachineSnapshotSpec::default()
        },
        status: None,
    }
}

/// Decides the pass's snapshots.
pub fn step(inputs: &SnapshotInputs<'_>) -> SnapshotStep {
    let mut step = SnapshotStep::default();
    let live: Vec<&VirtualMachineSnapshot> = inputs
        .existing
        .iter()
        .map(AsRef::as_ref)
        .filter(|s| s.metadata.deletion_timestamp.is_none())
        .collect();
    let mut scheduled: Vec<(Timestamp, String)> = live
        .iter()
        .filter(|s| is_scheduled(s))
        .filter_map(|s| Some((due_of(s)?, s.name_any())))
        .collect();
    if let Some((schedule, keep)) = inputs.schedule {
        let newest = scheduled.iter().map(|(due, _)| *due).max();
        let due = schedule
            .last_due(inputs.now)
            .filter(|due| *due >= inputs.created && newest.is_none_or(|n| n < *due));
        if let Some(due) = due.filter(|_| inputs.vm_exists) {
            let name = scheduled_name(inputs.profile, due);
            step.create.push(snapshot_object(inputs, &name, due, true));
            scheduled.push((due, name));
        }
        scheduled.sort();
        let beyond = scheduled.len().saturating_sub(keep);
        step.delete = scheduled[..beyond].iter().map(|(_, n)| n.clone()).collect();
        step.next_due = schedule.next_due(inputs.now);
    }
    let (recorded, create) = requested(inputs, &live);
    step.recorded = recorded;
    step.create.extend(create);
    step.listed = listed(&live, &step, inputs.old_listed);
    step
}

/// The snapshot request as this pass leaves it, and the snapshot to create for it.
fn requested(
    inputs: &SnapshotInputs<'_>,
    live: &[&VirtualMachineSnapshot],
) -> (Option<RequestStatus>, Option<VirtualMachineSnapshot>) {
    let Some(request) = inputs.requested.filter(|r| !r.is_empty()) else {
        return (inputs.recorded.cloned(), None);
    };
    let Some(recorded) = inputs.recorded.filter(|r| r.request == request) else {
        // Recorded with the snapshot's name, a hash of the request: a pass that created it
        // but could not record it creates nothing new (the name is taken).
        let name = requested_name(inputs.profile, request);
        if !inputs.vm_exists {
            let refused = RequestStatus {
                request: request.to_owned(),
                phase: RequestPhase::Refused,
                message: "the VM does not exist yet: there is nothing to snapshot".into(),
                ..RequestStatus::default()
            };
            return (Some(refused), None);
        }
        let object = snapshot_object(inputs, &name, inputs.now, false);
        let recorded = RequestStatus {
            request: request.to_owned(),
            phase: RequestPhase::InProgress,
            message: format!("snapshot {name} asked for"),
            snapshot_name: Some(name),
            ..RequestStatus::default()
        };
        return (Some(recorded), Some(object));
    };
    let Some(name) = recorded
        .snapshot_name
        .as_deref()
        .filter(|_| recorded.phase == RequestPhase::InProgress)
    else {
        return (Some(recorded.clone()), None);
    };
    let Some(snapshot) = live.iter().find(|s| s.name_any() == name) else {
        let object = snapshot_object(inputs, name, inputs.now, false);
        return (Some(recorded.clone()), Some(object));
    };
    let status = snapshot.status.clone().unwrap_or_default();
    let outcome = match status.phase.as_deref() {
        _ if status.ready_to_use == Some(true) => {
            Some((RequestPhase::Succeeded, format!("snapshot {name} is ready")))
        }
        Some(snapshot_phase::FAILED) => Some((
            RequestPhase::Failed,
            format!(
                "snapshot {name} failed: {}",
                status
                    .error
                    .and_then(|e| e.message)
                    .unwrap_or_else(|| "KubeVirt gave no reason".into())
            ),
        )),
        _ => None,
    };
    let recorded = match outcome {
        Some((phase, message)) => RequestStatus {
            phase,
            message,
            ..recorded.clone()
        },
        None => recorded.clone(),
    };
    (Some(recorded), None)
}

/// `status.snapshots`: every live snapshot of the profile and those created now, less those
/// deleted now, newest first.
fn listed(
    live: &[&VirtualMachineSnapshot],
    step: &SnapshotStep,
    old: &[SnapshotStatus],
) -> Vec<SnapshotStatus> {
    let mut listed: Vec<(Option<Timestamp>, SnapshotStatus)> = live
        .iter()
        .copied()
        .chain(&step.create)
        .filter(|s| !step.delete.contains(&s.name_any()))
        .map(|s| {
            let status = s.status.clone().unwrap_or_default();
            let due = due_of(s);
            let entry = SnapshotStatus {
                name: s.name_any(),
                time: status
                    .creation_time
                    .clone()
                    .or_else(|| due.map(|d| d.to_string())),
                phase: status.phase.clone(),
                ready: status.ready_to_use == Some(true),
                size: old
                    .iter()
                    .find(|o| o.name == s.name_any())
                    .and_then(|o| o.size.clone()),
                scheduled: is_scheduled(s),
            };
            (due, entry)
        })
        .collect();
    listed.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.name.cmp(&b.1.name)));
    listed.dedup_by(|a, b| a.1.name == b.1.name);
    listed
        .into_iter()
        .map(|(_, entry)| entry)
        .take(MAX_LISTED_SNAPSHOTS)
        .collect()
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use vmop_api::external::kubevirt::VirtualMachineSnapshotStatus;

    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().expect("timestamp")
    }

    fn inputs<'a>(
        schedule: Option<(&'a Schedule, usize)>,
        existing: &'a [Arc<VirtualMachineSnapshot>],
        now: &str,
    ) -> SnapshotInputs<'a> {
        SnapshotInputs {
            profile: "db",
            namespace: "team-a",
            schedule,
            requested: None,
            recorded: None,
            existing,
            old_listed: &[],
            vm_exists: true,
            created: at("2026-12-01T00:00:00Z"),
            now: at(now),
        }
    }

    fn taken(due: &str, ready: bool) -> Arc<VirtualMachineSnapshot> {
        let mut snapshot = snapshot_object(
            &inputs(None, &[], due),
            &scheduled_name("db", at(due)),
            at(due),
            true,
        );
        snapshot.metadata.creation_timestamp = Some(Time(at(due)));
        snapshot.status = Some(VirtualMachineSnapshotStatus {
            phase: Some("Succeeded".into()),
            ready_to_use: Some(ready),
            creation_time: Some(due.into()),
            ..VirtualMachineSnapshotStatus::default()
        });
        Arc::new(snapshot)
    }

    #[test]
    fn the_due_snapshot_is_taken_once_and_the_oldest_beyond_keep_go() {
        let nightly = Schedule::parse("0 2 * * *").expect("schedule");
        let existing = vec![
            taken("2026-12-04T02:00:00Z", true),
            taken("2026-12-05T02:00:00Z", true),
            taken("2026-12-06T02:00:00Z", true),
        ];
        let step = step(&inputs(
            Some((&nightly, 3)),
            &existing,
            "2026-12-07T05:00:00Z",
        ));
        let names: Vec<String> = step.create.iter().map(ResourceExt::name_any).collect();
        assert_eq!(names, vec!["db-20261207-0200"]);
        assert_eq!(step.delete, vec!["db-20261204-0200"]);
        assert_eq!(step.next_due, Some(at("2026-12-08T02:00:00Z")));
        let listed: Vec<&str> = step.listed.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            listed,
            vec!["db-20261207-0200", "db-20261206-0200", "db-20261205-0200"]
        );
        assert!(step.listed.iter().all(|s| s.scheduled));
        assert!(!step.listed[0].ready, "the new one is not ready yet");
    }

    #[test]
    fn nothing_is_due_twice_nor_before_the_profile_existed() {
        let nightly = Schedule::parse("0 2 * * *").expect("schedule");
        let existing = vec![taken("2026-12-07T02:00:00Z", true)];
        let again = step(&inputs(
            Some((&nightly, 7)),
            &existing,
            "2026-12-07T23:00:00Z",
        ));
        assert!(again.create.is_empty() && again.delete.is_empty());
        let mut young = inputs(Some((&nightly, 7)), &[], "2026-12-07T05:00:00Z");
        young.created = at("2026-12-07T03:00:00Z");
        assert!(
            step(&young).create.is_empty(),
            "02:00 was before the profile"
        );
        let mut no_vm = inputs(Some((&nightly, 7)), &[], "2026-12-07T05:00:00Z");
        no_vm.vm_exists = false;
        assert!(step(&no_vm).create.is_empty());
    }

    #[test]
    fn a_request_is_recorded_then_taken_then_reported_ready() {
        let mut first = inputs(None, &[], "2026-12-07T05:00:00Z");
        first.requested = Some("before-upgrade");
        let first = step(&first);
        let recorded = first.recorded.expect("recorded");
        assert_eq!(recorded.phase, RequestPhase::InProgress);
        let name = recorded.snapshot_name.clone().expect("name");
        assert_eq!(first.create.len(), 1, "recorded and created at once");
        assert_eq!(first.listed.len(), 1, "listed at once");

        let mut second = inputs(None, &[], "2026-12-07T05:00:01Z");
        second.requested = Some("before-upgrade");
        second.recorded = Some(&recorded);
        let created = step(&second).create;
        assert_eq!(created.len(), 1);
        assert_eq!(created[0].name_any(), name);
        assert!(
            !is_scheduled(&created[0]),
            "a request is not counted by keep"
        );

        let mut done = created[0].clone();
        done.status = Some(VirtualMachineSnapshotStatus {
            ready_to_use: Some(true),
            phase: Some("Succeeded".into()),
            ..VirtualMachineSnapshotStatus::default()
        });
        let existing = vec![Arc::new(done)];
        let mut third = inputs(None, &existing, "2026-12-07T05:01:00Z");
        third.requested = Some("before-upgrade");
        third.recorded = Some(&recorded);
        let third = step(&third);
        assert!(third.create.is_empty());
        assert_eq!(
            third.recorded.map(|r| r.phase),
            Some(RequestPhase::Succeeded)
        );
        assert_eq!(third.listed.len(), 1);
        assert!(third.listed[0].ready && !third.listed[0].scheduled);
    }

    #[test]
    fn a_request_without_a_vm_is_refused_and_not_retried() {
        let mut asked = inputs(None, &[], "2026-12-07T05:00:00Z");
        asked.requested = Some("now");
        asked.vm_exists = false;
        let refused = step(&asked).recorded.expect("recorded");
        assert_eq!(refused.phase, RequestPhase::Refused);
        asked.vm_exists = true;
        asked.recorded = Some(&refused);
        let again = step(&asked);
        assert!(again.create.is_empty());
        assert_eq!(again.recorded, Some(refused.clone()));
    }
}
