//! Children created but not yet seen by their watch: a reconcile that comes before the watch
//! event (a trigger from another child, a spec change) finds no cached copy, and without this
//! record would apply the child again, create-only, to be refused with a conflict, read it,
//! and apply once more: two writes and a read for nothing. kube-controller-manager keeps the
//! same record for its ReplicaSets ("expectations").
//!
//! A record holds the hash of what was created; a different desired content is applied as
//! usual. It ends when the cache holds the child, or after [`EXPECT_FOR`] (a watch event lost
//! or very late: the child is then applied create-only again, which is always safe).

use std::time::Duration;

use crate::cache::expiring::Expiring;

/// How long a creation is trusted without its watch event.
pub(crate) const EXPECT_FOR: Duration = Duration::from_secs(60);

/// A child: its kind, and `<namespace>/<name>`.
type Child = (&'static str, String);

/// The children created lately, with the hash of what each was created with.
#[derive(Debug)]
pub(crate) struct Created(Expiring<Child, Box<str>>);

impl Default for Created {
    fn default() -> Self {
        Created(Expiring::keeping(EXPECT_FOR))
    }
}

fn child(kind: &'static str, namespace: &str, name: &str) -> Child {
    (kind, format!("{namespace}/{name}"))
}

impl Created {
    /// Notes that `kind` `namespace/name` was created now with content `hash`.
    pub(crate) fn created(&self, kind: &'static str, namespace: &str, name: &str, hash: &str) {
        self.0.set(child(kind, namespace, name), |_| hash.into());
    }

    /// Whether `kind` `namespace/name` was created lately with content `hash`, and its watch
    /// event has not been seen yet.
    pub(crate) fn pending(
        &self,
        kind: &'static str,
        namespace: &str,
        name: &str,
        hash: &str,
    ) -> bool {
        self.0
            .read(&child(kind, namespace, name), |_, created| {
                &**created == hash
            })
            .unwrap_or(false)
    }

    /// The cache holds `kind` `namespace/name`: its creation is no longer pending.
    pub(crate) fn seen(&self, kind: &'static str, namespace: &str, name: &str) {
        self.0.remove(&child(kind, namespace, name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_creation_is_pending_for_its_content_until_seen() {
        let created = Created::default();
        assert!(!created.pending("VirtualMachine", "team-a", "web", "h1"));
        created.created("VirtualMachine", "team-a", "web", "h1");
        assert!(created.pending("VirtualMachine", "team-a", "web", "h1"));
        assert!(
            !created.pending("VirtualMachine", "team-a", "web", "h2"),
            "other content is applied"
        );
        assert!(
            !created.pending("Secret", "team-a", "web", "h1"),
            "another kind"
        );
        assert!(
            !created.pending("VirtualMachine", "team-b", "web", "h1"),
            "another namespace"
        );
        created.seen("VirtualMachine", "team-a", "web");
        assert!(!created.pending("VirtualMachine", "team-a", "web", "h1"));
    }
}
