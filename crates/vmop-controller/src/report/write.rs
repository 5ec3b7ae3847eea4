//! Writing status: at most once per reconcile, only when it changed, details (import
//! progress and the like) coalesced; and the Events that mark a phase reached, a refusal or
//! a request's step.

use std::time::Duration;

use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};
use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::{
        events::{Event, EventType},
        reflector::ObjectRef,
    },
};
use serde_json::json;
use tracing::{debug, info, warn};
use vmop_api::{
    ConditionType, Phase, VirtualMachineProfile, VirtualMachineProfileStatus,
    external::kubevirt::LIVE_MIGRATABLE_CONDITION,
    reasons::{APPLY_REJECTED, CONFLICT, DELETION_WAITING, SCHEDULED},
};

use crate::{
    context::{Context, FIELD_MANAGER},
    converge::apply::kind_of,
    desired::sizing,
    error::Result,
    report::{
        events::truncate,
        status_writes::{StatusWrites, content_hash},
    },
    requests::request::{self, Action as RequestAction},
};

/// Ready reasons that are worth an Event (a Warning) when they appear.
const REFUSALS: &[&str] = &[
    CONFLICT,
    APPLY_REJECTED,
    crate::desired::plan::NOT_ALLOWED,
    crate::desired::plan::STORAGE_CLASS_NOT_FOUND,
    vmop_api::reasons::CREDENTIALS_NOT_FOUND,
    vmop_api::reasons::CREDENTIALS_UNUSABLE,
    sizing::INSTANCETYPE_NOT_FOUND,
    sizing::PREFERENCE_NOT_FOUND,
    crate::desired::disk_changes::DISK_CHANGE_REFUSED,
    DELETION_WAITING,
];

/// Shortest time between two status writes that change only details, in a settled phase
/// (an address reported just after the Running write shows within seconds).
pub const DETAIL_INTERVAL: Duration = Duration::from_secs(5);

/// The same on the way to a settled phase (Queued, Provisioning, Starting): what changes
/// there is mostly import progress, refreshed this often; arriving at the next phase is
/// written at once. At 1,000 profiles importing together, 5 s cost more than one write per
/// profile beyond its phases (`cargo xtask bench --shape seed`).
pub const PROGRESS_INTERVAL: Duration = Duration::from_secs(30);

/// On the way to a settled phase, details alone are first written this long after the last
/// write of more than details (the phase, a condition): progress is for the long imports, and
/// one that ends within two minutes goes from Provisioning to Starting with no write between.
/// At 1,000 profiles importing together, progress every 30 s from the start cost 1.1 status
/// writes per profile beyond its phases (`cargo xtask bench --shape seed`). The live figure is
/// always the DataVolume's (`kubectl get datavolumes`).
pub const PROGRESS_AFTER: Duration = Duration::from_secs(120);

/// How long details wait after the previous status write, for a status in `phase`; and after
/// the previous write of more than details.
pub(crate) fn detail_interval(phase: Option<Phase>) -> (Duration, Duration) {
    match phase {
        Some(Phase::Queued | Phase::Provisioning | Phase::Starting) => {
            (PROGRESS_INTERVAL, PROGRESS_AFTER)
        }
        _ => (DETAIL_INTERVAL, Duration::ZERO),
    }
}

/// How a condition's change counts on the way to a settled phase (Queued, Provisioning,
/// Starting), where only the phase and `Ready` are news.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum OnTheWay {
    /// Written at once (Ready, and every condition in a settled phase).
    Outline,
    /// Turning (or appearing) True is progress, written with the next phase or progress
    /// write; going back or another reason is written at once. A part ready (the network
    /// enacted while the disk still imports), the VM placed on a node before KubeVirt reports
    /// it running. At 1,000 seed profiles, writing those at once cost 0.06 status writes per
    /// profile (`cargo xtask bench --shape seed`).
    Progress,
    /// About the running VM (whether it can live-migrate): a detail until it runs.
    Detail,
}

