//! Limits on what starts at once: a profile whose VM would start while as many VMs as the cap
//! allows are starting waits in line, `Queued`, and is admitted when one of them runs.
//!
//! The line is fair across namespaces: namespaces take turns (round robin, by name, from the
//! one admitted last), and within a namespace profiles go in order of creation (then name). A
//! namespace at its own cap (the administrator's policy) is passed over. What is starting is
//! derived from the cluster: after a restart or a change of leader, [`Admission::seed`] counts
//! the VMs that exist and do not run yet, and queues the profiles whose VM does not exist, in
//! order, before any reconcile. While the operator runs, a reconcile reports its own VM
//! ([`Admission::request`], [`Admission::release`]), so no event costs work that grows with
//! the number of other profiles: the line is kept in ordered maps.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Mutex,
};

use kube::runtime::reflector::ObjectRef;
use vmop_api::{
    RunStrategy, VirtualMachineProfile,
    external::kubevirt::{VirtualMachine, printable_status as ps},
};

use crate::desired::claims::ProfileKey;

/// A profile's place among those waiting in its namespace: creation time (seconds), then name.
type Order = (i64, String);

/// What a profile that wants to start its VM may do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Start it.
    Go,
    /// Wait: `place` in line (1 = next), with `starting` VMs starting of at most `cap`.
    Queued {
        /// Place in line, from 1.
        place: usize,
        /// Of how many waiting.
        waiting: usize,
        /// VMs starting now.
        starting: usize,
        /// The cap that holds it back (the operator's or the namespace's).
        cap: usize,
    },
}

#[derive(Debug, Default)]
struct Line {
    /// Profiles whose VM is starting.
    starting: BTreeSet<ProfileKey>,
    /// Starting per namespace.
    starting_in: BTreeMap<String, usize>,
    /// Waiting profiles by namespace, in order.
    waiting: BTreeMap<String, BTreeSet<Order>>,
    /// The namespace admitted last: the turn goes to the next one.
    last_turn: Option<String>,
}

/// The line for VM starts, and whom to wake when a start may go.
pub(crate) struct Admission {
    /// The operator-wide cap; `None`: no limit.
    cap: Option<usize>,
    line: Mutex<Line>,
    wake: futures::channel::mpsc::UnboundedSender<ObjectRef<VirtualMachineProfile>>,
}

impl std::fmt::Debug for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admission")
            .field("cap", &self.cap)
            .finish_non_exhaustive()
    }
}

impl Line {
    /// Namespaces in turn order: those after the last admitted one, then from the start.
    fn turns(&self) -> impl Iterator<Item = &String> {
        let after = self.last_turn.clone();
        let (later, earlier): (Vec<&String>, Vec<&String>) = self
            .waiting
            .keys()
            .partition(|ns| after.as_ref().is_none_or(|last| *ns > last));
        later.into_iter().chain(earlier)
    }

    /// The next profile to admit, if the caps allow one: the turn's namespace's oldest, passing
    /// over namespaces at their cap.
    fn next(
        &self,
        cap: Option<usize>,
        ns_cap: &dyn Fn(&str) -> Option<usize>,
    ) -> Option<ProfileKey> {
        if cap.is_some_and(|cap| self.starting.len() >= cap) {
            return None;
        }
        self.turns().find_map(|ns| {
            let busy = self.starting_in.get(ns).copied().unwrap_or(0);
            if ns_cap(ns).is_some_and(|cap| busy >= cap) {
                return None;
            }
            let (_, name) = self.waiting.get(ns)?.first()?;
            Some(ProfileKey {
                namespace: ns.clone(),
                name: name.clone(),
            })
        })
    }

    /// Place of `key` (waiting with `order`) in the fair line: those ahead of it in its own
    /// namespace, and in every other namespace as many as take a turn before it does.
    fn place(&self, key: &ProfileKey, order: &Order) -> usize {
        let rank = self
            .waiting
            .get(&key.namespace)
            .map_or(0, |w| w.range(..order.clone()).count());
        let turns: Vec<&String> = self.turns().collect();
        let mine = turns
            .iter()
            .position(|ns| **ns == key.namespace)
            .unwrap_or(0);
        let others: usize = turns
            .iter()
            .enumerate()
            .filter(|(_, ns)| ***ns != key.namespace)
            .map(|(i, ns)| {
                let len = self.waiting.get(*ns).map_or(0, BTreeSet::len);
                len.min(rank + usize::from(i < mine))
            })
            .sum();
        1 + rank + others
    }

    fn admit(&mut self, key: &ProfileKey, order: &Order) {
        if let Some(waiting) = self.waiting.get_mut(&key.namespace) {
            waiting.remove(order);
            if waiting.is_empty() {
                self.waiting.remove(&key.namespace);
            }
        }
        if self.starting.insert(key.clone()) {
            *self.starting_in.entry(key.namespace.clone()).or_default() += 1;
        }
        self.last_turn = Some(key.namespace.clone());
    }

