use async_trait::async_trait;

use crate::{
    context::{
        DesiredNetwork, DesiredVm, DesiredVolume, DiskConfig, NetworkConfig, ObservedNetwork,
        ObservedVolume, Readiness, TemplateInput, VolumeReadiness,
    },
    error::PluginError,
};

/// Serves one network type (`spec.networks[].type`): builds its NetworkAttachmentDefinition
/// and node configuration, and reads their readiness.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait NetworkPlugin: Send + Sync {
    /// Refuses a network this plugin cannot serve, naming the field.
    fn validate(&self, config: &NetworkConfig) -> Result<(), PluginError>;

    /// The objects this network needs. Must be deterministic: the same config gives the same
    /// objects, so repeated applies are no-ops.
    async fn build(&self, config: &NetworkConfig) -> Result<DesiredNetwork, PluginError>;

    /// Readiness from what exists.
    fn readiness(&self, desired: &DesiredNetwork, observed: &ObservedNetwork) -> Readiness;
}

/// Serves disks (`spec.disks[].backend`): builds a claim or DataVolume and reads its readiness.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait StorageBackend: Send + Sync {
    /// Refuses a disk this backend cannot serve, naming the field.
    fn validate(&self, config: &DiskConfig) -> Result<(), PluginError>;

    /// The object holding this disk. Deterministic, like [`NetworkPlugin::build`].
    async fn build(&self, config: &DiskConfig) -> Result<DesiredVolume, PluginError>;

    /// Readiness, phase and progress from what exists.
    fn readiness(&self, desired: &DesiredVolume, observed: &ObservedVolume) -> VolumeReadiness;

    /// StorageClass provisioners this backend serves by default: a blank disk that names no
    /// `backend` goes to the backend claiming its class's provisioner (see `docs/plugins.md`).
    /// Empty (the default) claims none.
    fn provisioners(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Builds the KubeVirt VirtualMachine of a profile (`spec.template`).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait VMTemplate: Send + Sync {
    /// Refuses a profile this template cannot build, naming the field.
    fn validate(&self, input: &TemplateInput) -> Result<(), PluginError>;

    /// The VirtualMachine and the Secrets it needs. Deterministic for the same input.
    async fn build(&self, input: &TemplateInput) -> Result<DesiredVm, PluginError>;
}