fn on_the_way(phase: Option<Phase>, type_: &str) -> OnTheWay {
    if !matches!(
        phase,
        Some(Phase::Queued | Phase::Provisioning | Phase::Starting)
    ) {
        return OnTheWay::Outline;
    }
    let progress = [
        ConditionType::NetworksReady.as_str(),
        ConditionType::StorageReady.as_str(),
        ConditionType::VmReady.as_str(),
        SCHEDULED,
    ];
    if progress.contains(&type_) {
        OnTheWay::Progress
    } else if type_ == LIVE_MIGRATABLE_CONDITION {
        OnTheWay::Detail
    } else {
        OnTheWay::Outline
    }
}

/// Whether `new` differs from `old` only in details (import progress, disk and network
/// details, condition messages, and on the way to a settled phase what [`on_the_way`] counts
/// so): not in phase, generation, requests or any other condition's status or reason. Such
/// changes are coalesced; the others are written at once.
fn details_only(old: &VirtualMachineProfileStatus, new: &VirtualMachineProfileStatus) -> bool {
    let outline = |status: &VirtualMachineProfileStatus| {
        let mut conditions: Vec<(String, String, String)> = status
            .conditions
            .iter()
            .filter(|c| on_the_way(new.phase, &c.type_) == OnTheWay::Outline)
            .map(|c| (c.type_.clone(), c.status.clone(), c.reason.clone()))
            .collect();
        conditions.sort();
        // A request's progress is never a mere detail, nor a snapshot taken, ready or gone.
        let requests = [
            &status.restart,
            &status.migration,
            &status.snapshot,
            &status.restore,
        ]
        .map(Clone::clone);
        let snapshots: Vec<(String, bool)> = status
            .snapshots
            .iter()
            .map(|s| (s.name.clone(), s.ready))
            .collect();
        (
            status.phase,
            status.observed_generation,
            conditions,
            requests,
            snapshots,
        )
    };
    outline(old) == outline(new) && only_progressed(old, new)
}

/// Whether every condition [`on_the_way`] counts as progress is as it was or became True.
fn only_progressed(old: &VirtualMachineProfileStatus, new: &VirtualMachineProfileStatus) -> bool {
    let outline = |status: &VirtualMachineProfileStatus, type_: &str| {
        status
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
            .map(|c| (c.status.clone(), c.reason.clone()))
    };
    let types = old.conditions.iter().chain(&new.conditions);
    types
        .filter(|c| on_the_way(new.phase, &c.type_) == OnTheWay::Progress)
        .all(|c| {
            let now = outline(new, &c.type_);
            now == outline(old, &c.type_) || now.is_some_and(|(status, _)| status == "True")
        })
}

/// What a status write changed, in a line: the phase, the conditions whose status or reason
/// moved, or "details".
fn what_changed(old: &VirtualMachineProfileStatus, new: &VirtualMachineProfileStatus) -> String {
    let mut changes = Vec::new();
    if old.phase != new.phase {
        changes.push(format!("phase {:?} -> {:?}", old.phase, new.phase));
    }
    for condition in &new.conditions {
        let before = old.conditions.iter().find(|c| c.type_ == condition.type_);
        let outline = |c: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition| {
            format!("{}/{}", c.status, c.reason)
        };
        let was = before.map_or_else(|| "-".to_owned(), outline);
        let is = outline(condition);
        if was != is {
            changes.push(format!("{} {was} -> {is}", condition.type_));
        }
    }
    if changes.is_empty() {
        "details".to_owned()
    } else {
        changes.join("; ")
    }
}

pub(crate) fn now() -> Time {
    Time(Timestamp::now())
}

/// Shortest wait for the cache to show the last status write, when a reconcile came first
/// and computed another status (see [`Held::CacheBehind`]).
pub const CACHE_CATCH_UP: Duration = Duration::from_secs(1);

/// Why a status that changed is not written by this reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Held {
    /// Details only, and the last write (or the last of more than details) too recent for
    /// [`detail_interval`]: written by a later look (see `look_again`) once this has passed.
    Details(Duration),
    /// The cache has not shown the last write yet (the cached profile's resourceVersion is
    /// older), and this status differs from it: compared with the cached one, older than what
    /// was written, a detail would look like news. A look [`CACHE_CATCH_UP`] later decides
    /// (for at most `CACHE_BEHIND_FOR` after the write).
    CacheBehind,
}

