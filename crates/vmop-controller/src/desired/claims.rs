//! What profiles hold in common, kept in memory by the one operator that writes: users of
//! each shared node policy (the reference count; nothing is written onto the policy), the
//! node interfaces those policies configure, static addresses and MACs per network segment,
//! and existing NADs named by reference.
//!
//! Every question an event or a reconcile asks ("who uses this policy?", "who holds this
//! address?") is a map lookup, never a scan of the profiles. A claim is all or nothing: a
//! profile whose wants conflict with a holder's changes nothing here and writes nothing.
//! The first holder keeps what it holds; after a restart the holders are restored in order of
//! creation (see [`crate::cache::seed`]), so the earlier of two conflicting profiles keeps it.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    hash::{Hash, Hasher},
    sync::{Mutex, PoisonError},
};

use kube::{ResourceExt, runtime::reflector::ObjectRef};
use vmop_api::VirtualMachineProfile;

/// A profile, as the claims name it (ordered, so users list in a stable order).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProfileKey {
    /// Namespace of the profile.
    pub namespace: String,
    /// Name of the profile.
    pub name: String,
}

impl ProfileKey {
    /// The key of `profile`.
    pub fn of(profile: &VirtualMachineProfile) -> Self {
        ProfileKey {
            namespace: profile.namespace().unwrap_or_default(),
            name: profile.name_any(),
        }
    }

    /// The reference a controller trigger takes.
    pub fn object_ref(&self) -> ObjectRef<VirtualMachineProfile> {
        ObjectRef::new(&self.name).within(&self.namespace)
    }
}

impl std::fmt::Display for ProfileKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A shared node policy a profile wants, with what it configures on which nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedPolicy {
    /// The spec field that asks for it, for messages.
    pub field: String,
    /// Name of the shared NodeNetworkConfigurationPolicy.
    pub name: String,
    /// Node interfaces the policy configures (bridges, their ports, PFs).
    pub interfaces: BTreeSet<String>,
    /// The policy's node selector (empty: every node).
    pub node_selector: BTreeMap<String, String>,
}

/// A value only one profile may use on a network segment: a static IP or a MAC address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedAddress {
    /// The spec field that asks for it, for messages.
    pub field: String,
    /// The segment in words, such as `bridge br1 VLAN 10`.
    pub segment: String,
    /// The value in words, such as `IP address 10.0.0.5`.
    pub value: String,
}

/// Everything one profile holds in common with others.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wants {
    /// Shared node policies the profile needs.
    pub policies: Vec<WantedPolicy>,
    /// Static addresses and MACs it holds on a segment.
    pub addresses: Vec<WantedAddress>,
    /// Existing NADs (`namespace/name`) the profile attaches to by reference.
    pub nads: BTreeSet<String>,
}

/// Why a claim was refused: the field, what it asks for, and the profile that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The spec field that asks for it.
    pub field: String,
    /// The profile that holds it.
    pub holder: ProfileKey,
    /// What both ask for (an address, a MAC, a node interface).
    pub what: String,
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} (held by profile {})",
            self.field, self.what, self.holder
        )
    }
}

#[derive(Debug, Default)]
struct PolicyEntry {
    interfaces: BTreeSet<String>,
    node_selector: BTreeMap<String, String>,
    users: BTreeSet<ProfileKey>,
}

/// What one profile holds, as much of its [`Wants`] as releasing them needs: names and keys,
/// and a hash of what its policies configure (to see that the same wants come again). The
/// fields its wants named are for the messages of a claim, and what a policy configures is in
/// its [`PolicyEntry`], so neither is kept per profile: with seed-shaped profiles they were
/// 2 KB each, a tenth of the operator's heap (`cargo xtask bench --heap-profile`).
#[derive(Debug, PartialEq, Eq)]
struct Held {
    policies: Box<[String]>,
    policy_content: u64,
    addresses: Box<[(String, String)]>,
    nads: Box<[String]>,
}

