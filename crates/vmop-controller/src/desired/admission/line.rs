//! The line itself: what holds a place, what waits, in which order, and whose reconcile an
//! item wakes. Pure bookkeeping in ordered maps, so no step grows with the number of profiles
//! outside the line.

use std::collections::{BTreeMap, BTreeSet};

use crate::desired::claims::ProfileKey;

/// An item's place among those waiting in its namespace: creation time (seconds), then name.
pub(crate) type Order = (i64, String);

/// Items holding a place, items waiting, and the profile each belongs to.
///
/// An item is a profile's VM (start line) or one of its DataVolumes (import line); it is
/// keyed by namespace and its own name, and wakes its profile.
#[derive(Debug, Default)]
pub(super) struct Line {
    /// Items under way (a VM starting, an import running).
    pub(super) starting: BTreeSet<ProfileKey>,
    /// Under way per namespace.
    pub(super) starting_in: BTreeMap<String, usize>,
    /// Waiting items by namespace, in order.
    pub(super) waiting: BTreeMap<String, BTreeSet<Order>>,
    /// The namespace admitted last: the turn goes to the next one.
    pub(super) last_turn: Option<String>,
    /// The profile of each item in the line whose name is not the profile's own.
    owners: BTreeMap<ProfileKey, String>,
    /// The items of each such profile, to free them all when it goes.
    items_of: BTreeMap<ProfileKey, BTreeSet<String>>,
}

impl Line {
    /// Namespaces in turn order: those after the last admitted one, then from the start.
    fn turns(&self) -> impl Iterator<Item = &String> {
        let after = self.last_turn.clone();
        let (later, earlier): (Vec<&String>, Vec<&String>) = self
            .waiting
            .keys()
            .partition(|ns| after.as_ref().is_none_or(|last| *ns > last));
        later.into_iter().chain(earlier)
    }

    /// The next item to admit, if the caps allow one: the turn's namespace's oldest, passing
    /// over namespaces at their cap.
    pub(super) fn next(
        &self,
        cap: Option<usize>,
        ns_cap: &dyn Fn(&str) -> Option<usize>,
    ) -> Option<ProfileKey> {
        if cap.is_some_and(|cap| self.starting.len() >= cap) {
            return None;
        }
        self.turns().find_map(|ns| {
            let busy = self.starting_in.get(ns).copied().unwrap_or(0);
            if ns_cap(ns).is_some_and(|cap| busy >= cap) {
                return None;
            }
            let (_, name) = self.waiting.get(ns)?.first()?;
            Some(ProfileKey {
                namespace: ns.clone(),
                name: name.clone(),
            })
        })
    }

    /// Place of `key` (waiting with `order`) in the fair line: those ahead of it in its own
    /// namespace, and in every other namespace as many as take a turn before it does.
    pub(super) fn place(&self, key: &ProfileKey, order: &Order) -> usize {
        let rank = self
            .waiting
            .get(&key.namespace)
            .map_or(0, |w| w.range(..order.clone()).count());
        let turns: Vec<&String> = self.turns().collect();
        let mine = turns
            .iter()
            .position(|ns| **ns == key.namespace)
            .unwrap_or(0);
        let others: usize = turns
            .iter()
            .enumerate()
            .filter(|(_, ns)| ***ns != key.namespace)
            .map(|(i, ns)| {
                let len = self.waiting.get(*ns).map_or(0, BTreeSet::len);
                len.min(rank + usize::from(i < mine))
            })
            .sum();
        1 + rank + others
    }

    /// Records that `key` belongs to the profile `owner` of its namespace.
    pub(super) fn own(&mut self, key: &ProfileKey, owner: &str) {
        if key.name == owner {
            return;
        }
        self.owners.insert(key.clone(), owner.to_owned());
        let profile = ProfileKey {
            namespace: key.namespace.clone(),
            name: owner.to_owned(),
        };
        self.items_of
            .entry(profile)
            .or_default()
            .insert(key.name.clone());
    }

    /// The profile `key` wakes.
    pub(super) fn owner_of(&self, key: &ProfileKey) -> ProfileKey {
        ProfileKey {
            namespace: key.namespace.clone(),
            name: self.owners.get(key).unwrap_or(&key.name).clone(),
        }
    }

    /// The items of the profile `profile` (its own key where it is the item).
    pub(super) fn items_of(&self, profile: &ProfileKey) -> Vec<ProfileKey> {
        let mut items = vec![profile.clone()];
        items.extend(
            self.items_of
                .get(profile)
                .into_iter()
                .flatten()
                .map(|name| ProfileKey {
                    namespace: profile.namespace.clone(),
                    name: name.clone(),
                }),
        );
        items
    }

    /// Takes `key` out of the owner records.
    fn disown(&mut self, key: &ProfileKey) {
        let Some(owner) = self.owners.remove(key) else {
            return;
        };
        let profile = ProfileKey {
            namespace: key.namespace.clone(),
            name: owner,
        };
        if let Some(items) = self.items_of.get_mut(&profile) {
            items.remove(&key.name);
            if items.is_empty() {
                self.items_of.remove(&profile);
            }
        }
    }

    /// Moves `key` from waiting to under way.
    pub(super) fn admit(&mut self, key: &ProfileKey, order: &Order) {
        if let Some(waiting) = self.waiting.get_mut(&key.namespace) {
            waiting.remove(order);
            if waiting.is_empty() {
                self.waiting.remove(&key.namespace);
            }
        }
        self.hold(key);
        self.last_turn = Some(key.namespace.clone());
    }

    /// Counts `key` as under way.
    pub(super) fn hold(&mut self, key: &ProfileKey) {
        if self.starting.insert(key.clone()) {
            *self.starting_in.entry(key.namespace.clone()).or_default() += 1;
        }
    }

    /// Whether `key` waits.
    pub(super) fn is_waiting(&self, key: &ProfileKey) -> bool {
        self.waiting
            .get(&key.namespace)
            .is_some_and(|w| w.iter().any(|(_, n)| *n == key.name))
    }

    /// Takes `key` out of the line altogether; whether it was in it.
    pub(super) fn remove(&mut self, key: &ProfileKey) -> bool {
        let was_waiting = self.is_waiting(key);
        if let Some(waiting) = self.waiting.get_mut(&key.namespace) {
            waiting.retain(|(_, name)| *name != key.name);
            if waiting.is_empty() {
                self.waiting.remove(&key.namespace);
            }
        }
        let was_starting = self.starting.remove(key);
        if was_starting && let Some(count) = self.starting_in.get_mut(&key.namespace) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.starting_in.remove(&key.namespace);
            }
        }
        self.disown(key);
        was_waiting || was_starting
    }
}
