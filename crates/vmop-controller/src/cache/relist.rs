//! Watches that start over, with a fresh list, each time the watches come back after a
//! failure.
//!
//! kube-runtime's watcher resumes a broken watch from its last resourceVersion. A
//! kube-apiserver that restarted can accept such a watch and then hold it without an event
//! or an error (its watch cache starts at a newer revision than the one asked for) until the
//! watch times out, minutes later; meanwhile the cache misses every change. A list cannot
//! miss anything: once the API server answers again after a failure, every watch lists
//! again. Nothing changes while the watches are up, so an idle operator still asks nothing.

use futures::{Stream, StreamExt, stream};
use kube::{
    Api, Resource,
    runtime::{WatchStreamExt, watcher},
};
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use crate::cache::watch_health::WatchHealth;

/// kube-runtime's watcher of `api`, with the controller's backoff, started again from a list
/// after each recovery that `health` announces.
pub(crate) fn relisting<K>(
    api: Api<K>,
    config: watcher::Config,
    health: &WatchHealth,
) -> impl Stream<Item = watcher::Result<watcher::Event<K>>> + Send + 'static + use<K>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    generations(health.subscribe(), move || {
        watcher(api.clone(), config.clone()).backoff(crate::backoff::watch())
    })
}

/// The streams `start` makes, one after the other: each runs until the next recovery (up
/// again after down) that `changes` announces, then the next one starts.
fn generations<S>(
    changes: watch::Receiver<bool>,
    start: impl Fn() -> S + Send + 'static,
) -> impl Stream<Item = S::Item> + Send + 'static
where
    S: Stream + Send + 'static,
{
    stream::unfold((true, changes), move |(first, mut changes)| {
        // Lazy: a watcher asks nothing until polled, so making it before the wait is free.
        let generation = start();
        async move {
            if !first && !recovery(&mut changes).await {
                return None;
            }
            // A clone starts from what `changes` has seen: it fires on the next recovery.
            let mut next = changes.clone();
            let until = async move {
                if !recovery(&mut next).await {
                    // Nobody can announce a recovery: this generation runs on.
                    futures::future::pending::<()>().await;
                }
            };
            Some((generation.take_until(until), (false, changes)))
        }
    })
    .flatten()
}

/// Waits for the next change to "up"; false when nobody can announce one any more.
async fn recovery(changes: &mut watch::Receiver<bool>) -> bool {
    loop {
        if changes.changed().await.is_err() {
            return false;
        }
        if *changes.borrow_and_update() {
            return true;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use super::*;

    #[tokio::test]
    async fn a_recovery_ends_the_current_stream_and_starts_a_new_one() {
        let health = WatchHealth::default();
        let started = Arc::new(AtomicUsize::new(0));
        let counter = started.clone();
        // Each generation yields its number, then waits forever (a watch).
        let mut items = Box::pin(generations(health.subscribe(), move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            stream::once(async move { n }).chain(stream::pending())
        }));
        assert_eq!(items.next().await, Some(0));

        health.failed();
        let nothing = tokio::time::timeout(std::time::Duration::from_millis(50), items.next());
        assert!(nothing.await.is_err(), "a failure alone starts nothing");

        health.recovered();
        assert_eq!(items.next().await, Some(1), "recovered: started over");

        health.failed();
        health.recovered();
        assert_eq!(items.next().await, Some(2));
        assert_eq!(started.load(Ordering::SeqCst), 3);
    }
}
