//! Carrying out what [`snapshot_plan::step`] and [`restore_plan::step`] decided: snapshots
//! created and deleted, the restore created, and the claims a completed restore made given
//! back to the profile.

use std::sync::Arc;

use k8s_openapi::{api::core::v1::PersistentVolumeClaim, jiff::Timestamp};
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, Patch, PatchParams, PostParams},
    runtime::reflector::ObjectRef,
};
use serde_json::json;
use tracing::info;
use vmop_api::{
    RESTORE_ANNOTATION, RequestPhase, RetentionPolicy, SNAPSHOT_ANNOTATION, VirtualMachineProfile,
    VirtualMachineProfileStatus,
    external::kubevirt::{VirtualMachine, VirtualMachineRestore, VirtualMachineSnapshot},
};

use crate::{
    context::Context,
    converge::apply::{ensure, kind_of, owner_reference},
    error::Result,
    snapshots::{
        availability::availability,
        restore_plan::{self, RestoreStep},
        schedule::Schedule,
        sizes,
        snapshot_plan::{self, SnapshotInputs, SnapshotStep},
    },
};

/// KubeVirt's annotation on the claims a restore made, naming the restore.
const RESTORE_NAME_ANNOTATION: &str = "restore.kubevirt.io/name";

/// What the snapshot part of a pass did and found.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotsPass {
    /// Scheduled and requested snapshots.
    pub snapshots: SnapshotStep,
    /// The restore request.
    pub restore: RestoreStep,
    /// `SnapshotsAvailable` (ok, reason, message), when the profile asks for snapshots.
    pub availability: Option<(bool, &'static str, String)>,
    /// Restored claims given back to the profile in this pass: the caches see them owned
    /// only with their watch events, which bring the next pass.
    pub claims_given_back: usize,
}

impl SnapshotsPass {
    /// Whether the rest of the pass must wait: a restore under way, or its claims just given
    /// back.
    pub fn holds_children(&self) -> bool {
        self.restore.holds_children() || self.claims_given_back > 0
    }
}

/// Snapshots and restore as this pass leaves them, after asking KubeVirt for what they need.
pub(crate) async fn carry_out(
    ctx: &Context,
    profile: &VirtualMachineProfile,
    old: &VirtualMachineProfileStatus,
    vm: Option<&VirtualMachine>,
) -> Result<SnapshotsPass> {
    let namespace = profile.namespace().unwrap_or_default();
    let name = profile.name_any();
    let annotation = |key: &str| profile.annotations().get(key).map(String::as_str);
    let existing = cached_snapshots(ctx, &namespace, &name);
    let policy = profile.spec.snapshots.as_ref();
    let schedule = policy.map(|p| Schedule::parse(&p.schedule));
    let inputs = SnapshotInputs {
        profile: &name,
        namespace: &namespace,
        schedule: match (&schedule, policy) {
            (Some(Ok(schedule)), Some(policy)) => {
                Some((schedule, usize::try_from(policy.keep).unwrap_or(1)))
            }
            _ => None,
        },
        requested: annotation(SNAPSHOT_ANNOTATION),
        recorded: old.snapshot.as_deref(),
        existing: &existing,
        old_listed: &old.snapshots,
        vm_exists: vm.is_some(),
        created: profile
            .metadata
            .creation_timestamp
            .as_ref()
            .map_or(Timestamp::UNIX_EPOCH, |t| t.0),
        now: Timestamp::now(),
    };
    let mut snapshots = snapshot_plan::step(&inputs);
    apply_snapshots(ctx, &namespace, &snapshots).await?;
    sizes::fill_sizes(ctx, &namespace, &existing, &mut snapshots.listed).await;

    let restore = old
        .restore
        .as_ref()
        .and_then(|r| r.restore_name.as_ref())
        .and_then(|n| {
            ctx.stores
                .restores
                .get(&ObjectRef::new(n).within(&namespace))
        });
    let restore = restore_plan::step(
        (&name, &namespace),
        annotation(RESTORE_ANNOTATION),
        old.restore.as_deref(),
        &existing,
        restore.as_deref(),
    );
    if let Some(object) = restore.create.clone() {
        let restores: Api<VirtualMachineRestore> = Api::namespaced(ctx.client.clone(), &namespace);
        ensure(
            ctx,
            &restores,
            object,
            owner_reference(profile),
            None,
            None,
            None,
        )
        .await?;
    }
    let done = restore
        .recorded
        .as_ref()
        .filter(|r| r.phase == RequestPhase::Succeeded)
        .and_then(|r| r.restore_name.as_deref());
    let claims_given_back = match done {
        Some(done) => give_back_claims(ctx, profile, done).await?,
        None => 0,
    };
    let asks = policy.is_some() || annotation(SNAPSHOT_ANNOTATION).is_some();
    let problem = schedule.and_then(Result::err);
    Ok(SnapshotsPass {
        snapshots,
        restore,
        availability: asks.then(|| availability(vm, problem.as_deref())),
        claims_given_back,
    })
}

