//! A watch cache that holds each object as its compressed JSON and decodes it on each
//! lookup.
//!
//! kube-runtime's store keeps every object decoded: the inline struct (about 1 KiB for a
//! claim, a DataVolume, a VM or a VMI, whatever they hold) and, for every non-empty map, a
//! B-tree node of eleven slots. Decoded, a profile's children take about 20 KiB; as JSON
//! about 5.4 KiB, and compressed with zstd (level 1) about 3 KiB; compressed against the
//! first object of the cache (a dictionary: objects of one kind share most of their text)
//! less again, which is what makes 10,000 profiles fit in the operator's memory budget (see
//! the README's "Scale"). A lookup decompresses and decodes one object, a few microseconds:
//! a reconcile makes a dozen.

use std::{
    cell::RefCell,
    collections::HashMap,
    marker::PhantomData,
    sync::{Arc, OnceLock, PoisonError, RwLock},
};

use kube::{
    Resource, ResourceExt,
    runtime::{reflector::ObjectRef, watcher},
};
use serde::{Serialize, de::DeserializeOwned};

/// zstd's fastest level: the objects are small, and every update compresses one.
const LEVEL: i32 = 1;

thread_local! {
    // zstd contexts are worth reusing: each call would otherwise allocate its own.
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

/// The most of its first object's JSON a cache keeps as the dictionary of every entry.
const DICTIONARY_LIMIT: usize = 8 * 1024;

/// The JSON of the first object a cache packs (at most [`DICTIONARY_LIMIT`] bytes), against
/// which every entry is compressed. Objects of one kind share most of their keys and many
/// values; alone, a small one compresses to about half its JSON at level 1, against a
/// sibling to about a quarter (the bench's DataVolumes and claims).
type Dictionary = Arc<OnceLock<Box<[u8]>>>;

/// The JSON's length (4 bytes, little-endian), then the JSON compressed against `dictionary`.
fn compress(json: &[u8], dictionary: &[u8]) -> std::io::Result<Box<[u8]>> {
    let length = u32::try_from(json.len())
        .map_err(|_| std::io::Error::other("an object of 4 GiB or more"))?;
    COMPRESSOR.with(|cell| {
        let mut cell = cell.borrow_mut();
        let compressor = match cell.as_mut() {
            Some(compressor) => compressor,
            None => cell.insert(zstd::bulk::Compressor::new(LEVEL)?),
        };
        // Every cache has its own; loading one copies a few KiB.
        compressor.set_dictionary(LEVEL, dictionary)?;
        let mut packed = length.to_le_bytes().to_vec();
        packed.extend(compressor.compress(json)?);
        Ok(packed.into_boxed_slice())
    })
}

fn decompress(packed: &[u8], dictionary: &[u8]) -> std::io::Result<Vec<u8>> {
    let (length, frame) = packed
        .split_first_chunk::<4>()
        .ok_or_else(|| std::io::Error::other("a packed entry without its length"))?;
    let length = u32::from_le_bytes(*length) as usize;
    DECOMPRESSOR.with(|cell| {
        let mut cell = cell.borrow_mut();
        let decompressor = match cell.as_mut() {
            Some(decompressor) => decompressor,
            None => cell.insert(zstd::bulk::Decompressor::new()?),
        };
        decompressor.set_dictionary(dictionary)?;
        decompressor.decompress(frame, length)
    })
}

/// An entry decoded.
fn unpack<K: DeserializeOwned>(packed: &[u8], dictionary: &Dictionary) -> Result<K, String> {
    let dictionary = dictionary.get().map_or(&[][..], |d| &d[..]);
    decompress(packed, dictionary)
        .map_err(|e| e.to_string())
        .and_then(|json| serde_json::from_slice(&json).map_err(|e| e.to_string()))
}

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
    dictionary: Dictionary,
    kind: PhantomData<fn() -> K>,
}

