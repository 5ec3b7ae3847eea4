//! One reconcile of a VirtualMachineProfile:
//!
//! ```text
//! fetch (watch caches)
//!   -> plan: validate + build        pure; an invalid spec stops here, nothing is created
//!   -> networks ┐ concurrently        NetworkManager, StorageManager: apply, read readiness
//!   -> storage  ┘
//!   -> orphans                        children of removed entries; shares of unused policies
//!   -> VM                             VMLifecycleManager: built always, applied when ready
//!   -> status                         pure; written once, only when it changed
//! ```

use std::{sync::Arc, time::Duration};

use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};
use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::{
        controller::Action,
        events::{Event, EventType},
        finalizer::{self, finalizer},
        reflector::ObjectRef,
    },
};
use serde_json::json;
use tracing::{Instrument, info, info_span, instrument, warn};
use vmop_api::{
    InstancetypeKind, MIGRATE_ANNOTATION, Phase, PreferenceKind, RESTART_ANNOTATION, Resources,
    VirtualMachineProfile, VirtualMachineProfileStatus,
    external::kubevirt::{
        LIVE_MIGRATABLE_CONDITION, VirtualMachine, VirtualMachineInstance,
        VirtualMachineInstanceMigration,
    },
};
use vmop_plugin::VolumeObject;

use crate::{
    context::{Context, FIELD_MANAGER, FINALIZER, Timing},
    converge::apply::{ensure, kind_of, owner_reference},
    converge::cleanup::{Wanted, cleanup, has_unwanted, remove_orphans},
    converge::network::{delete_unused_policies, reconcile_networks},
    converge::network_policy::{ISOLATED, reconcile_isolation},
    converge::storage::reconcile_disks,
    converge::vm::{VmOutcome, WAITING_FOR_DEPENDENCIES, pinned_macs, reconcile_vm, user_data},
    desired::claims::ProfileKey,
    desired::classes::storage_class,
    desired::plan::{Planned, TemplateExtras, plan, scope_policies},
    desired::sizing::{self, Unresolved},
    desired::wants::wants,
    error::{Error, Result},
    report::status::{Observed, compute, set_extra_condition},
    requests::migrate,
    requests::request::{self, Action as RequestAction},
    requests::restart,
};

