//! The pool controller: for each VirtualMachineProfilePool, applies the member profiles its
//! plan wants (only those that differ), deletes the next surplus member, and writes status
//! (replicas, ready replicas, the ordinal table, and what keeps it from Ready). Member
//! profiles are then reconciled like any other: the claims index refuses an address another
//! profile or pool holds, and the pool reports that member's Conflict.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use futures::{Future, StreamExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, Patch, PatchParams, Preconditions},
    runtime::{
        Controller, WatchStreamExt,
        controller::{Action, Config},
        reflector::{self, ObjectRef},
        watcher,
    },
};
use serde_json::json;
use vmop_api::{
    VirtualMachineProfile,
    pool::{POOL_LABEL, PoolMember, VirtualMachineProfilePool, VirtualMachineProfilePoolStatus},
};

use crate::{
    cache::relist::relisting,
    context::Context,
    converge::apply::{apply_status, kind_of},
    error::{Error, Result},
    pools::pool_plan::{PoolPlan, member_name, plan_pool},
    report::status::RESTART_REQUIRED,
};

/// Field manager of the member profiles a pool writes (the profile controller writes their
/// status and finalizer under its own).
pub const POOL_FIELD_MANAGER: &str = "vm-operator-pool";

/// Reason of a pool whose member profile the API server refuses.
pub(crate) use vmop_api::reasons::MEMBER_REJECTED;

/// Members of `pool` by name: ordinals from 0 up to what the spec or status names, and on
/// while the next one exists (members are a prefix of the ordinals; scale-down removes the
/// highest first).
fn members(
    ctx: &Context,
    pool: &VirtualMachineProfilePool,
) -> BTreeMap<String, VirtualMachineProfile> {
    let name = pool.name_any();
    let namespace = pool.namespace().unwrap_or_default();
    let known = pool
        .status
        .as_ref()
        .and_then(|s| s.members.iter().map(|m| m.ordinal + 1).max())
        .unwrap_or(0);
    let mut upper = pool.spec.replicas.max(known);
    let lookup = |ordinal: i32| {
        ctx.stores
            .profiles
            .get(&ObjectRef::new(&member_name(&name, ordinal)).within(&namespace))
    };
    while lookup(upper).is_some() {
        upper += 1;
    }
    (0..upper)
        .filter_map(|ordinal| lookup(ordinal).map(|p| (p.name_any(), (*p).clone())))
        .collect()
}

/// Whether `current` already is what `desired` asks (spec, labels, annotations, owner).
fn up_to_date(current: &VirtualMachineProfile, desired: &VirtualMachineProfile) -> bool {
    let contains = |have: &BTreeMap<String, String>, want: Option<&BTreeMap<String, String>>| {
        want.into_iter()
            .flatten()
            .all(|(k, v)| have.get(k) == Some(v))
    };
    current.spec == desired.spec
        && contains(current.labels(), desired.metadata.labels.as_ref())
        && contains(current.annotations(), desired.metadata.annotations.as_ref())
        && current.metadata.owner_references == desired.metadata.owner_references
}

fn condition(
    type_: &str,
    ok: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
    old: &[Condition],
) -> Condition {
    let status = if ok { "True" } else { "False" };
    let since = old
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| Time(k8s_openapi::jiff::Timestamp::now()));
    Condition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.into(),
        message,
        observed_generation: generation,
        last_transition_time: since,
    }
}

fn ready_condition_of(profile: &VirtualMachineProfile, type_: &str) -> Option<Condition> {
    profile
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .cloned()
}

/// The pool's status from its plan and members.
fn pool_status(
    pool: &VirtualMachineProfilePool,
    plan: &PoolPlan,
    existing: &BTreeMap<String, VirtualMachineProfile>,
) -> VirtualMachineProfilePoolStatus {
    let old = pool.status.clone().unwrap_or_default();
    let generation = pool.metadata.generation;
    let owned: Vec<&VirtualMachineProfile> = existing
        .values()
        .filter(|p| {
            p.owner_references()
                .iter()
                .any(|o| Some(&o.uid) == pool.metadata.uid.as_ref())
        })
        .collect();
    let ready = owned
        .iter()
        .filter(|p| ready_condition_of(p, "Ready").is_some_and(|c| c.status == "True"))
        .count();
    let not_ready: Vec<String> = owned
        .iter()
        .filter_map(|p| {
            let c = ready_condition_of(p, "Ready")?;
            (c.status != "True").then(|| format!("{}: {}: {}", p.name_any(), c.reason, c.message))
        })
        .collect();
    let replicas = i32::try_from(owned.len()).unwrap_or(i32::MAX);
    let readies = i32::try_from(ready).unwrap_or(i32::MAX);
    let (ok, reason, message) = if let Some((reason, message)) = plan.problems.first() {
        let all: Vec<&str> = plan.problems.iter().map(|(_, m)| m.as_str()).collect();
        (
            false,
            *reason,
            if all.len() > 1 {
                all.join("; ")
            } else {
                message.clone()
            },
        )
    } else if not_ready.iter().any(|m| m.contains(": Conflict: ")) {
        (false, "Conflict", not_ready.join("; "))
    } else if replicas != pool.spec.replicas {
        (
            false,
            "Scaling",
            format!("{replicas} of {} replicas exist", pool.spec.replicas),
        )
    } else if readies != pool.spec.replicas {
        (false, "ReplicasNotReady", not_ready.join("; "))
    } else {
        (
            true,
            "AllReplicasReady",
            format!("{readies} replicas ready"),
        )
    };
    let mut conditions = vec![condition(
        "Ready",
        ok,
        reason,
        message,
        generation,
        &old.conditions,
    )];
    let restarts: Vec<String> = owned
        .iter()
        .filter(|p| ready_condition_of(p, RESTART_REQUIRED).is_some_and(|c| c.status == "True"))
        .map(|p| p.name_any())
        .collect();
    if !restarts.is_empty() {
        conditions.push(condition(
            RESTART_REQUIRED,
            true,
            RESTART_REQUIRED,
            format!(
                "{} run with the previous template: the change takes effect when each VM restarts",
                restarts.join(", ")
            ),
            generation,
            &old.conditions,
        ));
    }
    let members: Vec<PoolMember> = plan.members.clone();
    VirtualMachineProfilePoolStatus {
        replicas,
        ready_replicas: readies,
        selector: Some(format!("{POOL_LABEL}={}", pool.name_any())),
        observed_generation: generation,
        members,
        conditions,
    }
}

