//! External provisioners of the test world's classes — the Huamei CSI driver
//! ([`HUAMEI_PROVISIONER`](crate::HUAMEI_PROVISIONER)), Rancher's local-path provisioner
//! (k3s's default) and Longhorn: a PersistentVolume for every claim that the real PV
//! controller hands to one of them (annotation `volume.kubernetes.io/storage-provisioner`,
//! which for a WaitForFirstConsumer class it sets only once the scheduler has selected a
//! node), and deletion of released volumes whose reclaim policy is Delete. A local-path volume
//! lives on the selected node and says so in its node affinity, as the real one does.

use std::{collections::BTreeMap, sync::Arc};

use k8s_openapi::{
    api::core::v1::{
        CSIPersistentVolumeSource, HostPathVolumeSource, NodeSelector, NodeSelectorRequirement,
        NodeSelectorTerm, ObjectReference, PersistentVolume, PersistentVolumeClaim,
        PersistentVolumeSpec, VolumeNodeAffinity,
    },
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, PostParams},
    runtime::controller::Action,
};

use super::{
    Caches, SimConfig, SimContext, SimError, controller, drive, informer, keep_filled, retry,
    upstream::{
        SELECTED_NODE_ANNOTATION, STORAGE_PROVISIONER_ANNOTATION as PROVISIONER_ANNOTATION,
    },
};
use crate::{HUAMEI_PROVISIONER, LOCAL_PATH_PROVISIONER, LONGHORN_PROVISIONER};

/// Marks a volume as made by a provisioner.
const PROVISIONED_BY_ANNOTATION: &str = "pv.kubernetes.io/provisioned-by";
/// Provisioners this simulator serves.
const SERVED: [&str; 3] = [
    HUAMEI_PROVISIONER,
    LOCAL_PATH_PROVISIONER,
    LONGHORN_PROVISIONER,
];

/// Runs the provisioner and the deleter.
pub async fn run(client: Client, config: Arc<SimConfig>) {
    // external-provisioner reads classes from its informer, as here.
    let (classes, class_changes) = informer(&client);
    let caches = Caches {
        classes: Some(classes),
        ..Caches::default()
    };
    let context = SimContext::with_caches(&client, &config, caches);
    let claims =
        controller::<PersistentVolumeClaim>(&client).run(provision, retry, context.clone());
    let volumes = controller::<PersistentVolume>(&client).run(delete_released, retry, context);
    tokio::join!(
        drive("csi-provisioner", claims),
        drive("csi-deleter", volumes),
        keep_filled(class_changes),
    );
}

async fn provision(
    claim: Arc<PersistentVolumeClaim>,
    ctx: Arc<SimContext>,
) -> Result<Action, SimError> {
    let annotations = claim.annotations();
    let Some(provisioner) = annotations
        .get(PROVISIONER_ANNOTATION)
        .map(String::as_str)
        .filter(|p| SERVED.contains(p))
    else {
        return Ok(Action::await_change());
    };
    let selected_node = annotations.get(SELECTED_NODE_ANNOTATION).cloned();
    let spec = claim.spec.clone().unwrap_or_default();
    if spec.volume_name.is_some() || claim.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let uid = claim
        .uid()
        .ok_or_else(|| SimError::Invalid("claim without uid".into()))?;
    let class_name = spec.storage_class_name.clone().unwrap_or_default();
    let class = ctx.storage_class(&class_name).await?;
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
                provisioner.into(),
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
            ..source_for(provisioner, &uid, selected_node.as_deref())
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

/// Where a provisioner's volume lives: local-path a directory on the selected node, the CSI
/// drivers a volume of their own.
fn source_for(provisioner: &str, uid: &str, node: Option<&str>) -> PersistentVolumeSpec {
    if provisioner == LOCAL_PATH_PROVISIONER {
        return PersistentVolumeSpec {
            host_path: Some(HostPathVolumeSource {
                path: format!("/var/lib/rancher/k3s/storage/pvc-{uid}"),
                type_: Some("DirectoryOrCreate".into()),
            }),
            node_affinity: node.map(|node| VolumeNodeAffinity {
                required: Some(NodeSelector {
                    node_selector_terms: vec![NodeSelectorTerm {
                        match_expressions: Some(vec![NodeSelectorRequirement {
                            key: "kubernetes.io/hostname".into(),
                            operator: "In".into(),
                            values: Some(vec![node.into()]),
                        }]),
                        ..NodeSelectorTerm::default()
                    }],
                }),
            }),
            ..PersistentVolumeSpec::default()
        };
    }
    PersistentVolumeSpec {
        csi: Some(CSIPersistentVolumeSource {
            driver: provisioner.into(),
            volume_handle: format!("{provisioner}-{uid}"),
            ..CSIPersistentVolumeSource::default()
        }),
        ..PersistentVolumeSpec::default()
    }
}

async fn delete_released(
    volume: Arc<PersistentVolume>,
    ctx: Arc<SimContext>,
) -> Result<Action, SimError> {
    let ours = volume
        .annotations()
        .get(PROVISIONED_BY_ANNOTATION)
        .is_some_and(|p| SERVED.contains(&p.as_str()));
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
