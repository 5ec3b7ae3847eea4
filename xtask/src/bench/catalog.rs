//! A scheduled catalog image present through the whole run, so that the idle window shows
//! what an image with a refresh schedule costs while nothing is due: CDI's poller runs the
//! schedule, the operator is woken only by a change.

use std::time::Duration;

use anyhow::{Result, bail};
use kube::{
    Api, Client,
    api::{DeleteParams, PostParams},
};
use vmop_api::image::{VirtualMachineImage, VirtualMachineImageSpec};

/// The bench's catalog image.
pub const IMAGE: &str = "bench-catalog";
/// Its schedule: monthly, so that nothing is due in a run's idle window.
pub const SCHEDULE: &str = "0 3 1 * *";

/// Creates the image in `namespace` (before the operator starts).
pub async fn create(client: &Client, namespace: &str) -> Result<()> {
    let image = VirtualMachineImage::new(
        IMAGE,
        VirtualMachineImageSpec {
            source: "docker://registry.example.com/bench/fedora:41".into(),
            size: "1Gi".into(),
            storage_class_name: Some("huamei-sc-ssd".into()),
            credentials_secret_ref: None,
            cert_config_map_ref: None,
            schedule: Some(SCHEDULE.into()),
            imports_to_keep: Some(2),
        },
    );
    Api::<VirtualMachineImage>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &image)
        .await?;
    Ok(())
}

/// Waits until the image has a version (its writes then count as the operator's start-up).
pub async fn wait_ready(client: &Client, namespace: &str, timeout: Duration) -> Result<()> {
    let images = Api::<VirtualMachineImage>::namespaced(client.clone(), namespace);
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let image = images.get(IMAGE).await?;
        if image
            .status
            .as_ref()
            .and_then(|s| s.current_version.as_ref())
            .is_some()
        {
            println!(
                "catalog image {IMAGE} Ready (schedule {SCHEDULE:?}): present through the idle window"
            );
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!(
                "the catalog image {IMAGE} has no version after {timeout:?}: {:?}",
                image.status
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Deletes the image once the profiles are gone: its version's claim and volume go with it
/// (CDI deletes a cron's versions), so that the world's floor starts on an empty namespace.
pub async fn delete(client: &Client, namespace: &str) -> Result<()> {
    Api::<VirtualMachineImage>::namespaced(client.clone(), namespace)
        .delete(IMAGE, &DeleteParams::default())
        .await?;
    Ok(())
}