/// Applies one member profile; `Some(message)` when the profile's own admission rules
/// (derived names, for one) refuse it, with the API server's words for the pool's status.
async fn apply_member(
    ctx: &Context,
    profiles: &Api<VirtualMachineProfile>,
    desired: &VirtualMachineProfile,
) -> Result<Option<String>> {
    let name = desired.name_any();
    let mut body = serde_json::to_value(desired).map_err(|source| Error::Serialize {
        what: "pool member",
        source,
    })?;
    body["apiVersion"] = json!("vmoperator.io/v1alpha1");
    body["kind"] = json!("VirtualMachineProfile");
    if let Some(map) = body.as_object_mut() {
        map.remove("status");
    }
    let params = PatchParams::apply(POOL_FIELD_MANAGER).force();
    match profiles.patch(&name, &params, &Patch::Apply(&body)).await {
        Ok(_) => {
            ctx.metrics
                .wrote(kind_of::<VirtualMachineProfile>(), "apply");
            Ok(None)
        }
        Err(kube::Error::Api(status)) if matches!(status.code, 400 | 403 | 422) => {
            Ok(Some(format!("profile {name}: {}", status.message)))
        }
        Err(error) => Err(error.into()),
    }
}

/// Deletes one member, only the very object seen (its UID), whatever became of it since.
async fn delete_member(
    ctx: &Context,
    profiles: &Api<VirtualMachineProfile>,
    member: &VirtualMachineProfile,
) -> Result<()> {
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: member.uid(),
            resource_version: None,
        }),
        ..DeleteParams::background()
    };
    match profiles.delete(&member.name_any(), &params).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 404 => {}
        Err(error) => return Err(error.into()),
    }
    ctx.metrics
        .wrote(kind_of::<VirtualMachineProfile>(), "delete");
    Ok(())
}

/// Reconciles one pool.
pub async fn reconcile_pool(
    pool: Arc<VirtualMachineProfilePool>,
    ctx: Arc<Context>,
) -> Result<Action> {
    crate::controller::Running::synced(&ctx).await?;
    if pool.metadata.deletion_timestamp.is_some() {
        // Its members go with it (owner references); each cleans up under its finalizer.
        return Ok(Action::await_change());
    }
    let namespace = pool.namespace().unwrap_or_default();
    let existing = members(&ctx, &pool);
    let mut plan = plan_pool(&pool, &existing);
    let profiles: Api<VirtualMachineProfile> = Api::namespaced(ctx.client.clone(), &namespace);
    for desired in &plan.desired.clone() {
        let name = desired.name_any();
        let current = existing.get(&name);
        if current.is_some_and(|current| up_to_date(current, desired)) {
            continue;
        }
        if let Some(refused) = apply_member(&ctx, &profiles, desired).await? {
            plan.problems.push((MEMBER_REJECTED, refused));
        }
    }
    if let Some(name) = &plan.delete
        && let Some(member) = existing.get(name)
    {
        delete_member(&ctx, &profiles, member).await?;
    }
    let status = pool_status(&pool, &plan, &existing);
    let settled = status
        .conditions
        .first()
        .is_some_and(|c| c.status == "True");
    if pool.status.as_ref() != Some(&status) {
        apply_status(&ctx, pool.as_ref(), POOL_FIELD_MANAGER, &status).await?;
    }
    Ok(if settled {
        Action::await_change()
    } else {
        Action::requeue(ctx.timing.converging)
    })
}

fn pool_error_policy(
    _pool: Arc<VirtualMachineProfilePool>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    ctx.metrics.failed(error.category());
    tracing::warn!(%error, "pool reconcile failed");
    Action::requeue(Duration::from_secs(5))
}

/// The pool controller, sharing the profile controller's context; ends with `shutdown`.
pub fn pool_controller(
    client: Client,
    ctx: Arc<Context>,
    namespace: Option<String>,
    concurrency: u16,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> impl Future<Output = ()> + Send {
    let (pools, members) = match namespace.as_deref() {
        Some(ns) => (
            Api::<VirtualMachineProfilePool>::namespaced(client.clone(), ns),
            Api::<VirtualMachineProfile>::namespaced(client, ns),
        ),
        None => (Api::all(client.clone()), Api::all(client)),
    };
    // Both watches list again after the API server comes back (see `crate::cache::relist`).
    let (pool_cache, pool_writer) = reflector::store();
    let pool_stream = relisting(pools, watcher::Config::default(), &ctx.watch_health)
        .reflect(pool_writer)
        .applied_objects();
    let member_stream = relisting(
        members,
        watcher::Config::default().labels(POOL_LABEL),
        &ctx.watch_health,
    )
    .touched_objects();
    Controller::for_stream(pool_stream, pool_cache)
        .with_config(Config::default().concurrency(concurrency))
        .owns_stream(member_stream)
        .graceful_shutdown_on(shutdown)
        .run(reconcile_pool, pool_error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
}
