//! One reconcile of a VirtualMachineProfile:
//!
//! ```text
//! fetch (watch caches)
//!   -> plan: validate + build        pure; an invalid spec stops here, nothing is created
//!   -> snapshots, restore             taken and deleted on schedule; a restore holds the rest
//!   -> claims                         addresses, node interfaces, shared policies: all or nothing
//!   -> networks ┐ concurrently        NetworkManager, StorageManager: apply, read readiness
//!   -> storage  ┘
//!   -> isolation, VM                  VMLifecycleManager: built always, applied when ready
//!   -> orphans, requests              children of removed entries; restart, migrate
//!   -> conclude                       status computed once, written once if it changed,
//!                                     Events, and when to look again
//! ```
//!
//! Every way a pass can end is an [`Outcome`]; [`conclude`] alone turns it into status,
//! Events and the next look.

use std::{sync::Arc, time::Duration};

use kube::{
    Api, ResourceExt,
    runtime::{
        controller::Action,
        finalizer::{self, finalizer},
        reflector::ObjectRef,
    },
};
use tracing::{Instrument, info, info_span, instrument, warn};
use vmop_api::{
    Phase, Resources, VirtualMachineProfile, VirtualMachineProfileStatus,
    reasons::{APPLY_REJECTED, CONFLICT, DELETION_WAITING, QUOTA_EXCEEDED, RESTORING},
};
use vmop_plugin::VolumeObject;

use crate::{
    config::Timing,
    context::{Context, FINALIZER},
    converge::apply::owner_reference,
    converge::catalog_images::{image_versions, stamp_versions},
    converge::cleanup::{Wanted, cleanup, has_unwanted, remove_orphans},
    converge::credentials::unusable_credentials,
    converge::network::{NetworkOutcome, delete_unused_node_policies, reconcile_networks},
    converge::network_policy::reconcile_isolation,
    converge::storage::{DiskOutcome, reconcile_disks},
    converge::vm::{VmOutcome, WAITING_FOR_DEPENDENCIES, pinned_macs, reconcile_vm, user_data},
    desired::claims::ProfileKey,
    desired::classes::storage_class,
    desired::plan::{Plan, Planned, TemplateExtras, plan, scope_node_policies},
    desired::quota_caches::over_quota,
    desired::sizing,
    desired::wants::wants,
    error::{Error, Result},
    report::status::{Converged, Observed, compute},
    report::write::{CACHE_CATCH_UP, Decision, Held, decide, now, write_status},
    requests::apply::carry_out,
    snapshots::{self, apply::SnapshotsPass},
};

