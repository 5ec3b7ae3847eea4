//! What a pool wants, computed purely from the pool and its existing member profiles: the
//! profile of each ordinal (name, labels, owner, spec with its static addresses and MACs),
//! the one member to delete next when scaling down (highest ordinal first, one at a time),
//! and the status. Ordinal n always gets the n-th address of each range and a MAC derived
//! from the pool, network and ordinal, so it keeps both across scale-down and scale-up.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::{Resource, ResourceExt};
use vmop_api::{
    VirtualMachineProfile,
    address_range::AddressRange,
    pool::{MemberAddress, ORDINAL_LABEL, POOL_LABEL, PoolMember, VirtualMachineProfilePool},
};
use vmop_plugin::mac::generated_mac;

/// Reason of a pool asking for more replicas than a range has addresses.
pub(crate) use vmop_api::reasons::ADDRESS_RANGE_EXHAUSTED as RANGE_EXHAUSTED;
/// Reason of a pool whose range does not parse.
pub(crate) use vmop_api::reasons::ADDRESS_RANGE_INVALID as RANGE_INVALID;
/// Reason of a pool whose member's name is taken by a profile it does not own.
pub(crate) use vmop_api::reasons::CONFLICT as NAME_TAKEN;

/// The pool's wishes.
#[derive(Debug, Clone, Default)]
pub struct PoolPlan {
    /// The profile each ordinal should be, for ordinals that can be created.
    pub desired: Vec<VirtualMachineProfile>,
    /// The member to delete now (scale-down, highest ordinal first), if any.
    pub delete: Option<String>,
    /// Ordinal -> member, for status.
    pub members: Vec<PoolMember>,
    /// What keeps the pool from what it asks: (reason, message).
    pub problems: Vec<(&'static str, String)>,
}

/// The member name of `ordinal`.
pub fn member_name(pool: &str, ordinal: i32) -> String {
    format!("{pool}-{ordinal}")
}

/// The MAC of `ordinal` on `network`: stable for the pool's lifetime.
pub fn member_mac(namespace: &str, pool: &str, network: &str, ordinal: i32) -> String {
    generated_mac(&format!("pool/{namespace}/{pool}/{network}/{ordinal}"))
}

/// The ordinal a member profile carries, if it is one of `pool`'s.
pub fn ordinal_of(profile: &VirtualMachineProfile, pool: &str) -> Option<i32> {
    let labels = profile.labels();
    (labels.get(POOL_LABEL).map(String::as_str) == Some(pool))
        .then(|| labels.get(ORDINAL_LABEL)?.parse().ok())
        .flatten()
}

fn owned_by(profile: &VirtualMachineProfile, owner: &OwnerReference) -> bool {
    profile
        .owner_references()
        .iter()
        .any(|o| o.uid == owner.uid && o.controller == Some(true))
}

/// Sets the member's address and MAC on each network a range serves (and the range's
/// gateway); what it was given, for the pool's status.
fn address(
    pool: &VirtualMachineProfilePool,
    ranges: &[(String, usize, AddressRange)],
    ordinal: i32,
    spec: &mut vmop_api::VirtualMachineProfileSpec,
) -> Vec<MemberAddress> {
    let (name, namespace) = (pool.name_any(), pool.namespace().unwrap_or_default());
    let mut addresses = Vec::new();
    for (network, _, range) in ranges {
        let Some(ip) = range.nth(u64::try_from(ordinal).unwrap_or_default()) else {
            continue;
        };
        let mac = member_mac(&namespace, &name, network, ordinal);
        let gateway = pool
            .spec
            .addresses
            .iter()
            .find(|a| &a.network == network)
            .and_then(|a| a.gateway.clone());
        if let Some(entry) = spec.networks.iter_mut().find(|n| &n.name == network) {
            entry.ip_address = Some(ip.clone());
            entry.mac_address = Some(mac.clone());
            if gateway.is_some() {
                entry.gateway = gateway;
            }
        }
        addresses.push(MemberAddress {
            network: network.clone(),
            ip_address: ip,
            mac_address: mac,
        });
    }
    addresses
}

/// The member profile of `ordinal`: the template's labels and annotations, the pool's and
/// ordinal's labels, owned by the pool.
fn member_profile(
    pool: &VirtualMachineProfilePool,
    owner: &OwnerReference,
    ordinal: i32,
    spec: vmop_api::VirtualMachineProfileSpec,
) -> VirtualMachineProfile {
    let name = pool.name_any();
    let template = pool.spec.template.metadata.clone().unwrap_or_default();
    let mut labels = template.labels;
    labels.insert(POOL_LABEL.into(), name.clone());
    labels.insert(ORDINAL_LABEL.into(), ordinal.to_string());
    VirtualMachineProfile {
        metadata: ObjectMeta {
            name: Some(member_name(&name, ordinal)),
            namespace: pool.namespace(),
            labels: Some(labels),
            annotations: (!template.annotations.is_empty()).then_some(template.annotations),
            owner_references: Some(vec![owner.clone()]),
            ..ObjectMeta::default()
        },
        spec,
        status: None,
    }
}

/// Members beyond the wanted count (or beyond what the ranges can address): shown as
/// Terminating, and the highest ordinal deleted first, one at a time, waiting while one is
/// being deleted.
fn plan_surplus(
    plan: &mut PoolPlan,
    existing: &BTreeMap<String, VirtualMachineProfile>,
    owner: &OwnerReference,
    name: &str,
    capacity: i32,
) {
    let mut surplus: Vec<(i32, &VirtualMachineProfile)> = existing
        .values()
        .filter(|p| owned_by(p, owner))
        .filter_map(|p| ordinal_of(p, name).map(|o| (o, p)))
        .filter(|(o, _)| *o >= capacity)
        .collect();
    surplus.sort_by_key(|(o, _)| std::cmp::Reverse(*o));
    for (ordinal, profile) in &surplus {
        plan.members.push(PoolMember {
            ordinal: *ordinal,
            name: profile.name_any(),
            phase: Some("Terminating".into()),
            addresses: Vec::new(),
        });
    }
    let deleting = surplus
        .iter()
        .any(|(_, p)| p.metadata.deletion_timestamp.is_some());
    if !deleting {
        plan.delete = surplus.first().map(|(_, p)| p.name_any());
    }
}

/// Plans `pool` given `existing`: every profile named like one of its members (owned or not).
pub fn plan_pool(
    pool: &VirtualMachineProfilePool,
    existing: &BTreeMap<String, VirtualMachineProfile>,
) -> PoolPlan {
    let name = pool.name_any();
    let namespace = pool.namespace().unwrap_or_default();
    let mut plan = PoolPlan::default();
    let Some(owner) = pool.controller_owner_ref(&()) else {
        return plan;
    };
    let mut ranges = Vec::new();
    for (index, addresses) in pool.spec.addresses.iter().enumerate() {
        match AddressRange::parse(&addresses.range, &addresses.exclude) {
            Ok(range) => ranges.push((addresses.network.clone(), index, range)),
            Err(error) => plan.problems.push((
                RANGE_INVALID,
                format!("spec.addresses[{index}].range: {error}"),
            )),
        }
    }
    if !plan.problems.is_empty() {
        // Nothing partial: no member is created or changed while a range is wrong.
        return plan;
    }
    let wanted = pool.spec.replicas.max(0);
    let mut capacity = wanted;
    for (_, index, range) in &ranges {
        let addresses = i32::try_from(range.len()).unwrap_or(i32::MAX);
        if addresses < wanted {
            plan.problems.push((
                RANGE_EXHAUSTED,
                format!(
                    "spec.addresses[{index}].range: {} has {addresses} addresses for {wanted} replicas",
                    pool.spec.addresses[*index].range
                ),
            ));
            capacity = capacity.min(addresses);
        }
    }

    for ordinal in 0..capacity {
        let member = member_name(&name, ordinal);
        let mut spec = pool.spec.template.spec.clone();
        let addresses = address(pool, &ranges, ordinal, &mut spec);
        let current = existing.get(&member);
        if current.is_some_and(|p| !owned_by(p, &owner)) {
            plan.problems.push((
                NAME_TAKEN,
                format!("profile {namespace}/{member} exists and is not this pool's: ordinal {ordinal} is not created"),
            ));
        } else {
            plan.desired
                .push(member_profile(pool, &owner, ordinal, spec));
        }
        plan.members.push(PoolMember {
            ordinal,
            name: member.clone(),
            phase: current
                .filter(|p| owned_by(p, &owner))
                .and_then(|p| p.status.as_ref()?.phase)
                .map(|p| format!("{p:?}")),
            addresses,
        });
    }

    plan_surplus(&mut plan, existing, &owner, &name, capacity);
    plan.members.sort_by_key(|m| m.ordinal);
    plan
}

#[cfg(test)]
mod tests {
    use vmop_api::{
        fixtures::valid_profile,
        pool::{AddressPool, ProfileTemplate, VirtualMachineProfilePoolSpec},
    };

