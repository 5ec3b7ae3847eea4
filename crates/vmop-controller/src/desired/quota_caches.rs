//! A profile's quota check against the caches: what its missing children would take past
//! its namespace's ResourceQuotas ([`quota::asks`], [`quota::exceeded`], pure).

use kube::{ResourceExt, runtime::reflector::ObjectRef};
use vmop_api::{Resources, VirtualMachineProfile};

use crate::{
    context::Context,
    desired::{plan::Plan, quota},
};

/// What the profile's missing children would take past its namespace's ResourceQuotas, from
/// the quota and claim caches.
pub(crate) fn over_quota(
    ctx: &Context,
    profile: &VirtualMachineProfile,
    plan: &Plan,
    resources: &Resources,
    vm_exists: bool,
) -> Vec<String> {
    let namespace = profile.namespace().unwrap_or_default();
    let stores = &ctx.stores;
    // A claim that exists is counted by the quota already; one whose DataVolume exists is on
    // its way (CDI creates it whatever this pass decides).
    let exists = |name: &str| {
        stores
            .claims
            .get(&ObjectRef::new(name).within(&namespace))
            .is_some()
            || stores
                .data_volumes
                .get(&ObjectRef::new(name).within(&namespace))
                .is_some()
    };
    let asks = quota::asks(
        plan,
        resources,
        profile.spec.run_strategy,
        vm_exists,
        exists,
    );
    let quotas = ctx.stores.resource_quotas.state();
    quota::exceeded(quotas.iter().map(|q| q.as_ref()), &namespace, &asks)
}
