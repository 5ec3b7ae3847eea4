//! A watch cache that holds each object as its compressed JSON and decodes it on each
//! lookup.
//!
//! kube-runtime's store keeps every object decoded: the inline struct (about 1 KiB for a
//! claim, a DataVolume, a VM or a VMI, whatever they hold) and, for every non-empty map, a
//! B-tree node of eleven slots. Decoded, a profile's children take about 20 KiB; as JSON
//! about 5.4 KiB, and compressed with zstd (level 1) about 3 KiB; compressed against a
//! sibling's JSON (a dictionary, see [`crate::cache::codec`]) about 1.5 KiB, which is what
//! makes 10,000 profiles fit in the operator's memory budget (see the README's "Scale"). A
//! lookup decompresses and decodes one object, a few microseconds: a reconcile makes a
//! dozen. Each object's key and bytes share one allocation ([`crate::cache::entries`]).

use std::{
    marker::PhantomData,
    sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard},
};

use kube::{
    Resource, ResourceExt,
    runtime::{reflector::ObjectRef, watcher},
};
use serde::{Serialize, de::DeserializeOwned};

use crate::cache::{
    codec::{Dictionary, compress, decompress, repack},
    entries::Objects,
};

/// An entry decoded.
fn unpack<K: DeserializeOwned>(packed: &[u8], dictionary: &Dictionary) -> Result<K, String> {
    decompress(packed, dictionary)
        .map_err(|e| e.to_string())
        .and_then(|json| serde_json::from_slice(&json).map_err(|e| e.to_string()))
}

/// What readers see: the entries and the dictionary they are packed against, changed together.
#[derive(Debug, Default)]
struct Contents {
    objects: Objects,
    dictionary: Dictionary,
}

/// `<namespace>/<name>`; cluster-scoped objects have the namespace "".
fn key(namespace: Option<&str>, name: &str) -> String {
    format!("{}/{name}", namespace.unwrap_or_default())
}

/// The reading side of a packed cache: cheap to clone, shared by every reconcile.
#[derive(Debug)]
pub struct PackedStore<K> {
    contents: Arc<RwLock<Contents>>,
    ready: tokio::sync::watch::Receiver<bool>,
    kind: PhantomData<fn() -> K>,
}

impl<K> Clone for PackedStore<K> {
    fn clone(&self) -> Self {
        PackedStore {
            contents: self.contents.clone(),
            ready: self.ready.clone(),
            kind: PhantomData,
        }
    }
}

/// The cache's writer went away before the cache was first filled: it never will be.
#[derive(Debug, thiserror::Error)]
#[error("the packed cache's writer was dropped before its first list completed")]
pub struct WriterDropped;

