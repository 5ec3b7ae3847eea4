//! Restoring the claims after a start, before any reconcile: every profile's plan is claimed
//! in order of creation, so the earlier of two conflicting profiles holds what they both ask
//! for, whichever the controller happens to reconcile first. Shared policies that nobody
//! claims (and that no profile lists in its status) are queued for deletion.

use std::collections::BTreeSet;

use kube::ResourceExt;
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
