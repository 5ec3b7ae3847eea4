//! A packed cache's entries: each object's key and packed bytes in one allocation.
//!
//! A map from a boxed key to boxed bytes took two allocations an object and a 32-byte slot;
//! one block holding both, in a set hashed by the key, takes one and a 16-byte slot: about
//! 40 bytes less an object, 300 a profile of the seed shape (eight cached objects).

use std::collections::HashSet;

/// The key (`<namespace>/<name>`, which holds no NUL), a NUL, then the packed bytes.
#[derive(Debug, Clone)]
struct Entry(Box<[u8]>);

impl Entry {
    fn new(key: &str, packed: &[u8]) -> Self {
        let mut bytes = Vec::with_capacity(key.len() + 1 + packed.len());
        bytes.extend_from_slice(key.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(packed);
        Entry(bytes.into_boxed_slice())
    }

    fn split(&self) -> (&str, &[u8]) {
        let at = self.0.iter().position(|b| *b == 0).unwrap_or(self.0.len());
        let (key, rest) = self.0.split_at(at);
        // The key was a `str` up to the NUL `new` put after it.
        (
            std::str::from_utf8(key).unwrap_or_default(),
            rest.get(1..).unwrap_or_default(),
        )
    }

    fn key(&self) -> &str {
        self.split().0
    }
}

crate::cache::keyed::hashed_by_key!(Entry);

/// Packed objects by key.
#[derive(Debug, Clone, Default)]
pub(crate) struct Objects(HashSet<Entry>);

impl Objects {
    /// The packed bytes held for `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&[u8]> {
        self.0.get(key).map(|entry| entry.split().1)
    }

    pub(crate) fn contains_key(&self, key: &str) -> bool {
        self.0.contains(key)
    }

    /// Holds `packed` for `key`, replacing what was held.
    pub(crate) fn insert(&mut self, key: &str, packed: &[u8]) {
        self.0.replace(Entry::new(key, packed));
    }

    pub(crate) fn remove(&mut self, key: &str) {
        self.0.remove(key);
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn shrink_to_fit(&mut self) {
        self.0.shrink_to_fit();
    }

    /// Every key and its packed bytes.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.0.iter().map(Entry::split)
    }

    /// Replaces every entry's bytes with what `change` makes of them; an entry it makes
    /// nothing of is dropped.
    pub(crate) fn rewrite(&mut self, mut change: impl FnMut(&str, &[u8]) -> Option<Box<[u8]>>) {
        self.0 = self
            .0
            .drain()
            .filter_map(|entry| {
                let (key, packed) = entry.split();
                change(key, packed).map(|changed| Entry::new(key, &changed))
            })
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_found_by_its_key_and_replaced_whole() {
        let mut objects = Objects::default();
        objects.insert("team-a/web", &[0, 1, 2, 0]);
        objects.insert("team-a/db", b"db");
        objects.insert("/cluster-scoped", b"");
        assert_eq!(objects.get("team-a/web"), Some(&[0, 1, 2, 0][..]));
        assert_eq!(objects.get("/cluster-scoped"), Some(&b""[..]));
        assert_eq!(objects.get("team-a/we"), None);
        objects.insert("team-a/web", b"new");
        assert_eq!(objects.get("team-a/web"), Some(&b"new"[..]));
        assert_eq!(objects.len(), 3);
        objects.rewrite(|key, packed| (key != "team-a/db").then(|| [packed, b"!"].concat().into()));
        assert_eq!(objects.get("team-a/web"), Some(&b"new!"[..]));
        assert!(!objects.contains_key("team-a/db"));
        objects.remove("team-a/web");
        let left: Vec<_> = objects.iter().collect();
        assert_eq!(left, vec![("/cluster-scoped", &b"!"[..])]);
    }
}
