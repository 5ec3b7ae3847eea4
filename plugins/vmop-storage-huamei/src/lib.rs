//! The `huamei-csi` storage backend: a blank PersistentVolumeClaim on Huamei CSI storage for
//! every disk without an image or source. With high availability the claim is ReadWriteMany
//! (Block where the class prefers it), so the VM can live-migrate. Ready when Bound.

use vmop_plugin::{
    DesiredVolume, DiskConfig, ObservedVolume, PluginError, StorageBackend, VolumeReadiness,
    async_trait,
    objects::{self, require_live_migratable, volume_mode},
    readiness::claim_readiness,
    register_storage_backend,
};

/// The name users select this backend by.
pub const NAME: &str = "huamei-csi";
/// The Huamei CSI driver's provisioner.
pub const PROVISIONER: &str = "csi.huamei.com";

register_storage_backend!(NAME, HuameiBackend);

/// Keeps this crate's registration in a binary that names nothing else from it.
#[inline(never)]
pub fn link() -> &'static str {
    NAME
}

/// Blank claims on Huamei CSI storage.
#[derive(Debug, Default)]
pub struct HuameiBackend;

#[async_trait]
impl StorageBackend for HuameiBackend {
    fn validate(&self, config: &DiskConfig) -> Result<(), PluginError> {
        objects::require_blank(config, "huamei-csi")?;
        if let Some(class) = config
            .storage_class
            .as_ref()
            .filter(|c| c.provisioner != PROVISIONER)
        {
            return Err(PluginError::invalid(
                config.field_path("storageClassName"),
                format!(
                    "StorageClass {} is served by {}, not Huamei CSI ({PROVISIONER})",
                    class.name, class.provisioner
                ),
            ));
        }
        if config.high_availability {
            require_live_migratable(config)?;
            let prefers_block = config
                .storage_class
                .as_ref()
                .and_then(|c| c.parameters.get("volumeMode"))
                .is_some_and(|m| m == "Block");
            if prefers_block && volume_mode(config).as_deref() == Some("Filesystem") {
                return Err(PluginError::invalid(
                    config.field_path("volumeMode"),
                    "this Huamei class shares volumes between nodes only in Block mode: live migration needs volumeMode Block",
                ));
            }
        }
        Ok(())
    }

    async fn build(&self, config: &DiskConfig) -> Result<DesiredVolume, PluginError> {
        self.validate(config)?;
        Ok(objects::blank_claim(config))
    }

    fn readiness(&self, desired: &DesiredVolume, observed: &ObservedVolume) -> VolumeReadiness {
        claim_readiness(desired.attachment.source.name(), observed)
    }

    fn provisioners(&self) -> Vec<String> {
        vec![PROVISIONER.to_owned()]
    }
}
