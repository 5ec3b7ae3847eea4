//! Embedding vm-operator in a controller of your own: a `Lab` (training.example.com/v1) stands
//! up one VM per seat for a training session from a profile template, and tears them down at
//! its expiry time. The same process runs `vmop-controller` with a plugin registry of its own
//! (the bundled bridge, cdi, pvc and cloud-init plugins plus the third-party macvlan one), so
//! no `vm-operator` binary is involved: [`run`] is all a `main` needs.

mod lab;

pub use lab::{Lab, LabSpec, LabStatus, SEAT_LABEL, reconcile_lab};

use std::{future::Future, sync::Arc};

use futures::FutureExt;
use kube::Client;
use vmop_controller::{ControllerConfig, Metrics, controller};
use vmop_plugin::{NetworkPlugin, Registries, RegistryError, StorageBackend, VMTemplate};

/// Why the embedded controllers could not start.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("plugin registry: {0}")]
    Registry(#[from] RegistryError),
}

/// The plugins this controller runs with: chosen in code, not by what the linker kept.
pub fn registries() -> Result<Registries, EmbedError> {
    let mut registries = Registries::empty();
    let bridge: Arc<dyn NetworkPlugin> = Arc::new(vmop_net_bridge::BridgePlugin);
    let macvlan: Arc<dyn NetworkPlugin> = Arc::new(vmop_example_macvlan_network::MacvlanPlugin);
    let cdi: Arc<dyn StorageBackend> = Arc::new(vmop_storage_cdi::CdiBackend);
    let pvc: Arc<dyn StorageBackend> = Arc::new(vmop_storage_pvc::PvcBackend);
    let template: Arc<dyn VMTemplate> = Arc::new(vmop_template_cloudinit::CloudInitTemplate);
    registries
        .networks
        .register(vmop_net_bridge::NAME, "vmop_net_bridge", bridge)?;
    registries.networks.register(
        vmop_example_macvlan_network::NAME,
        "vmop_example_macvlan_network",
        macvlan,
    )?;
    registries
        .storage
        .register(vmop_storage_cdi::NAME, "vmop_storage_cdi", cdi)?;
    registries
        .storage
        .register(vmop_storage_pvc::NAME, "vmop_storage_pvc", pvc)?;
    registries.templates.register(
        vmop_template_cloudinit::NAME,
        "vmop_template_cloudinit",
        template,
    )?;
    Ok(registries)
}

/// Runs the VM controller and the Lab controller in this process until `shutdown`; both
/// finish their reconciles in flight first.
pub async fn run(
    client: Client,
    config: ControllerConfig,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), EmbedError> {
    let shutdown = shutdown.shared();
    let namespace = config.namespace.clone();
    let vms = controller(
        client.clone(),
        Arc::new(registries()?),
        metrics,
        config,
        shutdown.clone(),
    );
    let labs = lab::lab_controller(client, namespace, shutdown);
    futures::join!(vms.run(), labs);
    Ok(())
}
