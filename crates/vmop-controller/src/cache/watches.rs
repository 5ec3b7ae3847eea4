//! The watches behind the caches: each kind's watch (relisting after a failure, trimmed,
//! indexed) feeding its store, and the streams of objects that trigger reconciles.

use std::{collections::HashMap, sync::Arc};

use futures::{Stream, StreamExt, future};
use kube::{
    Api, Client, Resource, ResourceExt,
    runtime::{
        WatchStreamExt,
        reflector::{self, ObjectRef, Store},
        watcher,
    },
};
use serde::de::DeserializeOwned;
use vmop_api::{PROFILE_LABEL, VirtualMachineProfile};
use vmop_plugin::names::fnv1a;

use crate::cache::{
    index::LabelIndex,
    packed::{PackedStore, packed_store},
    relist::relisting,
    trim::strip,
    watch_health::WatchHealth,
};

pub(crate) fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// What a watch cache can hold.
pub(crate) trait Cacheable:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static
{
}

impl<K> Cacheable for K where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static
{
}

/// A watch of `K` feeding a cache (and `index`, if any); the stream must be polled for the
/// cache to fill.
pub(crate) fn cached<K>(
    api: Api<K>,
    config: watcher::Config,
    index: Option<Arc<LabelIndex>>,
    health: Arc<WatchHealth>,
) -> (
    Store<K>,
    impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Cacheable,
{
    let (reader, mut writer) = reflector::store();
    let sink = move |event: &watcher::Event<K>| {
        writer.apply_watcher_event(event);
        true
    };
    (
        reader,
        watch_into(api, config, sink, index, strip::<K>, health),
    )
}

/// Like [`cached`], into a [`PackedStore`] (the children of profiles, many of each), with
/// `trim` applied before packing (see [`crate::cache::trim`]). An event after which the cache
/// serves the same object as before (what changed was trimmed away, or only the
/// resourceVersion, which nothing reads) triggers nothing: a reconcile would see no
/// difference.
pub(crate) fn packed<K>(
    api: Api<K>,
    config: watcher::Config,
    index: Option<Arc<LabelIndex>>,
    trim: fn(&mut K),
    health: Arc<WatchHealth>,
) -> (
    PackedStore<K>,
    impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Cacheable + serde::Serialize,
{
    let (reader, mut writer) = packed_store();
    let sink = move |event: &watcher::Event<K>| writer.apply_watcher_event(event);
    (
        reader,
        watch_into(api, config, sink, index, packing(trim), health),
    )
}

/// `trim`, then the resourceVersion cleared: the watcher has already taken it to resume
/// from, no reconcile reads a cached child's, and without it an update that changed nothing
/// else packs to the same bytes.
pub(crate) fn packing<K: Resource + 'static>(trim: fn(&mut K)) -> impl Fn(&mut K) + Send + 'static {
    move |object: &mut K| {
        trim(object);
        object.meta_mut().resource_version = None;
    }
}

/// The watch of `K`, trimmed and given to `sink` (a cache's writer) and filed in `index`, as
/// the objects it touched, of which only those for which `sink` returned true.
pub(crate) fn watch_into<K>(
    api: Api<K>,
    config: watcher::Config,
    mut sink: impl FnMut(&watcher::Event<K>) -> bool + Send + 'static,
    index: Option<Arc<LabelIndex>>,
    trim: impl Fn(&mut K) + Send + 'static,
    health: Arc<WatchHealth>,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static
where
    K: Cacheable,
{
    logged(relisting(api, config, &health))
        .modify(trim)
        .filter(move |event| {
            let yielded = match event {
                Ok(event) => {
                    if let Some(index) = &index {
                        index.observe(event);
                    }
                    sink(event)
                }
                Err(_) => true,
            };
            future::ready(yielded)
        })
        .touched_objects()
}

/// Like [`cached`] for a kind whose CRD may not be installed (MultiNetworkPolicy exists only
/// where multi-networkpolicy is): the watch starts once discovery finds the resource, and
/// `installed` says so. Until then the stream stays silent and the cache empty.
pub(crate) fn cached_when_installed<K>(
    client: Client,
    api: Api<K>,
    config: watcher::Config,
    installed: Arc<std::sync::atomic::AtomicBool>,
    health: Arc<WatchHealth>,
) -> (
    PackedStore<K>,
    impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Cacheable + serde::Serialize,
{
    let (reader, mut writer) = packed_store();
    let stream = futures::stream::once(async move {
        let group_version = K::api_version(&());
        let plural = K::plural(&());
        let mut told = false;
        loop {
            let found = client
                .list_api_group_resources(&group_version)
                .await
                .is_ok_and(|list| list.resources.iter().any(|r| r.name == plural));
            if found {
                break;
            }
            if !told {
                tracing::info!(%group_version, %plural, "not installed: looking again every minute");
                told = true;
            }
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        }
        installed.store(true, std::sync::atomic::Ordering::Relaxed);
        let sink = move |event: &watcher::Event<K>| writer.apply_watcher_event(event);
        watch_into(api, config, sink, None, packing(strip::<K>), health)
    })
    .flatten();
    (reader, stream)
}

/// Like [`cached`], but the stream yields an object only when `fingerprint` of it changed
/// (or it was deleted): shared objects trigger their many users only when something those
/// users read changed, not on every metadata update.
pub(crate) fn cached_changes<K>(
    api: Api<K>,
    config: watcher::Config,
    index: Option<Arc<LabelIndex>>,
    fingerprint: impl Fn(&K) -> u64 + Send + 'static,
    health: Arc<WatchHealth>,
) -> (
    Store<K>,
    impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Cacheable,
{
    let (reader, writer) = reflector::store();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let stream = logged(relisting(api, config, &health))
        .modify(strip)
        .inspect(move |event| {
            if let (Ok(event), Some(index)) = (event, &index) {
                index.observe(event);
            }
        })
        .reflect(writer)
        .filter_map(move |event| {
            let changed = match event {
                Ok(watcher::Event::Apply(object) | watcher::Event::InitApply(object)) => {
                    let print = fingerprint(&object);
                    (seen.insert(object.name_any(), print) != Some(print)).then_some(Ok(object))
                }
                Ok(watcher::Event::Delete(object)) => {
                    seen.remove(&object.name_any());
                    Some(Ok(object))
                }
                Ok(watcher::Event::Init | watcher::Event::InitDone) => None,
                Err(error) => Some(Err(error)),
            };
            future::ready(changed)
        });
    (reader, stream)
}

/// What users of a shared object read from it: its generation and status.
pub(crate) fn readiness_fingerprint(
    generation: Option<i64>,
    status: Option<&impl serde::Serialize>,
) -> u64 {
    let status = status
        .and_then(|s| serde_json::to_vec(s).ok())
        .unwrap_or_default();
    fnv1a(&status) ^ generation.unwrap_or_default() as u64
}

/// Notes profiles as triggered in the work queue.
pub(crate) type Enqueue = Arc<dyn Fn(&[ObjectRef<VirtualMachineProfile>]) + Send + Sync>;

/// Logs watch failures (RBAC denials above all), which the backoff otherwise retries silently.
pub(crate) fn logged<K: Resource<DynamicType = ()>>(
    stream: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send,
) -> impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send {
    stream.inspect(|event| {
        if let Err(error) = event {
            tracing::warn!(kind = %K::kind(&()), %error, "watch failed; retrying");
        }
    })
}

pub(crate) fn labelled() -> watcher::Config {
    watcher::Config::default().labels(PROFILE_LABEL)
}
