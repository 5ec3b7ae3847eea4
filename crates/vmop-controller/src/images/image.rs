//! The image controller: for each VirtualMachineImage, checks what the spec alone cannot
//! (the schedule's meaning, the credentials Secret), applies the CDI objects its plan wants
//! under the operator's field manager, never touching an object of that name it does not
//! own, and writes the status from what CDI reports.
//!
//! A problem stops the image before anything is created, with the field named in the Ready
//! condition. An image wakes the operator only when something of it changes: CDI's poller
//! runs on the schedule, not this controller.

use std::{sync::Arc, time::Duration};

use futures::{Future, StreamExt};
use k8s_openapi::{api::core::v1::Secret, apimachinery::pkg::apis::meta::v1::OwnerReference};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{DeleteParams, Patch, PatchParams},
    runtime::{
        Controller, WatchStreamExt,
        controller::{Action, Config},
        reflector::{self, ObjectRef},
        watcher,
    },
};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::json;
use vmop_api::{
    external::{
        cdi::DataVolume,
        cdi_catalog::{DATA_IMPORT_CRON_LABEL, DataImportCron, DataSource},
    },
    image::{IMAGE_LABEL, VirtualMachineImage},
    reasons::{CONFLICT, CREDENTIALS_NOT_FOUND, INVALID_SPEC},
    validate::validate_image,
};

use crate::{
    cache::relist::relisting,
    context::{Context, FIELD_MANAGER},
    converge::{
        apply::{apply_status, kind_of, needs_apply, owned, stamp},
        credentials::check_secret,
    },
    error::{Error, Result},
    images::{
        image_plan::{ImageObjects, plan_image},
        image_status::{ObservedImage, image_status},
    },
};

/// What keeps an image from being acted on: the reason and a message naming the field.
type Problem = (String, String);

/// Whether `schedule` is a schedule CDI can run (`cronexpr.ParseStandard`: five fields).
fn schedule_problem(schedule: &str) -> Option<Problem> {
    let parsed = croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Disallowed)
        .build()
        .parse(schedule);
    parsed.err().map(|error| {
        (
            INVALID_SPEC.to_owned(),
            format!("spec.schedule: {schedule:?} is not a schedule: {error}"),
        )
    })
}

/// What the spec and the cluster say against acting on `image` now.
async fn problem_of(ctx: &Context, image: &VirtualMachineImage) -> Result<Option<Problem>> {
    if let Err(errors) = validate_image(&image.name_any(), &image.spec) {
        return Ok(Some((INVALID_SPEC.to_owned(), errors.to_string())));
    }
    if let Some(problem) = image.spec.schedule.as_deref().and_then(schedule_problem) {
        return Ok(Some(problem));
    }
    let Some(reference) = &image.spec.credentials_secret_ref else {
        return Ok(None);
    };
    let namespace = image.namespace().unwrap_or_default();
    ctx.metrics.read("Secret", "get");
    let secret = Api::<Secret>::namespaced(ctx.client.clone(), &namespace)
        .get_opt(&reference.name)
        .await?;
    Ok(match secret {
        None => Some((
            CREDENTIALS_NOT_FOUND.to_owned(),
            format!(
                "spec.credentialsSecretRef: Secret {namespace}/{} does not exist",
                reference.name
            ),
        )),
        Some(secret) => check_secret(&secret)
            .err()
            .map(|(reason, what)| (reason, format!("spec.credentialsSecretRef: {what}"))),
    })
}

/// The object `name` of kind `K` in `namespace`, read for this reconcile.
async fn get<K>(ctx: &Context, namespace: &str, name: &str) -> Result<Option<K>>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    ctx.metrics.read(kind_of::<K>(), "get");
    Ok(Api::<K>::namespaced(ctx.client.clone(), namespace)
        .get_opt(name)
        .await?)
}

