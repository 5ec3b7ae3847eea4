//! Writing children: server-side apply under one field manager, owner references, and no
//! write at all when the cached object already is what we would apply.
//!
//! Each applied object carries a hash of its desired content in an annotation. An apply is
//! skipped when the cached object has the same hash (nothing we want changed) and, where the
//! cache holds the full object, still contains every field we set (nobody changed ours). So a
//! resync of a settled profile issues no writes, and drift is repaired.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::{
    Api, Resource, ResourceExt,
    api::{DeleteParams, Patch, PatchParams},
    core::ObjectMeta,
};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use vmop_api::{VirtualMachineProfile, json::check_subset};
use vmop_plugin::names::fnv1a;

use crate::{
    context::{Context, FIELD_MANAGER},
    converge::cleanup::RETAINED_FROM_ANNOTATION,
    error::{Error, Result},
};

/// The annotations of a cached object that has none.
static EMPTY: BTreeMap<String, String> = BTreeMap::new();

/// Annotation holding the hash of what the operator last applied.
pub const HASH_ANNOTATION: &str = "vmoperator.io/applied-hash";

/// The owner reference children carry: the profile is their controller, and blocks their
/// deletion in the foreground.
pub fn owner_reference(profile: &VirtualMachineProfile) -> Option<OwnerReference> {
    profile.controller_owner_ref(&())
}

/// Adds the owner reference (if any) and the hash annotation to `object`; returns the JSON
/// that will be applied.
pub fn stamp<K: Resource + Serialize>(
    object: &mut K,
    owner: Option<OwnerReference>,
) -> Result<Value> {
    if let Some(owner) = owner {
        object.meta_mut().owner_references = Some(vec![owner]);
    }
    object.annotations_mut().remove(HASH_ANNOTATION);
    let unstamped = serde_json::to_value(&*object).map_err(|source| Error::Serialize {
        what: "child",
        source,
    })?;
    let hash = format!("{:016x}", fnv1a(unstamped.to_string().as_bytes()));
    object
        .annotations_mut()
        .insert(HASH_ANNOTATION.into(), hash);
    serde_json::to_value(&*object).map_err(|source| Error::Serialize {
        what: "child",
        source,
    })
}

/// Whether `desired` (stamped) must be applied, given the cached object's annotations and,
/// when the cache holds it, its full JSON. A copy cached as metadata only is applied again
/// when its managed fields showed someone else took over its content
/// (the cache's own mark, `vmoperator.io/cached-foreign-content`).
pub fn needs_apply(
    desired: &Value,
    cached_annotations: Option<&BTreeMap<String, String>>,
    cached: Option<&Value>,
) -> bool {
    let wanted = desired["metadata"]["annotations"][HASH_ANNOTATION].as_str();
    let Some(annotations) = cached_annotations else {
        return true;
    };
    if annotations.contains_key(crate::cache::trim::FOREIGN_CONTENT_MARK) {
        return true;
    }
    if annotations.get(HASH_ANNOTATION).map(String::as_str) != wanted {
        return true;
    }
    match cached {
        Some(cached) => check_subset(&strip_status(desired), cached).is_err(),
        None => false,
    }
}

fn strip_status(value: &Value) -> Value {
    let mut value = value.clone();
    if let Some(map) = value.as_object_mut() {
        map.remove("status");
    }
    value
}

/// Whether an existing object belongs to the owner: it carries an owner reference with the
/// owner's UID. Anything else is someone else's, and is never written.
pub fn owned(meta: &ObjectMeta, owner: &OwnerReference) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .any(|r| r.uid == owner.uid)
}

/// Whether a retained volume was released by a profile of this namespace and name: the only
/// foreign object a profile may take over, and only when its spec says so.
fn retained_by_same_name(meta: &ObjectMeta, profile_key: &str) -> bool {
    meta.owner_references.as_ref().is_none_or(Vec::is_empty)
        && meta
            .annotations
            .as_ref()
            .and_then(|a| a.get(RETAINED_FROM_ANNOTATION))
            .is_some_and(|from| from == profile_key)
}

/// The resourceVersion an apply carries when the cache does not hold the object. For an
/// object that exists, a resourceVersion in an apply is a precondition, and no object has
/// this one (etcd's first write is revision 2), so the API server refuses with a conflict
/// instead of writing to an object someone else made. For an object that does not exist it
/// creates it: the store clears the resourceVersion before writing. Server-side apply does not
/// track `metadata.resourceVersion` in managed fields, so the field manager owns exactly what
/// it applied.
pub(crate) const CREATE_ONLY_VERSION: &str = "1";

