//! How a packed cache stores an object: its JSON compressed with zstd against a dictionary,
//! the JSON of an object of the same kind. Objects of one kind share most of their keys and
//! many values; alone, a small one compresses to about half its JSON at level 1, against a
//! sibling in the same state to about a sixth (the bench's DataVolumes, VMs and profiles).
//!
//! Which sibling matters: against one just created (no status yet) a profile of the seed
//! shape packs to 778 bytes, against one Running to 174. So a cache takes a new dictionary
//! when it meets an object much richer than its dictionary (see [`Dictionary::outgrown_by`])
//! and packs its entries again, which is rare and, counted against the events since the last
//! time, amortised.

use std::{cell::RefCell, sync::Arc};

/// zstd's fastest level: the objects are small, and every update compresses one.
const LEVEL: i32 = 1;

/// The most of an object's JSON a cache keeps as its dictionary.
pub(crate) const DICTIONARY_LIMIT: usize = 8 * 1024;

/// A dictionary is replaced only by an object this much longer (in eighths: 9/8), so a
/// cache changes dictionary a bounded number of times (at most about 40 from 100 bytes to
/// the limit) and not at every object a little longer than the last.
const RICHER_IN_EIGHTHS: usize = 9;

thread_local! {
    // zstd contexts are worth reusing: each call would otherwise allocate its own.
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

/// The JSON (at most [`DICTIONARY_LIMIT`] bytes of it) every entry of a cache is compressed
/// against. Empty until the cache's first object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Dictionary(Arc<[u8]>);

impl Dictionary {
    /// The dictionary `json` would give.
    pub(crate) fn of(json: &[u8]) -> Self {
        Dictionary(json[..json.len().min(DICTIONARY_LIMIT)].into())
    }

    /// Whether `json` would make a dictionary enough richer than this one to pack the cache
    /// again: longer by an eighth (an object further along, with its status filled in).
    pub(crate) fn outgrown_by(&self, json: &[u8]) -> bool {
        json.len().min(DICTIONARY_LIMIT) * 8 >= self.0.len() * RICHER_IN_EIGHTHS
            && json.len().min(DICTIONARY_LIMIT) > self.0.len()
    }

    /// Its length in bytes.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

/// The JSON's length (4 bytes, little-endian), then the JSON compressed against `dictionary`.
pub(crate) fn compress(json: &[u8], dictionary: &Dictionary) -> std::io::Result<Box<[u8]>> {
    let length = u32::try_from(json.len())
        .map_err(|_| std::io::Error::other("an object of 4 GiB or more"))?;
    COMPRESSOR.with(|cell| {
        let mut cell = cell.borrow_mut();
        let compressor = match cell.as_mut() {
            Some(compressor) => compressor,
            None => cell.insert(zstd::bulk::Compressor::new(LEVEL)?),
        };
        // Every cache has its own; loading one copies a few KiB.
        compressor.set_dictionary(LEVEL, &dictionary.0)?;
        let mut packed = length.to_le_bytes().to_vec();
        packed.extend(compressor.compress(json)?);
        Ok(packed.into_boxed_slice())
    })
}

/// The JSON of an entry [`compress`] made against the same `dictionary`.
pub(crate) fn decompress(packed: &[u8], dictionary: &Dictionary) -> std::io::Result<Vec<u8>> {
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
        decompressor.set_dictionary(&dictionary.0)?;
        decompressor.decompress(frame, length)
    })
}

/// `packed`, compressed against `to` instead of `from`.
pub(crate) fn repack(
    packed: &[u8],
    from: &Dictionary,
    to: &Dictionary,
) -> std::io::Result<Box<[u8]>> {
    compress(&decompress(packed, from)?, to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dictionary_is_outgrown_only_by_a_quarter_more_up_to_the_limit() {
        let empty = Dictionary::default();
        assert!(
            empty.outgrown_by(b"{}"),
            "the first object makes the first dictionary"
        );
        let small = Dictionary::of(&[b'x'; 400]);
        assert!(!small.outgrown_by(&[b'x'; 449]));
        assert!(small.outgrown_by(&[b'x'; 450]));
        let full = Dictionary::of(&vec![b'x'; 50_000]);
        assert_eq!(full.len(), DICTIONARY_LIMIT);
        assert!(
            !full.outgrown_by(&vec![b'y'; 50_000]),
            "a full dictionary stays"
        );
    }

    #[test]
    fn an_entry_repacked_against_another_dictionary_decodes_to_the_same_json() {
        let (first, second) = (
            Dictionary::of(b"{\"a\":1}"),
            Dictionary::of(b"{\"a\":2,\"b\":3}"),
        );
        let json = br#"{"a":2,"b":3,"c":4}"#;
        let packed = compress(json, &first).expect("compresses");
        let repacked = repack(&packed, &first, &second).expect("repacks");
        assert_eq!(decompress(&repacked, &second).expect("decompresses"), json);
    }
}
