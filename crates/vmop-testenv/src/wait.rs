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
