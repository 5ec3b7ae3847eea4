//! What may change of a disk that exists: pure, so every rule is unit-tested.
//!
//! Upstream refuses most changes: a DataVolume's spec is immutable (CDI's admission webhook),
//! and a claim's spec is immutable but for its storage request, which may only grow, and only
//! on a class with `allowVolumeExpansion`. The operator asks only for what upstream allows: a
//! larger size grows the claim (for a DataVolume, the claim CDI made for it, as CDI's docs
//! say); anything else is refused with a condition that says what cannot change and how to
//! get it (a disk with a new name), and the refused change is not re-applied.

use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use vmop_api::{external::cdi::DataVolume, quantity};
use vmop_plugin::{DiskConfig, VolumeObject};

/// Reason of a change upstream refuses.
pub(crate) use vmop_api::reasons::DISK_CHANGE_REFUSED;

/// What to do with one disk's desired object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiskChange {
    /// Apply the desired object (new, unchanged, or a change upstream accepts). An existing
    /// DataVolume is applied with the size it has: its size changes through its claim.
    Apply,
    /// Keep the DataVolume as it is and grow its claim to this size.
    ExpandClaim {
        /// The claim to grow.
        claim: String,
        /// Its new size.
        size: String,
    },
    /// Keep everything as it is: the message names the field and the way forward.
    Refuse {
        /// What is refused and what to do instead.
        message: String,
    },
}

fn requested(claim: &PersistentVolumeClaim) -> Option<String> {
    claim
        .spec
        .as_ref()?
        .resources
        .as_ref()?
        .requests
        .as_ref()?
        .get("storage")
        .map(|q| q.0.clone())
}

/// Compares a wanted size with the claim's current request: `Ok(true)` to grow, `Ok(false)`
/// when equal, `Err` when the change is refused.
fn size_change(config: &DiskConfig, claim_name: &str, current: &str) -> Result<bool, String> {
    let wanted = &config.disk.size;
    let (Ok(wanted_bytes), Ok(current_bytes)) = (quantity::parse(wanted), quantity::parse(current))
    else {
        return Ok(false);
    };
    let path = config.field_path("size");
    if wanted_bytes < current_bytes {
        return Err(format!(
            "{path}: claim {claim_name} has {current} and a claim can only grow, not shrink to {wanted}; to get a smaller disk add one with a new name and remove this one"
        ));
    }
    if wanted_bytes > current_bytes {
        let expandable = config
            .storage_class
            .as_ref()
            .is_some_and(|c| c.allow_volume_expansion);
        if !expandable {
            let class = config
                .storage_class
                .as_ref()
                .map_or("its StorageClass", |c| c.name.as_str());
            return Err(format!(
                "{path}: claim {claim_name} cannot grow from {current} to {wanted}: StorageClass {class} does not allow volume expansion"
            ));
        }
        return Ok(true);
    }
    Ok(false)
}

/// Decides what to do with a disk whose desired object is `desired`, given the existing
/// DataVolume and claim of the same name (from the caches).
pub fn decide(
    config: &DiskConfig,
    desired: &VolumeObject,
    existing_data_volume: Option<&DataVolume>,
    existing_claim: Option<&PersistentVolumeClaim>,
) -> DiskChange {
    match desired {
        VolumeObject::Claim(claim) => {
            let Some(existing) = existing_claim else {
                return DiskChange::Apply;
            };
            if let Some(message) = immutable_claim_fields(config, claim, existing) {
                return DiskChange::Refuse { message };
            }
            let name = existing.metadata.name.clone().unwrap_or_default();
            match requested(existing).map(|current| size_change(config, &name, &current)) {
                Some(Err(message)) => DiskChange::Refuse { message },
                _ => DiskChange::Apply,
            }
        }
        VolumeObject::DataVolume(dv) => {
            let Some(existing) = existing_data_volume else {
                return DiskChange::Apply;
            };
            let name = existing.metadata.name.clone().unwrap_or_default();
            if dv.spec.source != existing.spec.source
                || dv.spec.source_ref != existing.spec.source_ref
            {
                let field = if config.disk.image.is_some() {
                    "image"
                } else {
                    "source"
                };
                return DiskChange::Refuse {
                    message: format!(
                        "{}: DataVolume {name} was imported from another source, and CDI never changes a DataVolume; to use the new {field}, add a disk with a new name and remove this one",
                        config.field_path(field)
                    ),
                };
            }
            let storage = |d: &DataVolume| {
                d.spec.storage.as_ref().map(|s| {
                    (
                        s.access_modes.clone(),
                        s.volume_mode.clone(),
                        s.storage_class_name.clone(),
                    )
                })
            };
            if storage(dv) != storage(existing) {
                return DiskChange::Refuse {
                    message: format!(
                        "{}: the access modes, volume mode and StorageClass of DataVolume {name} cannot change; add a disk with a new name for new ones",
                        config.field_path("storageClassName")
                    ),
                };
            }
            let Some(claim) = existing_claim else {
                // CDI has not made the claim yet: its size is looked at once it exists.
                return DiskChange::Apply;
            };
            let Some(current) = requested(claim) else {
                return DiskChange::Apply;
            };
            match size_change(config, &name, &current) {
                Err(message) => DiskChange::Refuse { message },
                Ok(true) => DiskChange::ExpandClaim {
                    claim: name,
                    size: config.disk.size.clone(),
                },
                Ok(false) => DiskChange::Apply,
            }
        }
    }
}

