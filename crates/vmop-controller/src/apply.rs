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
};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use vmop_api::{VirtualMachineProfile, json::check_subset};
use vmop_plugin::names::fnv1a;

use crate::{
    context::{Context, FIELD_MANAGER},
    error::{Error, Result},
};

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
/// when the cache holds it, its full JSON.
pub fn needs_apply(
    desired: &Value,
    cached_annotations: Option<&BTreeMap<String, String>>,
    cached: Option<&Value>,
) -> bool {
    let wanted = desired["metadata"]["annotations"][HASH_ANNOTATION].as_str();
    let Some(annotations) = cached_annotations else {
        return true;
    };
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

/// Applies `object` unless the cache shows it is already in place; true when it wrote.
pub async fn ensure<K>(
    ctx: &Context,
    api: &Api<K>,
    mut object: K,
    owner: Option<OwnerReference>,
    cached_annotations: Option<&BTreeMap<String, String>>,
    cached: Option<Value>,
) -> Result<bool>
where
    K: Resource<DynamicType = ()> + Clone + Serialize + DeserializeOwned + std::fmt::Debug,
{
    let desired = stamp(&mut object, owner)?;
    if !needs_apply(&desired, cached_annotations, cached.as_ref()) {
        return Ok(false);
    }
    let name = object.name_any();
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&object),
    )
    .await?;
    ctx.metrics.wrote(kind_of::<K>(), "apply");
    Ok(true)
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
pub fn kind_of<K: Resource<DynamicType = ()>>() -> &'static str {
    match K::kind(&()).as_ref() {
        "NetworkAttachmentDefinition" => "NetworkAttachmentDefinition",
        "NodeNetworkConfigurationPolicy" => "NodeNetworkConfigurationPolicy",
        "PersistentVolumeClaim" => "PersistentVolumeClaim",
        "DataVolume" => "DataVolume",
        "VirtualMachine" => "VirtualMachine",
        "Secret" => "Secret",
        "VirtualMachineProfile" => "VirtualMachineProfile",
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
