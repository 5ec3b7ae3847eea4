//! Disks that clone a catalog image (`imageRef`): before a disk's DataVolume is created its
//! VirtualMachineImage must exist and have a version, and the DataVolume is stamped with that
//! version ([`IMAGE_VERSION_ANNOTATION`]) so that the profile's status says which version
//! each disk came from. A created DataVolume keeps the version it was stamped with: a later
//! import of the image gives new disks the new version and leaves existing ones alone.
//!
//! Read from the image cache only; a profile waiting for an image looks again on its own
//! (as for a missing StorageClass or instancetype).

use std::collections::BTreeMap;

use kube::{ResourceExt, runtime::reflector::ObjectRef};
use vmop_api::{
    VirtualMachineProfile,
    image::IMAGE_VERSION_ANNOTATION,
    reasons::{IMAGE_NOT_FOUND, IMAGE_NOT_READY},
};
use vmop_plugin::VolumeObject;

use crate::{cache::stores::Stores, desired::plan::Plan};

/// Why a profile's image disks cannot be created yet: the reason and one message per disk.
pub(crate) type ImagesMissing = (String, Vec<String>);

/// The version each `imageRef` disk was (or is to be) cloned from, by disk name; or what
/// keeps a disk whose DataVolume does not exist yet from being created.
pub(crate) fn image_versions(
    stores: &Stores,
    profile: &VirtualMachineProfile,
) -> Result<BTreeMap<String, String>, ImagesMissing> {
    let namespace = profile.namespace().unwrap_or_default();
    let name = profile.name_any();
    let mut versions = BTreeMap::new();
    let mut reason = None;
    let mut messages = Vec::new();
    for (index, disk) in profile.spec.disks.iter().enumerate() {
        let Some(image) = &disk.image_ref else {
            continue;
        };
        let volume = vmop_plugin::names::child_name(&name, &disk.name);
        if let Some(dv) = stores
            .data_volumes
            .get(&ObjectRef::new(&volume).within(&namespace))
        {
            if let Some(version) = dv.annotations().get(IMAGE_VERSION_ANNOTATION) {
                versions.insert(disk.name.clone(), version.clone());
            }
            continue;
        }
        let field = format!("spec.disks[{index}].imageRef");
        match stores.images.get(&ObjectRef::new(image).within(&namespace)) {
            None => {
                reason.get_or_insert(IMAGE_NOT_FOUND);
                messages.push(format!(
                    "{field}: VirtualMachineImage {namespace}/{image} does not exist"
                ));
            }
            Some(found) => match found
                .status
                .as_ref()
                .and_then(|s| s.current_version.clone())
            {
                Some(version) => {
                    versions.insert(disk.name.clone(), version);
                }
                None => {
                    reason.get_or_insert(IMAGE_NOT_READY);
                    let why = found
                        .status
                        .as_ref()
                        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
                        .map(|c| format!(": {}: {}", c.reason, c.message))
                        .unwrap_or_default();
                    messages.push(format!(
                        "{field}: VirtualMachineImage {namespace}/{image} has no version to clone yet{why}"
                    ));
                }
            },
        }
    }
    match reason {
        Some(reason) => Err((reason.to_owned(), messages)),
        None => Ok(versions),
    }
}

/// Stamps each image disk's planned DataVolume with its version.
pub(crate) fn stamp_versions(plan: &mut Plan, versions: &BTreeMap<String, String>) {
    for disk in &mut plan.disks {
        let Some(version) = versions.get(&disk.config.disk.name) else {
            continue;
        };
        if let VolumeObject::DataVolume(dv) = &mut disk.desired.object {
            dv.metadata
                .annotations
                .get_or_insert_default()
                .insert(IMAGE_VERSION_ANNOTATION.into(), version.clone());
        }
    }
}
