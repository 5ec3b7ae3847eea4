//! The demo's image catalog: applies `examples/images/fedora-41.yaml`, follows its import,
//! then applies `examples/images/fedora-pool.yaml` (2 replicas cloning it) and shows that the
//! pool made no import of its own: one import, one clone per member.

use std::{path::Path, time::Duration};

use anyhow::{Context, Result, bail};
use kube::{
    Api, Client, ResourceExt,
    api::{ListParams, Patch, PatchParams},
};
use serde::de::DeserializeOwned;
use vmop_api::{
    external::{cdi::DataVolume, cdi_catalog::DATA_IMPORT_CRON_LABEL},
    image::VirtualMachineImage,
    pool::VirtualMachineProfilePool,
};

use crate::demo::NAMESPACE;

/// Applies the YAML document at `relative` as `K` and returns its name.
async fn apply<K>(client: &Client, root: &Path, relative: &str) -> Result<String>
where
    K: kube::Resource<DynamicType = (), Scope = vmop_api::k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::Serialize
        + DeserializeOwned
        + std::fmt::Debug,
{
    let path = root.join(relative);
    let object: K = serde_yaml::from_str(
        &std::fs::read_to_string(&path).with_context(|| path.display().to_string())?,
    )?;
    let name = object.name_any();
    Api::<K>::namespaced(client.clone(), NAMESPACE)
        .patch(
            &name,
            &PatchParams::apply("vmop-demo").force(),
            &Patch::Apply(&object),
        )
        .await?;
    println!("\napplied {relative}");
    Ok(name)
}

/// Polls `get` until `done` holds, printing each new line `show` makes of it.
async fn follow<T>(
    timeout: u64,
    what: &str,
    mut get: impl AsyncFnMut() -> Result<T>,
    done: impl Fn(&T) -> bool,
    show: impl Fn(&T) -> String,
) -> Result<T> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    let mut last = String::new();
    loop {
        let current = get().await?;
        let line = show(&current);
        if line != last {
            println!("  {line}");
            last = line;
        }
        if done(&current) {
            return Ok(current);
        }
        if tokio::time::Instant::now() > deadline {
            bail!("{what} did not happen in {timeout}s");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn image_line(image: &VirtualMachineImage) -> String {
    let status = image.status.clone().unwrap_or_default();
    format!(
        "{:<10} {:<10} version: {:<10} {}",
        image.name_any(),
        status.phase.as_deref().unwrap_or("-"),
        status.current_version.as_deref().unwrap_or("-"),
        status.progress.as_deref().unwrap_or("")
    )
}

/// Applies the catalog image and the pool that clones it; shows imports and clones.
pub async fn run(client: &Client, root: &Path, timeout: u64) -> Result<()> {
    let image =
        apply::<VirtualMachineImage>(client, root, "examples/images/fedora-41.yaml").await?;
    let images: Api<VirtualMachineImage> = Api::namespaced(client.clone(), NAMESPACE);
    follow(
        timeout,
        "the catalog image's import",
        async || Ok(images.get(&image).await?),
        |i| {
            i.status
                .as_ref()
                .and_then(|s| s.current_version.as_ref())
                .is_some()
        },
        image_line,
    )
    .await?;
    let pool = apply::<VirtualMachineProfilePool>(client, root, "examples/images/fedora-pool.yaml")
        .await?;
    let pools: Api<VirtualMachineProfilePool> = Api::namespaced(client.clone(), NAMESPACE);
    follow(
        timeout,
        "the catalog pool's members Ready",
        async || Ok(pools.get(&pool).await?),
        |p| {
            p.status
                .as_ref()
                .is_some_and(|s| s.ready_replicas == p.spec.replicas)
        },
        |p| {
            let s = p.status.clone().unwrap_or_default();
            format!(
                "{} {}/{} ready",
                p.name_any(),
                s.ready_replicas,
                p.spec.replicas
            )
        },
    )
    .await?;
    let dvs: Api<DataVolume> = Api::namespaced(client.clone(), NAMESPACE);
    let all = dvs.list(&ListParams::default()).await?.items;
    let imports = all
        .iter()
        .filter(|dv| dv.labels().get(DATA_IMPORT_CRON_LABEL) == Some(&image))
        .count();
    let clones = all
        .iter()
        .filter(|dv| dv.spec.source_ref.as_ref().is_some_and(|r| r.name == image))
        .count();
    println!("  {image}: {imports} import, {clones} clones (one per member of {pool})");
    Ok(())
}
