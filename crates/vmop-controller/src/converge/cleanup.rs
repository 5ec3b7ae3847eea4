//! Removing what a profile no longer needs: children of entries removed from the spec, and on
//! deletion everything, in order — the VM first, then disks by their retention policy
//! (`Retain` keeps the claim and drops our owner reference), then NADs and Secrets, then this
//! profile's share of shared policies. Nothing orphaned, nothing deleted that the user kept.

use std::{collections::BTreeSet, sync::Arc};

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret};
use kube::{
    Api, Resource, ResourceExt,
    api::{ListParams, Patch, PatchParams},
    runtime::reflector::ObjectRef,
};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::json;
use vmop_api::{
    PROFILE_LABEL, RetentionPolicy, VirtualMachineProfile,
    external::{cdi::DataVolume, kubevirt::VirtualMachine, multus::NetworkAttachmentDefinition},
};

use crate::{
    cache::index::LabelIndex,
    cache::packed::PackedStore,
    context::Context,
    converge::apply::{delete, kind_of},
    converge::network::delete_unused_node_policies,
    desired::claims::ProfileKey,
    error::{Error, Result},
};

/// Label on a disk's claim or DataVolume naming the spec disk it serves.
pub const DISK_LABEL: &str = "vmoperator.io/disk";
/// Label on a disk's claim or DataVolume recording its retention policy.
pub const RETENTION_LABEL: &str = "vmoperator.io/retention";
/// Annotation on a retained claim naming the profile it came from.
pub const RETAINED_FROM_ANNOTATION: &str = "vmoperator.io/retained-from";

/// Whether `object` is a child of `profile`: in its namespace, owned by its uid.
fn owned_by<K: Resource>(object: &K, profile: &VirtualMachineProfile) -> bool {
    object.meta().namespace == profile.meta().namespace
        && object
            .owner_references()
            .iter()
            .any(|o| Some(&o.uid) == profile.meta().uid.as_ref())
}

/// Cached objects of one kind that are the profile's children: looked up in the label index,
/// checked in the cache.
fn child_objects<K>(
    (store, index): (&PackedStore<K>, &LabelIndex),
    profile: &VirtualMachineProfile,
) -> Vec<Arc<K>>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + 'static,
{
    let namespace = profile.namespace();
    let name = profile.name_any();
    index
        .names(namespace.as_deref(), &name)
        .iter()
        .filter_map(|child| {
            store.get(&ObjectRef::new(child).within(namespace.as_deref().unwrap_or_default()))
        })
        .filter(|o| o.labels().get(PROFILE_LABEL) == Some(&name) && owned_by(&**o, profile))
        .collect()
}

/// Names of the profile's cached children of one kind.
pub(crate) fn children<K>(
    cache: (&PackedStore<K>, &LabelIndex),
    profile: &VirtualMachineProfile,
) -> Vec<String>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + 'static,
{
    child_objects(cache, profile)
        .iter()
        .map(|o| o.name_any())
        .collect()
}

/// Deletes every child of one kind whose name is not in `keep`. The cache may hold the full
/// objects (`S = K`) or their metadata only (`S = PartialObjectMeta<K>`).
async fn delete_unwanted<S, K>(
    ctx: &Context,
    cache: (&PackedStore<S>, &LabelIndex),
    api: &Api<K>,
    profile: &VirtualMachineProfile,
    keep: &BTreeSet<String>,
) -> Result<()>
where
    S: Resource<DynamicType = ()> + Clone + DeserializeOwned + 'static,
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + 'static,
{
    for name in children(cache, profile) {
        if !keep.contains(&name) {
            delete(ctx, api, &name).await?;
        }
    }
    Ok(())
}

/// Releases a volume from the profile: no owner reference and no profile label, so neither
/// garbage collection nor this controller touches it again.
async fn retain<K>(
    ctx: &Context,
    api: &Api<K>,
    name: &str,
    profile: &VirtualMachineProfile,
) -> Result<()>
where
    K: Resource<DynamicType = ()> + Clone + Serialize + DeserializeOwned + std::fmt::Debug,
{
    let from = format!(
        "{}/{}",
        profile.namespace().unwrap_or_default(),
        profile.name_any()
    );
    let patch = json!({"metadata": {
        "ownerReferences": null,
        "labels": {PROFILE_LABEL: null},
        "annotations": {RETAINED_FROM_ANNOTATION: from},
    }});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    ctx.metrics.wrote(kind_of::<K>(), "retain");
    Ok(())
}