    fn unqueue(&mut self, key: &ProfileKey) {
        if let Some(waiting) = self.waiting.get_mut(&key.namespace) {
            waiting.retain(|(_, name)| *name != key.name);
            if waiting.is_empty() {
                self.waiting.remove(&key.namespace);
            }
        }
    }

    fn stop_starting(&mut self, key: &ProfileKey) -> bool {
        let was = self.starting.remove(key);
        if was && let Some(count) = self.starting_in.get_mut(&key.namespace) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.starting_in.remove(&key.namespace);
            }
        }
        was
    }
}

/// Whether the profile's VM starts as soon as it is created (its run strategy).
pub(crate) fn starts_when_created(profile: &VirtualMachineProfile) -> bool {
    matches!(
        profile.spec.run_strategy,
        RunStrategy::Always | RunStrategy::RerunOnFailure | RunStrategy::Once
    )
}

/// Whether a VM that exists still holds a place among those starting: KubeVirt says it is on
/// its way (not yet running, stopped, or in an error state that frees the place).
pub(crate) fn still_starting(vm: &VirtualMachine) -> bool {
    let printable = vm
        .status
        .as_ref()
        .and_then(|s| s.printable_status.as_deref())
        .unwrap_or("");
    // Still Stopped with a strategy that runs it: KubeVirt has not begun yet.
    let to_run = matches!(
        vm.spec.run_strategy.as_deref(),
        Some("Always" | "RerunOnFailure")
    );
    matches!(
        printable,
        "" | ps::PROVISIONING | ps::STARTING | ps::WAITING_FOR_VOLUME_BINDING
    ) || (to_run && printable == ps::STOPPED)
}

/// Whether applying `profile` to its stopped `vm` starts it: KubeVirt has it halted and the
/// profile asks it to run.
pub(crate) fn would_start(vm: &VirtualMachine, profile: &VirtualMachineProfile) -> bool {
    let halted = vm.spec.run_strategy.as_deref() == Some("Halted");
    let stopped = vm
        .status
        .as_ref()
        .and_then(|s| s.printable_status.as_deref())
        == Some(ps::STOPPED);
    halted && stopped && starts_when_created(profile)
}

/// The `Queued` message of a decision.
pub(crate) fn queued_message(decision: &Decision) -> Option<String> {
    match decision {
        Decision::Go => None,
        Decision::Queued {
            place,
            waiting,
            starting,
            cap,
        } => Some(format!(
            "{place} of {waiting} in line to start: {starting} VMs are starting, at most {cap} at once"
        )),
    }
}

/// The order of `profile` in its namespace's line.
pub(crate) fn order_of(profile: &VirtualMachineProfile) -> Order {
    let created = profile
        .metadata
        .creation_timestamp
        .as_ref()
        .map_or(0, |t| t.0.as_second());
    (created, profile.metadata.name.clone().unwrap_or_default())
}

