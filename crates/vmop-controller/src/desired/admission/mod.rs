//! Limits on what runs at once: a profile whose VM would start, or whose disk would begin to
//! import, while as many as the cap allows are under way waits in line, `Queued`, and is
//! admitted when one of them is done.
//!
//! There are two lines of the same shape (an [`Admission`] each): VM starts, whose items are
//! profiles, and imports, whose items are DataVolumes that wake their profile. A line is fair
//! across namespaces: namespaces take turns (round robin, by name, from the one admitted
//! last), and within a namespace items go in order of creation (then name). A namespace at
//! its own cap (the administrator's policy) is passed over. What is under way is derived from
//! the cluster: after a restart or a change of leader, [`Admission::seed`] counts the VMs that
//! do not run yet and the imports that still run, and queues what was `Queued`, in order,
//! before any reconcile. While the operator runs, a reconcile reports its own items
//! ([`Admission::request`], [`Admission::release`]), so no event costs work that grows with
//! the number of other profiles: the line is kept in ordered maps.

mod imports;
mod line;
mod starts;

use std::sync::Mutex;

use kube::runtime::reflector::ObjectRef;
use vmop_api::VirtualMachineProfile;

use self::line::Line;
pub(crate) use self::{
    imports::{importing, is_import, order_of_volume},
    line::Order,
    starts::{starts_when_created, still_starting, would_start},
};
use crate::desired::claims::ProfileKey;

/// What a line admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activity {
    /// VMs starting (created or started, not yet running).
    Starts,
    /// DataVolumes importing.
    Imports,
}

/// What an item that wants to begin may do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Begin.
    Go,
    /// Wait: `place` in line (1 = next), with `starting` under way of at most `cap`.
    Queued {
        /// Place in line, from 1.
        place: usize,
        /// Of how many waiting.
        waiting: usize,
        /// Items under way now.
        starting: usize,
        /// The cap that holds it back (the operator's or the namespace's).
        cap: usize,
    },
}

/// A line, and whom to wake when an item may go.
pub(crate) struct Admission {
    activity: Activity,
    /// The operator-wide cap; `None`: no limit.
    cap: Option<usize>,
    line: Mutex<Line>,
    wake: futures::channel::mpsc::UnboundedSender<ObjectRef<VirtualMachineProfile>>,
}

impl std::fmt::Debug for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admission")
            .field("activity", &self.activity)
            .field("cap", &self.cap)
            .finish_non_exhaustive()
    }
}

/// The order of `profile` in its namespace's start line.
pub(crate) fn order_of(profile: &VirtualMachineProfile) -> Order {
    (
        created_at(profile),
        profile.metadata.name.clone().unwrap_or_default(),
    )
}

/// When `profile` was created, in seconds (0 before the API server said).
pub(crate) fn created_at(profile: &VirtualMachineProfile) -> i64 {
    profile
        .metadata
        .creation_timestamp
        .as_ref()
        .map_or(0, |t| t.0.as_second())
}