    use super::*;

    fn pool(replicas: i32, range: &str) -> VirtualMachineProfilePool {
        let mut template = valid_profile("x").spec;
        template.networks.truncate(1);
        template.networks[0].ip_address = None;
        template.networks[0].mac_address = None;
        let network = template.networks[0].name.clone();
        let mut pool = VirtualMachineProfilePool::new(
            "web",
            VirtualMachineProfilePoolSpec {
                replicas,
                template: ProfileTemplate {
                    metadata: None,
                    spec: template,
                },
                addresses: vec![AddressPool {
                    network,
                    range: range.into(),
                    gateway: None,
                    exclude: vec![],
                }],
            },
        );
        pool.metadata.namespace = Some("team-a".into());
        pool.metadata.uid = Some("pool-uid".into());
        pool
    }

    fn existing(plan: &PoolPlan) -> BTreeMap<String, VirtualMachineProfile> {
        plan.desired
            .iter()
            .map(|p| (p.name_any(), p.clone()))
            .collect()
    }

    fn address(p: &VirtualMachineProfile) -> Option<(String, String)> {
        let n = &p.spec.networks[0];
        Some((n.ip_address.clone()?, n.mac_address.clone()?))
    }

    #[test]
    fn each_ordinal_gets_the_next_address_and_a_stable_mac() {
        let plan = plan_pool(&pool(3, "10.0.0.10-10.0.0.20/24"), &BTreeMap::new());
        let names: Vec<String> = plan.desired.iter().map(ResourceExt::name_any).collect();
        assert_eq!(names, ["web-0", "web-1", "web-2"]);
        let addresses: Vec<_> = plan.desired.iter().filter_map(address).collect();
        assert_eq!(addresses[2].0, "10.0.0.12/24");
        let macs: std::collections::BTreeSet<_> = addresses.iter().map(|a| &a.1).collect();
        assert_eq!(macs.len(), 3, "distinct MACs");
        // The same ordinal after a scale-down and up: the same address and MAC.
        let again = plan_pool(&pool(5, "10.0.0.10-10.0.0.20/24"), &BTreeMap::new());
        assert_eq!(address(&again.desired[2]), Some(addresses[2].clone()));
        assert!(plan.problems.is_empty());
    }

