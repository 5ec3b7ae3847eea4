//! The profiles' own watch. Each profile is cached twice from the same events: packed (its
//! compressed JSON, in a [`PackedStore`]) for the reconciles, which decode it once a pass,
//! and as its name, namespace and uid in a kube-runtime store, which is what the controller
//! schedules from and hands to [`reconcile_cached`].
//!
//! Decoded, a cached profile of the seed's shape took about 6 KiB: the struct alone is 1.1 KiB
//! of mostly empty options, then a block for every string of its spec and status
//! (`cargo xtask bench --heap-profile`). Packed it takes what its JSON compresses to.

use std::sync::Arc;

use futures::{Stream, StreamExt, TryStreamExt, future};
use kube::{
    Client, ResourceExt,
    api::ObjectMeta,
    core::PartialObjectMeta,
    runtime::{
        WatchStreamExt,
        controller::Action,
        reflector::{self, ObjectRef, Store},
        watcher,
    },
};
use vmop_api::VirtualMachineProfile;

use crate::{
    cache::{
        packed::{PackedStore, packed_store},
        profile_triggers::changed_beyond_status,
        queue::WorkQueue,
        relist::relisting,
        tenant_secrets::TenantSecrets,
        trim::strip,
        watch_health::WatchHealth,
        watches::{api, logged},
    },
    config::ControllerConfig,
    context::Context,
    error::{Error, Result},
    metrics::Metrics,
};

/// A profile as the controller schedules it: its name, namespace and uid.
pub type ProfileMeta = PartialObjectMeta<VirtualMachineProfile>;

/// What the watch of profiles gives the controller: the reconciles' cache, the scheduler's
/// store, and the events that trigger (a change beyond the status: not our own writes).
pub(crate) struct ProfileWatch<S> {
    pub profiles: PackedStore<VirtualMachineProfile>,
    pub scheduled: Store<ProfileMeta>,
    pub triggers: S,
}

/// The watch of profiles, cached (stripped) and triggering the controller.
pub(crate) fn profile_watch(
    client: &Client,
    config: &ControllerConfig,
    health: &Arc<WatchHealth>,
    queue: &Arc<WorkQueue>,
    metrics: &Arc<Metrics>,
    tenant_secrets: &Arc<TenantSecrets>,
) -> ProfileWatch<impl Stream<Item = Result<ProfileMeta, watcher::Error>> + Send + 'static> {
    let (profiles, mut writer) = packed_store();
    let (scheduled, mut scheduled_writer) = reflector::store();
    let cached = profiles.clone();
    let (queue, metrics, tenant_secrets) = (queue.clone(), metrics.clone(), tenant_secrets.clone());
    let triggers = logged(relisting(
        api::<VirtualMachineProfile>(client, config.namespace.as_deref()),
        watcher::Config::default(),
        health,
    ))
    .modify(strip)
    // Cached, every event; a trigger, only a change beyond the status (our own writes).
    .filter(move |event| {
        let trigger = match event {
            Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p)) => {
                let before = cached.get(&ObjectRef::from(p));
                changed_beyond_status(before.as_deref(), p)
            }
            _ => true,
        };
        if let Ok(event) = event {
            writer.apply_watcher_event(event);
            scheduled_writer.apply_watcher_event(&scheduling_event(event));
        }
        future::ready(trigger)
    })
    .inspect(move |event| match event {
        Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p)) => {
            if let Some(depth) = queue.triggered(ObjectRef::from(p)) {
                metrics.queued(depth);
            }
        }
        Ok(watcher::Event::Delete(p)) => {
            metrics.dequeued(None, queue.forget(&ObjectRef::from(p)));
            tenant_secrets.forget(&ObjectRef::from(p));
        }
        _ => {}
    })
    .applied_objects()
    .map_ok(|p| scheduling_meta(&p));
    ProfileWatch {
        profiles,
        scheduled,
        triggers,
    }
}

/// What the scheduler's store keeps of a profile: enough to name it and its Events (the
/// kind comes from the type).
fn scheduling_meta(profile: &VirtualMachineProfile) -> ProfileMeta {
    PartialObjectMeta {
        types: None,
        metadata: ObjectMeta {
            name: profile.metadata.name.clone(),
            namespace: profile.metadata.namespace.clone(),
            uid: profile.metadata.uid.clone(),
            ..ObjectMeta::default()
        },
        _phantom: std::marker::PhantomData,
    }
}

/// The same event, of the profile's scheduling entry.
fn scheduling_event(event: &watcher::Event<VirtualMachineProfile>) -> watcher::Event<ProfileMeta> {
    match event {
        watcher::Event::Apply(p) => watcher::Event::Apply(scheduling_meta(p)),
        watcher::Event::Delete(p) => watcher::Event::Delete(scheduling_meta(p)),
        watcher::Event::Init => watcher::Event::Init,
        watcher::Event::InitApply(p) => watcher::Event::InitApply(scheduling_meta(p)),
        watcher::Event::InitDone => watcher::Event::InitDone,
    }
}

/// The profile a scheduled entry names.
pub(crate) fn profile_ref(meta: &ProfileMeta) -> ObjectRef<VirtualMachineProfile> {
    let name = meta.name_any();
    match meta.namespace() {
        Some(namespace) => ObjectRef::new(&name).within(&namespace),
        None => ObjectRef::new(&name),
    }
}

/// The scheduler's name for a profile (what the controller's triggers must give).
pub(crate) fn scheduled_ref(profile: ObjectRef<VirtualMachineProfile>) -> ObjectRef<ProfileMeta> {
    let scheduled = ObjectRef::new(&profile.name);
    match &profile.namespace {
        Some(namespace) => scheduled.within(namespace),
        None => scheduled,
    }
}

/// Reconciles the profile `meta` names, decoded from the packed cache; one deleted since it
/// was scheduled needs nothing (its deletion went through its finalizer earlier).
pub(crate) async fn reconcile_cached(meta: Arc<ProfileMeta>, ctx: Arc<Context>) -> Result<Action> {
    match ctx.stores.profiles.get(&profile_ref(&meta)) {
        Some(profile) => crate::reconcile::reconcile(profile, ctx).await,
        None => Ok(Action::await_change()),
    }
}

/// [`crate::error_policy::error_policy`] for a scheduled profile.
pub(crate) fn error_policy_cached(
    meta: Arc<ProfileMeta>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    crate::error_policy::error_policy(&meta, error, ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheduler_keeps_the_name_namespace_and_uid_and_names_the_same_profile() {
        let mut profile = vmop_api::fixtures::valid_profile("web");
        profile.metadata.namespace = Some("team-a".into());
        profile.metadata.uid = Some("u-1".into());
        profile.metadata.labels = Some([("a".to_owned(), "b".to_owned())].into());
        profile.metadata.resource_version = Some("7".into());
        let meta = scheduling_meta(&profile);
        assert_eq!(meta.metadata.uid.as_deref(), Some("u-1"));
        assert_eq!(meta.metadata.labels, None);
        assert_eq!(meta.metadata.resource_version, None);
        assert_eq!(profile_ref(&meta), ObjectRef::from(&profile));
        let scheduled = scheduled_ref(ObjectRef::from(&profile));
        assert_eq!(scheduled, ObjectRef::from(&meta));
    }
}