/// Whether a disk's volume is kept: by the spec's retention of that disk, which is what the
/// user asked for now; the label recorded at apply time only for a disk that has left the
/// spec.
fn retained<K: Resource>(object: &K, profile: &VirtualMachineProfile) -> bool {
    let labels = object.labels();
    let in_spec = labels
        .get(DISK_LABEL)
        .and_then(|disk| profile.spec.disks.iter().find(|d| &d.name == disk));
    match in_spec {
        Some(disk) => profile.spec.retention_of(disk) == RetentionPolicy::Retain,
        None => labels.get(RETENTION_LABEL).map(String::as_str) == Some("Retain"),
    }
}

/// Where the volumes to dispose of are read from.
#[derive(Debug, Clone, Copy)]
enum Source<'a, K: Resource<DynamicType = ()> + Clone + DeserializeOwned + 'static> {
    /// The watch cache: for orphans of a running profile, converging anyway.
    Cache(&'a PackedStore<K>, &'a LabelIndex),
    /// The API server: on deletion, so that a cache still filling (after a restart) cannot
    /// make a volume be skipped and then garbage-collected with the profile.
    Live,
}

/// Disposes of one kind of volume object of the profile (not in `keep`) by its retention.
async fn dispose_volumes<K>(
    ctx: &Context,
    source: Source<'_, K>,
    api: &Api<K>,
    profile: &VirtualMachineProfile,
    keep: &BTreeSet<String>,
) -> Result<()>
where
    K: Resource<DynamicType = ()>
        + Clone
        + Serialize
        + DeserializeOwned
        + std::fmt::Debug
        + 'static,
{
    let mine = |object: &K| {
        !keep.contains(&object.name_any())
            && object.labels().get(PROFILE_LABEL) == Some(&profile.name_any())
            && owned_by(object, profile)
    };
    let objects: Vec<K> = match source {
        Source::Cache(store, index) => child_objects((store, index), profile)
            .iter()
            .filter(|o| mine(o))
            .map(|o| (**o).clone())
            .collect(),
        Source::Live => {
            let selector = format!("{PROFILE_LABEL}={}", profile.name_any());
            ctx.metrics
                .read(crate::converge::apply::kind_of::<K>(), "list");
            api.list(&ListParams::default().labels(&selector))
                .await?
                .items
                .into_iter()
                .filter(|o| mine(o))
                .collect()
        }
    };
    for object in objects {
        let name = object.name_any();
        if retained(&object, profile) {
            retain(ctx, api, &name, profile).await?;
        } else {
            delete(ctx, api, &name).await?;
        }
    }
    Ok(())
}

/// What to keep after a pass: names of the children the current spec wants.
#[derive(Debug, Default)]
pub struct Wanted {
    /// NADs the spec still wants.
    pub nads: BTreeSet<String>,
    /// Claims and DataVolumes the spec still wants.
    pub volumes: BTreeSet<String>,
}

/// Whether the label indexes list a child of the profile that `wanted` (and `secrets`, the
/// Secrets the VM needs, when known) does not: names only, nothing decoded, so it can be
/// asked on every reconcile. It catches what a spec change alone would miss: a child whose
/// watch event arrived after the reconcile that saw its entry removed, or one left by an
/// operator killed between writing it and removing it.
pub fn has_unwanted(
    ctx: &Context,
    profile: &VirtualMachineProfile,
    wanted: &Wanted,
    secrets: Option<&[String]>,
) -> bool {
    let namespace = profile.namespace();
    let name = profile.name_any();
    let index = &ctx.stores.index;
    let listed = |index: &LabelIndex| index.names(namespace.as_deref(), &name);
    listed(&index.nads).iter().any(|n| !wanted.nads.contains(n))
        || listed(&index.claims)
            .iter()
            .chain(&listed(&index.data_volumes))
            .any(|n| !wanted.volumes.contains(n))
        || secrets.is_some_and(|keep| listed(&index.secrets).iter().any(|n| !keep.contains(n)))
}

