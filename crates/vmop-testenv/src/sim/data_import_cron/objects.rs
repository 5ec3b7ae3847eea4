//! What a DataImportCron makes and removes: its versions (DataVolumes), its managed
//! DataSource, garbage beyond `importsToKeep`, and everything at deletion.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::core::v1::PersistentVolumeClaim, apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
    runtime::controller::Action,
};
use serde_json::json;

use super::{now, stamp_nanos};
use crate::sim::{
    SimContext, SimError,
    kinds::cdi::{
        DataImportCron, DataSource, DataSourceSource, DataSourceSpec, DataVolume, PvcSource,
    },
    registry,
    upstream::import_cron as cron,
};

/// The labels of what `dic` makes: the cron's, and the cleanup label with
/// `retentionPolicy: None` (`setDataImportCronResourceLabels`).
fn labels(dic: &DataImportCron) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([(cron::CRON_LABEL.to_owned(), dic.name_any())]);
    if dic
        .spec
        .rest
        .get("retentionPolicy")
        .and_then(|p| p.as_str())
        == Some("None")
    {
        labels.insert(cron::CLEANUP_LABEL.into(), "true".into());
    }
    labels
}

/// `createDvName`: the DataSource's name and the digest's first hex characters.
pub(super) fn version_name(managed: &str, digest: &str) -> String {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    let suffix: String = hex.chars().take(cron::DIGEST_SUFFIX_LENGTH).collect();
    format!("{managed}-{suffix}")
}

/// `createImportDataVolume` and `newSourceDataVolume`.
pub(super) async fn create_import(
    ctx: &SimContext,
    dic: &DataImportCron,
    namespace: &str,
    digest: &str,
) -> Result<String, SimError> {
    let name = version_name(&dic.spec.managed_data_source, digest);
    if ctx.claim(namespace, &name).await?.is_some() {
        return Ok(name);
    }
    let mut spec = dic.spec.template.spec.clone();
    if let Some(registry) = spec.source.as_mut().and_then(|s| s.registry.as_mut())
        && let Some(url) = &registry.url
    {
        registry.url = Some(registry::digested_url(url, digest));
    }
    let labels = labels(dic);
    let dv = DataVolume {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(namespace.to_owned()),
            labels: Some(labels),
            annotations: Some(
                [
                    (cron::IMMEDIATE_BINDING.to_owned(), "true".to_owned()),
                    (cron::LAST_USE_TIME.to_owned(), stamp_nanos(now())),
                ]
                .into(),
            ),
            ..ObjectMeta::default()
        },
        spec,
        status: None,
    };
    match Api::<DataVolume>::namespaced(ctx.client.clone(), namespace)
        .create(&PostParams::default(), &dv)
        .await
    {
        Ok(_) => Ok(name),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(name),
        Err(e) => Err(e.into()),
    }
}

/// `updateDataSource`: the managed DataSource, created if missing, pointing at the last
/// import; one that exists without the cron's label is not the cron's and is left alone.
pub(super) async fn update_data_source(
    ctx: &SimContext,
    dic: &DataImportCron,
    namespace: &str,
    last: Option<&PvcSource>,
) -> Result<(), SimError> {
    let api = Api::<DataSource>::namespaced(ctx.client.clone(), namespace);
    let name = &dic.spec.managed_data_source;
    let Some(existing) = api.get_opt(name).await? else {
        let labels = labels(dic);
        let source = DataSource {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.to_owned()),
                labels: Some(labels),
                ..ObjectMeta::default()
            },
            spec: DataSourceSpec {
                source: DataSourceSource {
                    pvc: last.cloned(),
                    ..DataSourceSource::default()
                },
                ..DataSourceSpec::default()
            },
            status: None,
        };
        return match api.create(&PostParams::default(), &source).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
            Err(e) => Err(e.into()),
        };
    };
    if existing.labels().get(cron::CRON_LABEL) != Some(&dic.name_any()) {
        return Ok(());
    }
    if let Some(last) = last
        && existing.spec.source.pvc.as_ref() != Some(last)
    {
        api.patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"source": {"pvc": last}}})),
        )
        .await?;
    }
    Ok(())
}

/// `garbageCollectPVCs`: the cron's claims beyond `importsToKeep`, least recently used
/// first, go with their DataVolumes.
pub(super) async fn collect_garbage(
    ctx: &SimContext,
    dic: &DataImportCron,
    namespace: &str,
) -> Result<(), SimError> {
    if dic
        .spec
        .garbage_collect
        .as_deref()
        .is_some_and(|g| g != "Outdated")
    {
        return Ok(());
    }
    let keep = dic
        .spec
        .imports_to_keep
        .and_then(|k| usize::try_from(k).ok())
        .unwrap_or(cron::DEFAULT_IMPORTS_TO_KEEP);
    let selector = format!("{}={}", cron::CRON_LABEL, dic.name_any());
    let claims = Api::<PersistentVolumeClaim>::namespaced(ctx.client.clone(), namespace);
    let mut listed = claims
        .list(&ListParams::default().labels(&selector))
        .await?
        .items;
    if listed.len() <= keep {
        return Ok(());
    }
    let last_use = |c: &PersistentVolumeClaim| {
        c.annotations()
            .get(cron::LAST_USE_TIME)
            .cloned()
            .unwrap_or_default()
    };
    listed.sort_by_key(|c| std::cmp::Reverse(last_use(c)));
    let data_volumes = Api::<DataVolume>::namespaced(ctx.client.clone(), namespace);
    for old in &listed[keep..] {
        let name = old.name_any();
        match data_volumes.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {
                ignore_missing(claims.delete(&name, &DeleteParams::default()).await)?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn ignore_missing<T>(result: Result<T, kube::Error>) -> Result<(), SimError> {
    match result {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// `cleanup`: what the cron made with the cleanup label goes, then the finalizer.
pub(super) async fn clean_up(
    ctx: &SimContext,
    api: &Api<DataImportCron>,
    dic: &DataImportCron,
    namespace: &str,
) -> Result<Action, SimError> {
    if !dic.finalizers().iter().any(|f| f == cron::FINALIZER) {
        return Ok(Action::await_change());
    }
    let selector = format!(
        "{}={},{}=true",
        cron::CRON_LABEL,
        dic.name_any(),
        cron::CLEANUP_LABEL
    );
    let list = ListParams::default().labels(&selector);
    let params = DeleteParams::default();
    ignore_missing(
        Api::<DataSource>::namespaced(ctx.client.clone(), namespace)
            .delete_collection(&params, &list)
            .await,
    )?;
    ignore_missing(
        Api::<DataVolume>::namespaced(ctx.client.clone(), namespace)
            .delete_collection(&params, &list)
            .await,
    )?;
    ignore_missing(
        Api::<PersistentVolumeClaim>::namespaced(ctx.client.clone(), namespace)
            .delete_collection(&params, &list)
            .await,
    )?;
    let finalizers: Vec<_> = dic
        .finalizers()
        .iter()
        .filter(|f| *f != cron::FINALIZER)
        .cloned()
        .collect();
    api.patch(
        &dic.name_any(),
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": finalizers}})),
    )
    .await?;
    Ok(Action::await_change())
}