impl Held {
    fn of(wants: &Wants) -> Self {
        Held {
            policies: wants.policies.iter().map(|p| p.name.clone()).collect(),
            policy_content: {
                let mut hasher = std::hash::DefaultHasher::new();
                for policy in &wants.policies {
                    (&policy.interfaces, &policy.node_selector).hash(&mut hasher);
                }
                hasher.finish()
            },
            addresses: wants
                .addresses
                .iter()
                .map(|a| (a.segment.clone(), a.value.clone()))
                .collect(),
            nads: wants.nads.iter().cloned().collect(),
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    held: HashMap<ProfileKey, Held>,
    policies: HashMap<String, PolicyEntry>,
    /// Node interface -> policies configuring it.
    interfaces: HashMap<String, BTreeSet<String>>,
    /// (segment, value) -> holder.
    addresses: HashMap<(String, String), ProfileKey>,
    /// Qualified NAD -> profiles attaching to it by reference.
    nads: HashMap<String, BTreeSet<ProfileKey>>,
    /// Policies nobody uses that may still exist: deleted by [`Claims::unused`]'s caller,
    /// forgotten only once gone, so a failed delete is tried again.
    unused: BTreeSet<String>,
}

/// The claims of every profile. Cheap to query; one short lock, never held across an await.
#[derive(Debug, Default)]
pub struct Claims(Mutex<Inner>);

/// Whether two node selectors may select one node: unless some label must have two
/// different values, assume they can.
fn may_overlap(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> bool {
    a.iter()
        .all(|(key, value)| b.get(key).is_none_or(|other| other == value))
}

impl Inner {
    fn conflicts(&self, me: &ProfileKey, wants: &Wants) -> Vec<Conflict> {
        let mut found = Vec::new();
        for wanted in &wants.addresses {
            let key = (wanted.segment.clone(), wanted.value.clone());
            if let Some(holder) = self.addresses.get(&key).filter(|h| *h != me) {
                found.push(Conflict {
                    field: wanted.field.clone(),
                    holder: holder.clone(),
                    what: format!("{} is already used on {}", wanted.value, wanted.segment),
                });
            }
        }
        for wanted in &wants.policies {
            for interface in &wanted.interfaces {
                let others = self.interfaces.get(interface).into_iter().flatten();
                for other in others.filter(|name| **name != wanted.name) {
                    let Some(entry) = self.policies.get(other) else {
                        continue;
                    };
                    if !may_overlap(&wanted.node_selector, &entry.node_selector) {
                        continue;
                    }
                    let Some(holder) = entry.users.iter().find(|u| *u != me) else {
                        continue;
                    };
                    found.push(Conflict {
                        field: wanted.field.clone(),
                        holder: holder.clone(),
                        what: format!(
                            "node interface {interface} is already configured differently (NodeNetworkConfigurationPolicy {other})"
                        ),
                    });
                }
            }
        }
        found
    }

    /// Drops everything `me` holds; returns the policies nobody uses any more.
    fn drop_holder(&mut self, me: &ProfileKey) -> Vec<String> {
        let Some(old) = self.held.remove(me) else {
            return Vec::new();
        };
        let mut unused = Vec::new();
        for policy in old.policies {
            let Some(entry) = self.policies.get_mut(&policy) else {
                continue;
            };
            entry.users.remove(me);
            if entry.users.is_empty() {
                let entry = self.policies.remove(&policy).unwrap_or_default();
                for interface in entry.interfaces {
                    if let Some(names) = self.interfaces.get_mut(&interface) {
                        names.remove(&policy);
                        if names.is_empty() {
                            self.interfaces.remove(&interface);
                        }
                    }
                }
                self.unused.insert(policy.clone());
                unused.push(policy);
            }
        }
        for key in old.addresses {
            if self.addresses.get(&key) == Some(me) {
                self.addresses.remove(&key);
            }
        }
        for nad in old.nads {
            if let Some(users) = self.nads.get_mut(&nad) {
                users.remove(me);
                if users.is_empty() {
                    self.nads.remove(&nad);
                }
            }
        }
        unused
    }

    fn hold(&mut self, me: &ProfileKey, wants: Wants) {
        for policy in &wants.policies {
            self.unused.remove(&policy.name);
            let entry = self.policies.entry(policy.name.clone()).or_default();
            if entry.users.is_empty() {
                entry.interfaces = policy.interfaces.clone();
                entry.node_selector = policy.node_selector.clone();
                for interface in &policy.interfaces {
                    self.interfaces
                        .entry(interface.clone())
                        .or_default()
                        .insert(policy.name.clone());
                }
            }
            entry.users.insert(me.clone());
        }
        for address in &wants.addresses {
            self.addresses
                .insert((address.segment.clone(), address.value.clone()), me.clone());
        }
        for nad in &wants.nads {
            self.nads.entry(nad.clone()).or_default().insert(me.clone());
        }
        self.held.insert(me.clone(), Held::of(&wants));
    }
}

impl Claims {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes `wants` what `me` holds, unless it conflicts with another holder: then nothing
    /// changes and the conflicts are returned. `alive` says whether a holder still exists; a
    /// holder that does not (deleted without cleanup) loses its claims first.
    ///
    /// On success returns the policies `me` stopped using that nobody else uses: the caller
    /// deletes them.
    pub fn claim(
        &self,
        me: &ProfileKey,
        wants: Wants,
        alive: impl Fn(&ProfileKey) -> bool,
    ) -> Result<Vec<String>, Vec<Conflict>> {
        let mut inner = self.lock();
        let mut unused = Vec::new();
        let mut conflicts = inner.conflicts(me, &wants);
        let gone: BTreeSet<ProfileKey> = conflicts
            .iter()
            .map(|c| c.holder.clone())
            .filter(|h| !alive(h))
            .collect();
        if !gone.is_empty() {
            for holder in &gone {
                unused.extend(inner.drop_holder(holder));
            }
            conflicts = inner.conflicts(me, &wants);
        }
        if !conflicts.is_empty() {
            return Err(conflicts);
        }
        if inner.held.get(me) == Some(&Held::of(&wants)) {
            return Ok(unused);
        }
        let kept: BTreeSet<String> = wants.policies.iter().map(|p| p.name.clone()).collect();
        let released = inner.drop_holder(me);
        inner.hold(me, wants);
        // A policy dropped and taken again in one step is not unused.
        unused.extend(released.into_iter().filter(|name| !kept.contains(name)));
        Ok(unused)
    }

    /// Gives up everything `me` holds; returns the policies nobody uses any more.
    pub fn release(&self, me: &ProfileKey) -> Vec<String> {
        self.lock().drop_holder(me)
    }

    /// Whether anyone holds `policy` (checked again just before deleting it).
    pub fn in_use(&self, policy: &str) -> bool {
        self.lock().policies.contains_key(policy)
    }

    /// Policies nobody uses any more that have not been seen gone yet.
    pub fn unused(&self) -> Vec<String> {
        self.lock().unused.iter().cloned().collect()
    }

    /// Queues existing policies that nobody claims for deletion (after a restart).
    pub fn forget_unclaimed(&self, policies: impl IntoIterator<Item = String>) {
        let mut inner = self.lock();
        for policy in policies {
            if !inner.policies.contains_key(&policy) {
                inner.unused.insert(policy);
            }
        }
    }

    /// `policy` is gone: stop trying to delete it (unless someone took it again meanwhile,
    /// in which case it is not in the unused set any more).
    pub fn deleted(&self, policy: &str) {
        self.lock().unused.remove(policy);
    }

    /// Profiles using a shared policy.
    pub fn node_policy_users(&self, policy: &str) -> Vec<ObjectRef<VirtualMachineProfile>> {
        self.lock()
            .policies
            .get(policy)
            .map(|e| e.users.iter().map(ProfileKey::object_ref).collect())
            .unwrap_or_default()
    }

    /// Profiles attaching to an existing NAD (`namespace/name`) by reference.
    pub fn nad_users(&self, nad: &str) -> Vec<ObjectRef<VirtualMachineProfile>> {
        self.lock()
            .nads
            .get(nad)
            .map(|users| users.iter().map(ProfileKey::object_ref).collect())
            .unwrap_or_default()
    }

    /// The policies `me` holds.
    pub fn policies_of(&self, me: &ProfileKey) -> Vec<String> {
        self.lock()
            .held
            .get(me)
            .map(|held| held.policies.to_vec())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> ProfileKey {
        ProfileKey {
            namespace: "team-a".into(),
            name: name.into(),
        }
    }

    fn policy(name: &str, interfaces: &[&str], selector: &[(&str, &str)]) -> WantedPolicy {
        WantedPolicy {
            field: "spec.networks[0].nodeInterface".into(),
            name: name.into(),
            interfaces: interfaces.iter().map(|s| (*s).to_owned()).collect(),
            node_selector: selector
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    fn address(value: &str) -> WantedAddress {
        WantedAddress {
            field: "spec.networks[0].ipAddress".into(),
            segment: "bridge br1 VLAN 10".into(),
            value: value.into(),
        }
    }

    fn wants(policies: Vec<WantedPolicy>, addresses: Vec<WantedAddress>) -> Wants {
        Wants {
            policies,
            addresses,
            nads: BTreeSet::new(),
        }
    }

    const ALIVE: fn(&ProfileKey) -> bool = |_| true;

    #[test]
    fn one_policy_is_shared_and_deleted_by_its_last_user_only() {
        let claims = Claims::default();
        let shared = || wants(vec![policy("vmop-br1", &["br1", "eth1"], &[])], vec![]);
        assert_eq!(claims.claim(&key("a"), shared(), ALIVE), Ok(vec![]));
        assert_eq!(claims.claim(&key("b"), shared(), ALIVE), Ok(vec![]));
        assert_eq!(
            claims.node_policy_users("vmop-br1"),
            vec![key("a").object_ref(), key("b").object_ref()]
        );
        assert!(claims.release(&key("a")).is_empty());
        assert_eq!(claims.release(&key("b")), vec!["vmop-br1".to_owned()]);
        assert!(!claims.in_use("vmop-br1"));
        assert_eq!(claims.unused(), vec!["vmop-br1".to_owned()]);
        claims.deleted("vmop-br1");
        assert!(claims.unused().is_empty());
    }

    #[test]
    fn a_sole_user_whose_policy_configures_other_interfaces_under_its_name_is_held_anew() {
        let claims = Claims::default();
        let on = |interface: &str| wants(vec![policy("custom", &[interface], &[])], vec![]);
        claims.claim(&key("a"), on("eth1"), ALIVE).expect("first");
        claims
            .claim(&key("a"), on("eth2"), ALIVE)
            .expect("same name, other interface");
        let other = wants(vec![policy("other", &["eth2"], &[])], vec![]);
        let conflicts = claims.claim(&key("b"), other.clone(), ALIVE);
        assert!(conflicts.is_err(), "eth2 is configured by a's policy now");
        claims.release(&key("a"));
        assert_eq!(claims.claim(&key("b"), other, ALIVE), Ok(vec![]));
        let eth1 = wants(vec![policy("third", &["eth1"], &[])], vec![]);
        assert_eq!(
            claims.claim(&key("c"), eth1, ALIVE),
            Ok(vec![]),
            "eth1 was let go"
        );
    }

    #[test]
    fn two_policies_on_one_interface_conflict_and_the_later_claim_changes_nothing() {
        let claims = Claims::default();
        let first = wants(vec![policy("vmop-sriov-8", &["ens1f0"], &[])], vec![]);
        let second = wants(vec![policy("vmop-sriov-16", &["ens1f0"], &[])], vec![]);
        claims.claim(&key("a"), first, ALIVE).expect("first");
        let conflicts = claims
            .claim(&key("b"), second, ALIVE)
            .expect_err("conflict");
        assert_eq!(conflicts.len(), 1);
        assert_eq!(conflicts[0].holder, key("a"));
        assert!(conflicts[0].to_string().contains("node interface ens1f0"));
        assert!(claims.node_policy_users("vmop-sriov-16").is_empty());
        assert!(claims.policies_of(&key("b")).is_empty());
    }

    #[test]
    fn node_selectors_that_cannot_meet_do_not_conflict() {
        let claims = Claims::default();
        let zone_a = wants(vec![policy("p-a", &["eth1"], &[("zone", "a")])], vec![]);
        let zone_b = wants(vec![policy("p-b", &["eth1"], &[("zone", "b")])], vec![]);
        let rack = wants(vec![policy("p-r", &["eth1"], &[("rack", "1")])], vec![]);
        claims.claim(&key("a"), zone_a, ALIVE).expect("zone a");
        claims.claim(&key("b"), zone_b, ALIVE).expect("zone b");
        assert!(claims.claim(&key("c"), rack, ALIVE).is_err());
    }

    #[test]
    fn an_address_has_one_holder_per_segment() {
        let claims = Claims::default();
        claims
            .claim(
                &key("a"),
                wants(vec![], vec![address("IP 10.0.0.5")]),
                ALIVE,
            )
            .expect("a");
        let refused = claims
            .claim(
                &key("b"),
                wants(vec![], vec![address("IP 10.0.0.5")]),
                ALIVE,
            )
            .expect_err("conflict");
        assert_eq!(refused[0].holder, key("a"));
        let mut elsewhere = address("IP 10.0.0.5");
        elsewhere.segment = "bridge br1 VLAN 20".into();
        claims
            .claim(&key("b"), wants(vec![], vec![elsewhere]), ALIVE)
            .expect("another VLAN is another segment");
        // The holder may claim again (idempotent), and a released address is free.
        claims
            .claim(
                &key("a"),
                wants(vec![], vec![address("IP 10.0.0.5")]),
                ALIVE,
            )
            .expect("again");
        claims.release(&key("a"));
        claims
            .claim(
                &key("c"),
                wants(vec![], vec![address("IP 10.0.0.5")]),
                ALIVE,
            )
            .expect("free again");
    }

    #[test]
    fn a_holder_that_no_longer_exists_loses_its_claims() {
        let claims = Claims::default();
        claims
            .claim(
                &key("ghost"),
                wants(vec![], vec![address("IP 10.0.0.5")]),
                ALIVE,
            )
            .expect("ghost");
        let alive = |k: &ProfileKey| k.name != "ghost";
        claims
            .claim(
                &key("b"),
                wants(vec![], vec![address("IP 10.0.0.5")]),
                alive,
            )
            .expect("the ghost's address is free");
    }

    #[test]
    fn a_profile_moving_to_another_policy_releases_the_old_one() {
        let claims = Claims::default();
        let old = wants(vec![policy("old", &["br1", "eth1"], &[])], vec![]);
        let new = wants(vec![policy("new", &["br2", "eth2"], &[])], vec![]);
        claims.claim(&key("a"), old.clone(), ALIVE).expect("old");
        assert_eq!(
            claims.claim(&key("a"), new, ALIVE),
            Ok(vec!["old".to_owned()])
        );
        assert_eq!(
            claims.claim(&key("a"), old, ALIVE),
            Ok(vec!["new".to_owned()])
        );
        // Taken again before it was deleted: no longer to be deleted.
        assert_eq!(claims.unused(), vec!["new".to_owned()]);
    }

    #[test]
    fn a_profile_may_change_its_own_policy_on_an_interface_it_alone_uses() {
        let claims = Claims::default();
        let eight = wants(vec![policy("vfs-8", &["ens1f0"], &[])], vec![]);
        let sixteen = wants(vec![policy("vfs-16", &["ens1f0"], &[])], vec![]);
        claims.claim(&key("a"), eight, ALIVE).expect("8");
        assert_eq!(
            claims.claim(&key("a"), sixteen, ALIVE),
            Ok(vec!["vfs-8".to_owned()])
        );
    }
}
