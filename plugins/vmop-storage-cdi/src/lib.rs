//! The `cdi` storage backend: a CDI DataVolume (with `spec.storage`, so CDI's StorageProfile
//! fills in what the spec leaves open) for every disk with an image or a source:
//! `docker://` and `oci-archive://` images (registry source, pull method pod or node), http(s)
//! URLs and `s3://` objects, each with the credentials Secret and CA ConfigMap the disk names
//! (CDI's `secretRef` and `certConfigMap`), clones of claims, DataSources, and blank disks. Ready when Succeeded; the phase and
//! progress ("67.60%") are reported per disk, and a failed import fails at once with CDI's
//! message.

use vmop_plugin::{
    DesiredVolume, DiskConfig, ObservedVolume, PluginError, Readiness, StorageBackend,
    VolumeAttachment, VolumeObject, VolumeReadiness, VolumeSourceRef, async_trait,
    objects::{
        self, access_modes, claim_name, profile_labels, require_live_migratable, volume_mode,
    },
    readiness::WAITING_FOR_FIRST_CONSUMER,
    register_storage_backend,
    vmop_api::{
        PullMethod,
        external::{
            Empty,
            cdi::{
                DataVolume, DataVolumeSource, DataVolumeSourceRef, DataVolumeSpec, PvcSource,
                StorageSpec, condition, phase,
            },
            find_condition,
        },
        k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    },
};

/// The name users select this backend by.
pub const NAME: &str = "cdi";

register_storage_backend!(NAME, CdiBackend);

/// Keeps this crate's registration in a binary that names nothing else from it.
#[inline(never)]
pub fn link() -> &'static str {
    NAME
}

/// DataVolumes imported, cloned or blank.
#[derive(Debug, Default)]
pub struct CdiBackend;

fn source_of(
    config: &DiskConfig,
) -> Result<(Option<DataVolumeSource>, Option<DataVolumeSourceRef>), PluginError> {
    let disk = &config.disk;
    let namespace = &config.profile.namespace;
    if let Some(image) = &disk.image {
        let secret_ref = disk.credentials_secret_ref.as_ref().map(|r| r.name.clone());
        let cert_config_map = disk.cert_config_map_ref.as_ref().map(|r| r.name.clone());
        let pull_method = disk.pull_method.map(|m| match m {
            PullMethod::Pod => "pod".to_owned(),
            PullMethod::Node => "node".to_owned(),
        });
        let source =
            DataVolumeSource::from_image_url(image, pull_method, secret_ref, cert_config_map)
                .ok_or_else(|| {
                    PluginError::invalid(
                        config.field_path("image"),
                        vmop_plugin::vmop_api::messages::IMAGE_SCHEME,
                    )
                })?;
        return Ok((Some(source), None));
    }
    // A catalog image: its DataSource has the image's name (VirtualMachineImage's contract).
    if let Some(image) = &disk.image_ref {
        return Ok((
            None,
            Some(DataVolumeSourceRef {
                kind: "DataSource".into(),
                name: image.clone(),
                namespace: Some(namespace.clone()),
                ..DataVolumeSourceRef::default()
            }),
        ));
    }
    let source = disk.source.clone().unwrap_or_default();
    if let Some(pvc) = source.pvc {
        return Ok((
            Some(DataVolumeSource {
                pvc: Some(PvcSource {
                    namespace: pvc.namespace.unwrap_or_else(|| namespace.clone()),
                    name: pvc.name,
                    ..PvcSource::default()
                }),
                ..DataVolumeSource::default()
            }),
            None,
        ));
    }
    if let Some(data_source) = source.data_source {
        return Ok((
            None,
            Some(DataVolumeSourceRef {
                kind: "DataSource".into(),
                name: data_source.name,
                namespace: Some(data_source.namespace.unwrap_or_else(|| namespace.clone())),
                ..DataVolumeSourceRef::default()
            }),
        ));
    }
    Ok((
        Some(DataVolumeSource {
            blank: Some(Empty::default()),
            ..DataVolumeSource::default()
        }),
        None,
    ))
}

#[async_trait]
impl StorageBackend for CdiBackend {
    fn validate(&self, config: &DiskConfig) -> Result<(), PluginError> {
        source_of(config)?;
        require_live_migratable(config)?;
        Ok(())
    }

