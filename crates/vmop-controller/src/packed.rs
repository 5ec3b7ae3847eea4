//! A watch cache that holds each object as its compact JSON and decodes it on each lookup.
//!
//! kube-runtime's store keeps every object decoded: the inline struct (about 1 KiB for a
//! claim, a DataVolume, a VM or a VMI, whatever they hold) and, for every non-empty map, a
//! B-tree node of eleven slots. Decoded, a profile's children take about 20 KiB; packed, a
//! few hundred bytes each, which is what makes 10,000 profiles fit in the operator's memory
//! budget (see the README's "Scale"). A lookup decodes one object, a few microseconds: a
//! reconcile makes a dozen.

use std::{
    collections::HashMap,
    marker::PhantomData,
    sync::{Arc, PoisonError, RwLock},
};

use kube::{
    Resource, ResourceExt,
    runtime::{reflector::ObjectRef, watcher},
};
use serde::{Serialize, de::DeserializeOwned};

type Objects = HashMap<Box<str>, Box<[u8]>>;

/// `<namespace>/<name>`; cluster-scoped objects have the namespace "".
fn key(namespace: Option<&str>, name: &str) -> Box<str> {
    format!("{}/{name}", namespace.unwrap_or_default()).into_boxed_str()
}

/// The reading side of a packed cache: cheap to clone, shared by every reconcile.
#[derive(Debug)]
pub struct PackedStore<K> {
    objects: Arc<RwLock<Objects>>,
    ready: tokio::sync::watch::Receiver<bool>,
    kind: PhantomData<fn() -> K>,
}

impl<K> Clone for PackedStore<K> {
    fn clone(&self) -> Self {
        PackedStore {
            objects: self.objects.clone(),
            ready: self.ready.clone(),
            kind: PhantomData,
        }
    }
}

/// The cache's writer went away before the cache was first filled: it never will be.
#[derive(Debug, thiserror::Error)]
#[error("the packed cache's writer was dropped before its first list completed")]
pub struct WriterDropped;

impl<K: Resource<DynamicType = ()> + DeserializeOwned> PackedStore<K> {
    /// The cached object, decoded; `None` when the cache does not hold it.
    pub fn get(&self, key_of: &ObjectRef<K>) -> Option<Arc<K>> {
        let objects = self.objects.read().unwrap_or_else(PoisonError::into_inner);
        let bytes = objects.get(&*key(key_of.namespace.as_deref(), &key_of.name))?;
        match serde_json::from_slice(bytes) {
            Ok(object) => Some(Arc::new(object)),
            Err(error) => {
                // Only what this cache encoded is decoded: a failure is a bug, not input.
                tracing::error!(%error, object = %key_of, "a packed cache entry does not decode");
                None
            }
        }
    }

