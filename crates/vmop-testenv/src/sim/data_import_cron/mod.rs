//! CDI's DataImportCron controller (v1.66.0 `pkg/controller/dataimportcron-controller.go`)
//! with its source poller (`tools/cdi-source-update-poller`, which CDI runs once at creation
//! as the initial Job and then on the cron's `schedule` as a CronJob). For a registry URL
//! source: the poller writes the image's current digest ([`super::registry`]) and the time
//! into the cron's annotations; a digest not imported yet becomes a DataVolume
//! `<managedDataSource>-<12 digest characters>` from the template, with the URL pinned to
//! the digest; once it Succeeds it is `status.lastImportedPVC`, the managed DataSource points
//! at it, and claims of the cron beyond `importsToKeep` (newest by last use first) are deleted.
//! Deleting the cron deletes what it made with the cleanup label (`retentionPolicy: None`).

use std::{str::FromStr, sync::Arc, time::Duration};

use k8s_openapi::{api::core::v1::PersistentVolumeClaim, jiff};
use kube::{
    Api, Client, ResourceExt,
    api::{Patch, PatchParams},
    runtime::{controller::Action, reflector::ObjectRef},
};
use serde_json::json;

use super::{
    Caches, SimConfig, SimContext, SimError, controller, drive, informer,
    kinds::{
        Condition,
        cdi::{DataImportCron, DataImportCronStatus, DataVolume, ImportStatus, PvcSource},
    },
    registry, retry,
    upstream::{dv_phase as phase, import_cron as cron},
};

mod objects;

#[cfg(test)]
use objects::version_name;
use objects::{clean_up, collect_garbage, create_import, update_data_source};

/// Runs the DataImportCron controller.
pub async fn run(client: Client, config: Arc<SimConfig>) {
    let (data_volumes, changes) = informer::<DataVolume>(&client);
    let caches = Caches {
        data_volumes: Some(data_volumes),
        ..Caches::default()
    };
    let context = SimContext::with_caches(&client, &config, caches);
    // CDI maps a DataVolume to its cron by the cron label.
    let stream = controller::<DataImportCron>(&client)
        .watches_stream(changes, |dv: DataVolume| {
            let namespace = dv.namespace()?;
            let name = dv.labels().get(cron::CRON_LABEL)?;
            Some(ObjectRef::new(name).within(&namespace))
        })
        .run(reconcile, retry, context);
    drive("data-import-cron", stream).await;
}

fn now() -> jiff::Timestamp {
    jiff::Timestamp::now()
}

/// The next time after `after` that `schedule` fires (CDI parses it with
/// `cronexpr.ParseStandard`: five fields).
fn next_run(schedule: &str, after: jiff::Timestamp) -> Option<jiff::Timestamp> {
    let cron = croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Disallowed)
        .build()
        .parse(schedule)
        .ok()?;
    let zoned = after.to_zoned(jiff::tz::TimeZone::UTC);
    cron.find_next_occurrence(&zoned, false)
        .ok()
        .map(|z| z.timestamp())
}

/// When the poller runs next: now if it never ran (the initial Job), else at the schedule.
fn poll_due(dic: &DataImportCron, at: jiff::Timestamp) -> Result<(), Duration> {
    let Some(last) = dic
        .annotations()
        .get(cron::LAST_CRON_TIME)
        .and_then(|t| jiff::Timestamp::from_str(t).ok())
    else {
        return Ok(());
    };
    match next_run(&dic.spec.schedule, last) {
        Some(next) if next <= at => Ok(()),
        Some(next) => Err(Duration::try_from(next - at)
            .unwrap_or(Duration::from_secs(1))
            .max(Duration::from_millis(100))),
        // CDI refuses such a cron at admission; the simulator just never polls again.
        None => Err(Duration::from_secs(3600)),
    }
}

