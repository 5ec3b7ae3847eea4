//! What a profile wants, computed purely from its spec, the caches and the administrator's
//! policy: the plan through the plugin registries, what it holds in common with other profiles
//! (claims), sizing, storage classes, what may change of a disk, image hosts, isolation.

pub(crate) mod admin_policy;
pub(crate) mod admission;
pub(crate) mod claims;
pub(crate) mod classes;
pub(crate) mod disk_changes;
pub(crate) mod image_hosts;
pub(crate) mod isolation;
pub(crate) mod plan;
pub(crate) mod quota;
pub(crate) mod quota_caches;
pub(crate) mod sizing;
pub(crate) mod wants;
