//! The `pvc` storage backend: a blank PersistentVolumeClaim on any StorageClass that no more
//! specific backend claims — k3s's `local-path`, Longhorn, Ceph RBD, NFS. It is what a blank
//! disk without `backend` gets unless its class's provisioner belongs to another backend
//! (`csi.huamei.com` to `huamei-csi`).
//!
//! The claim names the disk's `storageClassName` when given; without one it names no class,
//! so the API server's DefaultStorageClass admission gives it the cluster's default, exactly
//! as for a hand-written claim. Ready when Bound; on a WaitForFirstConsumer class a Pending
//! claim waits for the VM, which is created and becomes its consumer.

use vmop_plugin::{
    DesiredVolume, DiskConfig, ObservedVolume, PluginError, StorageBackend, VolumeReadiness,
    async_trait,
    objects::{self, require_live_migratable},
    readiness::claim_readiness,
    register_storage_backend,
};

/// The name users select this backend by, and the fallback for blank disks.
pub const NAME: &str = "pvc";

register_storage_backend!(NAME, PvcBackend);

/// Keeps this crate's registration in a binary that names nothing else from it.
#[inline(never)]
pub fn link() -> &'static str {
    NAME
}

/// Blank claims on any StorageClass.
#[derive(Debug, Default)]
pub struct PvcBackend;

#[async_trait]
impl StorageBackend for PvcBackend {
    fn validate(&self, config: &DiskConfig) -> Result<(), PluginError> {
        objects::require_blank(config, "the pvc backend")?;
        require_live_migratable(config)
    }

    async fn build(&self, config: &DiskConfig) -> Result<DesiredVolume, PluginError> {
        self.validate(config)?;
        Ok(objects::blank_claim(config))
    }

    fn readiness(&self, desired: &DesiredVolume, observed: &ObservedVolume) -> VolumeReadiness {
        claim_readiness(desired.attachment.source.name(), observed)
    }
}
