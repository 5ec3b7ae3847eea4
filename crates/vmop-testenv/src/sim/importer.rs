//! CDI's importer pod, as far as the DataVolume controller and the kubelet make it: the
//! claim's import annotations it is built from, and why it cannot start.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Secret};
use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams},
};
use serde_json::json;

use super::{
    SimContext, SimError,
    kinds::cdi::DataVolume,
    upstream::{SELECTED_NODE_ANNOTATION, cdi_annotation},
};

/// CDI's `UpdateHTTPAnnotations`, `UpdateS3Annotations` and `UpdateRegistryAnnotations`:
/// what the importer pod is made from.
pub(super) fn import_annotations(annotations: &mut BTreeMap<String, String>, dv: &DataVolume) {
    let Some(source) = dv.spec.source.as_ref() else {
        return;
    };
    let (kind, url, secret, certs) = if let Some(http) = &source.http {
        (
            "http",
            Some(&http.url),
            &http.secret_ref,
            &http.cert_config_map,
        )
    } else if let Some(s3) = &source.s3 {
        ("s3", Some(&s3.url), &s3.secret_ref, &s3.cert_config_map)
    } else if let Some(registry) = &source.registry {
        if let Some(method) = registry.rest.get("pullMethod").and_then(|m| m.as_str()) {
            annotations.insert(cdi_annotation::REGISTRY_IMPORT_METHOD.into(), method.into());
        }
        let url = registry.url.as_ref();
        (
            "registry",
            url,
            &registry.secret_ref,
            &registry.cert_config_map,
        )
    } else {
        return;
    };
    annotations.insert(cdi_annotation::SOURCE.into(), kind.into());
    let set = [
        (cdi_annotation::ENDPOINT, url),
        (cdi_annotation::SECRET, secret.as_ref()),
        (cdi_annotation::CERT_CONFIG_MAP, certs.as_ref()),
    ];
    for (key, value) in set {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            annotations.insert(key.into(), value.clone());
        }
    }
}

/// Why the importer pod CDI makes for `claim` cannot start, as the kubelet says it in the
/// container's waiting state (which CDI copies into the Running condition): its environment
/// takes `accessKeyId` and `secretKey` from the Secret of the claim's `AnnSecret`, and the
/// ConfigMap of `AnnCertConfigMap` is a volume ("pod will not start until it does").
pub(super) async fn cannot_start(
    ctx: &SimContext,
    claim: &PersistentVolumeClaim,
) -> Result<Option<(&'static str, String)>, SimError> {
    let namespace = claim.namespace().unwrap_or_default();
    let annotations = claim.annotations();
    if let Some(name) = annotations.get(cdi_annotation::SECRET) {
        let secret = Api::<Secret>::namespaced(ctx.client.clone(), &namespace)
            .get_opt(name)
            .await?;
        let Some(secret) = secret else {
            return Ok(Some((
                "CreateContainerConfigError",
                format!("secret \"{name}\" not found"),
            )));
        };
        let data = secret.data.unwrap_or_default();
        if let Some(key) = cdi_annotation::CREDENTIAL_KEYS
            .into_iter()
            .find(|key| !data.contains_key(*key))
        {
            return Ok(Some((
                "CreateContainerConfigError",
                format!("couldn't find key {key} in Secret {namespace}/{name}"),
            )));
        }
    }
    if let Some(name) = annotations.get(cdi_annotation::CERT_CONFIG_MAP) {
        let exists = Api::<ConfigMap>::namespaced(ctx.client.clone(), &namespace)
            .get_metadata_opt(name)
            .await?
            .is_some();
        if !exists {
            return Ok(Some((
                "ContainerCreating",
                format!(
                    "MountVolume.SetUp failed for volume \"cdi-cert-vol\" : configmap \"{name}\" not found"
                ),
            )));
        }
    }
    Ok(None)
}

/// The scheduler's part for an importer pod that is a claim's first consumer: the first
/// node by name gets it, and is selected on the claim (`volume.kubernetes.io/selected-node`),
/// so that the provisioner creates the volume there.
pub(super) async fn schedule(
    ctx: &SimContext,
    claim: &PersistentVolumeClaim,
) -> Result<(), SimError> {
    let mut nodes: Vec<String> = ctx
        .nodes()
        .await?
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    nodes.sort();
    let Some(node) = nodes.first() else {
        return Ok(());
    };
    Api::<PersistentVolumeClaim>::namespaced(
        ctx.client.clone(),
        &claim.namespace().unwrap_or_default(),
    )
    .patch(
        &claim.name_any(),
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {SELECTED_NODE_ANNOTATION: node}}})),
    )
    .await?;
    Ok(())
}