/// Applies `object` unless the cluster has it as wanted; a same-named object the image does
/// not own is a conflict, never written.
async fn apply_one<K>(
    ctx: &Context,
    mut object: K,
    owner: &OwnerReference,
) -> Result<Option<String>>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + Serialize
        + DeserializeOwned
        + std::fmt::Debug,
{
    let namespace = object.namespace().unwrap_or_default();
    let name = object.name_any();
    let existing = get::<K>(ctx, &namespace, &name).await?;
    if let Some(existing) = &existing
        && !owned(existing.meta(), owner)
    {
        return Ok(Some(format!(
            "{} {namespace}/{name} exists and is not this image's: rename the image or remove it",
            kind_of::<K>()
        )));
    }
    let body = stamp(&mut object, Some(owner.clone()))?;
    if !needs_apply(&body, existing.as_ref().map(|e| e.annotations()), None) {
        return Ok(None);
    }
    let mut body = body;
    body["apiVersion"] = json!(K::api_version(&()));
    body["kind"] = json!(K::kind(&()));
    Api::<K>::namespaced(ctx.client.clone(), &namespace)
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
        .map_err(|source| Error::Apply {
            kind: kind_of::<K>(),
            name: name.clone(),
            source,
        })?;
    ctx.metrics.wrote(kind_of::<K>(), "apply");
    Ok(None)
}

/// Deletes the image's own `K` named `name`, if there is one (after a switch between a
/// scheduled and a one-time import).
async fn delete_owned<K>(
    ctx: &Context,
    namespace: &str,
    name: &str,
    owner: &OwnerReference,
) -> Result<()>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let Some(existing) = get::<K>(ctx, namespace, name).await? else {
        return Ok(());
    };
    if !owned(existing.meta(), owner) {
        return Ok(());
    }
    match Api::<K>::namespaced(ctx.client.clone(), namespace)
        .delete(name, &DeleteParams::background())
        .await
    {
        Ok(_) => ctx.metrics.wrote(kind_of::<K>(), "delete"),
        Err(kube::Error::Api(status)) if status.code == 404 => {}
        Err(error) => return Err(error.into()),
    }
    Ok(())
}

/// Applies the plan's objects and removes those of the other kind of import; a conflict's
/// message when a name is taken.
async fn converge(
    ctx: &Context,
    image: &VirtualMachineImage,
    objects: ImageObjects,
    owner: &OwnerReference,
) -> Result<Option<String>> {
    let namespace = image.namespace().unwrap_or_default();
    let name = image.name_any();
    match objects {
        ImageObjects::Scheduled(cron) => {
            delete_owned::<DataSource>(ctx, &namespace, &name, owner).await?;
            delete_owned::<DataVolume>(ctx, &namespace, &name, owner).await?;
            apply_one(ctx, *cron, owner).await
        }
        ImageObjects::Once {
            data_volume,
            data_source,
        } => {
            delete_owned::<DataImportCron>(ctx, &namespace, &name, owner).await?;
            if let Some(conflict) = apply_one(ctx, *data_volume, owner).await? {
                return Ok(Some(conflict));
            }
            apply_one(ctx, *data_source, owner).await
        }
    }
}

/// What CDI reports of the image's objects.
async fn observe(
    ctx: &Context,
    image: &VirtualMachineImage,
    owner: &OwnerReference,
    observed: &mut ObservedImage,
) -> Result<()> {
    let namespace = image.namespace().unwrap_or_default();
    let name = image.name_any();
    let source = get::<DataSource>(ctx, &namespace, &name).await?;
    if image.spec.schedule.is_some() {
        let cron = get::<DataImportCron>(ctx, &namespace, &name)
            .await?
            .filter(|c| owned(c.meta(), owner));
        // CDI's DataSource of our cron carries the cron's label.
        observed.data_source = source
            .filter(|s| cron.is_some() && s.labels().get(DATA_IMPORT_CRON_LABEL) == Some(&name));
        let current = cron
            .as_ref()
            .and_then(|c| c.status.as_ref()?.current_imports.first().cloned());
        if let Some(current) = current {
            observed.import = get::<DataVolume>(ctx, &namespace, &current.data_volume_name)
                .await?
                .filter(|dv| dv.labels().get(DATA_IMPORT_CRON_LABEL) == Some(&name));
        }
        observed.cron = cron;
    } else {
        observed.data_source = source.filter(|s| owned(s.meta(), owner));
        observed.import = get::<DataVolume>(ctx, &namespace, &name)
            .await?
            .filter(|dv| owned(dv.meta(), owner));
    }
    Ok(())
}

