//! Sets that serve as maps: an entry holding its key and its value in one allocation is
//! hashed and compared by its key alone, so a `HashSet` of it is looked up by the key's `str`
//! (see `entries.rs` and `index.rs`).

/// Implements `Hash`, `PartialEq`, `Eq` and `Borrow<str>` for `$entry` by its
/// `fn key(&self) -> &str`.
macro_rules! hashed_by_key {
    ($entry:ty) => {
        impl std::hash::Hash for $entry {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                self.key().hash(state);
            }
        }

        impl PartialEq for $entry {
            fn eq(&self, other: &Self) -> bool {
                self.key() == other.key()
            }
        }

        impl Eq for $entry {}

        impl std::borrow::Borrow<str> for $entry {
            fn borrow(&self) -> &str {
                self.key()
            }
        }
    };
}

pub(crate) use hashed_by_key;
