//! What waits for a reconcile: profiles a watch event triggered that have not started one
//! yet. kube-runtime's scheduler does not expose its queue, so triggers are noted on their
//! way in and a reconcile's start takes its profile out (timed requeues are not counted:
//! they wait by design).

use std::{
    collections::{HashMap, hash_map::Entry},
    sync::Mutex,
    time::{Duration, Instant},
};

use kube::{Resource, ResourceExt, runtime::reflector::ObjectRef};
use vmop_api::VirtualMachineProfile;

/// Profiles triggered and not yet reconciled, each with when it was first triggered. Holds
/// at most one entry per existing profile.
#[derive(Debug, Default)]
pub struct WorkQueue {
    waiting: Mutex<HashMap<ObjectRef<VirtualMachineProfile>, Instant>>,
}

impl WorkQueue {
    /// Notes a trigger of `profile`; returns the queue's depth if it was not waiting already.
    pub fn triggered(&self, profile: ObjectRef<VirtualMachineProfile>) -> Option<usize> {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        match waiting.entry(profile) {
            Entry::Occupied(_) => None,
            Entry::Vacant(slot) => {
                slot.insert(Instant::now());
                Some(waiting.len())
            }
        }
    }

    /// A reconcile of `profile` starts: returns how long it waited (if it was triggered)
    /// and the depth left.
    pub fn started(&self, profile: &ObjectRef<VirtualMachineProfile>) -> (Option<Duration>, usize) {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let waited = waiting.remove(profile).map(|since| since.elapsed());
        shrink_when_drained(&mut waiting);
        (waited, waiting.len())
    }

    /// `profile` is gone: it will not be reconciled, so it no longer waits.
    pub fn forget(&self, profile: &ObjectRef<VirtualMachineProfile>) -> usize {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        waiting.remove(profile);
        shrink_when_drained(&mut waiting);
        waiting.len()
    }

    /// Profiles waiting now.
    pub fn depth(&self) -> usize {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// Gives back what a burst of triggers (a mass creation, a relist) grew the table to once
/// most of it has drained: otherwise a queue that once held every profile keeps that
/// table, over 100 bytes a slot, for good. Halving at a quarter keeps it amortised.
fn shrink_when_drained<K, V>(waiting: &mut HashMap<K, V>)
where
    K: Eq + std::hash::Hash,
{
    if waiting.capacity() > 64 && waiting.len() < waiting.capacity() / 4 {
        waiting.shrink_to(waiting.capacity() / 2);
    }
}

/// The profiles that own `object` as its controller (what kube-runtime's `owns` triggers).
pub fn controlling_profiles<K: Resource>(object: &K) -> Vec<ObjectRef<VirtualMachineProfile>> {
    let namespace = object.namespace().unwrap_or_default();
    object
        .owner_references()
        .iter()
        .filter(|owner| {
            owner.controller == Some(true)
                && owner.kind == VirtualMachineProfile::kind(&())
                && owner.api_version == VirtualMachineProfile::api_version(&())
        })
        .map(|owner| ObjectRef::new(&owner.name).within(&namespace))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(name: &str) -> ObjectRef<VirtualMachineProfile> {
        ObjectRef::new(name).within("team-a")
    }

    #[test]
    fn a_profile_waits_once_however_often_it_is_triggered() {
        let queue = WorkQueue::default();
        assert_eq!(queue.triggered(profile("a")), Some(1));
        assert_eq!(queue.triggered(profile("a")), None);
        assert_eq!(queue.triggered(profile("b")), Some(2));
        let (waited, left) = queue.started(&profile("a"));
        assert!(waited.is_some());
        assert_eq!(left, 1);
        assert_eq!(
            queue.started(&profile("a")),
            (None, 1),
            "a requeue was not waiting"
        );
        assert_eq!(queue.depth(), 1);
    }

    #[test]
    fn a_drained_queue_gives_its_table_back() {
        let queue = WorkQueue::default();
        let profiles: Vec<_> = (0..10_000).map(|i| profile(&format!("vm-{i}"))).collect();
        for p in &profiles {
            queue.triggered(p.clone());
        }
        let burst = queue.waiting.lock().expect("lock").capacity();
        for p in &profiles[..9_990] {
            queue.started(p);
        }
        queue.forget(&profiles[9_990]);
        let drained = queue.waiting.lock().expect("lock").capacity();
        assert_eq!(queue.depth(), 9);
        assert!(drained <= 128, "{drained} slots kept of a burst of {burst}");
    }

    #[test]
    fn only_a_controlling_profile_owner_is_triggered() {
        use k8s_openapi::{
            api::core::v1::PersistentVolumeClaim,
            apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference},
        };
        let owner = |kind: &str, controller| OwnerReference {
            api_version: if kind == "VirtualMachineProfile" {
                "vmoperator.io/v1alpha1".into()
            } else {
                "v1".into()
            },
            kind: kind.into(),
            name: format!("{kind}-owner"),
            controller: Some(controller),
            ..OwnerReference::default()
        };
        let claim = PersistentVolumeClaim {
            metadata: ObjectMeta {
                namespace: Some("team-a".into()),
                owner_references: Some(vec![
                    owner("VirtualMachineProfile", true),
                    owner("VirtualMachineProfile", false),
                    owner("ConfigMap", true),
                ]),
                ..ObjectMeta::default()
            },
            ..PersistentVolumeClaim::default()
        };
        assert_eq!(
            controlling_profiles(&claim),
            vec![profile("VirtualMachineProfile-owner")]
        );
    }
}