async fn reconcile(dic: Arc<DataImportCron>, ctx: Arc<SimContext>) -> Result<Action, SimError> {
    let namespace = dic
        .namespace()
        .ok_or_else(|| SimError::Invalid("DataImportCron without namespace".into()))?;
    let api = Api::<DataImportCron>::namespaced(ctx.client.clone(), &namespace);
    if dic.metadata.deletion_timestamp.is_some() {
        return clean_up(&ctx, &api, &dic, &namespace).await;
    }
    if !dic.finalizers().iter().any(|f| f == cron::FINALIZER) {
        let mut finalizers = dic.finalizers().to_vec();
        finalizers.push(cron::FINALIZER.into());
        api.patch(
            &dic.name_any(),
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": finalizers}})),
        )
        .await?;
        return Ok(Action::await_change());
    }
    let at = now();
    let next_poll = match poll_due(&dic, at) {
        Ok(()) => return poll(&ctx, &api, &dic, at).await,
        Err(wait) => wait,
    };
    let status = update(&ctx, &dic, &namespace).await?;
    if Some(&status) != dic.status.as_ref() {
        // No status subresource upstream: the status goes with the object.
        api.patch(
            &dic.name_any(),
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await?;
    }
    let importing = !status.current_imports.is_empty()
        && status.last_imported_pvc.as_ref().map(|p| &p.name)
            != status.current_imports.first().map(|i| &i.data_volume_name);
    if importing {
        return Ok(ctx.config.next_step());
    }
    Ok(Action::requeue(next_poll))
}

/// The source poller's run: the registry's digest and the time into the annotations.
async fn poll(
    ctx: &SimContext,
    api: &Api<DataImportCron>,
    dic: &DataImportCron,
    at: jiff::Timestamp,
) -> Result<Action, SimError> {
    let url = dic
        .spec
        .template
        .spec
        .source
        .as_ref()
        .and_then(|s| s.registry.as_ref())
        .and_then(|r| r.url.clone());
    let mut annotations = serde_json::Map::new();
    annotations.insert(
        cron::LAST_CRON_TIME.into(),
        at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string().into(),
    );
    if let Some(url) = url {
        let digest = registry::digest(&ctx.client, &url).await?;
        if dic.annotations().get(cron::DESIRED_DIGEST) != Some(&digest) {
            annotations.insert(cron::DESIRED_DIGEST.into(), digest.into());
        }
    }
    api.patch(
        &dic.name_any(),
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": annotations}})),
    )
    .await?;
    Ok(Action::await_change())
}

/// `update`: the cron's next status, creating the import, the DataSource and collecting
/// garbage on the way.
async fn update(
    ctx: &SimContext,
    dic: &DataImportCron,
    namespace: &str,
) -> Result<DataImportCronStatus, SimError> {
    let mut status = dic.status.clone().unwrap_or_default();
    let current = status.current_imports.first().cloned();
    let dv = match &current {
        Some(import) => ctx.data_volume(namespace, &import.data_volume_name).await?,
        None => None,
    };
    let claim = match &current {
        Some(import) => ctx.claim(namespace, &import.data_volume_name).await?,
        None => None,
    };
    let succeeded = import_state(&mut status, dv.as_ref(), claim.as_ref());
    if succeeded && let Some(import) = &current {
        let source = PvcSource {
            namespace: namespace.to_owned(),
            name: import.data_volume_name.clone(),
        };
        if status.last_imported_pvc.as_ref() != Some(&source) {
            status.last_imported_pvc = Some(source);
            status.last_import_timestamp = Some(stamp(now()));
        }
        set(
            &mut status.conditions,
            cron::PROGRESSING,
            false,
            cron::NO_IMPORT,
            "No current import",
        );
        collect_garbage(ctx, dic, namespace).await?;
    }
    update_data_source(ctx, dic, namespace, status.last_imported_pvc.as_ref()).await?;
    let desired = dic
        .annotations()
        .get(cron::DESIRED_DIGEST)
        .cloned()
        .unwrap_or_default();
    let imported = status.current_imports.first().map(|i| i.digest.clone());
    if !desired.is_empty() && imported.as_ref() != Some(&desired) {
        set(
            &mut status.conditions,
            cron::UP_TO_DATE,
            false,
            cron::OUTDATED,
            "Source digest updated since last import",
        );
        if succeeded || status.current_imports.is_empty() {
            let name = create_import(ctx, dic, namespace, &desired).await?;
            status.current_imports = vec![ImportStatus {
                data_volume_name: name,
                digest: desired,
            }];
        }
    } else if succeeded {
        set(
            &mut status.conditions,
            cron::UP_TO_DATE,
            true,
            cron::UP_TO_DATE,
            "Latest import is up to date",
        );
    } else if !status.current_imports.is_empty() {
        set(
            &mut status.conditions,
            cron::UP_TO_DATE,
            false,
            cron::IN_PROGRESS,
            "Import is progressing",
        );
    } else {
        set(
            &mut status.conditions,
            cron::UP_TO_DATE,
            false,
            cron::NO_DIGEST,
            "No source digest",
        );
    }
    if let Some(last) = dic.annotations().get(cron::LAST_CRON_TIME) {
        status.last_execution_timestamp = Some(last.clone());
    }
    status.source_format = Some("pvc".into());
    Ok(status)
}

/// What the current import came to (`update`'s switch): whether it succeeded; the
/// `Progressing` condition says the rest, and an import whose objects are gone is dropped.
fn import_state(
    status: &mut DataImportCronStatus,
    dv: Option<&DataVolume>,
    claim: Option<&PersistentVolumeClaim>,
) -> bool {
    let mut succeeded = false;
    match (dv, claim) {
        (Some(dv), _) => {
            let dv_phase = dv
                .status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_default();
            match dv_phase.as_str() {
                phase::SUCCEEDED => succeeded = true,
                phase::IMPORT_SCHEDULED => set(
                    &mut status.conditions,
                    cron::PROGRESSING,
                    false,
                    cron::SCHEDULED,
                    "Import is scheduled",
                ),
                phase::IMPORT_IN_PROGRESS => set(
                    &mut status.conditions,
                    cron::PROGRESSING,
                    true,
                    cron::IN_PROGRESS,
                    "Import is progressing",
                ),
                other => set(
                    &mut status.conditions,
                    cron::PROGRESSING,
                    false,
                    other,
                    &format!("Import DataVolume phase {other}"),
                ),
            }
        }
        (None, Some(claim))
            if claim.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound") =>
        {
            succeeded = true;
        }
        _ => {
            if !status.current_imports.is_empty() {
                status.current_imports.remove(0);
            }
            set(
                &mut status.conditions,
                cron::PROGRESSING,
                false,
                cron::NO_IMPORT,
                "No current import",
            );
        }
    }
    succeeded
}

fn stamp(at: jiff::Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `updateDataImportCronCondition`: the transition time moves only with the status.
fn set(conditions: &mut Vec<Condition>, type_: &str, ok: bool, reason: &str, message: &str) {
    let status = if ok { "True" } else { "False" };
    let reason = Some(reason.to_owned());
    let message = Some(message.to_owned());
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) if c.status == status && c.reason == reason && c.message == message => {}
        Some(c) => {
            if c.status != status {
                c.rest
                    .insert("lastTransitionTime".into(), stamp(now()).into());
            }
            c.status = status.into();
            c.reason = reason;
            c.message = message;
        }
        None => {
            let mut rest = serde_json::Map::new();
            rest.insert("lastTransitionTime".into(), stamp(now()).into());
            conditions.push(Condition {
                type_: type_.into(),
                status: status.into(),
                reason,
                message,
                rest,
            });
        }
    }
}

/// RFC 3339 with nanoseconds, as CDI writes last-use times (they sort as strings).
pub(super) fn stamp_nanos(at: jiff::Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S.%fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_is_named_after_the_data_source_and_the_digest() {
        assert_eq!(
            version_name("ubuntu", "sha256:0123456789abcdef0123"),
            "ubuntu-0123456789ab"
        );
    }

    #[test]
    fn the_poller_runs_at_once_then_on_the_schedule() {
        let mut dic = DataImportCron::new("c", Default::default());
        dic.spec.schedule = "*/5 * * * *".into();
        let at = jiff::Timestamp::from_str("2026-12-07T10:02:00Z").expect("a time");
        assert_eq!(poll_due(&dic, at), Ok(()));
        dic.metadata.annotations = Some(
            [(
                cron::LAST_CRON_TIME.to_owned(),
                "2026-12-07T10:01:00Z".to_owned(),
            )]
            .into(),
        );
        assert_eq!(poll_due(&dic, at), Err(Duration::from_secs(180)));
        let later = jiff::Timestamp::from_str("2026-12-07T10:05:00Z").expect("a time");
        assert_eq!(poll_due(&dic, later), Ok(()));
    }
}