    /// How many objects the cache holds.
    pub fn len(&self) -> usize {
        self.objects
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether the cache holds no object.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Resolves once the first list has been cached.
    pub async fn wait_until_ready(&self) -> Result<(), WriterDropped> {
        let mut ready = self.ready.clone();
        ready
            .wait_for(|ready| *ready)
            .await
            .map(|_| ())
            .map_err(|_| WriterDropped)
    }
}

/// The writing side: fed every event of one watch, in order.
#[derive(Debug)]
pub struct PackedWriter<K> {
    objects: Arc<RwLock<Objects>>,
    ready: tokio::sync::watch::Sender<bool>,
    /// Filled during a (re-)list, then swapped in whole, as kube-runtime's reflector does.
    relisting: Option<Objects>,
    kind: PhantomData<fn() -> K>,
}

/// An empty packed cache and its writer.
pub fn packed_store<K>() -> (PackedStore<K>, PackedWriter<K>) {
    let objects = Arc::new(RwLock::new(Objects::new()));
    let (ready_tx, ready_rx) = tokio::sync::watch::channel(false);
    (
        PackedStore {
            objects: objects.clone(),
            ready: ready_rx,
            kind: PhantomData,
        },
        PackedWriter {
            objects,
            ready: ready_tx,
            relisting: None,
            kind: PhantomData,
        },
    )
}

impl<K: Resource + Serialize> PackedWriter<K> {
    /// Applies one watch event to the cache.
    pub fn apply_watcher_event(&mut self, event: &watcher::Event<K>) {
        match event {
            watcher::Event::Apply(object) => {
                if let Some((key, bytes)) = pack(object) {
                    self.write().insert(key, bytes);
                }
            }
            watcher::Event::Delete(object) => {
                self.write()
                    .remove(&key(object.meta().namespace.as_deref(), &object.name_any()));
            }
            watcher::Event::Init => self.relisting = Some(Objects::new()),
            watcher::Event::InitApply(object) => {
                if let Some((key, bytes)) = pack(object) {
                    self.relisting
                        .get_or_insert_with(Objects::new)
                        .insert(key, bytes);
                }
            }
            watcher::Event::InitDone => {
                if let Some(mut listed) = self.relisting.take() {
                    listed.shrink_to_fit();
                    *self.write() = listed;
                }
                self.ready.send_replace(true);
            }
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Objects> {
        self.objects.write().unwrap_or_else(PoisonError::into_inner)
    }
}

fn pack<K: Resource + Serialize>(object: &K) -> Option<(Box<str>, Box<[u8]>)> {
    match serde_json::to_vec(object) {
        Ok(bytes) => Some((
            key(object.meta().namespace.as_deref(), &object.name_any()),
            bytes.into_boxed_slice(),
        )),
        Err(error) => {
            tracing::error!(%error, object = %object.name_any(), "a watched object does not encode");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::PersistentVolumeClaim;
    use serde_json::json;

    use super::*;

    fn claim(name: &str, phase: &str) -> PersistentVolumeClaim {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": "team-a",
                         "labels": {"vmoperator.io/profile": "web"}},
            "spec": {"resources": {"requests": {"storage": "20Gi"}}},
            "status": {"phase": phase}
        }))
        .expect("a claim")
    }

    fn at(name: &str) -> ObjectRef<PersistentVolumeClaim> {
        ObjectRef::new(name).within("team-a")
    }

    #[test]
    fn an_applied_object_comes_back_decoded_as_it_was() {
        let (store, mut writer) = packed_store();
        let object = claim("web-system", "Bound");
        writer.apply_watcher_event(&watcher::Event::Apply(object.clone()));
        assert_eq!(store.get(&at("web-system")).as_deref(), Some(&object));
        assert!(store.get(&at("other")).is_none());
        assert!(
            store
                .get(&ObjectRef::new("web-system").within("team-b"))
                .is_none()
        );
    }

    #[test]
    fn a_later_event_replaces_the_object_and_a_delete_removes_it() {
        let (store, mut writer) = packed_store();
        writer.apply_watcher_event(&watcher::Event::Apply(claim("web-system", "Pending")));
        writer.apply_watcher_event(&watcher::Event::Apply(claim("web-system", "Bound")));
        let phase = store
            .get(&at("web-system"))
            .and_then(|c| c.status.clone())
            .and_then(|s| s.phase);
        assert_eq!(phase.as_deref(), Some("Bound"));
        writer.apply_watcher_event(&watcher::Event::Delete(claim("web-system", "Bound")));
        assert!(store.is_empty());
    }

    #[tokio::test]
    async fn a_relist_replaces_everything_at_once_and_marks_the_cache_ready() {
        let (store, mut writer) = packed_store();
        let waiting = tokio::spawn({
            let store = store.clone();
            async move { store.wait_until_ready().await }
        });
        writer.apply_watcher_event(&watcher::Event::Apply(claim("gone", "Bound")));
        writer.apply_watcher_event(&watcher::Event::Init);
        writer.apply_watcher_event(&watcher::Event::InitApply(claim("kept", "Bound")));
        // Until the list is done, readers see the old contents.
        assert!(store.get(&at("gone")).is_some());
        assert!(store.get(&at("kept")).is_none());
        writer.apply_watcher_event(&watcher::Event::InitDone);
        assert!(store.get(&at("gone")).is_none());
        assert!(store.get(&at("kept")).is_some());
        waiting
            .await
            .expect("the waiter runs")
            .expect("ready after the first list");
    }

    #[tokio::test]
    async fn a_dropped_writer_before_the_first_list_is_an_error_for_waiters() {
        let (store, writer) = packed_store::<PersistentVolumeClaim>();
        drop(writer);
        assert!(store.wait_until_ready().await.is_err());
    }
}