/// What becomes of a computed status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Nothing to write: unchanged, or what the last write wrote (a reconcile ahead of its
    /// cache computes it again from the older status).
    Unchanged,
    Held(Held),
    Write,
}

/// Whether `new` is written now, held, or needs no write, given the profile's last `writes`.
pub(crate) fn decide(
    writes: &StatusWrites,
    profile: &VirtualMachineProfile,
    old: &VirtualMachineProfileStatus,
    new: &VirtualMachineProfileStatus,
) -> Decision {
    if new == old {
        return Decision::Unchanged;
    }
    let key = ObjectRef::from(profile);
    let version = profile.metadata.resource_version.as_deref();
    if let Some(written) = writes.cache_behind(&key, version) {
        return if written == content_hash(new) {
            Decision::Unchanged
        } else {
            Decision::Held(Held::CacheBehind)
        };
    }
    if !details_only(old, new) {
        return Decision::Write;
    }
    let (interval, after_outline) = detail_interval(new.phase);
    match writes.details_wait(&key, interval, after_outline) {
        Some(wait) => Decision::Held(Held::Details(wait)),
        None => Decision::Write,
    }
}

/// Writes status when it changed (one write per reconcile at most, see [`decide`]), and
/// records an Event when the phase or the Ready reason changed.
pub(crate) async fn write_status(
    ctx: &Context,
    profile: &VirtualMachineProfile,
    old: &VirtualMachineProfileStatus,
    new: VirtualMachineProfileStatus,
) -> Result<()> {
    match decide(&ctx.status_writes, profile, old, &new) {
        Decision::Write => {}
        Decision::Unchanged | Decision::Held(_) => return Ok(()),
    }
    let key = ObjectRef::from(profile);
    let content = content_hash(&new);
    let api: Api<VirtualMachineProfile> =
        Api::namespaced(ctx.client.clone(), &profile.namespace().unwrap_or_default());
    let patch = json!({
        "apiVersion": "vmoperator.io/v1alpha1",
        "kind": "VirtualMachineProfile",
        "status": new,
    });
    let written = api
        .patch_status(
            &profile.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await?;
    ctx.metrics
        .wrote(kind_of::<VirtualMachineProfile>(), "status");
    ctx.status_writes.wrote_status(
        &key,
        details_only(old, &new),
        written.metadata.resource_version.as_deref(),
        content,
    );
    let age = profile
        .metadata
        .creation_timestamp
        .as_ref()
        .and_then(|created| Timestamp::now().duration_since(created.0).try_into().ok())
        .map(|d: Duration| d.as_secs_f64());
    ctx.metrics
        .record(&crate::report::transitions::transitions(old, &new, age));
    if old.phase != new.phase {
        let name = |phase: Option<Phase>| phase.map_or_else(|| "None".into(), |p| format!("{p:?}"));
        info!(from = %name(old.phase), to = %name(new.phase), "phase changed");
    }
    debug!(changed = %what_changed(old, &new), "status written");
    publish_transition(ctx, profile, old, &new).await;
    publish_requests(ctx, profile, old, &new).await;
    Ok(())
}

/// One Event per step of a restart, migration, snapshot or restore request.
async fn publish_requests(
    ctx: &Context,
    profile: &VirtualMachineProfile,
    old: &VirtualMachineProfileStatus,
    new: &VirtualMachineProfileStatus,
) {
    let steps = [
        (RequestAction::Restart, &old.restart, &new.restart),
        (RequestAction::Migration, &old.migration, &new.migration),
        (RequestAction::Snapshot, &old.snapshot, &new.snapshot),
        (RequestAction::Restore, &old.restore, &new.restore),
    ];
    for (action, old, new) in steps {
        let Some((warning, reason, note)) = request::event(action, old.as_deref(), new.as_deref())
        else {
            continue;
        };
        let event = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.into(),
            note: Some(note),
            action: format!("{action:?}"),
            secondary: None,
        };
        if let Err(error) = ctx.recorder.publish(&event, &profile.object_ref(&())).await {
            warn!(%error, "publishing an event failed");
        }
    }
}

