//! Two third-party plugins, as a plugin author would write them:
//!
//! - [`MacvlanPlugin`] (`type: macvlan`): a NetworkAttachmentDefinition of CNI type `macvlan`
//!   on the node interface the network names;
//! - [`LocalPathBackend`] (`backend: local-path`): a plain claim on the `local-path` class.
//!
//! Each is registered with one macro line. A binary that embeds them calls [`link`] (or uses
//! any other item of this crate) so that the linker keeps the registrations.

use vmop_plugin::{
    DesiredNetwork, DesiredVolume, DiskConfig, InterfaceBinding, NetworkAttachment, NetworkConfig,
    NetworkPlugin, ObservedNetwork, ObservedVolume, PluginError, Readiness, StorageBackend,
    VolumeAttachment, VolumeObject, VolumeReadiness, VolumeSourceRef, async_trait,
    register_network_plugin, register_storage_backend,
    vmop_api::{
        external::multus::{NetworkAttachmentDefinition, NetworkAttachmentDefinitionSpec},
        k8s_openapi::{
            api::core::v1::{PersistentVolumeClaim, PersistentVolumeClaimSpec},
            apimachinery::pkg::apis::meta::v1::ObjectMeta,
        },
    },
};

/// Name of [`MacvlanPlugin`] in `spec.networks[].type`.
pub const MACVLAN: &str = "macvlan";
/// Name of [`LocalPathBackend`] in `spec.disks[].backend`.
pub const LOCAL_PATH: &str = "local-path";

register_network_plugin!(MACVLAN, MacvlanPlugin);
register_storage_backend!(LOCAL_PATH, LocalPathBackend);

/// Keeps this crate's registrations in a binary that otherwise names nothing from it.
#[inline(never)]
pub fn link() -> [&'static str; 2] {
    [MACVLAN, LOCAL_PATH]
}

/// A macvlan secondary network on the node interface `nodeInterface`.
#[derive(Debug, Default)]
pub struct MacvlanPlugin;

#[async_trait]
impl NetworkPlugin for MacvlanPlugin {
    fn validate(&self, config: &NetworkConfig) -> Result<(), PluginError> {
        if config.network.node_interface.is_none() {
            return Err(PluginError::invalid(
                config.field_path("nodeInterface"),
                "macvlan needs the node interface it attaches to",
            ));
        }
        Ok(())
    }

    async fn build(&self, config: &NetworkConfig) -> Result<DesiredNetwork, PluginError> {
        self.validate(config)?;
        // The helper keeps names unambiguous: `<profile>--<entry>`.
        let name = vmop_plugin::names::child_name(&config.profile.name, &config.network.name);
        let cni = serde_json::json!({
            "cniVersion": "0.3.1",
            "type": "macvlan",
            "master": config.network.node_interface,
            "mode": "bridge",
            "ipam": {},
        });
        let nad = NetworkAttachmentDefinition {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(config.profile.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: NetworkAttachmentDefinitionSpec {
                config: Some(cni.to_string()),
                ..Default::default()
            },
        };
        Ok(DesiredNetwork {
            nad: Some(nad),
            policies: Vec::new(),
            attachment: NetworkAttachment {
                name: config.network.name.clone(),
                nad: format!("{}/{name}", config.profile.namespace),
                // KubeVirt has no macvlan binding of its own; the bridge binding works on it.
                binding: InterfaceBinding::Bridge,
                node_selector: None,
            },
        })
    }

    fn readiness(&self, _desired: &DesiredNetwork, observed: &ObservedNetwork) -> Readiness {
        match observed.nad {
            Some(_) => Readiness::Ready,
            None => Readiness::InProgress {
                reason: "NetworkAttachmentDefinitionMissing".into(),
                message: "waiting for the NetworkAttachmentDefinition".into(),
            },
        }
    }
}

/// A blank claim on the `local-path` StorageClass; node-local, so never for HA profiles.
#[derive(Debug, Default)]
pub struct LocalPathBackend;

#[async_trait]
impl StorageBackend for LocalPathBackend {
    fn validate(&self, config: &DiskConfig) -> Result<(), PluginError> {
        if config.high_availability {
            return Err(PluginError::invalid(
                config.field_path("backend"),
                "local-path volumes are node-local and cannot live-migrate; use a ReadWriteMany backend with highAvailability",
            ));
        }
        if config.disk.image.is_some() || config.disk.source.is_some() {
            return Err(PluginError::invalid(
                config.field_path("image"),
                "local-path creates blank disks only",
            ));
        }
        Ok(())
    }

    async fn build(&self, config: &DiskConfig) -> Result<DesiredVolume, PluginError> {
        self.validate(config)?;
        let name = vmop_plugin::names::child_name(&config.profile.name, &config.disk.name);
        let claim = PersistentVolumeClaim {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(config.profile.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(PersistentVolumeClaimSpec {
                access_modes: Some(vec!["ReadWriteOnce".into()]),
                storage_class_name: Some(LOCAL_PATH.into()),
                resources: Some(vmop_plugin::objects::storage_request(config)),
                ..PersistentVolumeClaimSpec::default()
            }),
            status: None,
        };
        Ok(DesiredVolume {
            object: VolumeObject::Claim(Box::new(claim)),
            attachment: VolumeAttachment {
                name: config.disk.name.clone(),
                source: VolumeSourceRef::Claim(name),
                boot_order: config.disk.boot_order,
            },
        })
    }

    fn readiness(&self, desired: &DesiredVolume, observed: &ObservedVolume) -> VolumeReadiness {
        // local-path binds on first consumer: the shared rule reports such a claim as
        // waiting for the VM, which lets the controller create the VM.
        vmop_plugin::readiness::claim_readiness(desired.attachment.source.name(), observed)
    }
}
