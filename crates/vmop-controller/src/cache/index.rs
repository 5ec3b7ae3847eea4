//! Cached objects by the value of one label (the profile a child belongs to, the policy an
//! enactment reports on), kept up to date from the watch events that fill the cache. A
//! profile's cleanup and its orphan checks look up its own children here instead of scanning
//! every cached object, so their cost does not grow with the number of other profiles.
//!
//! The index gives names only: callers read the objects from the cache and check them there
//! (labels, owner), so an index briefly behind its cache can never make them act on the wrong
//! object.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex, PoisonError},
};

use kube::{Resource, ResourceExt, runtime::watcher};
use vmop_api::{PROFILE_LABEL, external::nmstate::ENACTMENT_POLICY_LABEL};

/// `<namespace>/<label value>`; cluster-scoped objects have the namespace "".
fn key(namespace: &str, value: &str) -> String {
    format!("{namespace}/{value}")
}

/// A key and its names in one allocation: the key, then each name after a newline (neither a
/// namespace, a label value nor an object's name can hold one). One entry per profile and
/// kind, most with one name: separate strings for the key and every name, and a list for
/// the names, took three allocations and their slack.
#[derive(Debug)]
struct Filed(Box<str>);

impl Filed {
    fn key(&self) -> &str {
        self.0.split_once('\n').map_or(&*self.0, |(key, _)| key)
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.0.split('\n').skip(1)
    }
}

crate::cache::keyed::hashed_by_key!(Filed);

/// Names by key. An object is filed under the label it carries in each event; one whose label
/// changes stays listed under the old value too, harmless since lookups are checked against
/// the cache, and rare: the operator's children keep the label it gave them.
#[derive(Debug, Default)]
struct Entries {
    filed: HashSet<Filed>,
}

impl Entries {
    fn file(&mut self, namespace: &str, name: &str, value: Option<&String>) {
        let Some(value) = value else {
            return;
        };
        let key = key(namespace, value);
        if self
            .filed
            .get(key.as_str())
            .is_some_and(|filed| filed.names().any(|n| n == name))
        {
            return;
        }
        let mut text = self
            .filed
            .take(key.as_str())
            .map_or(key, |filed| filed.0.into_string());
        text.push('\n');
        text.push_str(name);
        self.filed.insert(Filed(text.into_boxed_str()));
    }

    fn remove(&mut self, namespace: &str, name: &str, value: Option<&String>) {
        let Some(value) = value else {
            return;
        };
        let Some(filed) = self.filed.take(key(namespace, value).as_str()) else {
            return;
        };
        let kept: Vec<&str> = filed.names().filter(|n| *n != name).collect();
        if !kept.is_empty() {
            let text = std::iter::once(filed.key())
                .chain(kept)
                .collect::<Vec<_>>()
                .join("\n");
            self.filed.insert(Filed(text.into_boxed_str()));
        }
    }

    fn names(&self, key: &str) -> impl Iterator<Item = &str> {
        self.filed.get(key).into_iter().flat_map(Filed::names)
    }
}

#[derive(Debug, Default)]
struct State {
    live: Entries,
    /// Filled during a re-list, then swapped in whole, as the reflector does with its store.
    relisting: Option<Entries>,
}

/// Names of cached objects by the value of one label.
#[derive(Debug)]
pub struct LabelIndex {
    label: &'static str,
    state: Mutex<State>,
}

impl LabelIndex {
    /// An empty index of `label`.
    pub fn new(label: &'static str) -> Arc<Self> {
        Arc::new(LabelIndex {
            label,
            state: Mutex::default(),
        })
    }

    /// Files the object of one watch event (call it for every event, in order).
    pub fn observe<K: Resource>(&self, event: &watcher::Event<K>) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let parts = |object: &K| {
            (
                object.namespace().unwrap_or_default(),
                object.name_any(),
                object.labels().get(self.label).cloned(),
            )
        };
        match event {
            watcher::Event::Apply(object) => {
                let (namespace, name, value) = parts(object);
                state.live.file(&namespace, &name, value.as_ref());
            }
            watcher::Event::Delete(object) => {
                let (namespace, name, value) = parts(object);
                state.live.remove(&namespace, &name, value.as_ref());
            }
            watcher::Event::Init => state.relisting = Some(Entries::default()),
            watcher::Event::InitApply(object) => {
                let (namespace, name, value) = parts(object);
                state.relisting.get_or_insert_with(Entries::default).file(
                    &namespace,
                    &name,
                    value.as_ref(),
                );
            }
            watcher::Event::InitDone => {
                if let Some(entries) = state.relisting.take() {
                    state.live = entries;
                }
            }
        }
    }

    /// Names of the objects in `namespace` (None: cluster-scoped) whose label is `value`.
    pub fn names(&self, namespace: Option<&str>, value: &str) -> Vec<String> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let mut names: Vec<String> = state
            .live
            .names(&key(namespace.unwrap_or_default(), value))
            .map(str::to_owned)
            .collect();
        names.sort();
        names
    }
}