    #[test]
    fn scale_down_deletes_the_highest_ordinal_first_one_at_a_time() {
        let five = plan_pool(&pool(5, "10.0.0.10-10.0.0.20/24"), &BTreeMap::new());
        let mut members = existing(&five);
        let two = plan_pool(&pool(2, "10.0.0.10-10.0.0.20/24"), &members);
        assert_eq!(two.delete.as_deref(), Some("web-4"));
        assert_eq!(two.desired.len(), 2);
        members
            .get_mut("web-4")
            .expect("web-4")
            .metadata
            .deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::now(),
        ));
        let waiting = plan_pool(&pool(2, "10.0.0.10-10.0.0.20/24"), &members);
        assert_eq!(waiting.delete, None, "one at a time");
        members.remove("web-4");
        let next = plan_pool(&pool(2, "10.0.0.10-10.0.0.20/24"), &members);
        assert_eq!(next.delete.as_deref(), Some("web-3"));
    }

    #[test]
    fn an_exhausted_or_invalid_range_is_a_problem_not_a_duplicate() {
        let plan = plan_pool(&pool(5, "10.0.0.10-10.0.0.12/24"), &BTreeMap::new());
        assert_eq!(plan.desired.len(), 3, "only as many as there are addresses");
        assert_eq!(plan.problems[0].0, RANGE_EXHAUSTED);
        assert!(
            plan.problems[0]
                .1
                .contains("has 3 addresses for 5 replicas")
        );
        let invalid = plan_pool(&pool(2, "10.0.0.12-10.0.0.10/24"), &BTreeMap::new());
        assert!(invalid.desired.is_empty(), "nothing partial");
        assert_eq!(invalid.problems[0].0, RANGE_INVALID);
    }

    #[test]
    fn a_profile_the_pool_does_not_own_is_never_taken_over() {
        let mut members = BTreeMap::new();
        members.insert("web-1".to_owned(), valid_profile("web-1"));
        let plan = plan_pool(&pool(2, "10.0.0.10-10.0.0.20/24"), &members);
        let names: Vec<String> = plan.desired.iter().map(ResourceExt::name_any).collect();
        assert_eq!(names, ["web-0"]);
        assert_eq!(plan.problems[0].0, NAME_TAKEN);
        assert_eq!(plan.delete, None);
    }
}