    async fn build(&self, config: &DiskConfig) -> Result<DesiredVolume, PluginError> {
        self.validate(config)?;
        let (source, source_ref) = source_of(config)?;
        let name = claim_name(config);
        let data_volume = DataVolume {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(config.profile.namespace.clone()),
                labels: Some(profile_labels(&config.profile)),
                ..ObjectMeta::default()
            },
            spec: DataVolumeSpec {
                source,
                source_ref,
                storage: Some(StorageSpec {
                    access_modes: access_modes(config),
                    volume_mode: volume_mode(config),
                    storage_class_name: config.disk.storage_class_name.clone(),
                    resources: Some(objects::storage_request(config)),
                    ..StorageSpec::default()
                }),
                ..DataVolumeSpec::default()
            },
            status: None,
        };
        Ok(DesiredVolume {
            object: VolumeObject::DataVolume(Box::new(data_volume)),
            attachment: VolumeAttachment {
                name: config.disk.name.clone(),
                source: VolumeSourceRef::DataVolume(name),
                boot_order: config.disk.boot_order,
            },
        })
    }

    fn readiness(&self, desired: &DesiredVolume, observed: &ObservedVolume) -> VolumeReadiness {
        let name = desired.attachment.source.name().to_owned();
        let Some(data_volume) = &observed.data_volume else {
            return VolumeReadiness::new(
                Readiness::InProgress {
                    reason: "DataVolumePending".into(),
                    message: format!("DataVolume {name} is being created"),
                },
                Some(name),
            );
        };
        let status = data_volume.status.clone().unwrap_or_default();
        let restarts = status.restart_count.filter(|n| *n > 0);
        // CDI restarts a failing importer and says why in the Running condition.
        let running_message = find_condition(&status.conditions, condition::RUNNING)
            .filter(|c| !c.is_true())
            .and_then(|c| c.message.clone())
            .filter(|m| !m.is_empty());
        // An importer pod that waits to start, with CDI's reason for it (`ImagePullFailed`).
        let importer_waiting = find_condition(&status.conditions, condition::RUNNING)
            .filter(|c| !c.is_true())
            .and_then(|c| Some((c.reason.clone()?, c.message.clone()?)))
            .filter(|(reason, message)| !reason.is_empty() && !message.is_empty());
        let waits_for_consumer = matches!(
            status.phase.as_deref(),
            Some(phase::WAIT_FOR_FIRST_CONSUMER | phase::PENDING_POPULATION)
        );
        let readiness = match status.phase.as_deref() {
            Some(phase::SUCCEEDED) => Readiness::Ready,
            Some(phase::FAILED) => {
                let cause = [condition::RUNNING, condition::READY]
                    .iter()
                    .filter_map(|t| find_condition(&status.conditions, t))
                    .find(|c| c.message.is_some());
                let mut message = format!(
                    "DataVolume {name}: {}",
                    cause
                        .and_then(|c| c.message.clone())
                        .unwrap_or_else(|| "failed".into())
                );
                if let Some(restarts) = restarts {
                    message.push_str(&format!(" (importer restarted {restarts} times)"));
                }
                Readiness::Failed {
                    reason: cause
                        .and_then(|c| c.reason.clone())
                        .unwrap_or_else(|| vmop_plugin::vmop_api::reasons::IMPORT_FAILED.into()),
                    message,
                }
            }
            _ if waits_for_consumer => Readiness::InProgress {
                reason: WAITING_FOR_FIRST_CONSUMER.into(),
                message: format!(
                    "DataVolume {name} is populated once the VM is scheduled ({})",
                    status.phase.as_deref().unwrap_or_default()
                ),
            },
            other => {
                let phase_name = other.unwrap_or(phase::PENDING);
                let mut message = match &status.progress {
                    Some(progress) if progress != "N/A" => {
                        format!("DataVolume {name}: {phase_name} {progress}")
                    }
                    _ => format!("DataVolume {name}: {phase_name}"),
                };
                let mut reason = phase_name.to_owned();
                if let Some(restarts) = restarts {
                    message.push_str(&format!(", importer restarted {restarts} times"));
                    if let Some(cause) = &running_message {
                        message.push_str(&format!(": {cause}"));
                    }
                } else if let Some((why, cause)) = &importer_waiting {
                    // The importer pod never started (its image cannot be pulled): CDI says
                    // why in the Running condition, and the kubelet keeps trying.
                    message.push_str(&format!(": {cause}"));
                    reason.clone_from(why);
                }
                Readiness::InProgress { reason, message }
            }
        };
        VolumeReadiness {
            readiness,
            claim_name: Some(status.claim_name.unwrap_or_else(|| name.clone())),
            phase: status.phase,
            progress: status.progress,
            waits_for_consumer,
            restart_count: status.restart_count,
        }
    }
}
