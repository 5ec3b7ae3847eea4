//! CDI's DataVolume controller (legacy, non-populator flow): creates the DataVolume's claim
//! (owned by it, with the DataVolume's labels and annotations, as CDI's
//! `newPersistentVolumeClaim` does), reports `WaitForFirstConsumer` while that claim waits on a
//! WaitForFirstConsumer class for a consumer to be scheduled (CDI's
//! `shouldBeMarkedWaitForFirstConsumer`), `Pending` while it waits otherwise, then walks the
//! upstream phases — ImportScheduled, ImportInProgress with a progress percentage, Succeeded —
//! or CloneScheduled/CloneInProgress for clones. An image URL containing the configured
//! marker makes the importer fail: CDI restarts it, counting `restartCount` with the reason in
//! the Running condition, and after the configured number of restarts the DataVolume fails.
//! A registry image that cannot be pulled is reported as CDI's `setAnnotationsFromPodWithPrefix`
//! does: with `pullMethod: node` the importer pod's own image is the VM image, and the pod
//! waits in `ErrImagePull` (phase ImportScheduled, Running False `ImagePullFailed`, "failed to
//! pull image: IMAGE"); otherwise CDI's importer fails to pull it, terminates with that text,
//! and is restarted like any failing importer. The claim carries CDI's import annotations
//! (source, endpoint, Secret, CA ConfigMap); an importer whose Secret or key is missing
//! waits in `CreateContainerConfigError`, one whose ConfigMap is missing in
//! `ContainerCreating`, as the kubelet reports them. A claim asking for immediate binding (a
//! DataImportCron's versions) on a WaitForFirstConsumer class does not wait: its importer
//! pod is its first consumer, placed by the scheduler.

use std::{collections::BTreeMap, sync::Arc};

