//! CDI's pre-populated DataVolumes (`handlePvcCreation`, `pvcIsPopulatedForDataVolume` in
//! `pkg/controller/datavolume/controller-base.go`, v1.66.0): a DataVolume annotated
//! `cdi.kubevirt.io/storage.prePopulated` (as KubeVirt's restore marks one whose claim it
//! replaces) gets no claim from CDI, and a claim annotated
//! `cdi.kubevirt.io/storage.populatedFor: <DataVolume>` is adopted by that DataVolume.

use k8s_openapi::{
    api::core::v1::PersistentVolumeClaim, apimachinery::pkg::apis::meta::v1::OwnerReference,
};
use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
};
use serde_json::json;

use super::{
    SimContext, SimError,
    kinds::cdi::DataVolume,
    upstream::snapshot::{POPULATED_FOR_ANNOTATION, PRE_POPULATED_ANNOTATION},
};

/// Whether CDI leaves making the DataVolume's claim to someone else.
pub(crate) fn pre_populated(dv: &DataVolume) -> bool {
    dv.annotations().contains_key(PRE_POPULATED_ANNOTATION)
}

/// The DataVolume as its claim's controlling owner.
pub(crate) fn owner_of(dv: &DataVolume) -> Result<OwnerReference, SimError> {
    Ok(OwnerReference {
        api_version: DataVolume::api_version(&()).into_owned(),
        kind: DataVolume::kind(&()).into_owned(),
        name: dv.name_any(),
        uid: dv
            .uid()
            .ok_or_else(|| SimError::Invalid("DataVolume without uid".into()))?,
        controller: Some(true),
        block_owner_deletion: Some(true),
    })
}

/// Adopts a claim populated for the DataVolume that has no controlling owner yet.
pub(crate) async fn adopt(
    ctx: &SimContext,
    dv: &DataVolume,
    claim: &PersistentVolumeClaim,
) -> Result<(), SimError> {
    let populated_for = claim
        .annotations()
        .get(POPULATED_FOR_ANNOTATION)
        .is_some_and(|d| *d == dv.name_any());
    let controlled = claim
        .owner_references()
        .iter()
        .any(|o| o.controller == Some(true));
    if !populated_for || controlled {
        return Ok(());
    }
    let mut owners = claim.owner_references().to_vec();
    owners.push(owner_of(dv)?);
    Api::<PersistentVolumeClaim>::namespaced(
        ctx.client.clone(),
        &dv.namespace().unwrap_or_default(),
    )
    .patch(
        &claim.name_any(),
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"ownerReferences": owners}})),
    )
    .await?;
    Ok(())
}

/// The DataVolumes a claim's change concerns (CDI's claim watch): its controlling
/// DataVolume, and the one it is `populatedFor`.
pub(crate) fn data_volumes_of(
    claim: PersistentVolumeClaim,
) -> Vec<kube::runtime::reflector::ObjectRef<DataVolume>> {
    let namespace = claim.namespace().unwrap_or_default();
    let owner = claim
        .owner_references()
        .iter()
        .find(|o| o.controller == Some(true) && o.kind == "DataVolume")
        .map(|o| o.name.clone());
    let populated_for = claim.annotations().get(POPULATED_FOR_ANNOTATION).cloned();
    owner
        .into_iter()
        .chain(populated_for)
        .map(|name| kube::runtime::reflector::ObjectRef::new(&name).within(&namespace))
        .collect()
}