/// Reconciles one profile (the kube-runtime `reconcile` function).
#[instrument(skip_all, fields(profile = %profile.name_any(), namespace = profile.namespace().unwrap_or_default()))]
pub async fn reconcile(profile: Arc<VirtualMachineProfile>, ctx: Arc<Context>) -> Result<Action> {
    // Every decision reads the caches: none is taken before each has its first full list
    // (after a restart, an empty cache would look like "nothing exists").
    let synced = tokio::time::timeout(
        Duration::from_secs(30),
        crate::controller::Running::ready(&ctx),
    )
    .await;
    if synced != Ok(true) {
        return Err(Error::Cleanup(
            "the watch caches have not synced yet".into(),
        ));
    }
    let (waited, depth) = ctx.queue.started(&ObjectRef::from(profile.as_ref()));
    ctx.metrics.dequeued(waited, depth);
    let _timer = ctx.metrics.reconcile_started();
    let namespace = profile.namespace().unwrap_or_default();
    let api: Api<VirtualMachineProfile> = Api::namespaced(ctx.client.clone(), &namespace);
    finalizer(&api, FINALIZER, profile, |event| async {
        match event {
            finalizer::Event::Apply(profile) => apply(&profile, &ctx).await,
            finalizer::Event::Cleanup(profile) => match cleanup(&ctx, &profile).await {
                Err(Error::Cleanup(waiting)) => {
                    // Say what the deletion waits for; the error keeps the finalizer.
                    report_deletion_waiting(&ctx, &profile, &waiting).await;
                    Err(Error::Cleanup(waiting))
                }
                Err(other) => Err(other),
                Ok(()) => {
                    ctx.metrics.profile_event("deleted");
                    ctx.failures.clear(&ObjectRef::from(profile.as_ref()));
                    ctx.status_writes.forget(&ObjectRef::from(profile.as_ref()));
                    info!("cleaned up");
                    Ok(Action::await_change())
                }
            },
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

/// Backs off per failure: transient errors retry soon, then less often. Invalid specs never
/// get here (they are conditions, and wait for a change).
pub fn error_policy(
    profile: Arc<VirtualMachineProfile>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    let category = error.category();
    ctx.metrics.failed(category);
    let waiting = matches!(error, Error::Finalizer(inner) if matches!(inner.as_ref(), finalizer::Error::CleanupFailed(Error::Cleanup(_))));
    if waiting {
        // Said in status and an Event already; look again with backoff, not every second.
        let attempts = ctx.failures.note(&ObjectRef::from(profile.as_ref()));
        return Action::requeue(crate::backoff::reconcile(attempts).min(Duration::from_secs(30)));
    }
    warn!(profile = %profile.name_any(), %error, category, "reconcile failed");
    let recorder = ctx.recorder.clone();
    let reference = profile.object_ref(&());
    let note = truncate(&error.to_string(), 1000);
    tokio::spawn(async move {
        let event = Event {
            type_: EventType::Warning,
            reason: category.into(),
            note: Some(note),
            action: "Reconcile".into(),
            secondary: None,
        };
        let _ = recorder.publish(&event, &reference).await;
    });
    let attempts = ctx.failures.note(&ObjectRef::from(profile.as_ref()));
    Action::requeue(crate::backoff::reconcile(attempts))
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

async fn apply(profile: &VirtualMachineProfile, ctx: &Context) -> Result<Action> {
    let namespace = profile.namespace().unwrap_or_default();
    let old = profile.status.clone().unwrap_or_default();
    let classes = |name: Option<&str>| storage_class(&ctx.stores.storage_classes, name);
    let cached_vm = ctx
        .stores
        .vms
        .get(&ObjectRef::new(&profile.name_any()).within(&namespace));
    let user_data = user_data(ctx, profile).await?;
    let extras = TemplateExtras {
        macs: pinned_macs(profile, cached_vm.as_deref()),
        user_data: user_data.clone().ok().flatten(),
    };
    let policy = ctx.policy.current();
    let plan = match plan(profile, &ctx.registries, classes, extras, &policy)
        .instrument(info_span!("plan"))
        .await
    {
        Planned::Ready(mut plan) => {
            scope_policies(&mut plan, ctx.namespace.as_deref());
            plan
        }
        Planned::Blocked { reason, messages } => {
            // Nothing is created; the class may appear, so look again (StorageClass events
            // do not map to profiles).
            let observed = stopped(profile, None, Some((&reason, &messages)));
            write_status(ctx, profile, &old, compute(&old, &observed, now())).await?;
            ctx.failures.clear(&ObjectRef::from(profile));
            return Ok(Action::requeue(ctx.timing.converging));
        }
        Planned::Invalid(errors) => {
            let observed = stopped(profile, Some(&errors[..]), None);
            write_status(ctx, profile, &old, compute(&old, &observed, now())).await?;
            ctx.failures.clear(&ObjectRef::from(profile));
            return Ok(Action::await_change());
        }
    };

    let resources = match size(ctx, profile) {
        Ok(resources) => resources,
        Err(unresolved) => {
            // Like a missing class: nothing is created, and it is looked at again.
            let observed = stopped(
                profile,
                None,
                Some((unresolved.reason, &unresolved.messages)),
            );
            write_status(ctx, profile, &old, compute(&old, &observed, now())).await?;
            ctx.failures.clear(&ObjectRef::from(profile));
            return Ok(Action::requeue(ctx.timing.converging));
        }
    };

    // Held in common with other profiles (addresses, node interfaces, shared policies): all
    // or nothing, before anything is written.
    let claimed = ctx
        .claims
        .claim(&ProfileKey::of(profile), wants(&plan), |holder| {
            ctx.stores.profiles.get(&holder.object_ref()).is_some()
        });
    if let Err(conflicts) = claimed {
        let messages: Vec<String> = conflicts.iter().map(ToString::to_string).collect();
        return report_blocked(ctx, profile, &old, CONFLICT, &messages, "Conflict").await;
    }

    let owner = owner_reference(profile);
    let children = tokio::try_join!(
        reconcile_networks(ctx, profile, owner.clone(), &plan.networks)
            .instrument(info_span!("networks", count = plan.networks.len())),
        reconcile_disks(ctx, profile, owner.clone(), &plan.disks)
            .instrument(info_span!("storage", count = plan.disks.len())),
    );
    let (networks, disks) = match children {
        Err(refused) if refusal_reason(&refused).is_some() => {
            return report_refusal(ctx, profile, &old, &refused).await;
        }
        other => other?,
    };
    delete_unused_policies(ctx).await?;
    let wanted = Wanted {
        nads: plan
            .networks
            .iter()
            .filter_map(|n| n.desired.nad.as_ref().map(ResourceExt::name_any))
            .collect(),
        volumes: plan
            .disks
            .iter()
            .map(|d| match &d.desired.object {
                VolumeObject::Claim(c) => c.name_any(),
                VolumeObject::DataVolume(dv) => dv.name_any(),
            })
            .collect(),
    };
    let isolation = match reconcile_isolation(ctx, profile, owner.clone(), &networks)
        .instrument(info_span!("isolation"))
        .await
    {
        Err(refused) if refusal_reason(&refused).is_some() => {
            return report_refusal(ctx, profile, &old, &refused).await;
        }
        other => other?,
    };
    let vm_outcome = match reconcile_vm(ctx, profile, owner, &plan, &networks, &disks, user_data)
        .instrument(info_span!("vm"))
        .await
    {
        Err(refused) if refusal_reason(&refused).is_some() => {
            return report_refusal(ctx, profile, &old, &refused).await;
        }
        other => other?,
    };
    // Children of removed entries: after a spec change, or whenever the label indexes list
    // one the plan does not want (a late watch event, a kill between apply and removal).
    if spec_changed(profile, &old) || has_unwanted(ctx, profile, &wanted, vm_outcome.secrets()) {
        remove_orphans(ctx, profile, &wanted, vm_outcome.secrets()).await?;
    }
    let vm_ref = ObjectRef::<VirtualMachine>::new(&profile.name_any()).within(&namespace);
    let vm = ctx.stores.vms.get(&vm_ref);
    let vmi = ctx
        .stores
        .vmis
        .get(&ObjectRef::new(&profile.name_any()).within(&namespace));
    let observed = Observed {
        generation: profile.metadata.generation,
        run_strategy: profile.spec.run_strategy,
        invalid: None,
        blocked: None,
        networks: &networks,
        disks: &disks,
        vm_outcome: Some(&vm_outcome),
        vm: vm.as_deref(),
        vmi: vmi.as_deref(),
    };
    let requested = profile
        .annotations()
        .get(RESTART_ANNOTATION)
        .map(String::as_str);
    let restart = restart::step(
        requested,
        old.restart.as_ref(),
        vm.as_deref(),
        vmi.as_deref(),
    );
    if let Some(uid) = &restart.stop {
        ask_restart(ctx, &namespace, &profile.name_any(), uid).await?;
    }
    let requested = profile
        .annotations()
        .get(MIGRATE_ANNOTATION)
        .map(String::as_str);
    let migration = old
        .migration
        .as_ref()
        .and_then(|m| m.migration_name.as_ref())
        .and_then(|n| {
            ctx.stores
                .migrations
                .get(&ObjectRef::new(n).within(&namespace))
        });
    let migrate = migrate::step(
        (&profile.name_any(), &namespace),
        requested,
        old.migration.as_ref(),
        vmi.as_deref(),
        migration.as_deref(),
    );
    if let Some(object) = migrate.create {
        let migrations: Api<VirtualMachineInstanceMigration> =
            Api::namespaced(ctx.client.clone(), &namespace);
        ensure(
            ctx,
            &migrations,
            object,
            owner_reference(profile),
            None,
            None,
            None,
        )
        .await?;
    }
    let mut status = compute(&old, &observed, now());
    status.restart = restart.recorded;
    status.migration = migrate.recorded;
    if let Some(condition) = vmi.as_deref().and_then(live_migratable_condition) {
        set_extra_condition(
            &mut status,
            &old,
            LIVE_MIGRATABLE_CONDITION,
            condition,
            &now(),
        );
    }
    status.resources = Some(resources);
    status.access = Some(crate::report::access::access(
        profile,
        status.primary_ip.as_deref(),
    ));
    if let Some(condition) = isolation.condition() {
        set_extra_condition(&mut status, &old, ISOLATED, condition, &now());
    }
    let settled = status.phase == Some(Phase::Running)
        || (status.phase == Some(Phase::Stopped)
            && matches!(vm_outcome, VmOutcome::Applied { .. }));
    let waits = deferred(ctx, profile, &old, &status);
    write_status(ctx, profile, &old, status)
        .instrument(info_span!("status"))
        .await?;
    ctx.failures.clear(&ObjectRef::from(profile));
    // A VM waiting for its networks and disks hears of them through their watches; one
    // waiting for a user-data Secret (not watched) must look again.
    let unwatched_wait = matches!(&vm_outcome, VmOutcome::Waiting { reason, .. } if reason != WAITING_FOR_DEPENDENCIES)
        || !ctx
            .multi_network_policies_installed
            .load(std::sync::atomic::Ordering::Relaxed)
            && profile.spec.isolation.is_some();
    Ok(Action::requeue(look_again(
        &ctx.timing,
        settled,
        unwatched_wait,
        waits,
    )))
}

/// When to look again. A held-back detail is written by the next look: while the profile
/// waits for its children, their next watch event (or the safety net); when settled or
/// waiting for something unwatched, a look after [`DETAIL_INTERVAL`], so that, say, an
/// address that came just after the Running write shows within seconds.
fn look_again(timing: &Timing, settled: bool, unwatched_wait: bool, detail_held: bool) -> Duration {
    let (interval, watched_wait) = if settled {
        (timing.settled, false)
    } else if unwatched_wait {
        (timing.converging, false)
    } else {
        (timing.waiting, true)
    };
    if detail_held && !watched_wait {
        interval.min(DETAIL_INTERVAL)
    } else {
        interval
    }
}

/// KubeVirt's `LiveMigratable` condition of the instance, for the profile's own conditions.
fn live_migratable_condition(vmi: &VirtualMachineInstance) -> Option<(bool, &str, String)> {
    let c = vmi
        .status
        .iter()
        .flat_map(|s| &s.conditions)
        .find(|c| c.type_ == LIVE_MIGRATABLE_CONDITION)?;
    let ok = c.status == "True";
    let reason = c
        .reason
        .as_deref()
        .filter(|r| !r.is_empty())
        .unwrap_or(if ok { "Migratable" } else { "NotMigratable" });
    let message = c.message.clone().unwrap_or_else(|| {
        if ok {
            "KubeVirt can live-migrate the VM"
        } else {
            "KubeVirt cannot live-migrate the VM"
        }
        .into()
    });
    Some((ok, reason, message))
}

/// Asks KubeVirt to restart the VM as `virtctl restart` does: a Stop for the instance `uid`
/// and a Start, on the VirtualMachine's status.
async fn ask_restart(ctx: &Context, namespace: &str, name: &str, uid: &str) -> Result<()> {
    let vms: Api<VirtualMachine> = Api::namespaced(ctx.client.clone(), namespace);
    let patch = json!({"status": {"stateChangeRequests": restart::restart_requests(uid)}});
    vms.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    ctx.metrics.wrote(kind_of::<VirtualMachine>(), "restart");
    info!(instance = uid, "asked KubeVirt to restart the VM");
    Ok(())
}

/// The profile's CPU and memory, from its spec or from the instancetype in the caches.
fn size(
    ctx: &Context,
    profile: &VirtualMachineProfile,
) -> std::result::Result<Resources, Unresolved> {
    let namespace = profile.namespace().unwrap_or_default();
    let stores = &ctx.stores;
    sizing::resolve(
        &profile.spec,
        |kind, name| match kind {
            InstancetypeKind::VirtualMachineClusterInstancetype => stores
                .cluster_instancetypes
                .get(&ObjectRef::new(name))
                .map(|i| i.spec.spec.clone()),
            InstancetypeKind::VirtualMachineInstancetype => stores
                .instancetypes
                .get(&ObjectRef::new(name).within(&namespace))
                .map(|i| i.spec.spec.clone()),
        },
        |kind, name| match kind {
            PreferenceKind::VirtualMachineClusterPreference => stores
                .cluster_preferences
                .get(&ObjectRef::new(name))
                .is_some(),
            PreferenceKind::VirtualMachinePreference => stores
                .preferences
                .get(&ObjectRef::new(name).within(&namespace))
                .is_some(),
        },
    )
}

/// Whether the spec changed since the last status this controller wrote (a new profile has
/// no children of removed entries yet).
fn spec_changed(profile: &VirtualMachineProfile, old: &VirtualMachineProfileStatus) -> bool {
    old.observed_generation
        .is_some_and(|seen| Some(seen) != profile.metadata.generation)
}

/// Reason of a profile whose child the API server refused for good (422, 400, 403).
pub(crate) use vmop_api::reasons::APPLY_REJECTED;
/// Reason of a profile whose child's name is taken by an object it does not own, or that
/// asks for an address, MAC or node interface another profile holds.
pub(crate) use vmop_api::reasons::CONFLICT;

/// The status reason of an error the profile must show rather than retry quietly.
fn refusal_reason(error: &Error) -> Option<&'static str> {
    match error {
        Error::NotOurs { .. } => Some(CONFLICT),
        e if e.is_permanent_refusal() => Some(APPLY_REJECTED),
        _ => None,
    }
}

/// A child cannot be written: its name is someone else's object (Conflict), or the API
/// server refuses it (ApplyRejected, with its message). Say so in status naming the object,
/// and look again later with backoff.
async fn report_refusal(
    ctx: &Context,
    profile: &VirtualMachineProfile,
    old: &VirtualMachineProfileStatus,
    refused: &Error,
) -> Result<Action> {
    let reason = refusal_reason(refused).unwrap_or(APPLY_REJECTED);
    let messages = [refused.refusal_message()];
    report_blocked(ctx, profile, old, reason, &messages, refused.category()).await
}

/// Ready=False with `reason` and `messages`, nothing written but status; looked at again
/// with backoff (what blocks it may go away without an event on this profile).
async fn report_blocked(
    ctx: &Context,
    profile: &VirtualMachineProfile,
    old: &VirtualMachineProfileStatus,
    reason: &str,
    messages: &[String],
    category: &'static str,
) -> Result<Action> {
    let observed = stopped(profile, None, Some((reason, messages)));
    write_status(ctx, profile, old, compute(old, &observed, now())).await?;
    ctx.metrics.failed(category);
    let attempts = ctx.failures.note(&ObjectRef::from(profile));
    Ok(Action::requeue(
        crate::backoff::reconcile(attempts).max(ctx.timing.converging),
    ))
}

/// Ready reasons that are worth an Event (a Warning) when they appear.
const REFUSALS: &[&str] = &[
    CONFLICT,
    APPLY_REJECTED,
    crate::desired::plan::NOT_ALLOWED,
    crate::desired::plan::STORAGE_CLASS_NOT_FOUND,
    sizing::INSTANCETYPE_NOT_FOUND,
    sizing::PREFERENCE_NOT_FOUND,
    crate::desired::disk_changes::DISK_CHANGE_REFUSED,
    DELETION_WAITING,
];

/// Reason of a profile whose deletion waits for something to go.
pub(crate) use vmop_api::reasons::DELETION_WAITING;

/// Phase Terminating with Ready=False, reason DeletionWaiting, saying what it waits for, and
/// an Event when that changes. Best effort: the wait itself is the finalizer's.
async fn report_deletion_waiting(ctx: &Context, profile: &VirtualMachineProfile, waiting: &str) {
    let old = profile.status.clone().unwrap_or_default();
    let messages = [waiting.to_owned()];
    let observed = stopped(profile, None, Some((DELETION_WAITING, &messages)));
    let mut status = compute(&old, &observed, now());
    status.phase = Some(Phase::Terminating);
    if let Err(error) = write_status(ctx, profile, &old, status).await {
        warn!(%error, "reporting what the deletion waits for failed");
    }
}

/// What a profile that stops before its children has to show: an invalid spec (`invalid`)
/// or a refusal with its reason (`blocked`); networks, disks and VM are not looked at.
fn stopped<'a>(
    profile: &VirtualMachineProfile,
    invalid: Option<&'a [String]>,
    blocked: Option<(&'a str, &'a [String])>,
) -> Observed<'a> {
    Observed {
        generation: profile.metadata.generation,
        run_strategy: profile.spec.run_strategy,
        invalid,
        blocked,
        networks: &[],
        disks: &[],
        vm_outcome: None,
        vm: None,
        vmi: None,
    }
}

/// Shortest time between two status writes that change only details.
pub const DETAIL_INTERVAL: Duration = Duration::from_secs(5);

/// Whether `new` differs from `old` only in details (import progress, disk and network
/// details, condition messages): not in phase, generation, or any condition's status or
/// reason. Such changes are coalesced; the others are written at once.
fn details_only(old: &VirtualMachineProfileStatus, new: &VirtualMachineProfileStatus) -> bool {
    let outline = |status: &VirtualMachineProfileStatus| {
        let mut conditions: Vec<(String, String, String)> = status
            .conditions
            .iter()
            .map(|c| (c.type_.clone(), c.status.clone(), c.reason.clone()))
            .collect();
        conditions.sort();
        // A request's progress is never a mere detail.
        let requests = (status.restart.clone(), status.migration.clone());
        (
            status.phase,
            status.observed_generation,
            conditions,
            requests,
        )
    };
    outline(old) == outline(new)
}

fn now() -> Time {
    Time(Timestamp::now())
}

/// Whether a status change waits: details only, and the last write was less than
/// [`DETAIL_INTERVAL`] ago. It is written by a later look (see [`look_again`]).
fn deferred(
    ctx: &Context,
    profile: &VirtualMachineProfile,
    old: &VirtualMachineProfileStatus,
    new: &VirtualMachineProfileStatus,
) -> bool {
    new != old
        && details_only(old, new)
        && ctx
            .status_writes
            .recent(&ObjectRef::from(profile), DETAIL_INTERVAL)
}

/// Writes status when it changed (one write per reconcile at most), and records an Event
/// when the phase or the Ready reason changed.
async fn write_status(
    ctx: &Context,
    profile: &VirtualMachineProfile,
    old: &VirtualMachineProfileStatus,
    new: VirtualMachineProfileStatus,
) -> Result<()> {
    if &new == old {
        return Ok(());
    }
    let key = ObjectRef::from(profile);
    if deferred(ctx, profile, old, &new) {
        return Ok(());
    }
    let api: Api<VirtualMachineProfile> =
        Api::namespaced(ctx.client.clone(), &profile.namespace().unwrap_or_default());
    let patch = json!({
        "apiVersion": "vmoperator.io/v1alpha1",
        "kind": "VirtualMachineProfile",
        "status": new,
    });
    api.patch_status(
        &profile.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    ctx.metrics
        .wrote(kind_of::<VirtualMachineProfile>(), "status");
    ctx.status_writes.wrote(&key);
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
    publish_transition(ctx, profile, old, &new).await;
    publish_requests(ctx, profile, old, &new).await;
    Ok(())
}

/// One Event per step of a restart or migration request.
async fn publish_requests(
    ctx: &Context,
    profile: &VirtualMachineProfile,
    old: &VirtualMachineProfileStatus,
    new: &VirtualMachineProfileStatus,
) {
    let steps = [
        (RequestAction::Restart, &old.restart, &new.restart),
        (RequestAction::Migration, &old.migration, &new.migration),
    ];
    for (action, old, new) in steps {
        let Some((warning, reason, note)) = request::event(action, old.as_ref(), new.as_ref())
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
            .find(|c| c.type_ == "Ready")
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
        c.type_ == "Ready" && c.status == "False" && REFUSALS.contains(&c.reason.as_str())
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
        let mut ready = importing("100.00%", Phase::Provisioning);
        ready.conditions[0].status = "True".into();
        assert!(!details_only(&at_10, &ready));
    }

    #[test]
    fn a_held_back_detail_rides_on_the_next_child_event_unless_none_is_coming() {
        let timing = Timing::default();
        // Waiting for watched children: their events (or the safety net) bring the next look.
        assert_eq!(look_again(&timing, false, false, true), timing.waiting);
        assert_eq!(look_again(&timing, false, false, false), timing.waiting);
        // Settled, or waiting for something no watch reports: look again for the detail.
        assert_eq!(look_again(&timing, true, false, true), DETAIL_INTERVAL);
        assert_eq!(look_again(&timing, true, false, false), timing.settled);
        assert_eq!(look_again(&timing, false, true, true), DETAIL_INTERVAL);
        assert_eq!(look_again(&timing, false, true, false), timing.converging);
    }
}