/// Refuses to write to `existing` unless it is the owner's (or a volume retained by
/// `adopt_retained_from`, the only foreign object a profile may take over).
fn check_ownership(
    kind: &'static str,
    name: &str,
    existing: &ObjectMeta,
    owner: &OwnerReference,
    adopt_retained_from: Option<&str>,
) -> Result<()> {
    if owned(existing, owner) {
        return Ok(());
    }
    if adopt_retained_from.is_some_and(|key| retained_by_same_name(existing, key)) {
        return Ok(());
    }
    let why = if existing
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(RETAINED_FROM_ANNOTATION))
    {
        "it was retained from a deleted profile; set adoptRetained: true on the disk to take it over"
    } else if existing
        .owner_references
        .as_ref()
        .is_some_and(|r| !r.is_empty())
    {
        "it belongs to another owner"
    } else {
        "it was not created by this profile"
    };
    Err(Error::NotOurs {
        kind,
        name: name.to_owned(),
        why: why.to_owned(),
    })
}

/// Whether an apply carrying [`CREATE_ONLY_VERSION`] failed because the object exists.
fn name_taken(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 409)
}

/// What [`ensure`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The cached object already was what would be applied: no write.
    Unchanged,
    /// Applied to an object that existed.
    Updated,
    /// Applied where the API server had no such object: a creation.
    Created,
}

/// Applies `object` unless the cache shows it is already in place. With an owner, an
/// existing object of the same name that is not the owner's is never touched:
/// [`Error::NotOurs`]. `adopt_retained_from` (`<namespace>/<profile>`) allows taking over a
/// volume that a profile of that name retained.
///
/// An owned child the cache does not hold is applied create-only ([`CREATE_ONLY_VERSION`]): no
/// read on the common path. Only when the API server says the name is taken is the object
/// read, its ownership checked, and the apply made again if it is the owner's.
pub async fn ensure<K>(
    ctx: &Context,
    api: &Api<K>,
    mut object: K,
    owner: Option<OwnerReference>,
    cached_meta: Option<&ObjectMeta>,
    cached: Option<Value>,
    adopt_retained_from: Option<&str>,
) -> Result<Applied>
where
    K: Resource<DynamicType = ()> + Clone + Serialize + DeserializeOwned + std::fmt::Debug,
{
    let name = object.name_any();
    if let (Some(owner), Some(meta)) = (&owner, cached_meta) {
        check_ownership(kind_of::<K>(), &name, meta, owner, adopt_retained_from)?;
    }
    let create_only = owner.is_some() && cached_meta.is_none();
    let owner_ref = owner.clone();
    let desired = stamp(&mut object, owner)?;
    let namespace = object.namespace().unwrap_or_default();
    let hash = desired["metadata"]["annotations"][HASH_ANNOTATION]
        .as_str()
        .unwrap_or_default();
    if cached_meta.is_some() {
        ctx.created.seen(kind_of::<K>(), &namespace, &name);
    } else if create_only && ctx.created.pending(kind_of::<K>(), &namespace, &name, hash) {
        // Created by an earlier reconcile, its watch event still on the way.
        return Ok(Applied::Unchanged);
    }
    let cached_annotations = cached_meta.map(|m| m.annotations.as_ref().unwrap_or(&EMPTY));
    if !needs_apply(&desired, cached_annotations, cached.as_ref()) {
        return Ok(Applied::Unchanged);
    }
    if !create_only {
        apply(ctx, api, &object).await?;
        return Ok(if cached_meta.is_some() {
            Applied::Updated
        } else {
            Applied::Created
        });
    }
    let mut creating = object.clone();
    creating.meta_mut().resource_version = Some(CREATE_ONLY_VERSION.to_owned());
    match apply(ctx, api, &creating).await {
        Ok(()) => {
            ctx.created.created(kind_of::<K>(), &namespace, &name, hash);
            return Ok(Applied::Created);
        }
        Err(Error::Apply { source, .. }) if name_taken(&source) => {}
        Err(error) => return Err(error),
    }
    // The name is taken by an object the cache does not hold: whose is it?
    ctx.metrics.read(kind_of::<K>(), "get");
    let existing = api.get_metadata_opt(&name).await?;
    if let (Some(existing), Some(owner)) = (&existing, &owner_ref) {
        check_ownership(
            kind_of::<K>(),
            &name,
            &existing.metadata,
            owner,
            adopt_retained_from,
        )?;
    }
    apply(ctx, api, &object).await?;
    Ok(if existing.is_some() {
        Applied::Updated
    } else {
        Applied::Created
    })
}

/// One server-side apply of `object` under the operator's field manager.
async fn apply<K>(ctx: &Context, api: &Api<K>, object: &K) -> Result<()>
where
    K: Resource<DynamicType = ()> + Clone + Serialize + DeserializeOwned + std::fmt::Debug,
{
    let name = object.name_any();
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(object),
    )
    .await
    .map_err(|source| Error::Apply {
        kind: kind_of::<K>(),
        name,
        source,
    })?;
    ctx.metrics.wrote(kind_of::<K>(), "apply");
    Ok(())
}