/// The caches' objects by label: each profile's children by [`PROFILE_LABEL`], enactments
/// by the policy they report on. (A profile's VM and its instance carry the profile's name:
/// they are looked up by it.)
#[derive(Debug, Clone)]
pub struct Indexes {
    /// [`Stores::nads`](crate::Stores::nads) by profile.
    pub nads: Arc<LabelIndex>,
    /// [`Stores::secrets`](crate::Stores::secrets) by profile.
    pub secrets: Arc<LabelIndex>,
    /// [`Stores::claims`](crate::Stores::claims) by profile.
    pub claims: Arc<LabelIndex>,
    /// [`Stores::data_volumes`](crate::Stores::data_volumes) by profile.
    pub data_volumes: Arc<LabelIndex>,
    /// [`Stores::enactments`](crate::Stores::enactments) by policy name.
    pub enactments: Arc<LabelIndex>,
    /// [`Stores::snapshots`](crate::Stores::snapshots) by profile.
    pub snapshots: Arc<LabelIndex>,
}

impl Default for Indexes {
    fn default() -> Self {
        Indexes {
            nads: LabelIndex::new(PROFILE_LABEL),
            secrets: LabelIndex::new(PROFILE_LABEL),
            claims: LabelIndex::new(PROFILE_LABEL),
            data_volumes: LabelIndex::new(PROFILE_LABEL),
            enactments: LabelIndex::new(ENACTMENT_POLICY_LABEL),
            snapshots: LabelIndex::new(PROFILE_LABEL),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::api::core::v1::ConfigMap;

    use super::*;

    const LABEL: &str = "vmoperator.io/profile";

    fn object(namespace: &str, name: &str, profile: Option<&str>) -> ConfigMap {
        let mut object = ConfigMap::default();
        object.metadata.namespace = Some(namespace.into());
        object.metadata.name = Some(name.into());
        object.metadata.labels =
            profile.map(|p| BTreeMap::from([(LABEL.to_owned(), p.to_owned())]));
        object
    }

    #[test]
    fn files_by_namespace_and_label_and_follows_deletions() {
        let index = LabelIndex::new(LABEL);
        index.observe(&watcher::Event::Apply(object(
            "a",
            "web--mgmt",
            Some("web"),
        )));
        index.observe(&watcher::Event::Apply(object(
            "a",
            "web--data",
            Some("web"),
        )));
        index.observe(&watcher::Event::Apply(object(
            "b",
            "web--mgmt",
            Some("web"),
        )));
        index.observe(&watcher::Event::Apply(object("a", "unlabelled", None)));
        assert_eq!(index.names(Some("a"), "web"), ["web--data", "web--mgmt"]);
        assert_eq!(index.names(Some("b"), "web"), ["web--mgmt"]);
        // Repeated events file an object once; deletions unfile it.
        index.observe(&watcher::Event::Apply(object(
            "a",
            "web--data",
            Some("web"),
        )));
        assert_eq!(index.names(Some("a"), "web"), ["web--data", "web--mgmt"]);
        index.observe(&watcher::Event::Delete(object(
            "a",
            "web--mgmt",
            Some("web"),
        )));
        index.observe(&watcher::Event::Delete(object(
            "a",
            "web--data",
            Some("web"),
        )));
        assert!(index.names(Some("a"), "web").is_empty());
        assert_eq!(index.names(Some("b"), "web"), ["web--mgmt"]);
    }

    #[test]
    fn a_relist_replaces_everything_only_when_it_is_done() {
        let index = LabelIndex::new(LABEL);
        index.observe(&watcher::Event::Apply(object("a", "gone", Some("web"))));
        index.observe(&watcher::Event::<ConfigMap>::Init);
        index.observe(&watcher::Event::InitApply(object("a", "kept", Some("web"))));
        // Until the re-list is done, the old state answers.
        assert_eq!(index.names(Some("a"), "web"), ["gone"]);
        index.observe(&watcher::Event::<ConfigMap>::InitDone);
        assert_eq!(index.names(Some("a"), "web"), ["kept"]);
    }
}