use k8s_openapi::{
    api::core::v1::{PersistentVolumeClaim, PersistentVolumeClaimSpec},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::{
    Api, Client, ResourceExt,
    api::{Patch, PatchParams, PostParams},
    runtime::controller::Action,
};
use serde_json::json;

use super::{
    Caches, SimConfig, SimContext, SimError, controller, data_source, drive, importer, informer,
    keep_filled,
    kinds::{
        Condition,
        cdi::{DataVolume, DataVolumeStatus},
    },
    pre_populated, retry,
    upstream::{
        SELECTED_NODE_ANNOTATION, cdi_annotation, dv_condition as condition, dv_phase as phase,
        import_cron,
    },
};

/// Runs the DataVolume controller.
pub async fn run(client: Client, config: Arc<SimConfig>) {
    // CDI's controller reads claims and classes from its informers, as here.
    let (claims, claim_changes) = informer::<PersistentVolumeClaim>(&client);
    let (classes, class_changes) = informer(&client);
    let caches = Caches {
        claims: Some(claims),
        classes: Some(classes),
        ..Caches::default()
    };
    let context = SimContext::with_caches(&client, &config, caches);
    let stream = controller::<DataVolume>(&client)
        .watches_stream(claim_changes, pre_populated::data_volumes_of)
        .run(reconcile, retry, context);
    tokio::join!(drive("cdi", stream), keep_filled(class_changes));
}

/// What a DataVolume does with its source.
enum Work {
    Import { url: String, node_pull: bool },
    Clone { namespace: String, name: String },
    FromDataSource { namespace: String, name: String },
    Blank,
}

fn work_of(dv: &DataVolume) -> Work {
    let source = dv.spec.source.as_ref();
    if let Some(url_source) = source.and_then(|s| s.http.as_ref().or(s.s3.as_ref())) {
        return Work::Import {
            url: url_source.url.clone(),
            node_pull: false,
        };
    }
    if let Some(registry) = source.and_then(|s| s.registry.as_ref())
        && let Some(url) = registry.url.clone()
    {
        let node_pull = registry.rest.get("pullMethod").and_then(|m| m.as_str()) == Some("node");
        return Work::Import { url, node_pull };
    }
    if let Some(pvc) = source.and_then(|s| s.pvc.as_ref()) {
        return Work::Clone {
            namespace: pvc.namespace.clone(),
            name: pvc.name.clone(),
        };
    }
    if let Some(reference) = &dv.spec.source_ref {
        return Work::FromDataSource {
            namespace: reference
                .namespace
                .clone()
                .or_else(|| dv.namespace())
                .unwrap_or_default(),
            name: reference.name.clone(),
        };
    }
    Work::Blank
}

async fn reconcile(dv: Arc<DataVolume>, ctx: Arc<SimContext>) -> Result<Action, SimError> {
    if dv.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let namespace = dv
        .namespace()
        .ok_or_else(|| SimError::Invalid("DataVolume without namespace".into()))?;
    let claims = Api::<PersistentVolumeClaim>::namespaced(ctx.client.clone(), &namespace);
    let name = dv.name_any();
    let claim = match ctx.cached_claim(&namespace, &name) {
        Some(claim) => claim,
        None if pre_populated::pre_populated(&dv) => return Ok(ctx.config.next_step()),
        // As CDI does: the informer has no claim, so create it; one the informer has not
        // seen yet is then read from the API server.
        None => match claims
            .create(&PostParams::default(), &claim_for(&dv)?)
            .await
        {
            Ok(created) => created,
            Err(kube::Error::Api(status)) if status.code == 409 => claims.get(&name).await?,
            Err(error) => return Err(error.into()),
        },
    };
    pre_populated::adopt(&ctx, &dv, &claim).await?;
    let bound = claim.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound");
    let waits_for_consumer = !bound && waits_for_first_consumer(&ctx, &claim).await?;
    // `IsImmediateBindingRequested` (a DataImportCron's versions): CDI does not wait; its
    // importer pod is the claim's first consumer, and the scheduler selects its node.
    let immediate = claim
        .annotations()
        .get(import_cron::IMMEDIATE_BINDING)
        .is_some_and(|v| v == "true");
    if waits_for_consumer && immediate {
        importer::schedule(&ctx, &claim).await?;
        return Ok(ctx.config.next_step());
    }

    let current = dv.status.clone().unwrap_or_default();
    let current_phase = current.phase.clone().unwrap_or_default();
    if current_phase == phase::SUCCEEDED || current_phase == phase::FAILED {
        return Ok(Action::await_change());
    }
    let config = &ctx.config;
    if let Some(wait) = ctx.wait_before_step(&dv.uid().unwrap_or_default()) {
        return Ok(Action::requeue(wait));
    }
    let next = if waits_for_consumer {
        status(phase::WAIT_FOR_FIRST_CONSUMER, "N/A", &name, false, None)
    } else if !bound {
        status(phase::PENDING, "N/A", &name, false, None)
    } else {
        match work_of(&dv) {
            Work::Import { url, node_pull } => {
                let import = Import {
                    url: &url,
                    node_pull,
                    claim: &name,
                };
                import_status(&ctx, &claim, &current, &import).await?
            }
            Work::Clone {
                namespace,
                name: source,
            } => clone_status(&ctx, &current, &name, &namespace, &source).await?,
            Work::FromDataSource {
                namespace,
                name: source,
            } => match data_source::resolve(&ctx, &namespace, &source).await? {
                Some((namespace, source)) => {
                    clone_status(&ctx, &current, &name, &namespace, &source).await?
                }
                None => current.clone(),
            },
            Work::Blank => match current_phase.as_str() {
                phase::IMPORT_SCHEDULED => status(phase::SUCCEEDED, "100.0%", &name, true, None),
                _ => status(phase::IMPORT_SCHEDULED, "N/A", &name, true, None),
            },
        }
    };
    if Some(&next) != dv.status.as_ref() {
        Api::<DataVolume>::namespaced(ctx.client.clone(), &namespace)
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": next })),
            )
            .await?;
    }
    match next.phase.as_deref() {
        Some(
            phase::SUCCEEDED | phase::FAILED | phase::PENDING | phase::WAIT_FOR_FIRST_CONSUMER,
        ) => Ok(Action::await_change()),
        _ => Ok(config.next_step()),
    }
}

/// The next status of a clone of the claim `source_ns`/`source` into `name`.
async fn clone_status(
    ctx: &SimContext,
    current: &DataVolumeStatus,
    name: &str,
    source_ns: &str,
    source: &str,
) -> Result<DataVolumeStatus, SimError> {
    let exists = Api::<PersistentVolumeClaim>::namespaced(ctx.client.clone(), source_ns)
        .get_opt(source)
        .await?
        .is_some();
    let current_phase = current.phase.clone().unwrap_or_default();
    if exists {
        return Ok(clone_step(&current_phase, current, name, &ctx.config));
    }
    let mut s = status(phase::CLONE_SCHEDULED, "N/A", name, true, None);
    set(
        &mut s,
        condition::RUNNING,
        false,
        "CloneWithoutSource",
        &format!("source PVC {source_ns}/{source} not found"),
    );
    Ok(s)
}