impl Admission {
    /// A line with the operator-wide cap `cap` (`None`: no limit); `wake` reaches the
    /// controller's queue.
    pub(crate) fn new(
        cap: Option<usize>,
        wake: futures::channel::mpsc::UnboundedSender<ObjectRef<VirtualMachineProfile>>,
    ) -> Self {
        Admission {
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

    /// Restores the line after a start: `starting` VMs that exist and do not run yet, and
    /// `waiting` profiles whose VM would start and does not exist, in any order.
    pub(crate) fn seed(
        &self,
        starting: impl IntoIterator<Item = ProfileKey>,
        waiting: impl IntoIterator<Item = (ProfileKey, Order)>,
    ) {
        let mut line = self.lock();
        for key in starting {
            if line.starting.insert(key.clone()) {
                *line.starting_in.entry(key.namespace).or_default() += 1;
            }
        }
        for (key, order) in waiting {
            line.waiting.entry(key.namespace).or_default().insert(order);
        }
    }

    /// Whether the VM of `key` (in line with `order`) may be created and started now.
    /// `ns_cap` gives each namespace's cap, from the administrator's policy.
    pub(crate) fn request(
        &self,
        key: &ProfileKey,
        order: &Order,
        ns_cap: &dyn Fn(&str) -> Option<usize>,
    ) -> Decision {
        let mut line = self.lock();
        if line.starting.contains(key) {
            return Decision::Go;
        }
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
        let waiting = line.waiting.values().map(BTreeSet::len).sum();
        drop(line);
        // Someone else may go: tell them (their own reconcile admits them).
        if let Some(next) = next {
            let _ = self.wake.unbounded_send(next.object_ref());
        }
        Decision::Queued {
            place,
            waiting,
            starting,
            cap,
        }
    }

    /// The VM of `key` runs, failed, stopped or is gone (or the profile is): its place is
    /// free, and the next in line is woken.
    pub(crate) fn release(&self, key: &ProfileKey, ns_cap: &dyn Fn(&str) -> Option<usize>) {
        let mut line = self.lock();
        let was_starting = line.stop_starting(key);
        let was_waiting = line
            .waiting
            .get(&key.namespace)
            .is_some_and(|w| w.iter().any(|(_, n)| *n == key.name));
        line.unqueue(key);
        if !(was_starting || was_waiting) {
            return;
        }
        let next = line.next(self.cap, ns_cap);
        drop(line);
        if let Some(next) = next {
            let _ = self.wake.unbounded_send(next.object_ref());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ns: &str, name: &str) -> ProfileKey {
        ProfileKey {
            namespace: ns.into(),
            name: name.into(),
        }
    }

    fn line_with_cap(
        cap: usize,
    ) -> (
        Admission,
        futures::channel::mpsc::UnboundedReceiver<ObjectRef<VirtualMachineProfile>>,
    ) {
        let (tx, rx) = futures::channel::mpsc::unbounded();
        (Admission::new(Some(cap), tx), rx)
    }

    fn order(at: i64, name: &str) -> Order {
        (at, name.into())
    }

    #[test]
    fn at_the_cap_profiles_wait_in_order_and_the_next_is_woken_when_one_runs() {
        let (admission, mut woken) = line_with_cap(2);
        assert_eq!(
            admission.request(&key("a", "vm-0"), &order(0, "vm-0"), &|_| None),
            Decision::Go
        );
        assert_eq!(
            admission.request(&key("a", "vm-1"), &order(1, "vm-1"), &|_| None),
            Decision::Go
        );
        let queued = admission.request(&key("a", "vm-3"), &order(3, "vm-3"), &|_| None);
        assert_eq!(
            queued,
            Decision::Queued {
                place: 1,
                waiting: 1,
                starting: 2,
                cap: 2
            }
        );
        let queued = admission.request(&key("a", "vm-2"), &order(2, "vm-2"), &|_| None);
        assert_eq!(
            queued,
            Decision::Queued {
                place: 1,
                waiting: 2,
                starting: 2,
                cap: 2
            },
            "created earlier: ahead"
        );
        admission.release(&key("a", "vm-0"), &|_| None);
        let next = woken.try_recv().expect("a profile woken");
        assert_eq!(next.name, "vm-2");
        // vm-3 asks first, but vm-2 is ahead: it waits.
        assert!(matches!(
            admission.request(&key("a", "vm-3"), &order(3, "vm-3"), &|_| None),
            Decision::Queued { place: 2, .. }
        ));
        assert_eq!(
            admission.request(&key("a", "vm-2"), &order(2, "vm-2"), &|_| None),
            Decision::Go
        );
        // Asking again once admitted is still Go.
        assert_eq!(
            admission.request(&key("a", "vm-2"), &order(2, "vm-2"), &|_| None),
            Decision::Go
        );
    }

    #[test]
    fn namespaces_take_turns_and_a_namespace_at_its_cap_is_passed_over() {
        let (admission, _woken) = line_with_cap(1);
        assert_eq!(
            admission.request(&key("a", "a-0"), &order(0, "a-0"), &|_| None),
            Decision::Go
        );
        for i in 1..4 {
            let name = format!("a-{i}");
            admission.request(&key("a", &name), &order(i, &name), &|_| None);
        }
        // b's first comes before a's second, though created later.
        let b = admission.request(&key("b", "b-0"), &order(10, "b-0"), &|_| None);
        assert!(matches!(b, Decision::Queued { place: 1, .. }), "{b:?}");
        admission.release(&key("a", "a-0"), &|_| None);
        assert_eq!(
            admission.request(&key("a", "a-1"), &order(1, "a-1"), &|_| None),
            Decision::Queued {
                place: 2,
                waiting: 4,
                starting: 0,
                cap: 1
            }
        );
        assert_eq!(
            admission.request(&key("b", "b-0"), &order(10, "b-0"), &|_| None),
            Decision::Go
        );

        // A namespace cap of 0 holds its own profiles, not the others'.
        let (admission, _woken) = line_with_cap(5);
        let held = admission.request(&key("c", "c-0"), &order(0, "c-0"), &|ns| {
            (ns == "c").then_some(0)
        });
        assert!(matches!(held, Decision::Queued { cap: 0, .. }), "{held:?}");
        assert_eq!(
            admission.request(&key("d", "d-0"), &order(1, "d-0"), &|ns| (ns == "c")
                .then_some(0)),
            Decision::Go
        );
    }

    #[test]
    fn a_restarted_operator_counts_what_is_starting_and_keeps_the_order() {
        let (admission, _woken) = line_with_cap(2);
        admission.seed(
            [key("a", "vm-0"), key("a", "vm-1")],
            [
                (key("a", "vm-5"), order(5, "vm-5")),
                (key("a", "vm-2"), order(2, "vm-2")),
            ],
        );
        assert!(matches!(
            admission.request(&key("a", "vm-5"), &order(5, "vm-5"), &|_| None),
            Decision::Queued {
                place: 2,
                starting: 2,
                ..
            }
        ));
        admission.release(&key("a", "vm-1"), &|_| None);
        assert!(
            matches!(
                admission.request(&key("a", "vm-5"), &order(5, "vm-5"), &|_| None),
                Decision::Queued { place: 2, .. }
            ),
            "vm-2 was created first"
        );
        assert_eq!(
            admission.request(&key("a", "vm-2"), &order(2, "vm-2"), &|_| None),
            Decision::Go
        );
    }
}
