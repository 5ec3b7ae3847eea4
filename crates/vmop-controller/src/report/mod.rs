//! What the operator says: the status computed from what it observed, phase transitions,
//! Events, and access hints.

pub(crate) mod access;
pub(crate) mod events;
pub(crate) mod status;
pub(crate) mod status_writes;
pub(crate) mod transitions;
pub(crate) mod verdict;
pub(crate) mod write;