fn immutable_claim_fields(
    config: &DiskConfig,
    desired: &PersistentVolumeClaim,
    existing: &PersistentVolumeClaim,
) -> Option<String> {
    let (Some(want), Some(have)) = (desired.spec.as_ref(), existing.spec.as_ref()) else {
        return None;
    };
    let name = existing.metadata.name.clone().unwrap_or_default();
    let changed = |field: &str| {
        Some(format!(
            "{}: claim {name} exists and its {field} cannot change; add a disk with a new name for a new {field}",
            config.field_path(field)
        ))
    };
    // Fields left unset are defaulted by the API server: only a stated difference counts.
    if want.storage_class_name.is_some() && want.storage_class_name != have.storage_class_name {
        return changed("storageClassName");
    }
    if want.access_modes.is_some() && want.access_modes != have.access_modes {
        return changed("accessModes");
    }
    if want.volume_mode.is_some() && want.volume_mode != have.volume_mode {
        return changed("volumeMode");
    }
    None
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::{
        api::core::v1::{PersistentVolumeClaimSpec, VolumeResourceRequirements},
        apimachinery::pkg::{api::resource::Quantity, apis::meta::v1::ObjectMeta},
    };
    use vmop_api::{
        DiskSpec,
        external::cdi::{DataVolumeSource, DataVolumeSpec, RegistrySource, StorageSpec},
    };
    use vmop_plugin::{ProfileRef, StorageClassInfo};

    use super::*;

    fn config(size: &str, expandable: bool, image: Option<&str>) -> DiskConfig {
        DiskConfig {
            profile: ProfileRef::default(),
            index: 0,
            disk: DiskSpec {
                name: "data".into(),
                size: size.into(),
                image: image.map(Into::into),
                ..DiskSpec::default()
            },
            high_availability: false,
            storage_class: Some(StorageClassInfo {
                name: "local-path".into(),
                allow_volume_expansion: expandable,
                ..StorageClassInfo::default()
            }),
        }
    }

    fn resources(size: &str) -> Option<VolumeResourceRequirements> {
        Some(VolumeResourceRequirements {
            requests: Some(BTreeMap::from([("storage".into(), Quantity(size.into()))])),
            ..VolumeResourceRequirements::default()
        })
    }

    fn claim(size: &str, class: Option<&str>) -> PersistentVolumeClaim {
        PersistentVolumeClaim {
            metadata: ObjectMeta {
                name: Some("vm-data".into()),
                ..ObjectMeta::default()
            },
            spec: Some(PersistentVolumeClaimSpec {
                storage_class_name: class.map(Into::into),
                resources: resources(size),
                ..PersistentVolumeClaimSpec::default()
            }),
            status: None,
        }
    }

    fn data_volume(url: &str, size: &str) -> DataVolume {
        let mut dv = DataVolume::new(
            "vm-data",
            DataVolumeSpec {
                source: Some(DataVolumeSource {
                    registry: Some(RegistrySource {
                        url: Some(url.into()),
                        ..RegistrySource::default()
                    }),
                    ..DataVolumeSource::default()
                }),
                storage: Some(StorageSpec {
                    resources: resources(size),
                    ..StorageSpec::default()
                }),
                ..DataVolumeSpec::default()
            },
        );
        dv.metadata.name = Some("vm-data".into());
        dv
    }

    fn refused(change: DiskChange) -> String {
        match change {
            DiskChange::Refuse { message } => message,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_new_or_unchanged_claim_is_applied() {
        let desired = VolumeObject::Claim(Box::new(claim("10Gi", None)));
        assert_eq!(
            decide(&config("10Gi", false, None), &desired, None, None),
            DiskChange::Apply
        );
        let existing = claim("10Gi", Some("local-path"));
        assert_eq!(
            decide(
                &config("10Gi", false, None),
                &desired,
                None,
                Some(&existing)
            ),
            DiskChange::Apply,
            "the API server's default class is not a change"
        );
    }

    #[test]
    fn a_claim_grows_only_on_an_expandable_class_and_never_shrinks() {
        let desired = VolumeObject::Claim(Box::new(claim("20Gi", None)));
        let existing = claim("10Gi", Some("local-path"));
        assert_eq!(
            decide(&config("20Gi", true, None), &desired, None, Some(&existing)),
            DiskChange::Apply
        );
        let message = refused(decide(
            &config("20Gi", false, None),
            &desired,
            None,
            Some(&existing),
        ));
        assert!(message.starts_with("spec.disks[0].size: claim vm-data cannot grow from 10Gi to 20Gi: StorageClass local-path does not allow volume expansion"), "{message}");
        let smaller = VolumeObject::Claim(Box::new(claim("5Gi", None)));
        let message = refused(decide(
            &config("5Gi", true, None),
            &smaller,
            None,
            Some(&existing),
        ));
        assert!(
            message.contains("can only grow, not shrink to 5Gi"),
            "{message}"
        );
        assert!(message.contains("new name"), "{message}");
    }

    #[test]
    fn a_claims_class_cannot_change() {
        let desired = VolumeObject::Claim(Box::new(claim("10Gi", Some("longhorn"))));
        let existing = claim("10Gi", Some("local-path"));
        let message = refused(decide(
            &config("10Gi", true, None),
            &desired,
            None,
            Some(&existing),
        ));
        assert!(
            message.starts_with("spec.disks[0].storageClassName: claim vm-data exists"),
            "{message}"
        );
    }

    #[test]
    fn a_data_volumes_new_image_is_refused_and_its_growth_goes_to_the_claim() {
        let old = data_volume("docker://r/img:1", "10Gi");
        let cdi_claim = claim("10Gi", Some("local-path"));
        let new_image = VolumeObject::DataVolume(Box::new(data_volume("docker://r/img:2", "10Gi")));
        let message = refused(decide(
            &config("10Gi", true, Some("docker://r/img:2")),
            &new_image,
            Some(&old),
            Some(&cdi_claim),
        ));
        assert!(
            message.starts_with(
                "spec.disks[0].image: DataVolume vm-data was imported from another source"
            ),
            "{message}"
        );

        let bigger = VolumeObject::DataVolume(Box::new(data_volume("docker://r/img:1", "30Gi")));
        assert_eq!(
            decide(
                &config("30Gi", true, Some("docker://r/img:1")),
                &bigger,
                Some(&old),
                Some(&cdi_claim)
            ),
            DiskChange::ExpandClaim {
                claim: "vm-data".into(),
                size: "30Gi".into()
            }
        );
        let same = VolumeObject::DataVolume(Box::new(old.clone()));
        assert_eq!(
            decide(
                &config("10Gi", true, Some("docker://r/img:1")),
                &same,
                Some(&old),
                Some(&cdi_claim)
            ),
            DiskChange::Apply
        );
        let smaller = VolumeObject::DataVolume(Box::new(data_volume("docker://r/img:1", "1Gi")));
        refused(decide(
            &config("1Gi", true, Some("docker://r/img:1")),
            &smaller,
            Some(&old),
            Some(&cdi_claim),
        ));
    }
}