/// Removes children of entries no longer in the spec. `secrets` are the Secrets the VM needs,
/// or `None` to leave Secrets alone.
pub async fn remove_orphans(
    ctx: &Context,
    profile: &VirtualMachineProfile,
    wanted: &Wanted,
    secrets: Option<&[String]>,
) -> Result<()> {
    let namespace = profile.namespace().unwrap_or_default();
    let client = &ctx.client;
    let nads: Api<NetworkAttachmentDefinition> = Api::namespaced(client.clone(), &namespace);
    let (stores, index) = (&ctx.stores, &ctx.stores.index);
    delete_unwanted(
        ctx,
        (&stores.nads, &index.nads),
        &nads,
        profile,
        &wanted.nads,
    )
    .await?;
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &namespace);
    let dvs: Api<DataVolume> = Api::namespaced(client.clone(), &namespace);
    if deleting(profile) {
        dispose_volumes(ctx, Source::Live, &claims, profile, &wanted.volumes).await?;
        dispose_volumes(ctx, Source::Live, &dvs, profile, &wanted.volumes).await?;
    } else {
        let claim_cache = Source::Cache(&stores.claims, &index.claims);
        dispose_volumes(ctx, claim_cache, &claims, profile, &wanted.volumes).await?;
        let dv_cache = Source::Cache(&stores.data_volumes, &index.data_volumes);
        dispose_volumes(ctx, dv_cache, &dvs, profile, &wanted.volumes).await?;
    }
    if let Some(keep) = secrets {
        let keep: BTreeSet<String> = keep.iter().cloned().collect();
        let api: Api<Secret> = Api::namespaced(client.clone(), &namespace);
        let secrets = (&stores.secrets, &*index.secrets);
        delete_unwanted(ctx, secrets, &api, profile, &keep).await?;
    }
    Ok(())
}

fn deleting(profile: &VirtualMachineProfile) -> bool {
    profile.metadata.deletion_timestamp.is_some()
}

/// Cleans up a deleted profile. Returns an error while it must wait (the VM is still going),
/// so the finalizer stays until everything is done.
pub async fn cleanup(ctx: &Context, profile: &VirtualMachineProfile) -> Result<()> {
    let namespace = profile.namespace().unwrap_or_default();
    let vms: Api<VirtualMachine> = Api::namespaced(ctx.client.clone(), &namespace);
    // The VM and its instance carry the profile's name; the instance has no owner
    // reference of ours, only the profile's label.
    let name = profile.name_any();
    let ours = |labels: &std::collections::BTreeMap<String, String>| {
        labels.get(PROFILE_LABEL) == Some(&name)
    };
    let vm = ctx
        .stores
        .vms
        .get(&ObjectRef::new(&name).within(&namespace))
        .filter(|vm| ours(vm.labels()) && owned_by(&**vm, profile));
    if vm.is_some() {
        delete(ctx, &vms, &name).await?;
    }
    let instance = ctx
        .stores
        .vmis
        .get(&ObjectRef::new(&name).within(&namespace));
    let vm_left = vm.is_some() || instance.is_some_and(|vmi| ours(vmi.labels()));
    if vm_left {
        return Err(Error::Cleanup(format!(
            "waiting for VirtualMachine {namespace}/{} to go",
            profile.name_any()
        )));
    }
    crate::snapshots::apply::delete_with_profile(ctx, profile).await?;
    remove_orphans(ctx, profile, &Wanted::default(), Some(&[])).await?;
    ctx.claims.release(&ProfileKey::of(profile));
    delete_unused_node_policies(ctx).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::api::core::v1::PersistentVolumeClaim;
    use vmop_api::fixtures::valid_profile;

    use super::*;

    fn claim(disk: &str, recorded: &str) -> PersistentVolumeClaim {
        let mut claim = PersistentVolumeClaim::default();
        claim.metadata.labels = Some(BTreeMap::from([
            (DISK_LABEL.to_owned(), disk.to_owned()),
            (RETENTION_LABEL.to_owned(), recorded.to_owned()),
        ]));
        claim
    }

    #[test]
    fn retention_comes_from_the_spec_and_from_the_label_only_for_removed_disks() {
        let mut profile = valid_profile("web");
        profile.spec.disks[1].retention_policy = Some(RetentionPolicy::Retain);
        // The label still says Delete (the last apply was before the spec changed).
        assert!(retained(&claim("data", "Delete"), &profile));
        assert!(!retained(&claim("system", "Retain"), &profile));
        // A disk no longer in the spec: the label recorded when it was.
        assert!(retained(&claim("old", "Retain"), &profile));
        assert!(!retained(&claim("old", "Delete"), &profile));
    }
}
