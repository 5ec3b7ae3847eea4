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
///
/// # Example
///
/// A `host-bridge` type that attaches VMs to a bridge every node already has: one NAD, no node
/// configuration. Pure: it builds objects and reads readiness from what the managers observed.
///
/// ```
/// use serde_json::json;
/// use vmop_plugin::{
///     DesiredNetwork, InterfaceBinding, NetworkAttachment, NetworkConfig, NetworkPlugin,
///     ObservedNetwork, PluginError, ProfileRef, Readiness, async_trait, objects, readiness,
///     vmop_api::NetworkSpec,
/// };
///
/// struct HostBridge;
///
/// #[async_trait]
/// impl NetworkPlugin for HostBridge {
///     fn validate(&self, config: &NetworkConfig) -> Result<(), PluginError> {
///         match &config.network.bridge {
///             Some(_) => Ok(()),
///             None => Err(PluginError::invalid(config.field_path("bridge"), "name the host bridge")),
///         }
///     }
///
///     async fn build(&self, config: &NetworkConfig) -> Result<DesiredNetwork, PluginError> {
///         self.validate(config)?;
///         let cni = json!({
///             "cniVersion": "0.3.1",
///             "type": "bridge",
///             "bridge": config.network.bridge,
///             "ipam": objects::ipam(&config.network),
///         });
///         let bridge = config.network.bridge.clone().unwrap_or_default();
///         let nad = objects::nad(config, &cni, &format!("bridge.network.kubevirt.io/{bridge}"));
///         Ok(DesiredNetwork {
///             attachment: NetworkAttachment {
///                 name: config.network.name.clone(),
///                 nad: objects::qualified(&config.profile.namespace, &objects::nad_name(config)),
///                 binding: InterfaceBinding::Bridge,
///                 node_selector: None,
///             },
///             nad: Some(nad),
///             policies: Vec::new(),
///         })
///     }
///
///     fn readiness(&self, desired: &DesiredNetwork, observed: &ObservedNetwork) -> Readiness {
///         readiness::nad_readiness(observed, &desired.attachment.nad, true)
///     }
/// }
///
/// let config = NetworkConfig {
///     profile: ProfileRef { name: "web".into(), namespace: "team-a".into(), labels: Default::default() },
///     index: 0,
///     network: NetworkSpec { name: "lan".into(), bridge: Some("br0".into()), ..NetworkSpec::default() },
/// };
/// let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let desired = runtime.block_on(HostBridge.build(&config)).unwrap();
/// assert_eq!(desired.attachment.nad, "team-a/web--lan");
/// // Deterministic: the same config gives the same objects, so applies are no-ops.
/// assert_eq!(runtime.block_on(HostBridge.build(&config)).unwrap(), desired);
/// // Ready once the NAD exists.
/// let observed = ObservedNetwork { nad: desired.nad.clone(), policies: vec![] };
/// assert_eq!(HostBridge.readiness(&desired, &observed), Readiness::Ready);
/// // A missing field is refused with its path.
/// let mut bad = config.clone();
/// bad.network.bridge = None;
/// assert!(HostBridge.validate(&bad).unwrap_err().to_string().contains("spec.networks[0].bridge"));
/// ```
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
///
/// # Example
///
/// A backend for blank disks on any CSI class: the shared helpers build the claim (name,
/// labels, access and volume modes, size) and read its readiness.
///
/// ```
/// use vmop_plugin::{
///     DesiredVolume, DiskConfig, ObservedVolume, PluginError, ProfileRef, Readiness,
///     StorageBackend, VolumeObject, VolumeReadiness, async_trait, objects, readiness,
///     vmop_api::DiskSpec,
/// };
///
/// struct BlankDisks;
///
/// #[async_trait]
/// impl StorageBackend for BlankDisks {
///     fn validate(&self, config: &DiskConfig) -> Result<(), PluginError> {
///         if config.disk.image.is_some() {
///             return Err(PluginError::invalid(config.field_path("image"), "this backend makes blank disks"));
///         }
///         objects::require_live_migratable(config)
///     }
///
///     async fn build(&self, config: &DiskConfig) -> Result<DesiredVolume, PluginError> {
///         self.validate(config)?;
///         Ok(objects::blank_claim(config))
///     }
///
///     fn readiness(&self, desired: &DesiredVolume, observed: &ObservedVolume) -> VolumeReadiness {
///         readiness::claim_readiness(&desired.attachment.name, observed)
///     }
/// }
///
/// let config = DiskConfig {
///     profile: ProfileRef { name: "web".into(), namespace: "team-a".into(), labels: Default::default() },
///     index: 1,
///     disk: DiskSpec { name: "data".into(), size: "20Gi".into(), ..DiskSpec::default() },
///     high_availability: false,
///     storage_class: None,
/// };
/// let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let desired = runtime.block_on(BlankDisks.build(&config)).unwrap();
/// let VolumeObject::Claim(claim) = &desired.object else { panic!("a claim") };
/// assert_eq!(claim.metadata.name.as_deref(), Some("web--data"));
/// // Nothing observed yet: not ready, and no action needed.
/// let waiting = BlankDisks.readiness(&desired, &ObservedVolume::default());
/// assert!(!matches!(waiting.readiness, Readiness::Ready));
/// ```
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
///
/// # Example
///
/// A template that builds a minimal VM (no disks, no networks beyond the pod network) named
/// like the profile; the bundled `cloud-init` template shows the whole job.
///
/// ```
/// use vmop_plugin::{
///     DesiredVm, PluginError, TemplateInput, VMTemplate, async_trait,
///     vmop_api::{external::kubevirt::{VirtualMachine, VirtualMachineSpec}, fixtures::valid_profile},
/// };
///
/// struct Minimal;
///
/// #[async_trait]
/// impl VMTemplate for Minimal {
///     fn validate(&self, input: &TemplateInput) -> Result<(), PluginError> {
///         if input.profile.spec.disks.is_empty() {
///             return Err(PluginError::invalid("spec.disks", "a VM needs a boot disk"));
///         }
///         Ok(())
///     }
///
///     async fn build(&self, input: &TemplateInput) -> Result<DesiredVm, PluginError> {
///         self.validate(input)?;
///         let name = input.profile.metadata.name.clone().unwrap_or_default();
///         let mut vm = VirtualMachine::new(&name, VirtualMachineSpec {
///             run_strategy: Some("Always".into()),
///             ..VirtualMachineSpec::default()
///         });
///         vm.metadata.namespace = input.profile.metadata.namespace.clone();
///         Ok(DesiredVm { vm, secrets: Vec::new(), macs: input.macs.clone() })
///     }
/// }
///
/// let input = TemplateInput {
///     profile: valid_profile("web"),
///     networks: Vec::new(),
///     volumes: Vec::new(),
///     macs: Default::default(),
///     user_data: None,
/// };
/// let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let desired = runtime.block_on(Minimal.build(&input)).unwrap();
/// assert_eq!(desired.vm.metadata.name.as_deref(), Some("web"));
/// ```
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait VMTemplate: Send + Sync {
    /// Refuses a profile this template cannot build, naming the field.
    fn validate(&self, input: &TemplateInput) -> Result<(), PluginError>;

    /// The VirtualMachine and the Secrets it needs. Deterministic for the same input.
    async fn build(&self, input: &TemplateInput) -> Result<DesiredVm, PluginError>;
}