/// Deletes an object; a missing one is fine.
pub async fn delete<K>(ctx: &Context, api: &Api<K>, name: &str) -> Result<()>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => {
            ctx.metrics.wrote(kind_of::<K>(), "delete");
            Ok(())
        }
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The kind of `K`, as a static string for metric labels.
/// Applies `status` as the status of `object`, one of the operator's own kinds with a status
/// subresource (a pool, an image), under `manager`; counted as a status write.
pub(crate) async fn apply_status<K>(
    ctx: &Context,
    object: &K,
    manager: &str,
    status: &impl Serialize,
) -> Result<()>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    Api::<K>::namespaced(ctx.client.clone(), &object.namespace().unwrap_or_default())
        .patch_status(
            &object.name_any(),
            &PatchParams::apply(manager).force(),
            &Patch::Apply(serde_json::json!({
                "apiVersion": K::api_version(&()),
                "kind": K::kind(&()),
                "status": status,
            })),
        )
        .await?;
    ctx.metrics.wrote(kind_of::<K>(), "status");
    Ok(())
}

pub fn kind_of<K: Resource<DynamicType = ()>>() -> &'static str {
    match K::kind(&()).as_ref() {
        "NetworkAttachmentDefinition" => "NetworkAttachmentDefinition",
        "NodeNetworkConfigurationPolicy" => "NodeNetworkConfigurationPolicy",
        "PersistentVolumeClaim" => "PersistentVolumeClaim",
        "DataVolume" => "DataVolume",
        "VirtualMachine" => "VirtualMachine",
        "Secret" => "Secret",
        "VirtualMachineProfile" => "VirtualMachineProfile",
        "NetworkPolicy" => "NetworkPolicy",
        "MultiNetworkPolicy" => "MultiNetworkPolicy",
        "VirtualMachineInstance" => "VirtualMachineInstance",
        "VirtualMachineInstanceMigration" => "VirtualMachineInstanceMigration",
        "VirtualMachineProfilePool" => "VirtualMachineProfilePool",
        "VirtualMachineImage" => "VirtualMachineImage",
        "DataImportCron" => "DataImportCron",
        "DataSource" => "DataSource",
        "VirtualMachineSnapshot" => "VirtualMachineSnapshot",
        "VirtualMachineRestore" => "VirtualMachineRestore",
        _ => "Other",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn annotated(hash: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(HASH_ANNOTATION.to_owned(), hash.to_owned())])
    }

    fn desired(hash: &str) -> Value {
        json!({"metadata": {"name": "a", "annotations": {HASH_ANNOTATION: hash}}, "spec": {"x": 1}})
    }

    #[test]
    fn applies_what_does_not_exist_yet() {
        assert!(needs_apply(&desired("h1"), None, None));
    }

    #[test]
    fn skips_an_object_whose_hash_and_fields_match() {
        let cached = json!({"metadata": {"name": "a", "uid": "u", "annotations": {HASH_ANNOTATION: "h1"}}, "spec": {"x": 1, "defaulted": true}});
        assert!(!needs_apply(
            &desired("h1"),
            Some(&annotated("h1")),
            Some(&cached)
        ));
        assert!(
            !needs_apply(&desired("h1"), Some(&annotated("h1")), None),
            "metadata-only cache: the hash decides"
        );
    }

    #[test]
    fn applies_when_the_desired_content_changed() {
        assert!(needs_apply(&desired("h2"), Some(&annotated("h1")), None));
    }

    #[test]
    fn applies_when_someone_changed_a_field_we_own() {
        let drifted = json!({"metadata": {"name": "a", "annotations": {HASH_ANNOTATION: "h1"}}, "spec": {"x": 2}});
        assert!(needs_apply(
            &desired("h1"),
            Some(&annotated("h1")),
            Some(&drifted)
        ));
    }

    #[test]
    fn the_hash_covers_content_and_not_itself() {
        let mut first =
            vmop_api::external::multus::NetworkAttachmentDefinition::new("n", Default::default());
        let mut second = first.clone();
        let a = stamp(&mut first, None).expect("stamps");
        let b = stamp(&mut second, None).expect("stamps");
        assert_eq!(a, b);
        let again = stamp(&mut first, None).expect("re-stamps");
        assert_eq!(a, again, "stamping twice gives the same hash");
        second.spec.config = Some("{}".into());
        let c = stamp(&mut second, None).expect("stamps");
        assert_ne!(
            a["metadata"]["annotations"][HASH_ANNOTATION],
            c["metadata"]["annotations"][HASH_ANNOTATION]
        );
    }
}
