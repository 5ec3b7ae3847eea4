//! A map whose entries matter only while they are young: each is stamped when set, reads
//! ignore entries older than the map's `keep`, and old entries are pruned as the map grows, so
//! it holds what was set lately (after a mass creation, the last minute's), not everything
//! ever set.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

/// Entries kept at least, whatever their age: below this, pruning is not worth a pass.
const PRUNE_FLOOR: usize = 64;

/// Entries set within `keep`, each with the time it was set.
#[derive(Debug)]
pub(crate) struct Expiring<K, V> {
    entries: Mutex<Entries<K, V>>,
    keep: Duration,
}

#[derive(Debug)]
struct Entries<K, V> {
    map: HashMap<K, (Instant, V)>,
    /// The map's length at which it is pruned next: twice what the last prune left, so each
    /// insertion pays for pruning a constant share (amortised).
    prune_at: usize,
}

impl<K: Hash + Eq, V> Expiring<K, V> {
    /// Remembers entries for `keep`.
    pub(crate) fn keeping(keep: Duration) -> Self {
        Expiring {
            entries: Mutex::new(Entries {
                map: HashMap::new(),
                prune_at: PRUNE_FLOOR,
            }),
            keep,
        }
    }

    /// How long entries are remembered.
    pub(crate) fn keep(&self) -> Duration {
        self.keep
    }

    fn lock(&self) -> MutexGuard<'_, Entries<K, V>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What `read` makes of the entry for `key` and its age, if it was set within `keep`.
    pub(crate) fn read<T>(&self, key: &K, read: impl FnOnce(Duration, &V) -> T) -> Option<T> {
        let entries = self.lock();
        let (at, value) = entries.map.get(key)?;
        let age = at.elapsed();
        (age < self.keep).then(|| read(age, value))
    }

    /// Sets the entry for `key` now; `update` makes its value from the previous one (if
    /// still remembered).
    pub(crate) fn set(&self, key: K, update: impl FnOnce(Option<&V>) -> V) {
        self.set_at(key, Instant::now(), update);
    }

    /// [`Expiring::set`] as of `at`.
    pub(crate) fn set_at(&self, key: K, at: Instant, update: impl FnOnce(Option<&V>) -> V) {
        let keep = self.keep;
        let mut entries = self.lock();
        let previous = entries
            .map
            .get(&key)
            .filter(|(at, _)| at.elapsed() < keep)
            .map(|(_, value)| value);
        let value = update(previous);
        entries.map.insert(key, (at, value));
        if entries.map.len() >= entries.prune_at {
            entries.map.retain(|_, (at, _)| at.elapsed() < keep);
            if entries.map.len() < entries.map.capacity() / 4 {
                entries.map.shrink_to_fit();
            }
            entries.prune_at = (entries.map.len() * 2).max(PRUNE_FLOOR);
        }
    }

    /// Forgets `key`.
    pub(crate) fn remove(&self, key: &K) {
        self.lock().map.remove(key);
    }

    /// How many entries are held (some may be older than `keep`, until the next prune).
    pub(crate) fn len(&self) -> usize {
        self.lock().map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_older_than_kept_are_pruned_as_the_map_grows() {
        let forgetful = Expiring::keeping(Duration::ZERO);
        for i in 0..1_000 {
            forgetful.set(i, |_| ());
        }
        assert!(
            forgetful.len() < PRUNE_FLOOR,
            "{} entries held, none of them within the kept interval",
            forgetful.len()
        );
        assert_eq!(forgetful.read(&999, |_, ()| ()), None);
    }

    #[test]
    fn entries_within_kept_are_all_read_and_updated_from_the_previous_value() {
        let counts = Expiring::keeping(Duration::from_secs(3600));
        for i in 0..1_000 {
            counts.set(i, |_| 1);
        }
        counts.set(7, |previous| previous.copied().unwrap_or_default() + 1);
        assert_eq!(counts.len(), 1_000);
        assert_eq!(counts.read(&7, |_, count| *count), Some(2));
        assert!((0..1_000).all(|i| counts.read(&i, |age, _| age < counts.keep()) == Some(true)));
        assert_eq!(counts.read(&1_000, |_, count| *count), None);
        counts.remove(&0);
        assert_eq!(counts.read(&0, |_, count| *count), None);
    }
}
