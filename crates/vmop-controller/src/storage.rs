//! StorageManager: applies each disk's claim or DataVolume, owned by the profile, and reads
//! its readiness, phase and import progress from the caches.

use k8s_openapi::{
    api::core::v1::PersistentVolumeClaim, apimachinery::pkg::apis::meta::v1::OwnerReference,
};
use kube::{Api, ResourceExt, runtime::reflector::ObjectRef};
use vmop_api::{RetentionPolicy, VirtualMachineProfile, external::cdi::DataVolume};
use vmop_plugin::{ObservedVolume, VolumeAttachment, VolumeObject, VolumeReadiness};

use crate::{
    apply::ensure,
    cleanup::{DISK_LABEL, RETENTION_LABEL},
    context::Context,
    error::Result,
    plan::PlannedDisk,
};

/// One disk after the manager's pass.
#[derive(Debug, Clone)]
pub struct DiskOutcome {
    pub name: String,
    pub backend: String,
    pub attachment: VolumeAttachment,
    pub readiness: VolumeReadiness,
}

/// Applies every disk's object and reports readiness, in spec order.
pub async fn reconcile_disks(
    ctx: &Context,
    profile: &VirtualMachineProfile,
    owner: Option<OwnerReference>,
    planned: &[PlannedDisk],
) -> Result<Vec<DiskOutcome>> {
    let namespace = profile.namespace().unwrap_or_default();
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), &namespace);
    let data_volumes: Api<DataVolume> = Api::namespaced(ctx.client.clone(), &namespace);
    let mut outcomes = Vec::with_capacity(planned.len());
    for disk in planned {
        let retention = match profile.spec.retention_of(&disk.config.disk) {
            RetentionPolicy::Delete => "Delete",
            RetentionPolicy::Retain => "Retain",
        };
        let label = |meta: &mut kube::core::ObjectMeta| {
            let labels = meta.labels.get_or_insert_with(Default::default);
            labels.insert(DISK_LABEL.into(), disk.config.disk.name.clone());
            labels.insert(RETENTION_LABEL.into(), retention.into());
        };
        match &disk.desired.object {
            VolumeObject::Claim(claim) => {
                let mut claim = (**claim).clone();
                label(&mut claim.metadata);
                let cached = ctx
                    .stores
                    .claims
                    .get(&ObjectRef::new(&claim.name_any()).within(&namespace));
                let json = cached
                    .as_ref()
                    .and_then(|c| serde_json::to_value(&**c).ok());
                ensure(
                    ctx,
                    &claims,
                    claim,
                    owner.clone(),
                    cached.as_ref().map(|c| c.annotations()),
                    json,
                )
                .await?;
            }
            VolumeObject::DataVolume(dv) => {
                let mut dv = (**dv).clone();
                label(&mut dv.metadata);
                let cached = ctx
                    .stores
                    .data_volumes
                    .get(&ObjectRef::new(&dv.name_any()).within(&namespace));
                let json = cached
                    .as_ref()
                    .and_then(|d| serde_json::to_value(&**d).ok());
                ensure(
                    ctx,
                    &data_volumes,
                    dv,
                    owner.clone(),
                    cached.as_ref().map(|d| d.annotations()),
                    json,
                )
                .await?;
            }
        }
        let name = disk.desired.attachment.source.name().to_owned();
        let observed = ObservedVolume {
            claim: ctx
                .stores
                .claims
                .get(&ObjectRef::new(&name).within(&namespace))
                .map(|c| (*c).clone()),
            data_volume: ctx
                .stores
                .data_volumes
                .get(&ObjectRef::new(&name).within(&namespace))
                .map(|d| (*d).clone()),
        };
        outcomes.push(DiskOutcome {
            name: disk.config.disk.name.clone(),
            backend: disk.backend_name.clone(),
            attachment: disk.desired.attachment.clone(),
            readiness: disk.backend.readiness(&disk.desired, &observed),
        });
    }
    Ok(outcomes)
}