/// The next status of an import: waiting while its importer pod cannot start, else its next
/// step.
async fn import_status(
    ctx: &SimContext,
    claim: &PersistentVolumeClaim,
    current: &DataVolumeStatus,
    import: &Import<'_>,
) -> Result<DataVolumeStatus, SimError> {
    let current_phase = current.phase.clone().unwrap_or_default();
    // A running importer read its environment when it started.
    let blocked = if current_phase == phase::IMPORT_IN_PROGRESS {
        None
    } else {
        importer::cannot_start(ctx, claim).await?
    };
    Ok(match blocked {
        Some((reason, message)) => {
            let mut s = status(phase::IMPORT_SCHEDULED, "N/A", import.claim, true, None);
            set(&mut s, condition::RUNNING, false, reason, &message);
            s
        }
        None => import_step(&current_phase, current, import, &ctx.config),
    })
}

/// CDI's `shouldBeMarkedWaitForFirstConsumer`: the claim is Pending on a class that binds on
/// first consumer and no consumer has been scheduled yet.
async fn waits_for_first_consumer(
    ctx: &SimContext,
    claim: &PersistentVolumeClaim,
) -> Result<bool, SimError> {
    if claim.annotations().contains_key(SELECTED_NODE_ANNOTATION) {
        return Ok(false);
    }
    let Some(class_name) = claim
        .spec
        .as_ref()
        .and_then(|s| s.storage_class_name.clone())
    else {
        return Ok(false);
    };
    let class = ctx.storage_class(&class_name).await?;
    Ok(class.and_then(|c| c.volume_binding_mode).as_deref() == Some("WaitForFirstConsumer"))
}

/// One import: its source URL, whether the node pulls it, and the claim it fills.
struct Import<'a> {
    url: &'a str,
    node_pull: bool,
    claim: &'a str,
}

/// Why the importer of `import` fails, if it does: CDI's reason and message.
fn import_failure(import: &Import<'_>, config: &SimConfig) -> Option<(&'static str, String)> {
    let url = import.url;
    if url.contains(&config.unpullable_image_marker) {
        // CDI's importer wraps the registry's error in ImagePullFailureText.
        return Some((
            "ImagePullFailed",
            format!("Unable to process data: failed to pull image: {url}: manifest unknown"),
        ));
    }
    url.contains(&config.failing_image_marker).then(|| {
        (
            "Error",
            format!(
                "Unable to process data: Unable to transfer source data to target file: {url}: 404 Not Found"
            ),
        )
    })
}

fn import_step(
    current_phase: &str,
    current: &DataVolumeStatus,
    import: &Import<'_>,
    config: &SimConfig,
) -> DataVolumeStatus {
    let claim = import.claim;
    if import.node_pull && import.url.contains(&config.unpullable_image_marker) {
        // The importer pod's image is the VM image: it never starts, never restarts.
        let image = import.url.trim_start_matches("docker://");
        let mut s = status(phase::IMPORT_SCHEDULED, "N/A", claim, true, None);
        let message = format!("failed to pull image: {image}");
        set(
            &mut s,
            condition::RUNNING,
            false,
            "ImagePullFailed",
            &message,
        );
        return s;
    }
    match (current_phase, import_failure(import, config)) {
        (phase::IMPORT_SCHEDULED | phase::IMPORT_IN_PROGRESS, Some((reason, failure))) => {
            let restarts = current.restart_count.unwrap_or(0);
            if restarts >= config.import_restarts_before_failure {
                let mut s = status(phase::FAILED, "N/A", claim, true, None);
                s.restart_count = Some(restarts);
                let reason = if reason == "Error" {
                    "ImportFailed"
                } else {
                    reason
                };
                set(&mut s, condition::RUNNING, false, reason, &failure);
                set(
                    &mut s,
                    condition::READY,
                    false,
                    "ImportFailed",
                    "Import failed",
                );
                s
            } else {
                // The importer pod crashed and was restarted: CDI counts it and keeps the
                // phase, with the pod's termination message as the Running condition.
                let mut s = status(phase::IMPORT_IN_PROGRESS, "N/A", claim, true, None);
                s.restart_count = Some(restarts + 1);
                set(&mut s, condition::RUNNING, false, reason, &failure);
                s
            }
        }
        (phase::IMPORT_SCHEDULED, _) => {
            status(phase::IMPORT_IN_PROGRESS, "0.00%", claim, true, Some(true))
        }
        (phase::IMPORT_IN_PROGRESS, _) => {
            advance(current, phase::IMPORT_IN_PROGRESS, claim, config)
        }
        _ => status(phase::IMPORT_SCHEDULED, "N/A", claim, true, None),
    }
}