/// The profile's snapshots, from the cache by label.
fn cached_snapshots(
    ctx: &Context,
    namespace: &str,
    profile: &str,
) -> Vec<Arc<VirtualMachineSnapshot>> {
    ctx.stores
        .index
        .snapshots
        .names(Some(namespace), profile)
        .iter()
        .filter_map(|n| {
            ctx.stores
                .snapshots
                .get(&ObjectRef::new(n).within(namespace))
        })
        .collect()
}

/// Creates the new snapshots (a name already taken is one a previous pass created) and
/// deletes those beyond `keep`.
async fn apply_snapshots(ctx: &Context, namespace: &str, step: &SnapshotStep) -> Result<()> {
    let api: Api<VirtualMachineSnapshot> = Api::namespaced(ctx.client.clone(), namespace);
    for snapshot in &step.create {
        match api.create(&PostParams::default(), snapshot).await {
            Ok(_) => {
                ctx.metrics
                    .wrote(kind_of::<VirtualMachineSnapshot>(), "create");
                info!(snapshot = %snapshot.name_any(), "took a snapshot");
            }
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(error) => return Err(error.into()),
        }
    }
    for name in &step.delete {
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {
                ctx.metrics
                    .wrote(kind_of::<VirtualMachineSnapshot>(), "delete");
                info!(snapshot = %name, "deleted a snapshot");
            }
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}

/// The claims a completed restore made (`volumeOwnershipPolicy: None` leaves them without
/// an owner) get the profile as their owner again, so the profile keeps managing its disks.
/// A claim a DataVolume adopts (`cdi.kubevirt.io/storage.populatedFor`) is the DataVolume's.
async fn give_back_claims(
    ctx: &Context,
    profile: &VirtualMachineProfile,
    restore: &str,
) -> Result<usize> {
    let namespace = profile.namespace().unwrap_or_default();
    let Some(owner) = owner_reference(profile) else {
        return Ok(0);
    };
    let mut given = 0;
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), &namespace);
    for name in ctx
        .stores
        .index
        .claims
        .names(Some(&namespace), &profile.name_any())
    {
        let Some(claim) = ctx
            .stores
            .claims
            .get(&ObjectRef::new(&name).within(&namespace))
        else {
            continue;
        };
        let annotations = claim.annotations();
        let made_by_restore = annotations
            .get(RESTORE_NAME_ANNOTATION)
            .is_some_and(|r| r == restore);
        let unowned = claim.owner_references().is_empty();
        if !made_by_restore || !unowned || annotations.contains_key(POPULATED_FOR_ANNOTATION) {
            continue;
        }
        let patch = json!({"metadata": {"ownerReferences": [owner]}});
        claims
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        ctx.metrics
            .wrote(kind_of::<PersistentVolumeClaim>(), "adopt");
        info!(claim = %name, restore, "gave a restored claim back to the profile");
        given += 1;
    }
    Ok(given)
}

/// CDI's annotation on a claim made for a DataVolume, which CDI then adopts.
const POPULATED_FOR_ANNOTATION: &str = "cdi.kubevirt.io/storage.populatedFor";

/// On a profile's deletion its snapshots go with it when every disk goes (retention
/// `Delete`); when any disk is retained they stay, so that what is kept can be restored
/// into a new profile of the same name.
pub(crate) async fn delete_with_profile(
    ctx: &Context,
    profile: &VirtualMachineProfile,
) -> Result<()> {
    let retained = profile
        .spec
        .disks
        .iter()
        .any(|d| profile.spec.retention_of(d) == RetentionPolicy::Retain);
    if retained {
        return Ok(());
    }
    let namespace = profile.namespace().unwrap_or_default();
    let doomed = SnapshotStep {
        delete: cached_snapshots(ctx, &namespace, &profile.name_any())
            .iter()
            .filter(|s| s.metadata.deletion_timestamp.is_none())
            .map(|s| s.name_any())
            .collect(),
        ..SnapshotStep::default()
    };
    apply_snapshots(ctx, &namespace, &doomed).await
}
