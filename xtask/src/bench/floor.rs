//! The API server's floor for the workload: the time to make the same number of writes as
//! plain object creations, with the same client concurrency, in the same run.

use std::time::{Duration, Instant};

use anyhow::Result;
use futures::{StreamExt, TryStreamExt, stream};
use kube::{Api, Client, api::PostParams};
use vmop_api::k8s_openapi::api::core::v1::ConfigMap;

/// Writes one profile needs at the least, besides its children: the finalizer, and one status
/// write per phase it passes through (Provisioning, Starting, Running).
const WRITES_BESIDES_CHILDREN: usize = 4;

/// Writes one profile of `shape` needs at the least: its children (minimal: NAD, DataVolume,
/// cloud-init Secret, VirtualMachine; seed: one more DataVolume) and
/// [`WRITES_BESIDES_CHILDREN`].
pub fn writes_per_profile(shape: super::Shape) -> usize {
    shape.children_per_profile() + WRITES_BESIDES_CHILDREN
}

/// Creates `count` ConfigMaps in `namespace`, `concurrency` at a time; returns how long.
pub async fn measure(
    client: &Client,
    namespace: &str,
    count: usize,
    concurrency: usize,
) -> Result<Duration> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let started = Instant::now();
    stream::iter(0..count)
        .map(|i| {
            let api = api.clone();
            async move {
                let mut object = ConfigMap::default();
                object.metadata.name = Some(format!("floor-{i:06}"));
                object.data = Some([("write".to_owned(), i.to_string())].into());
                api.create(&PostParams::default(), &object)
                    .await
                    .map(|_| ())
            }
        })
        .buffer_unordered(concurrency)
        .try_collect::<()>()
        .await?;
    Ok(started.elapsed())
}
