//! The volume binder's floor: how long the cluster alone (the CSI simulator provisioning,
//! kube-controller-manager's volume binder binding) takes to bind as many claims as the run's
//! profiles have disks, created as plain claims with the same client concurrency and nothing
//! else running. Every profile's VM waits for its disk's claim, so the operator's time to all
//! Running cannot go under this.

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use anyhow::{Result, bail};
use futures::{StreamExt, TryStreamExt, stream};
use kube::{
    Api, Client,
    api::{DeleteParams, ListParams, PostParams},
    runtime::{WatchStreamExt, watcher},
};
use vmop_api::k8s_openapi::{
    api::core::v1::{PersistentVolume, PersistentVolumeClaim},
    apimachinery::pkg::api::resource::Quantity,
};

/// Creates `count` claims of `storage_class` in `namespace`, `concurrency` at a time, and
/// returns how long until the last was Bound. Then deletes them and waits until their
/// volumes are gone too, so that the operator's run starts on an idle binder.
pub async fn measure(
    client: &Client,
    namespace: &str,
    storage_class: &str,
    count: usize,
    concurrency: usize,
    timeout: Duration,
) -> Result<Duration> {
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), namespace);
    // Watch from before the first create, so that no binding is missed.
    let mut events = watcher(claims.clone(), watcher::Config::default())
        .applied_objects()
        .boxed();
    let started = Instant::now();
    let create = stream::iter(0..count)
        .map(|i| {
            let claims = claims.clone();
            async move {
                claims
                    .create(&PostParams::default(), &claim(i, storage_class))
                    .await
                    .map(|_| ())
            }
        })
        .buffer_unordered(concurrency)
        .try_collect::<()>();
    let bound = async {
        let mut bound = HashSet::new();
        while bound.len() < count {
            let Some(claim) = events.try_next().await? else {
                bail!("the claims' watch ended");
            };
            if claim.status.and_then(|s| s.phase).as_deref() == Some("Bound") {
                bound.insert(claim.metadata.name.unwrap_or_default());
            }
        }
        anyhow::Ok(started.elapsed())
    };
    let (created, bound) = tokio::time::timeout(timeout, futures::future::join(create, bound))
        .await
        .map_err(|_| anyhow::anyhow!("the binder floor's claims: not bound after {timeout:?}"))?;
    created?;
    let bound = bound?;

    claims
        .delete_collection(&DeleteParams::default(), &ListParams::default())
        .await?;
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    super::until(
        "the binder floor's claims and volumes gone",
        timeout,
        || async { Ok(super::empty(&claims).await? && super::empty(&volumes).await?) },
    )
    .await?;
    Ok(bound)
}

/// A claim like the one CDI makes for the bench's image disk.
fn claim(i: usize, storage_class: &str) -> PersistentVolumeClaim {
    let mut claim = PersistentVolumeClaim::default();
    claim.metadata.name = Some(format!("binder-floor-{i:06}"));
    let spec = claim.spec.get_or_insert_with(Default::default);
    spec.storage_class_name = Some(storage_class.into());
    spec.access_modes = Some(vec!["ReadWriteOnce".into()]);
    spec.volume_mode = Some("Block".into());
    spec.resources = Some(
        vmop_api::k8s_openapi::api::core::v1::VolumeResourceRequirements {
            requests: Some([("storage".to_owned(), Quantity("20Gi".into()))].into()),
            ..Default::default()
        },
    );
    claim
}