impl<K> Clone for PackedStore<K> {
    fn clone(&self) -> Self {
        PackedStore {
            objects: self.objects.clone(),
            ready: self.ready.clone(),
            dictionary: self.dictionary.clone(),
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
        let packed = objects.get(&*key(key_of.namespace.as_deref(), &key_of.name))?;
        match unpack(packed, &self.dictionary) {
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
        self.objects
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(&*key(key_of.namespace.as_deref(), &key_of.name))
    }

    /// Every cached object, decoded (each lookup's cost, times the cache's size: for a
    /// start's one pass over the profiles, not for a reconcile).
    pub fn state(&self) -> Vec<Arc<K>> {
        let objects = self.objects.read().unwrap_or_else(PoisonError::into_inner);
        objects
            .iter()
            .filter_map(|(key, packed)| match unpack(packed, &self.dictionary) {
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
    dictionary: Dictionary,
    kind: PhantomData<fn() -> K>,
}

/// An empty packed cache and its writer.
pub fn packed_store<K>() -> (PackedStore<K>, PackedWriter<K>) {
    let objects = Arc::new(RwLock::new(Objects::new()));
    let (ready_tx, ready_rx) = tokio::sync::watch::channel(false);
    let dictionary = Dictionary::default();
    (
        PackedStore {
            objects: objects.clone(),
            ready: ready_rx,
            dictionary: dictionary.clone(),
            kind: PhantomData,
        },
        PackedWriter {
            objects,
            ready: ready_tx,
            relisting: None,
            dictionary,
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
                let Some((key, bytes)) = pack(object, &self.dictionary) else {
                    return false;
                };
                let mut objects = self.write();
                if objects.get(&key) == Some(&bytes) {
                    return false;
                }
                objects.insert(key, bytes);
                true
            }
            watcher::Event::Delete(object) => {
                self.write()
                    .remove(&key(object.meta().namespace.as_deref(), &object.name_any()));
                true
            }
            watcher::Event::Init => {
                self.relisting = Some(Objects::new());
                false
            }
            watcher::Event::InitApply(object) => {
                let Some((key, bytes)) = pack(object, &self.dictionary) else {
                    return false;
                };
                let changed = self
                    .objects
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(&key)
                    != Some(&bytes);
                self.relisting
                    .get_or_insert_with(Objects::new)
                    .insert(key, bytes);
                changed
            }
            watcher::Event::InitDone => {
                if let Some(mut listed) = self.relisting.take() {
                    listed.shrink_to_fit();
                    *self.write() = listed;
                }
                self.ready.send_replace(true);
                false
            }
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Objects> {
        self.objects.write().unwrap_or_else(PoisonError::into_inner)
    }
}

fn pack<K: Resource + Serialize>(
    object: &K,
    dictionary: &Dictionary,
) -> Option<(Box<str>, Box<[u8]>)> {
    let packed = serde_json::to_vec(object)
        .map_err(|e| e.to_string())
        .and_then(|json| {
            let dictionary =
                dictionary.get_or_init(|| json[..json.len().min(DICTIONARY_LIMIT)].into());
            compress(&json, dictionary).map_err(|e| e.to_string())
        });
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
        let alone = compress(&json, &[]).expect("compresses").len();
        let packed = store
            .objects
            .read()
            .expect("unpoisoned")
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

    #[test]
    fn a_large_first_object_gives_at_most_the_dictionary_limit() {
        let (store, mut writer) = packed_store();
        let mut large = claim("large", "Bound");
        large.metadata.annotations = Some([("note".to_owned(), "x".repeat(50_000))].into());
        writer.apply_watcher_event(&watcher::Event::Apply(large.clone()));
        let dictionary = store.dictionary.get().map(|d| d.len());
        assert_eq!(dictionary, Some(DICTIONARY_LIMIT));
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
            .objects
            .read()
            .expect("unpoisoned")
            .values()
            .map(|v| v.len())
            .sum::<usize>();
        assert!(
            packed * 2 < json,
            "{packed} bytes packed for {json} of JSON"
        );
        assert_eq!(store.get(&at("web-system")).as_deref(), Some(&object));
        for entry in store.objects.write().expect("unpoisoned").values_mut() {
            *entry = entry[..entry.len() / 2].into();
        }
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
