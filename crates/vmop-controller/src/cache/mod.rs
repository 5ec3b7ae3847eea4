//! The watch caches and what feeds them: compact stores, trimming, label indexes, the
//! triggers a watch event sends, relisting after a failure, the watches' health, and the
//! claims restored from the caches at start.

pub(crate) mod admin_policy;
pub(crate) mod codec;
pub(crate) mod entries;
pub(crate) mod expiring;
pub(crate) mod index;
pub(crate) mod keyed;
pub(crate) mod named_secrets;
pub(crate) mod packed;
pub(crate) mod profile_triggers;
pub(crate) mod profiles;
pub(crate) mod queue;
pub(crate) mod relist;
pub(crate) mod seed;
pub(crate) mod stores;
pub(crate) mod tenant_secrets;
pub(crate) mod trim;
pub(crate) mod watch_health;
pub(crate) mod watches;