impl Admission {
    /// A line admitting `activity` with the operator-wide cap `cap` (`None`: no limit);
    /// `wake` reaches the controller's queue.
    pub(crate) fn new(
        activity: Activity,
        cap: Option<usize>,
        wake: futures::channel::mpsc::UnboundedSender<ObjectRef<VirtualMachineProfile>>,
    ) -> Self {
        Admission {
            activity,
            cap,
            line: Mutex::default(),
            wake,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Line> {
        self.line
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether there is any limit at all (operator-wide or per namespace).
    pub(crate) fn limited(&self, ns_cap: Option<usize>) -> bool {
        self.cap.is_some() || ns_cap.is_some()
    }

    /// Restores the line after a start: `starting` items under way and `waiting` items that
    /// were queued, each with its profile's name, in any order.
    pub(crate) fn seed(
        &self,
        starting: impl IntoIterator<Item = (ProfileKey, String)>,
        waiting: impl IntoIterator<Item = (ProfileKey, Order, String)>,
    ) {
        let mut line = self.lock();
        for (key, owner) in starting {
            line.own(&key, &owner);
            line.hold(&key);
        }
        for (key, order, owner) in waiting {
            line.own(&key, &owner);
            line.waiting.entry(key.namespace).or_default().insert(order);
        }
    }

    /// Whether the profile's own item `key` (its VM, in line with `order`) may begin now.
    /// `ns_cap` gives each namespace's cap, from the administrator's policy.
    pub(crate) fn request(
        &self,
        key: &ProfileKey,
        order: &Order,
        ns_cap: &dyn Fn(&str) -> Option<usize>,
    ) -> Decision {
        self.request_for(key, &key.name, order, ns_cap)
    }

    /// Whether the item `key` of the profile `owner` (in line with `order`) may begin now.
    pub(crate) fn request_for(
        &self,
        key: &ProfileKey,
        owner: &str,
        order: &Order,
        ns_cap: &dyn Fn(&str) -> Option<usize>,
    ) -> Decision {
        let mut line = self.lock();
        if line.starting.contains(key) {
            return Decision::Go;
        }
        line.own(key, owner);
        line.waiting
            .entry(key.namespace.clone())
            .or_default()
            .insert(order.clone());
        let next = line.next(self.cap, ns_cap);
        if next.as_ref() == Some(key) {
            line.admit(key, order);
            return Decision::Go;
        }
        let starting = line.starting.len();
        let busy_here = line.starting_in.get(&key.namespace).copied().unwrap_or(0);
        let cap = match (self.cap, ns_cap(&key.namespace)) {
            (_, Some(ns)) if busy_here >= ns => ns,
            (Some(all), _) => all,
            (None, Some(ns)) => ns,
            (None, None) => usize::MAX,
        };
        let place = line.place(key, order);
        let waiting = line
            .waiting
            .values()
            .map(std::collections::BTreeSet::len)
            .sum();
        let woken = next.map(|next| line.owner_of(&next));
        drop(line);
        // Someone else may go: tell them (their own reconcile admits them).
        if let Some(woken) = woken {
            let _ = self.wake.unbounded_send(woken.object_ref());
        }
        Decision::Queued {
            place,
            waiting,
            starting,
            cap,
        }
    }

    /// Counts the item `key` of the profile `owner` as under way without asking: it began
    /// before the line knew of it (before a cap was set), and holds a place all the same.
    pub(crate) fn hold(&self, key: &ProfileKey, owner: &str) {
        let mut line = self.lock();
        if !line.starting.contains(key) {
            line.remove(key);
            line.own(key, owner);
            line.hold(key);
        }
    }

    /// The item `key` is done, failed, stopped or gone: its place is free, and the next in
    /// line is woken.
    pub(crate) fn release(&self, key: &ProfileKey, ns_cap: &dyn Fn(&str) -> Option<usize>) {
        self.release_all(std::slice::from_ref(key), ns_cap);
    }

    /// The profile `profile` is gone: every item of it leaves the line.
    pub(crate) fn release_profile(
        &self,
        profile: &ProfileKey,
        ns_cap: &dyn Fn(&str) -> Option<usize>,
    ) {
        let items = self.lock().items_of(profile);
        self.release_all(&items, ns_cap);
    }

    /// Of the items of `profile`, only those named in `keep` stay in the line: a disk
    /// removed from the spec (or renamed) gives its place back.
    pub(crate) fn retain_profile_items(
        &self,
        profile: &ProfileKey,
        keep: &[&str],
        ns_cap: &dyn Fn(&str) -> Option<usize>,
    ) {
        let gone: Vec<ProfileKey> = self
            .lock()
            .items_of(profile)
            .into_iter()
            .filter(|item| item != profile && !keep.contains(&item.name.as_str()))
            .collect();
        if !gone.is_empty() {
            self.release_all(&gone, ns_cap);
        }
    }

    fn release_all(&self, keys: &[ProfileKey], ns_cap: &dyn Fn(&str) -> Option<usize>) {
        let mut line = self.lock();
        let mut changed = false;
        for key in keys {
            changed |= line.remove(key);
        }
        if !changed {
            return;
        }
        let woken = line.next(self.cap, ns_cap).map(|next| line.owner_of(&next));
        drop(line);
        if let Some(woken) = woken {
            let _ = self.wake.unbounded_send(woken.object_ref());
        }
    }

    /// The `Queued` message of a decision of this line.
    pub(crate) fn queued_message(&self, decision: &Decision) -> Option<String> {
        let Decision::Queued {
            place,
            waiting,
            starting,
            cap,
        } = decision
        else {
            return None;
        };
        Some(match self.activity {
            Activity::Starts => format!(
                "{place} of {waiting} in line to start: {starting} VMs are starting, at most {cap} at once"
            ),
            Activity::Imports => format!(
                "{place} of {waiting} in line to import: {starting} imports are running, at most {cap} at once"
            ),
        })
    }
}

#[cfg(test)]
mod tests;