fn clone_step(
    current_phase: &str,
    current: &DataVolumeStatus,
    claim: &str,
    config: &SimConfig,
) -> DataVolumeStatus {
    match current_phase {
        phase::CLONE_SCHEDULED => {
            status(phase::CLONE_IN_PROGRESS, "0.00%", claim, true, Some(true))
        }
        phase::CLONE_IN_PROGRESS => advance(current, phase::CLONE_IN_PROGRESS, claim, config),
        _ => status(phase::CLONE_SCHEDULED, "N/A", claim, true, None),
    }
}

/// One progress step; Succeeded after the last.
fn advance(
    current: &DataVolumeStatus,
    in_progress: &str,
    claim: &str,
    config: &SimConfig,
) -> DataVolumeStatus {
    let done: f64 = current
        .progress
        .as_deref()
        .and_then(|p| p.trim_end_matches('%').parse().ok())
        .unwrap_or(0.0);
    let step = 100.0 / f64::from(config.import_steps.max(1));
    let next = done + step;
    if next >= 99.99 {
        status(phase::SUCCEEDED, "100.0%", claim, true, None)
    } else {
        status(in_progress, &format!("{next:.2}%"), claim, true, Some(true))
    }
}

fn status(
    phase_name: &str,
    progress: &str,
    claim: &str,
    bound: bool,
    running: Option<bool>,
) -> DataVolumeStatus {
    let mut s = DataVolumeStatus {
        phase: Some(phase_name.into()),
        progress: Some(progress.into()),
        claim_name: Some(claim.into()),
        ..DataVolumeStatus::default()
    };
    let succeeded = phase_name == phase::SUCCEEDED;
    set(
        &mut s,
        condition::BOUND,
        bound,
        if bound { "Bound" } else { "Pending" },
        if bound { "PVC Bound" } else { "PVC Pending" },
    );
    let (running, reason) = match running {
        Some(true) => (true, "Pod is running"),
        _ if succeeded => (false, "Completed"),
        _ => (false, ""),
    };
    set(&mut s, condition::RUNNING, running, reason, "");
    set(
        &mut s,
        condition::READY,
        succeeded,
        if succeeded { "Completed" } else { "" },
        "",
    );
    s
}

fn set(s: &mut DataVolumeStatus, type_: &str, value: bool, reason: &str, message: &str) {
    let condition = Condition {
        type_: type_.into(),
        status: if value { "True" } else { "False" }.into(),
        reason: (!reason.is_empty()).then(|| reason.into()),
        message: (!message.is_empty()).then(|| message.into()),
        rest: Default::default(),
    };
    match s.conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(existing) => *existing = condition,
        None => s.conditions.push(condition),
    }
}

/// The claim CDI makes for a DataVolume: its labels and annotations carried over, CDI's own
/// added (`newPersistentVolumeClaim`).
fn claim_for(dv: &DataVolume) -> Result<PersistentVolumeClaim, SimError> {
    let storage = dv.spec.storage.clone().unwrap_or_default();
    let mut labels = BTreeMap::from([("app".into(), "containerized-data-importer".into())]);
    labels.extend(dv.labels().clone());
    let mut annotations = dv.annotations().clone();
    importer::import_annotations(&mut annotations, dv);
    annotations.insert(cdi_annotation::POD_RESTARTS.into(), "0".into());
    annotations.insert(
        cdi_annotation::CREATED_FOR_DATA_VOLUME.into(),
        dv.uid().unwrap_or_default(),
    );
    let owner = pre_populated::owner_of(dv)?;
    Ok(PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(dv.name_any()),
            namespace: dv.namespace(),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(
                storage
                    .access_modes
                    .unwrap_or_else(|| vec!["ReadWriteOnce".into()]),
            ),
            volume_mode: storage.volume_mode,
            storage_class_name: storage.storage_class_name,
            resources: storage.resources,
            ..PersistentVolumeClaimSpec::default()
        }),
        status: None,
    })
}
