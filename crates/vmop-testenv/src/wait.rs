//! Bounded waits with clear failure messages: no test depends on timing luck.

use std::{future::Future, time::Duration};

use crate::TestEnvError;

/// Polls `probe` every 50 ms until it returns `Some`, or fails after `timeout` naming `what`.
pub async fn until<T, F, Fut>(
    what: &str,
    timeout: Duration,
    mut probe: F,
) -> Result<T, TestEnvError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return Ok(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(TestEnvError::Timeout {
                what: what.to_owned(),
                seconds: timeout.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the object `name` of `api` satisfies `ready`, and returns it; the error names
/// `what` and shows the object as last seen.
pub async fn wait_for<K>(
    api: &kube::Api<K>,
    name: &str,
    what: &str,
    timeout: Duration,
    ready: impl Fn(&K) -> bool,
) -> Result<K, String>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let last = std::sync::Mutex::new(None);
    let found = until(what, timeout, || async {
        let current = api.get_opt(name).await.ok().flatten();
        *last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = current.clone();
        current.filter(|o| ready(o))
    })
    .await;
    found.map_err(|e| {
        let last = last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        format!("{e}; last seen: {last:#?}")
    })
}

/// Waits until profile `name` reports `phase`, and returns it.
pub async fn wait_for_phase(
    profiles: &kube::Api<vmop_api::VirtualMachineProfile>,
    name: &str,
    phase: vmop_api::Phase,
    timeout: Duration,
) -> Result<vmop_api::VirtualMachineProfile, String> {
    let what = format!("{name} to be {phase:?}");
    wait_for(profiles, name, &what, timeout, |p| {
        crate::profiles::phase(p) == Some(phase)
    })
    .await
}
