//! What a VirtualMachineImage wants of CDI, as a pure function of its spec: with a
//! `schedule`, a DataImportCron `<image>` whose managed DataSource is `<image>` (CDI makes the
//! versions `<image>-<digest>` and the DataSource); without one, a DataVolume `<image>` that
//! imports once and a DataSource `<image>` pointing at its claim. Either way disks find the
//! image through the DataSource named after it.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::{api::resource::Quantity, apis::meta::v1::ObjectMeta};
use kube::ResourceExt;
use vmop_api::{
    external::{
        cdi::{DataVolume, DataVolumeSource, DataVolumeSpec, StorageSpec},
        cdi_catalog::{
            ClaimReference, DataImportCron, DataImportCronSpec, DataImportCronTemplate, DataSource,
            DataSourceSource, DataSourceSpec,
        },
    },
    image::{DEFAULT_IMPORTS_TO_KEEP, IMAGE_LABEL, VirtualMachineImage},
};

/// The CDI objects of an image.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ImageObjects {
    /// A registry image refreshed on a schedule.
    Scheduled(Box<DataImportCron>),
    /// An image imported once.
    Once {
        /// The import.
        data_volume: Box<DataVolume>,
        /// The name disks clone, pointing at the import's claim.
        data_source: Box<DataSource>,
    },
}

fn meta(image: &VirtualMachineImage) -> ObjectMeta {
    ObjectMeta {
        name: Some(image.name_any()),
        namespace: image.namespace(),
        labels: Some(BTreeMap::from([(IMAGE_LABEL.to_owned(), image.name_any())])),
        ..ObjectMeta::default()
    }
}

/// The DataVolume spec that imports the image's source (`None` for a scheme CDI cannot
/// import, which admission refuses).
fn import_spec(image: &VirtualMachineImage) -> Option<DataVolumeSpec> {
    let spec = &image.spec;
    let source = DataVolumeSource::from_image_url(
        &spec.source,
        None,
        spec.credentials_secret_ref.as_ref().map(|r| r.name.clone()),
        spec.cert_config_map_ref.as_ref().map(|r| r.name.clone()),
    )?;
    let resources = k8s_openapi::api::core::v1::VolumeResourceRequirements {
        requests: Some(BTreeMap::from([(
            "storage".to_owned(),
            Quantity(spec.size.clone()),
        )])),
        ..Default::default()
    };
    Some(DataVolumeSpec {
        source: Some(source),
        storage: Some(StorageSpec {
            storage_class_name: spec.storage_class_name.clone(),
            resources: Some(resources),
            ..StorageSpec::default()
        }),
        ..DataVolumeSpec::default()
    })
}

/// The objects `image` wants, or `None` when its source cannot be imported.
pub(crate) fn plan_image(image: &VirtualMachineImage) -> Option<ImageObjects> {
    let spec = import_spec(image)?;
    let name = image.name_any();
    if let Some(schedule) = &image.spec.schedule {
        return Some(ImageObjects::Scheduled(Box::new(DataImportCron {
            metadata: meta(image),
            spec: DataImportCronSpec {
                template: DataImportCronTemplate { spec },
                schedule: schedule.clone(),
                managed_data_source: name,
                imports_to_keep: Some(
                    image
                        .spec
                        .imports_to_keep
                        .unwrap_or(DEFAULT_IMPORTS_TO_KEEP),
                ),
                garbage_collect: Some("Outdated".into()),
                // The versions and the DataSource go with the image.
                retention_policy: Some("None".into()),
                ..DataImportCronSpec::default()
            },
            status: None,
        })));
    }
    let data_volume = DataVolume {
        metadata: meta(image),
        spec,
        status: None,
    };
    let data_source = DataSource {
        metadata: meta(image),
        spec: DataSourceSpec {
            source: DataSourceSource {
                pvc: Some(ClaimReference {
                    namespace: image.namespace().unwrap_or_default(),
                    name,
                }),
                ..DataSourceSource::default()
            },
            ..DataSourceSpec::default()
        },
        status: None,
    };
    Some(ImageObjects::Once {
        data_volume: Box::new(data_volume),
        data_source: Box::new(data_source),
    })
}

#[cfg(test)]
mod tests {
    use vmop_api::fixtures::valid_image;

    use super::*;

    fn image(schedule: Option<&str>) -> VirtualMachineImage {
        let mut image = valid_image("ubuntu");
        image.metadata.namespace = Some("team".into());
        image.spec.schedule = schedule.map(Into::into);
        image.spec.imports_to_keep = None;
        image
    }

    #[test]
    fn a_scheduled_image_is_a_cron_managing_the_data_source_of_its_name() {
        let Some(ImageObjects::Scheduled(cron)) = plan_image(&image(Some("0 2 * * *"))) else {
            panic!("a cron");
        };
        assert_eq!(cron.spec.managed_data_source, "ubuntu");
        assert_eq!(cron.spec.schedule, "0 2 * * *");
        assert_eq!(cron.spec.imports_to_keep, Some(DEFAULT_IMPORTS_TO_KEEP));
        assert_eq!(cron.spec.retention_policy.as_deref(), Some("None"));
        let registry = cron
            .spec
            .template
            .spec
            .source
            .as_ref()
            .and_then(|s| s.registry.as_ref());
        assert_eq!(
            registry.and_then(|r| r.url.as_deref()),
            Some("docker://registry.example.com/os/ubuntu:24.04")
        );
        assert_eq!(
            cron.labels().get(IMAGE_LABEL).map(String::as_str),
            Some("ubuntu")
        );
    }

    #[test]
    fn an_unscheduled_image_imports_once_and_names_its_claim() {
        let mut once = image(None);
        once.spec.source = "s3://s3.example.com/images/ubuntu.qcow2".into();
        once.spec.credentials_secret_ref = Some(vmop_api::LocalReference {
            name: "s3-login".into(),
            namespace: None,
        });
        let Some(ImageObjects::Once {
            data_volume,
            data_source,
        }) = plan_image(&once)
        else {
            panic!("an import");
        };
        let s3 = data_volume.spec.source.as_ref().and_then(|s| s.s3.as_ref());
        assert_eq!(s3.and_then(|s| s.secret_ref.as_deref()), Some("s3-login"));
        assert_eq!(
            data_source.spec.source.pvc,
            Some(ClaimReference {
                namespace: "team".into(),
                name: "ubuntu".into()
            })
        );
    }
}
