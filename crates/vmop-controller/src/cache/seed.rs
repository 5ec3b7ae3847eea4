//! Restoring the claims after a start, before any reconcile: every profile's plan is claimed
//! in order of creation, so the earlier of two conflicting profiles holds what they both ask
//! for, whichever the controller happens to reconcile first. Shared policies that nobody
//! claims (and that no profile lists in its status) are queued for deletion.

use std::collections::BTreeSet;

use kube::{ResourceExt, runtime::reflector::ObjectRef};
use vmop_plugin::objects::MANAGED_POLICY_LABEL;

use crate::{
    context::Context,
    desired::claims::ProfileKey,
    desired::classes::storage_class,
    desired::plan::{Planned, TemplateExtras, plan, scope_node_policies},
    desired::wants::wants,
};

/// Claims what every cached profile's plan holds in common with others, oldest first.
/// Profiles that conflict are left for their reconcile to report.
pub async fn restore_claims(ctx: &Context) {
    let mut profiles = ctx.stores.profiles.state();
    profiles.sort_by(|a, b| {
        let created = |p: &vmop_api::VirtualMachineProfile| {
            p.metadata.creation_timestamp.as_ref().map(|t| t.0)
        };
        created(a)
            .cmp(&created(b))
            .then_with(|| a.namespace().cmp(&b.namespace()))
            .then_with(|| a.name_any().cmp(&b.name_any()))
    });
    let policy = ctx.admin_policy.current();
    let classes = |name: Option<&str>| storage_class(&ctx.stores.storage_classes, name);
    let mut listed: BTreeSet<String> = BTreeSet::new();
    for profile in &profiles {
        listed.extend(
            profile
                .status
                .iter()
                .flat_map(|s| &s.networks)
                .flat_map(|n| n.policies.iter().cloned()),
        );
        let Planned::Ready(mut planned) = plan(
            profile,
            &ctx.registries,
            classes,
            TemplateExtras::default(),
            &policy,
        )
        .await
        else {
            continue;
        };
        scope_node_policies(&mut planned, ctx.namespace.as_deref());
        let _ = ctx
            .claims
            .claim(&ProfileKey::of(profile), wants(&planned), |_| true);
    }
    let unclaimed: Vec<String> = ctx
        .stores
        .node_policies
        .state()
        .iter()
        // The cache holds this operator's scope only (see `plan::node_policy_scope`).
        .filter(|p| p.labels().contains_key(MANAGED_POLICY_LABEL))
        .map(|p| p.name_any())
        .filter(|name| !listed.contains(name) && !ctx.claims.in_use(name))
        .collect();
    ctx.claims.forget_unclaimed(unclaimed);
}

/// Restores the line of VM starts from the caches, before any reconcile: the VMs that exist
/// and are still starting hold their places, and the profiles that were `Queued` wait again
/// in order of creation (those not yet ready to start join when they are, as before).
pub fn restore_start_line(ctx: &Context) {
    use crate::desired::admission::{order_of, starts_when_created, still_starting};
    let mut starting = Vec::new();
    let mut waiting = Vec::new();
    for profile in ctx.stores.profiles.state() {
        if profile.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let key = ProfileKey::of(&profile);
        let queued = profile
            .status
            .as_ref()
            .is_some_and(|s| s.phase == Some(vmop_api::Phase::Queued));
        match ctx
            .stores
            .vms
            .get(&ObjectRef::new(&key.name).within(&key.namespace))
        {
            Some(vm) if still_starting(&vm) => {
                let owner = key.name.clone();
                starting.push((key, owner));
            }
            Some(_) => {}
            None if queued && starts_when_created(&profile) => {
                let owner = key.name.clone();
                waiting.push((key, order_of(&profile), owner));
            }
            None => {}
        }
    }
    ctx.admission.seed(starting, waiting);
}

/// Restores the line of imports from the caches, before any reconcile: the DataVolumes of
/// each profile's disks (its status names their claims, which CDI names after them) whose
/// import still runs hold their places, and the disks a profile showed `Queued` wait again,
/// in order of their profile's creation.
pub fn restore_import_line(ctx: &Context) {
    use crate::desired::admission::{created_at, importing, is_import, order_of_volume};
    use vmop_api::reasons::QUEUED;
    let mut starting = Vec::new();
    let mut waiting = Vec::new();
    for profile in ctx.stores.profiles.state() {
        if profile.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let namespace = profile.namespace().unwrap_or_default();
        let disks = profile.status.iter().flat_map(|s| &s.disks);
        for disk in disks {
            let Some(volume) = disk.claim_name.clone() else {
                continue;
            };
            let cached = ctx
                .stores
                .data_volumes
                .get(&ObjectRef::new(&volume).within(&namespace));
            let key = ProfileKey {
                namespace: namespace.clone(),
                name: volume,
            };
            match cached {
                Some(dv) if is_import(&dv) && importing(&dv) => {
                    starting.push((key, profile.name_any()));
                }
                None if disk.phase.as_deref() == Some(QUEUED) => {
                    let order = order_of_volume(created_at(&profile), &key.name);
                    waiting.push((key, order, profile.name_any()));
                }
                _ => {}
            }
        }
    }
    ctx.imports.seed(starting, waiting);
}
