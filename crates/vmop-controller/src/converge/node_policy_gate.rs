//! One gate per shared node policy, so that "nobody uses it, delete it" and "a user applies
//! it" never interleave.
//!
//! Without it the last user's cleanup could check [`Claims::in_use`](crate::desired::claims::Claims),
//! a new user could claim the policy and find it in the cache (so skip its apply), and the
//! delete would then remove a policy that has a user. With it:
//!
//! - the deleter holds the gate across the check and the delete, and deletes with the UID and
//!   resourceVersion it saw as preconditions (someone else's newer object is never deleted);
//! - a deleted policy leaves its UID behind in the gate (a tombstone): until the cache shows
//!   it gone, a user that takes the gate after the delete treats the cached copy as absent
//!   and applies the policy again, instead of trusting a cache that has not caught up.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// What a gate remembers: the UID of the copy this operator deleted last, if any.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    deleted_uid: Option<String>,
}

impl Gate {
    /// Whether a cached copy with `uid` is one this operator already deleted.
    pub(crate) fn deleted(&self, uid: Option<&str>) -> bool {
        uid.is_some() && self.deleted_uid.as_deref() == uid
    }

    /// Records that the copy with `uid` was deleted.
    pub(crate) fn mark_deleted(&mut self, uid: Option<String>) {
        self.deleted_uid = uid;
    }

    /// Forgets the tombstone once the cache no longer shows that copy.
    pub(crate) fn observed(&mut self, cached_uid: Option<&str>) {
        if self.deleted_uid.as_deref() != cached_uid {
            self.deleted_uid = None;
        }
    }
}

/// The gates, by policy name. An entry lives while someone holds it or it keeps a
/// tombstone, so the map is as large as the policies being applied or deleted right now.
#[derive(Debug, Default)]
pub(crate) struct NodePolicyGates(Mutex<HashMap<String, Arc<AsyncMutex<Gate>>>>);

/// A held gate; dropping it lets the next user or deleter in.
pub(crate) struct HeldGate<'a> {
    gates: &'a NodePolicyGates,
    name: String,
    guard: OwnedMutexGuard<Gate>,
}

impl std::ops::Deref for HeldGate<'_> {
    type Target = Gate;
    fn deref(&self) -> &Gate {
        &self.guard
    }
}

impl std::ops::DerefMut for HeldGate<'_> {
    fn deref_mut(&mut self) -> &mut Gate {
        &mut self.guard
    }
}

impl Drop for HeldGate<'_> {
    fn drop(&mut self) {
        let keep = self.guard.deleted_uid.is_some();
        let mut gates = self.gates.0.lock().unwrap_or_else(PoisonError::into_inner);
        // Held by the map and this guard only (clones are taken under the map's lock, which
        // is held here), and it remembers nothing: drop the entry.
        if !keep
            && gates
                .get(&self.name)
                .is_some_and(|gate| Arc::strong_count(gate) == 2)
        {
            gates.remove(&self.name);
        }
    }
}

impl NodePolicyGates {
    /// Waits for the gate of `name` and holds it.
    pub(crate) async fn enter(&self, name: &str) -> HeldGate<'_> {
        let gate = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(name.to_owned())
            .or_default()
            .clone();
        let guard = gate.lock_owned().await;
        HeldGate {
            gates: self,
            name: name.to_owned(),
            guard,
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_second_holder_waits_for_the_first() {
        let gates = Arc::new(NodePolicyGates::default());
        let first = gates.enter("vmop-br1").await;
        let waiting = {
            let gates = gates.clone();
            tokio::spawn(async move {
                let _held = gates.enter("vmop-br1").await;
            })
        };
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "the gate is held");
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("entered once released")
            .expect("task ran");
        assert_eq!(gates.len(), 0, "no entry is kept for an idle gate");
    }

    #[tokio::test]
    async fn a_tombstone_outlives_the_holder_until_the_cache_catches_up() {
        let gates = NodePolicyGates::default();
        {
            let mut held = gates.enter("vmop-br1").await;
            held.mark_deleted(Some("uid-1".into()));
        }
        assert_eq!(gates.len(), 1, "the tombstone is kept");
        let mut held = gates.enter("vmop-br1").await;
        assert!(held.deleted(Some("uid-1")), "the stale copy counts as gone");
        assert!(!held.deleted(Some("uid-2")), "a new copy is not");
        assert!(!held.deleted(None));
        held.observed(Some("uid-1"));
        assert!(held.deleted(Some("uid-1")), "the cache still shows it");
        held.observed(None);
        assert!(!held.deleted(Some("uid-1")));
        drop(held);
        assert_eq!(gates.len(), 0);
    }

    #[tokio::test]
    async fn different_policies_do_not_wait_for_each_other() {
        let gates = NodePolicyGates::default();
        let _a = gates.enter("vmop-a").await;
        let entered = tokio::time::timeout(Duration::from_secs(5), gates.enter("vmop-b")).await;
        assert!(entered.is_ok());
    }
}