/// Reconciles one profile (the kube-runtime `reconcile` function).
#[instrument(skip_all, fields(profile = %profile.name_any(), namespace = profile.namespace().unwrap_or_default()))]
pub async fn reconcile(profile: Arc<VirtualMachineProfile>, ctx: Arc<Context>) -> Result<Action> {
    // Every decision reads the caches: none is taken before each has its first full list
    // (after a restart, an empty cache would look like "nothing exists").
    crate::controller::Running::synced(&ctx).await?;
    let (waited, depth) = ctx.queue.started(&ObjectRef::from(profile.as_ref()));
    ctx.metrics.dequeued(waited, depth);
    let _timer = ctx.metrics.reconcile_started();
    let namespace = profile.namespace().unwrap_or_default();
    let api: Api<VirtualMachineProfile> = Api::namespaced(ctx.client.clone(), &namespace);
    finalizer(&api, FINALIZER, profile, |event| async {
        match event {
            finalizer::Event::Apply(profile) => {
                let old = profile.status.clone().unwrap_or_default();
                let outcome = converge(&profile, &ctx, &old).await?;
                conclude(&ctx, &profile, &old, outcome).await
            }
            finalizer::Event::Cleanup(profile) => delete(&profile, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

/// How a pass ended: what its status, Events and next look follow from.
enum Outcome {
    /// The spec is invalid: nothing is created; it waits for a change.
    Invalid(Vec<String>),
    /// Something the spec names is missing (a class, an instancetype): nothing is created,
    /// and it is looked at again soon (no watch maps those to profiles).
    Missing {
        reason: String,
        messages: Vec<String>,
    },
    /// Held by another profile, or a child the API server refuses for good: said in
    /// status, looked at again with backoff.
    Refused {
        reason: &'static str,
        messages: Vec<String>,
        category: &'static str,
    },
    /// A restore from a snapshot is under way: KubeVirt rewrites the VM and its claims, so
    /// nothing else is written until it ends.
    Restoring(Box<SnapshotsPass>),
    /// The children are applied and read back.
    Converged(Box<Pass>),
}

/// What a pass that got as far as the VM found.
struct Pass {
    networks: Vec<NetworkOutcome>,
    disks: Vec<DiskOutcome>,
    vm: VmOutcome,
    resources: Resources,
    restart: Option<vmop_api::RequestStatus>,
    migration: Option<vmop_api::RequestStatus>,
    isolation: Option<(bool, &'static str, String)>,
    snapshots: SnapshotsPass,
}

impl Outcome {
    /// The outcome of a child refused for good (`error` is one [`refusal_reason`] names).
    fn refused(error: &Error) -> Outcome {
        Outcome::Refused {
            reason: refusal_reason(error).unwrap_or(APPLY_REJECTED),
            messages: vec![error.refusal_message()],
            category: error.category(),
        }
    }
}

/// Plans the profile and applies what it plans, as far as it can go now.
async fn converge(
    profile: &VirtualMachineProfile,
    ctx: &Context,
    old: &VirtualMachineProfileStatus,
) -> Result<Outcome> {
    let user_data = user_data(ctx, profile).await?;
    let (mut plan, resources) = match planned(ctx, profile, user_data.clone().ok().flatten()).await
    {
        Ok(planned) => planned,
        Err(stop) => return Ok(stop),
    };
    // A credentials Secret CDI could not use would leave an import waiting unexplained.
    if let Some((reason, messages)) = unusable_credentials(ctx, profile).await? {
        return Ok(Outcome::Missing { reason, messages });
    }
    // A catalog image that does not exist or has no version yet: nothing is created.
    match image_versions(&ctx.stores, profile) {
        Ok(versions) => stamp_versions(&mut plan, &versions),
        Err((reason, messages)) => return Ok(Outcome::Missing { reason, messages }),
    }
    let (cached_vm, cached_vmi) = cached_vm(ctx, profile);
    let snapshots = snapshots::apply::carry_out(ctx, profile, old, cached_vm.as_deref()).await?;
    if snapshots.holds_children() {
        return Ok(Outcome::Restoring(Box::new(snapshots)));
    }
    // Held in common with other profiles (addresses, node interfaces, shared policies): all
    // or nothing, before anything is written.
    let claimed = ctx
        .claims
        .claim(&ProfileKey::of(profile), wants(&plan), |holder| {
            ctx.stores.profiles.contains(&holder.object_ref())
        });
    if let Err(conflicts) = claimed {
        return Ok(Outcome::Refused {
            reason: CONFLICT,
            messages: conflicts.iter().map(ToString::to_string).collect(),
            category: "Conflict",
        });
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
            return Ok(Outcome::refused(&refused));
        }
        other => other?,
    };
    delete_unused_node_policies(ctx).await?;
    let isolation = reconcile_isolation(ctx, profile, owner.clone(), &networks)
        .instrument(info_span!("isolation"));
    let isolation = match isolation.await {
        Err(refused) if refusal_reason(&refused).is_some() => {
            return Ok(Outcome::refused(&refused));
        }
        other => other?,
    };
    let vm = reconcile_vm(ctx, profile, owner, &plan, &networks, &disks, user_data)
        .instrument(info_span!("vm"));
    let vm = match vm.await {
        Err(refused) if refusal_reason(&refused).is_some() => {
            return Ok(Outcome::refused(&refused));
        }
        other => other?,
    };
    // Children of removed entries: after a spec change, or whenever the label indexes list
    // one the plan does not want (a late watch event, a kill between apply and removal).
    let wanted = wanted(&plan);
    if spec_changed(profile, old) || has_unwanted(ctx, profile, &wanted, vm.secrets()) {
        remove_orphans(ctx, profile, &wanted, vm.secrets()).await?;
    }
    let (restart, migration) = carry_out(
        ctx,
        profile,
        old,
        cached_vm.as_deref(),
        cached_vmi.as_deref(),
    )
    .await?;
    Ok(Outcome::Converged(Box::new(Pass {
        networks,
        disks,
        vm,
        resources,
        restart,
        migration,
        isolation: isolation.condition(),
        snapshots,
    })))
}

/// The plan and the size, or why there is none yet.
async fn planned(
    ctx: &Context,
    profile: &VirtualMachineProfile,
    user_data: Option<String>,
) -> std::result::Result<(Box<Plan>, Resources), Outcome> {
    let (cached_vm, _) = cached_vm(ctx, profile);
    let extras = TemplateExtras {
        macs: pinned_macs(profile, cached_vm.as_deref()),
        user_data,
    };
    let classes = |name: Option<&str>| storage_class(&ctx.stores.storage_classes, name);
    let admin_policy = ctx.admin_policy.current();
    let planned = plan(profile, &ctx.registries, classes, extras, &admin_policy)
        .instrument(info_span!("plan"))
        .await;
    let mut plan = match planned {
        Planned::Ready(plan) => plan,
        Planned::Blocked { reason, messages } => return Err(Outcome::Missing { reason, messages }),
        Planned::Invalid(errors) => return Err(Outcome::Invalid(errors)),
    };
    scope_node_policies(&mut plan, ctx.namespace.as_deref());
    // Like a missing class: nothing is created, and it is looked at again.
    let resources =
        sizing::from_caches(&ctx.stores, profile).map_err(|unresolved| Outcome::Missing {
            reason: unresolved.reason.into(),
            messages: unresolved.messages,
        })?;
    let over = over_quota(ctx, profile, &plan, &resources, cached_vm.is_some());
    if !over.is_empty() {
        return Err(Outcome::Missing {
            reason: QUOTA_EXCEEDED.into(),
            messages: over,
        });
    }
    Ok((plan, resources))
}

/// Turns how the pass ended into status (computed once, written if it changed), and says
/// when to look again.
async fn conclude(
    ctx: &Context,
    profile: &VirtualMachineProfile,
    old: &VirtualMachineProfileStatus,
    outcome: Outcome,
) -> Result<Action> {
    // The next look; a refusal's is decided after the write, by its failures in a row.
    let (status, action) = match &outcome {
        Outcome::Invalid(errors) => {
            let observed = Observed::stopped(profile, Some(errors), None);
            (compute(old, &observed, now()), Some(Action::await_change()))
        }
        Outcome::Missing { reason, messages } => {
            let observed = Observed::stopped(profile, None, Some((reason, messages)));
            let again = Action::requeue(ctx.timing.converging);
            (compute(old, &observed, now()), Some(again))
        }
        Outcome::Refused {
            reason, messages, ..
        } => {
            let observed = Observed::stopped(profile, None, Some((reason, messages)));
            (compute(old, &observed, now()), None)
        }
        Outcome::Restoring(pass) => {
            let message = pass.restore.recorded.as_ref().map(|r| r.message.clone());
            let messages = Vec::from_iter(message);
            let observed = Observed::stopped(profile, None, Some((RESTORING, &messages)));
            let mut status = compute(old, &observed, now());
            status.restore = pass.restore.recorded.clone().map(Box::new);
            status.snapshot = pass.snapshots.recorded.clone().map(Box::new);
            status.snapshots = pass.snapshots.listed.clone();
            (status, Some(Action::requeue(ctx.timing.waiting)))
        }
        Outcome::Converged(pass) => {
            let (status, action) = converged_status(ctx, profile, old, pass);
            (status, Some(action))
        }
    };
    write_status(ctx, profile, old, status)
        .instrument(info_span!("status"))
        .await?;
    let key = ObjectRef::from(profile);
    match (action, outcome) {
        (Some(action), _) => {
            ctx.failures.clear(&key);
            Ok(action)
        }
        (None, outcome) => {
            if let Outcome::Refused { category, .. } = outcome {
                ctx.metrics.failed(category);
            }
            let attempts = ctx.failures.note(&key);
            let again = crate::backoff::reconcile(attempts).max(ctx.timing.converging);
            Ok(Action::requeue(again))
        }
    }
}

/// The status of a converged pass, and when to look again.
fn converged_status(
    ctx: &Context,
    profile: &VirtualMachineProfile,
    old: &VirtualMachineProfileStatus,
    pass: &Pass,
) -> (VirtualMachineProfileStatus, Action) {
    let (vm, vmi) = cached_vm(ctx, profile);
    let observed = Observed {
        networks: &pass.networks,
        disks: &pass.disks,
        vm_outcome: Some(&pass.vm),
        vm: vm.as_deref(),
        vmi: vmi.as_deref(),
        converged: Some(Converged {
            profile,
            resources: pass.resources.clone(),
            restart: pass.restart.clone(),
            migration: pass.migration.clone(),
            isolation: pass.isolation.clone(),
            snapshots: pass.snapshots.snapshots.listed.clone(),
            snapshot: pass.snapshots.snapshots.recorded.clone(),
            restore: pass.snapshots.restore.recorded.clone(),
            snapshots_available: pass.snapshots.availability.clone(),
        }),
        ..Observed::stopped(profile, None, None)
    };
    let status = compute(old, &observed, now());
    let settled = status.phase == Some(Phase::Running)
        || (status.phase == Some(Phase::Stopped) && matches!(pass.vm, VmOutcome::Applied { .. }));
    // A VM waiting for its networks and disks hears of them through their watches; one
    // waiting for a user-data Secret's key, or isolation without the CRD, must look again.
    let multi_network_policies = ctx
        .multi_network_policies_installed
        .load(std::sync::atomic::Ordering::Relaxed);
    let unwatched_wait = matches!(&pass.vm, VmOutcome::Waiting { reason, .. } if reason != WAITING_FOR_DEPENDENCIES)
        || !multi_network_policies && profile.spec.isolation.is_some();
    let held = match decide(&ctx.status_writes, profile, old, &status) {
        Decision::Held(held) => Some(held),
        Decision::Unchanged | Decision::Write => None,
    };
    let again = look_again(&ctx.timing, settled, unwatched_wait, held);
    // A scheduled snapshot wakes the profile when it is due, and nothing else does.
    let due = pass.snapshots.snapshots.next_due.map(|due| {
        let wait = due.duration_since(k8s_openapi::jiff::Timestamp::now());
        Duration::try_from(wait).unwrap_or_default() + Duration::from_secs(1)
    });
    (
        status,
        Action::requeue(due.map_or(again, |due| again.min(due))),
    )
}

/// The profile's deletion: children cleaned up, or what it waits for said in status.
async fn delete(profile: &VirtualMachineProfile, ctx: &Context) -> Result<Action> {
    match cleanup(ctx, profile).await {
        Err(Error::Cleanup(waiting)) => {
            // Say what the deletion waits for; the error keeps the finalizer.
            report_deletion_waiting(ctx, profile, &waiting).await;
            Err(Error::Cleanup(waiting))
        }
        Err(other) => Err(other),
        Ok(()) => {
            let policy = ctx.admin_policy.current();
            let key = ProfileKey::of(profile);
            ctx.admission
                .release(&key, &|namespace: &str| policy.start_cap(namespace));
            ctx.imports
                .release_profile(&key, &|namespace: &str| policy.import_cap(namespace));
            ctx.metrics.profile_event("deleted");
            ctx.failures.clear(&ObjectRef::from(profile));
            ctx.status_writes.forget(&ObjectRef::from(profile));
            info!("cleaned up");
            Ok(Action::await_change())
        }
    }
}

/// Phase Terminating with Ready=False, reason DeletionWaiting, saying what it waits for, and
/// an Event when that changes. Best effort: the wait itself is the finalizer's.
async fn report_deletion_waiting(ctx: &Context, profile: &VirtualMachineProfile, waiting: &str) {
    let old = profile.status.clone().unwrap_or_default();
    let messages = [waiting.to_owned()];
    let observed = Observed::stopped(profile, None, Some((DELETION_WAITING, &messages)));
    let mut status = compute(&old, &observed, now());
    status.phase = Some(Phase::Terminating);
    if let Err(error) = write_status(ctx, profile, &old, status).await {
        warn!(%error, "reporting what the deletion waits for failed");
    }
}

/// The profile's VirtualMachine and its instance, from the caches.
fn cached_vm(
    ctx: &Context,
    profile: &VirtualMachineProfile,
) -> (
    Option<Arc<vmop_api::external::kubevirt::VirtualMachine>>,
    Option<Arc<vmop_api::external::kubevirt::VirtualMachineInstance>>,
) {
    let namespace = profile.namespace().unwrap_or_default();
    let name = profile.name_any();
    (
        ctx.stores
            .vms
            .get(&ObjectRef::new(&name).within(&namespace)),
        ctx.stores
            .vmis
            .get(&ObjectRef::new(&name).within(&namespace)),
    )
}

/// The children the plan wants by name: any other child of the profile is an orphan.
fn wanted(plan: &Plan) -> Wanted {
    Wanted {
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
    }
}

/// When to look again. A detail held back is written by the next look: while the profile
/// waits for its children, their next watch event (or the safety net); when settled or
/// waiting for something unwatched, a look once it may be written, so that, say, an address
/// that came just after the Running write shows within seconds. A status held until the cache
/// shows the last write is looked at again shortly, whatever the profile waits for: the
/// event that brought this reconcile may be the last for a while.
fn look_again(
    timing: &Timing,
    settled: bool,
    unwatched_wait: bool,
    held: Option<Held>,
) -> Duration {
    let (interval, watched_wait) = if settled {
        (timing.settled, false)
    } else if unwatched_wait {
        (timing.converging, false)
    } else {
        (timing.waiting, true)
    };
    match held {
        Some(Held::CacheBehind) => interval.min(CACHE_CATCH_UP),
        Some(Held::Details(wait)) if !watched_wait => interval.min(wait),
        _ => interval,
    }
}

/// Whether the spec changed since the last status this controller wrote (a new profile has
/// no children of removed entries yet).
fn spec_changed(profile: &VirtualMachineProfile, old: &VirtualMachineProfileStatus) -> bool {
    old.observed_generation
        .is_some_and(|seen| Some(seen) != profile.metadata.generation)
}

/// The status reason of an error the profile must show rather than retry quietly.
fn refusal_reason(error: &Error) -> Option<&'static str> {
    match error {
        Error::NotOurs { .. } => Some(CONFLICT),
        e if e.is_quota_refusal() => Some(QUOTA_EXCEEDED),
        e if e.is_permanent_refusal() => Some(APPLY_REJECTED),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_back_detail_rides_on_the_next_child_event_unless_none_is_coming() {
        use crate::report::write::{DETAIL_INTERVAL, PROGRESS_INTERVAL};
        let timing = Timing::default();
        let held = Some(Held::Details(DETAIL_INTERVAL));
        // Waiting for watched children: their events (or the safety net) bring the next look.
        assert_eq!(look_again(&timing, false, false, held), timing.waiting);
        assert_eq!(look_again(&timing, false, false, None), timing.waiting);
        // Settled, or waiting for something no watch reports: look again for the detail.
        assert_eq!(look_again(&timing, true, false, held), DETAIL_INTERVAL);
        assert_eq!(look_again(&timing, true, false, None), timing.settled);
        assert_eq!(
            look_again(&timing, false, true, Some(Held::Details(PROGRESS_INTERVAL))),
            PROGRESS_INTERVAL.min(timing.converging)
        );
        assert_eq!(look_again(&timing, false, true, None), timing.converging);
        // Held for the cache: shortly, whatever the profile waits for.
        for (settled, unwatched) in [(false, false), (true, false), (false, true)] {
            let again = look_again(&timing, settled, unwatched, Some(Held::CacheBehind));
            assert_eq!(again, CACHE_CATCH_UP, "{settled} {unwatched}");
        }
    }

    #[test]
    fn the_api_servers_quota_refusal_is_shown_as_quota_exceeded() {
        let refused = |code: u16, message: &str| Error::Apply {
            kind: "VirtualMachine",
            name: "web".into(),
            source: kube::Error::Api(
                kube::core::Status::failure(message, "Forbidden")
                    .with_code(code)
                    .boxed(),
            ),
        };
        let quota = refused(
            403,
            "exceeded quota: vms, requested: count/virtualmachines.kubevirt.io=1",
        );
        assert_eq!(refusal_reason(&quota), Some(QUOTA_EXCEEDED));
        assert_eq!(
            refusal_reason(&refused(422, "spec: Invalid")),
            Some(APPLY_REJECTED)
        );
    }
}
