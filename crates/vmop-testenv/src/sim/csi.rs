//! The Huamei CSI driver's external-provisioner: a PersistentVolume for every claim that the
//! real PV binder hands to [`HUAMEI_PROVISIONER`](crate::HUAMEI_PROVISIONER), and deletion of
//! released volumes whose reclaim policy is Delete.

use std::{collections::BTreeMap, sync::Arc};

use k8s_openapi::{
    api::core::v1::{
        CSIPersistentVolumeSource, ObjectReference, PersistentVolume, PersistentVolumeClaim,
        PersistentVolumeSpec,
    },
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, PostParams},
    runtime::controller::Action,
};

use super::{SimConfig, SimContext, SimError, controller, drive, retry};
use crate::HUAMEI_PROVISIONER;

/// Set by the PV binder on a claim that an external provisioner must serve.
const PROVISIONER_ANNOTATION: &str = "volume.kubernetes.io/storage-provisioner";
/// Set by the scheduler on a WaitForFirstConsumer claim once its pod has a node.
pub const SELECTED_NODE_ANNOTATION: &str = "volume.kubernetes.io/selected-node";
/// Marks a volume as made by a provisioner.
const PROVISIONED_BY_ANNOTATION: &str = "pv.kubernetes.io/provisioned-by";

/// Runs the provisioner and the deleter.
pub async fn run(client: Client, config: Arc<SimConfig>) {
    let context = SimContext::new(&client, &config);
    let claims =
        controller::<PersistentVolumeClaim>(&client).run(provision, retry, context.clone());
    let volumes = controller::<PersistentVolume>(&client).run(delete_released, retry, context);
    tokio::join!(
        drive("csi-provisioner", claims),
        drive("csi-deleter", volumes)
    );
}

async fn provision(
    claim: Arc<PersistentVolumeClaim>,
    ctx: Arc<SimContext>,
) -> Result<Action, SimError> {
    let annotations = claim.annotations();
    let ours =
        annotations.get(PROVISIONER_ANNOTATION).map(String::as_str) == Some(HUAMEI_PROVISIONER);
    let spec = claim.spec.clone().unwrap_or_default();
    if !ours || spec.volume_name.is_some() || claim.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let uid = claim
        .uid()
        .ok_or_else(|| SimError::Invalid("claim without uid".into()))?;
    let class_name = spec.storage_class_name.clone().unwrap_or_default();
    let class = Api::<k8s_openapi::api::storage::v1::StorageClass>::all(ctx.client.clone())
        .get_opt(&class_name)
        .await?;
    let reclaim = class
        .as_ref()
        .and_then(|c| c.reclaim_policy.clone())
        .unwrap_or_else(|| "Delete".into());
    let capacity = spec
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage").cloned())
        .ok_or_else(|| SimError::Invalid("claim without a storage request".into()))?;
    let name = format!("pvc-{uid}");
    let volume = PersistentVolume {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            annotations: Some(BTreeMap::from([(
                PROVISIONED_BY_ANNOTATION.into(),
                HUAMEI_PROVISIONER.into(),
            )])),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeSpec {
            capacity: Some(BTreeMap::from([("storage".into(), capacity)])),
            access_modes: spec.access_modes.clone(),
            volume_mode: spec.volume_mode.clone(),
            storage_class_name: Some(class_name),
            persistent_volume_reclaim_policy: Some(reclaim),
            claim_ref: Some(ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("PersistentVolumeClaim".into()),
                namespace: claim.namespace(),
                name: Some(claim.name_any()),
                uid: Some(uid.clone()),
                ..ObjectReference::default()
            }),
            csi: Some(CSIPersistentVolumeSource {
                driver: HUAMEI_PROVISIONER.into(),
                volume_handle: format!("huamei-{uid}"),
                ..CSIPersistentVolumeSource::default()
            }),
            ..PersistentVolumeSpec::default()
        }),
        status: None,
    };
    match Api::<PersistentVolume>::all(ctx.client.clone())
        .create(&PostParams::default(), &volume)
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => return Err(e.into()),
    }
    Ok(Action::await_change())
}

async fn delete_released(
    volume: Arc<PersistentVolume>,
    ctx: Arc<SimContext>,
) -> Result<Action, SimError> {
    let ours = volume
        .annotations()
        .get(PROVISIONED_BY_ANNOTATION)
        .map(String::as_str)
        == Some(HUAMEI_PROVISIONER);
    let released = volume.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Released");
    let delete = volume
        .spec
        .as_ref()
        .and_then(|s| s.persistent_volume_reclaim_policy.as_deref())
        == Some("Delete");
    if ours && released && delete && volume.metadata.deletion_timestamp.is_none() {
        match Api::<PersistentVolume>::all(ctx.client.clone())
            .delete(&volume.name_any(), &DeleteParams::default())
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Action::await_change())
}