impl<K> PackedStore<K> {
    fn read(&self) -> RwLockReadGuard<'_, Contents> {
        self.contents.read().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<K: Resource<DynamicType = ()> + DeserializeOwned> PackedStore<K> {
    /// The cached object, decoded; `None` when the cache does not hold it.
    pub fn get(&self, key_of: &ObjectRef<K>) -> Option<Arc<K>> {
        let contents = self.read();
        let packed = contents
            .objects
            .get(&key(key_of.namespace.as_deref(), &key_of.name))?;
        match unpack(packed, &contents.dictionary) {
            Ok(object) => Some(Arc::new(object)),
            Err(error) => {
                // Only what this cache encoded is decoded: a failure is a bug, not input.
                tracing::error!(%error, object = %key_of, "a packed cache entry does not decode");
                None
            }
        }
    }

    /// Whether the cache holds the object (without decoding it).
    pub fn contains(&self, key_of: &ObjectRef<K>) -> bool {
        self.read()
            .objects
            .contains_key(&key(key_of.namespace.as_deref(), &key_of.name))
    }

    /// Every cached object, decoded (each lookup's cost, times the cache's size: for a
    /// start's one pass over the profiles, not for a reconcile).
    pub fn state(&self) -> Vec<Arc<K>> {
        let contents = self.read();
        contents
            .objects
            .iter()
            .filter_map(|(key, packed)| match unpack(packed, &contents.dictionary) {
                Ok(object) => Some(Arc::new(object)),
                Err(error) => {
                    tracing::error!(%error, object = %key, "a packed cache entry does not decode");
                    None
                }
            })
            .collect()
    }

    /// How many objects the cache holds.
    pub fn len(&self) -> usize {
        self.read().objects.len()
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
    contents: Arc<RwLock<Contents>>,
    ready: tokio::sync::watch::Sender<bool>,
    /// Filled during a (re-)list, then swapped in whole, as kube-runtime's reflector does.
    relisting: Option<Objects>,
    /// The readers' dictionary (only this writer changes it).
    dictionary: Dictionary,
    /// Objects packed since the dictionary last changed: a new one is taken only once they
    /// are as many as the entries it makes pack again, so that work is amortised.
    packed_since_dictionary: usize,
    kind: PhantomData<fn() -> K>,
}

/// An empty packed cache and its writer.
pub fn packed_store<K>() -> (PackedStore<K>, PackedWriter<K>) {
    let contents = Arc::new(RwLock::new(Contents::default()));
    let (ready_tx, ready_rx) = tokio::sync::watch::channel(false);
    (
        PackedStore {
            contents: contents.clone(),
            ready: ready_rx,
            kind: PhantomData,
        },
        PackedWriter {
            contents,
            ready: ready_tx,
            relisting: None,
            dictionary: Dictionary::default(),
            packed_since_dictionary: 0,
            kind: PhantomData,
        },
    )
}

impl<K: Resource + Serialize> PackedWriter<K> {
    /// Applies one watch event to the cache. Returns whether it changed what the cache
    /// serves: an object applied that differs from the one held (during a relist, from the
    /// one served until the relist is swapped in), or a deletion. An object that comes
    /// back identical (say, only its resourceVersion changed, and the caller cleared that)
    /// changes nothing a reader can see, so nobody needs to look again.
    pub fn apply_watcher_event(&mut self, event: &watcher::Event<K>) -> bool {
        match event {
            watcher::Event::Apply(object) => {
                let Some((key, bytes)) = self.pack(object) else {
                    return false;
                };
                let mut contents = self.write();
                if contents.objects.get(&key) == Some(&bytes[..]) {
                    return false;
                }
                contents.objects.insert(&key, &bytes);
                true
            }
            watcher::Event::Delete(object) => {
                self.write()
                    .objects
                    .remove(&key(object.meta().namespace.as_deref(), &object.name_any()));
                true
            }
            watcher::Event::Init => {
                self.relisting = Some(Objects::default());
                false
            }
            watcher::Event::InitApply(object) => {
                let Some((key, bytes)) = self.pack(object) else {
                    return false;
                };
                let changed = self
                    .contents
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .objects
                    .get(&key)
                    != Some(&bytes[..]);
                self.relisting
                    .get_or_insert_with(Objects::default)
                    .insert(&key, &bytes);
                changed
            }
            watcher::Event::InitDone => {
                if let Some(mut listed) = self.relisting.take() {
                    listed.shrink_to_fit();
                    self.write().objects = listed;
                }
                self.ready.send_replace(true);
                false
            }
        }
    }

    fn write(&self) -> RwLockWriteGuard<'_, Contents> {
        self.contents
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The object's key and entry, packed against the dictionary, which it first replaces
    /// when it is enough richer (see [`Dictionary::outgrown_by`]).
    fn pack(&mut self, object: &K) -> Option<(String, Box<[u8]>)> {
        let packed = serde_json::to_vec(object)
            .map_err(|e| e.to_string())
            .and_then(|json| {
                self.maybe_take_dictionary(&json);
                compress(&json, &self.dictionary).map_err(|e| e.to_string())
            });
        self.packed_since_dictionary += 1;
        match packed {
            Ok(bytes) => Some((
                key(object.meta().namespace.as_deref(), &object.name_any()),
                bytes,
            )),
            Err(error) => {
                tracing::error!(%error, object = %object.name_any(), "a watched object does not encode");
                None
            }
        }
    }

    /// Takes `json` as the dictionary if it outgrows the current one and enough objects were
    /// packed since the last change to pay for packing every entry again.
    fn maybe_take_dictionary(&mut self, json: &[u8]) {
        let entries = self.relisting.as_ref().map_or(0, Objects::len)
            + self
                .contents
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .objects
                .len();
        if !self.dictionary.outgrown_by(json) || self.packed_since_dictionary < entries {
            return;
        }
        let (old, new) = (self.dictionary.clone(), Dictionary::of(json));
        let repacked = |objects: &mut Objects| {
            objects.rewrite(|key, packed| match repack(packed, &old, &new) {
                Ok(entry) => Some(entry),
                Err(error) => {
                    // Only what this cache encoded is decoded: a failure is a bug, not input.
                    tracing::error!(%error, object = %key, "a packed cache entry does not decode");
                    None
                }
            });
        };
        if let Some(relisting) = self.relisting.as_mut() {
            repacked(relisting);
        }
        let mut contents = self.write();
        repacked(&mut contents.objects);
        contents.dictionary = new.clone();
        drop(contents);
        self.dictionary = new;
        self.packed_since_dictionary = 0;
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
    fn siblings_are_packed_against_the_first_object_and_come_back_as_they_were() {
        let (store, mut writer) = packed_store();
        let first = claim("web-system", "Bound");
        let sibling = claim("db-system", "Pending");
        writer.apply_watcher_event(&watcher::Event::Apply(first.clone()));
        writer.apply_watcher_event(&watcher::Event::Apply(sibling.clone()));
        let json = serde_json::to_vec(&sibling).expect("encodes");
        let alone = compress(&json, &Dictionary::default())
            .expect("compresses")
            .len();
        let packed = store
            .read()
            .objects
            .get("team-a/db-system")
            .map(|v| v.len())
            .expect("packed");
        assert!(
            packed * 2 < alone,
            "against its sibling {packed} bytes, alone {alone}"
        );
        assert_eq!(store.get(&at("web-system")).as_deref(), Some(&first));
        assert_eq!(store.get(&at("db-system")).as_deref(), Some(&sibling));
    }

    /// A claim further along: what CDI and the binder add once it is bound.
    fn bound(name: &str) -> PersistentVolumeClaim {
        let mut object = claim(name, "Bound");
        object.metadata.annotations = Some(
            [
                ("pv.kubernetes.io/bind-completed", "yes"),
                ("pv.kubernetes.io/bound-by-controller", "yes"),
                (
                    "volume.kubernetes.io/storage-provisioner",
                    "csi.example.com",
                ),
                ("cdi.kubevirt.io/storage.pod.phase", "Succeeded"),
                (
                    "cdi.kubevirt.io/storage.condition.running.reason",
                    "Completed",
                ),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into(),
        );
        object
    }

    #[test]
    fn a_richer_object_becomes_the_dictionary_and_every_entry_still_decodes() {
        let (store, mut writer) = packed_store();
        let fresh: Vec<_> = (0..8)
            .map(|i| claim(&format!("vm-{i}"), "Pending"))
            .collect();
        for object in &fresh {
            writer.apply_watcher_event(&watcher::Event::Apply(object.clone()));
        }
        let first_dictionary = store.read().dictionary.clone();
        let json = serde_json::to_vec(&bound("vm-1")).expect("encodes");
        let against_fresh = compress(&json, &first_dictionary)
            .expect("compresses")
            .len();
        writer.apply_watcher_event(&watcher::Event::Apply(bound("vm-0")));
        let taken = store.read().dictionary.clone();
        assert_ne!(taken, first_dictionary, "a bound claim is richer");
        // Packing every entry again waits for as many objects packed since: amortised.
        let mut richer = bound("vm-1");
        richer.metadata.labels = Some([("note".to_owned(), "x".repeat(2_000))].into());
        writer.apply_watcher_event(&watcher::Event::Apply(richer));
        assert_eq!(
            store.read().dictionary,
            taken,
            "one object packed since, 8 held"
        );
        for i in 0..8 {
            writer.apply_watcher_event(&watcher::Event::Apply(bound(&format!("vm-{i}"))));
        }
        let against_bound = store.read().objects.get("team-a/vm-1").map(|v| v.len());
        assert!(
            against_bound.is_some_and(|bytes| bytes < against_fresh),
            "{against_bound:?} bytes against a bound sibling, {against_fresh} against a fresh one"
        );
        for i in 0..8 {
            let name = format!("vm-{i}");
            assert_eq!(store.get(&at(&name)).as_deref(), Some(&bound(&name)));
        }
    }

    #[test]
    fn a_large_first_object_gives_at_most_the_dictionary_limit() {
        let (store, mut writer) = packed_store();
        let mut large = claim("large", "Bound");
        large.metadata.annotations = Some([("note".to_owned(), "x".repeat(50_000))].into());
        writer.apply_watcher_event(&watcher::Event::Apply(large.clone()));
        let dictionary = store.read().dictionary.len();
        assert_eq!(dictionary, crate::cache::codec::DICTIONARY_LIMIT);
        assert_eq!(store.get(&at("large")).as_deref(), Some(&large));
    }

    #[test]
    fn an_entry_is_smaller_than_the_objects_json_and_a_damaged_one_is_not_served() {
        let (store, mut writer) = packed_store();
        let mut object = claim("web-system", "Bound");
        // Realistic repetition: the labels and annotations CDI and the binder add.
        object.metadata.annotations = Some(
            (0..8)
                .map(|i| {
                    (
                        format!("cdi.kubevirt.io/storage.condition.{i}"),
                        "true".into(),
                    )
                })
                .collect(),
        );
        let json = serde_json::to_vec(&object).expect("encodes").len();
        writer.apply_watcher_event(&watcher::Event::Apply(object.clone()));
        let packed = store
            .read()
            .objects
            .iter()
            .map(|(_, v)| v.len())
            .sum::<usize>();
        assert!(
            packed * 2 < json,
            "{packed} bytes packed for {json} of JSON"
        );
        assert_eq!(store.get(&at("web-system")).as_deref(), Some(&object));
        store
            .contents
            .write()
            .expect("unpoisoned")
            .objects
            .rewrite(|_, entry| Some(entry[..entry.len() / 2].into()));
        assert!(store.get(&at("web-system")).is_none());
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

    #[test]
    fn only_events_that_change_what_readers_see_are_reported_as_changes() {
        let (_store, mut writer) = packed_store();
        let apply = |c| watcher::Event::Apply(c);
        assert!(writer.apply_watcher_event(&apply(claim("web-system", "Pending"))));
        assert!(!writer.apply_watcher_event(&apply(claim("web-system", "Pending"))));
        assert!(writer.apply_watcher_event(&apply(claim("web-system", "Bound"))));
        assert!(writer.apply_watcher_event(&apply(claim("web-data", "Bound"))));
        // A relist reports what differs from what is served, not from the relist so far.
        assert!(!writer.apply_watcher_event(&watcher::Event::Init));
        assert!(
            !writer.apply_watcher_event(&watcher::Event::InitApply(claim("web-system", "Bound")))
        );
        assert!(writer.apply_watcher_event(&watcher::Event::InitApply(claim("web-data", "Lost"))));
        assert!(!writer.apply_watcher_event(&watcher::Event::InitDone));
        assert!(!writer.apply_watcher_event(&apply(claim("web-data", "Lost"))));
        assert!(writer.apply_watcher_event(&watcher::Event::Delete(claim("web-data", "Lost"))));
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