async fn publish_transition(
    ctx: &Context,
    profile: &VirtualMachineProfile,
    old: &VirtualMachineProfileStatus,
    new: &VirtualMachineProfileStatus,
) {
    let ready = |s: &VirtualMachineProfileStatus| {
        s.conditions
            .iter()
            .find(|c| c.type_ == ConditionType::Ready.as_str())
            .map(|c| (c.reason.clone(), c.message.clone()))
    };
    let (old_ready, new_ready) = (ready(old), ready(new));
    if old.phase == new.phase
        && old_ready.as_ref().map(|r| &r.0) == new_ready.as_ref().map(|r| &r.0)
    {
        return;
    }
    let phase = new.phase.map(|p| format!("{p:?}")).unwrap_or_default();
    let (reason, message) = new_ready.unwrap_or_default();
    let failed =
        matches!(new.phase, Some(Phase::Failed)) || reason == vmop_api::reasons::INVALID_SPEC;
    let settled = matches!(new.phase, Some(Phase::Running | Phase::Stopped));
    let refused = new.conditions.iter().any(|c| {
        c.type_ == ConditionType::Ready.as_str()
            && c.status == "False"
            && REFUSALS.contains(&c.reason.as_str())
    });
    // Events cost a write each: the way to a settled phase (Provisioning, Starting) is in
    // status; events mark arrivals, failures and refusals.
    if !(failed || settled || refused) {
        return;
    }
    let event = Event {
        type_: if failed || refused {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: if failed || refused {
            reason.clone()
        } else {
            phase.clone()
        },
        note: Some(truncate(
            &if message.is_empty() {
                format!("phase {phase}")
            } else {
                format!("phase {phase}: {message}")
            },
            1000,
        )),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(error) = ctx.recorder.publish(&event, &profile.object_ref(&())).await {
        warn!(%error, "publishing an event failed");
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
    use vmop_api::DiskStatus;

    use super::*;

    fn importing(progress: &str, phase: Phase) -> VirtualMachineProfileStatus {
        VirtualMachineProfileStatus {
            phase: Some(phase),
            disks: vec![DiskStatus {
                name: "system".into(),
                progress: Some(progress.into()),
                message: Some(format!("ImportInProgress {progress}")),
                ..DiskStatus::default()
            }],
            conditions: vec![Condition {
                type_: "StorageReady".into(),
                status: "False".into(),
                reason: "ImportInProgress".into(),
                message: format!("system: {progress}"),
                last_transition_time: Time(Timestamp::UNIX_EPOCH),
                observed_generation: None,
            }],
            ..VirtualMachineProfileStatus::default()
        }
    }

    #[test]
    fn details_are_coalesced_and_phases_and_reasons_are_not() {
        let at_10 = importing("10.00%", Phase::Provisioning);
        assert!(details_only(
            &at_10,
            &importing("45.00%", Phase::Provisioning)
        ));
        assert!(!details_only(&at_10, &importing("45.00%", Phase::Starting)));
        let mut failed = importing("45.00%", Phase::Provisioning);
        failed.conditions[0].reason = "ImportFailed".into();
        assert!(!details_only(&at_10, &failed));
    }

    fn with_condition(
        mut status: VirtualMachineProfileStatus,
        type_: &str,
        ok: bool,
        reason: &str,
    ) -> VirtualMachineProfileStatus {
        status.conditions.retain(|c| c.type_ != type_);
        status.conditions.push(Condition {
            type_: type_.into(),
            status: if ok { "True" } else { "False" }.into(),
            reason: reason.into(),
            message: String::new(),
            last_transition_time: Time(Timestamp::UNIX_EPOCH),
            observed_generation: None,
        });
        status
    }

    #[test]
    fn on_the_way_a_part_ready_or_the_vm_placed_is_a_detail_and_going_back_is_not() {
        let networks = ConditionType::NetworksReady.as_str();
        for phase in [Phase::Queued, Phase::Provisioning, Phase::Starting] {
            let enacting = with_condition(importing("10%", phase), networks, false, "Progressing");
            let enacted =
                with_condition(importing("45%", phase), networks, true, "AllNetworksReady");
            assert!(details_only(&enacting, &enacted), "{phase:?}");
            assert!(
                !details_only(&enacted, &enacting),
                "{phase:?}: back to False"
            );
            let refused = with_condition(importing("45%", phase), networks, false, "NotAllowed");
            assert!(
                !details_only(&enacting, &refused),
                "{phase:?}: another reason"
            );
            // Placed on a node, and whether it could migrate, before KubeVirt says it runs.
            let placed = with_condition(enacted.clone(), SCHEDULED, true, "OnNode");
            let placed = with_condition(placed, LIVE_MIGRATABLE_CONDITION, false, "DisksNot");
            assert!(details_only(&enacted, &placed), "{phase:?}: placed");
            let unschedulable = with_condition(enacted.clone(), SCHEDULED, false, "Unschedulable");
            assert!(!details_only(&enacted, &unschedulable), "{phase:?}");
            // The profile's own Ready is never a detail.
            let ready = with_condition(enacted.clone(), "Ready", true, "Ready");
            assert!(!details_only(&enacted, &ready), "{phase:?}: Ready");
        }
        // In a settled phase every condition's status and reason is written at once.
        let running = |ok| {
            let status = importing("100%", Phase::Running);
            with_condition(status, LIVE_MIGRATABLE_CONDITION, ok, "Migratable")
        };
        assert!(!details_only(&running(false), &running(true)));
        let storage = |ok| {
            let status = importing("100%", Phase::Running);
            with_condition(
                status,
                ConditionType::StorageReady.as_str(),
                ok,
                "AllDisksReady",
            )
        };
        assert!(!details_only(&storage(false), &storage(true)));
    }

    #[test]
    fn a_status_computed_ahead_of_the_cache_is_not_written_twice_nor_compared_with_the_older() {
        let writes = StatusWrites::default();
        let mut profile = vmop_api::fixtures::valid_profile("web");
        profile.metadata.namespace = Some("team-a".into());
        profile.metadata.resource_version = Some("41".into());
        let key = ObjectRef::from(&profile);
        let older = VirtualMachineProfileStatus::default();
        let provisioning = importing("10%", Phase::Provisioning);
        assert_eq!(
            decide(&writes, &profile, &older, &provisioning),
            Decision::Write
        );
        writes.wrote_status(&key, false, Some("42"), content_hash(&provisioning));
        // The cache still at 41: the same status (transition times aside) is written already,
        // and another waits for the cache rather than being written as news.
        let mut again = provisioning.clone();
        again.conditions[0].last_transition_time = Time(Timestamp::MAX);
        assert_eq!(
            decide(&writes, &profile, &older, &again),
            Decision::Unchanged
        );
        let progressed = importing("45%", Phase::Provisioning);
        assert_eq!(
            decide(&writes, &profile, &older, &progressed),
            Decision::Held(Held::CacheBehind)
        );
        // The cache shows the write: progress is a detail held for its interval.
        profile.metadata.resource_version = Some("42".into());
        assert!(matches!(
            decide(&writes, &profile, &provisioning, &progressed),
            Decision::Held(Held::Details(wait)) if wait > PROGRESS_INTERVAL
        ));
        assert_eq!(
            decide(&writes, &profile, &provisioning, &provisioning),
            Decision::Unchanged
        );
        let starting = importing("100%", Phase::Starting);
        assert_eq!(
            decide(&writes, &profile, &provisioning, &starting),
            Decision::Write
        );
    }

    #[test]
    fn progress_on_the_way_waits_longer_than_details_of_a_settled_phase() {
        for phase in [Phase::Queued, Phase::Provisioning, Phase::Starting] {
            assert_eq!(
                detail_interval(Some(phase)),
                (PROGRESS_INTERVAL, PROGRESS_AFTER),
                "{phase:?}"
            );
        }
        for phase in [
            None,
            Some(Phase::Running),
            Some(Phase::Stopped),
            Some(Phase::Failed),
        ] {
            assert_eq!(
                detail_interval(phase),
                (DETAIL_INTERVAL, Duration::ZERO),
                "{phase:?}"
            );
        }
        assert!(PROGRESS_AFTER > PROGRESS_INTERVAL && PROGRESS_INTERVAL > DETAIL_INTERVAL);
    }
}
