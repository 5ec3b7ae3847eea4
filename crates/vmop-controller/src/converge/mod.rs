//! Making the cluster match the plan: server-side apply of each child, the three managers
//! (networks, storage, the VM), network policies, and cleanup of what is no longer wanted.

pub(crate) mod apply;
pub(crate) mod catalog_images;
pub(crate) mod cleanup;
pub(crate) mod created;
pub(crate) mod credentials;
pub(crate) mod network;
pub(crate) mod network_policy;
pub(crate) mod node_policy_gate;
pub(crate) mod storage;
pub(crate) mod vm;