/// Reconciles one image.
pub async fn reconcile_image(image: Arc<VirtualMachineImage>, ctx: Arc<Context>) -> Result<Action> {
    if image.metadata.deletion_timestamp.is_some() {
        // Its objects go with it (owner references; CDI deletes a cron's versions).
        return Ok(Action::await_change());
    }
    let Some(owner) = image.controller_owner_ref(&()) else {
        return Ok(Action::await_change());
    };
    let mut observed = ObservedImage {
        problem: problem_of(&ctx, &image).await?,
        ..ObservedImage::default()
    };
    if observed.problem.is_none() {
        match plan_image(&image) {
            Some(objects) => {
                if let Some(conflict) = converge(&ctx, &image, objects, &owner).await? {
                    observed.problem = Some((CONFLICT.to_owned(), conflict));
                }
            }
            None => {
                observed.problem = Some((
                    INVALID_SPEC.to_owned(),
                    format!("spec.source: {}", vmop_api::messages::IMAGE_SOURCE_SCHEME),
                ));
            }
        }
    }
    observe(&ctx, &image, &owner, &mut observed).await?;
    let status = image_status(&image, &observed, k8s_openapi::jiff::Timestamp::now());
    if image.status.as_ref() != Some(&status) {
        apply_status(&ctx, image.as_ref(), FIELD_MANAGER, &status).await?;
    }
    // CDI's writes to the image's objects wake it, and a change of the spec does; a problem
    // outside the spec (a Secret created later, a name freed) is looked at again after a while.
    Ok(match &observed.problem {
        Some((reason, _)) if reason != INVALID_SPEC => Action::requeue(ctx.timing.converging),
        _ => Action::await_change(),
    })
}

fn image_error_policy(
    _image: Arc<VirtualMachineImage>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    ctx.metrics.failed(error.category());
    tracing::warn!(%error, "image reconcile failed");
    Action::requeue(Duration::from_secs(5))
}

/// The image named by a CDI object's cron label (a version or the DataSource a cron made).
fn by_cron_label<K: Resource>(object: K) -> Option<ObjectRef<VirtualMachineImage>> {
    let namespace = object.namespace()?;
    let name = object.labels().get(DATA_IMPORT_CRON_LABEL)?;
    Some(ObjectRef::new(name).within(&namespace))
}

/// `Api<K>` in `namespace`, or all namespaces.
fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// The image controller, sharing the profile controller's context; ends with `shutdown`.
pub fn image_controller(
    client: Client,
    ctx: Arc<Context>,
    namespace: Option<String>,
    concurrency: u16,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> impl Future<Output = ()> + Send {
    let ns = namespace.as_deref();
    let health = &ctx.watch_health;
    let (images, writer) = reflector::store();
    let image_stream = relisting(
        api::<VirtualMachineImage>(&client, ns),
        watcher::Config::default(),
        health,
    )
    .reflect(writer)
    .applied_objects();
    let ours = || watcher::Config::default().labels(IMAGE_LABEL);
    let of_crons = || watcher::Config::default().labels(DATA_IMPORT_CRON_LABEL);
    let crons = relisting(api::<DataImportCron>(&client, ns), ours(), health).touched_objects();
    let imports = relisting(api::<DataVolume>(&client, ns), ours(), health).touched_objects();
    let sources = relisting(api::<DataSource>(&client, ns), ours(), health).touched_objects();
    let versions = relisting(api::<DataVolume>(&client, ns), of_crons(), health).touched_objects();
    let managed_sources =
        relisting(api::<DataSource>(&client, ns), of_crons(), health).touched_objects();
    Controller::for_stream(image_stream, images)
        .with_config(Config::default().concurrency(concurrency))
        .owns_stream(crons)
        .owns_stream(imports)
        .owns_stream(sources)
        .watches_stream(versions, by_cron_label)
        .watches_stream(managed_sources, by_cron_label)
        .graceful_shutdown_on(shutdown)
        .run(reconcile_image, image_error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_cron_cannot_run_names_the_field() {
        assert_eq!(schedule_problem("0 2 * * *"), None);
        assert_eq!(schedule_problem("@daily"), None);
        let (reason, message) = schedule_problem("61 * * * *").expect("minute 61");
        assert_eq!(reason, INVALID_SPEC);
        assert!(
            message.starts_with("spec.schedule: \"61 * * * *\""),
            "{message}"
        );
    }
}
