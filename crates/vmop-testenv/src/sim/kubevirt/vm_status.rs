//! What virt-controller writes on the VM: printableStatus, ready, conditions and the state
//! change requests left.

use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams},
};
use serde_json::json;

use crate::sim::{
    SimContext, SimError,
    kinds::{
        Condition,
        kubevirt::{StateChangeRequest, VirtualMachine},
    },
    upstream::{printable_status as ps, vm_condition},
};

use super::Blocked;

/// Leaves `remaining` as the VM's pending state change requests.
pub(super) async fn set_state_change_requests(
    ctx: &SimContext,
    vm: &VirtualMachine,
    remaining: &[StateChangeRequest],
) -> Result<(), SimError> {
    let value = if remaining.is_empty() {
        serde_json::Value::Null
    } else {
        json!(remaining)
    };
    Api::<VirtualMachine>::namespaced(ctx.client.clone(), &vm.namespace().unwrap_or_default())
        .patch_status(
            &vm.name_any(),
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"stateChangeRequests": value}})),
        )
        .await?;
    Ok(())
}

pub(super) async fn set_vm_status(
    ctx: &SimContext,
    vm: &VirtualMachine,
    printable: &str,
    ready: bool,
    blocked: Option<&Blocked>,
    restart_required: bool,
) -> Result<(), SimError> {
    let condition =
        |type_: &str, value: bool, reason: Option<&str>, message: Option<&str>| Condition {
            type_: type_.into(),
            status: if value { "True" } else { "False" }.into(),
            reason: reason.map(str::to_owned),
            message: message.map(str::to_owned),
            rest: Default::default(),
        };
    let unschedulable = blocked.filter(|b| b.printable == ps::ERROR_UNSCHEDULABLE);
    let mut conditions = match unschedulable {
        // The launcher pod is Pending: virt-controller copies its PodScheduled condition to
        // the instance and from there to the VM; the instance's Ready says only that the pod
        // reports no readiness (vmi.go, PodConditionMissingReason).
        Some(blocked) => vec![
            condition(
                vm_condition::READY,
                false,
                Some("PodConditionMissing"),
                Some("virt-launcher pod is missing the Ready condition"),
            ),
            condition(
                vm_condition::POD_SCHEDULED,
                false,
                Some(blocked.reason),
                Some(&blocked.message),
            ),
        ],
        None => vec![condition(
            vm_condition::READY,
            ready,
            blocked.map(|b| b.reason),
            blocked.map(|b| b.message.as_str()),
        )],
    };
    if restart_required {
        conditions.push(condition(
            vm_condition::RESTART_REQUIRED,
            true,
            None,
            Some("a non-live-updatable field was changed in the template spec"),
        ));
    }
    let status = json!({
        "printableStatus": printable,
        "ready": ready,
        "created": printable != ps::STOPPED && blocked.is_none(),
        "conditions": conditions,
    });
    let current = vm.status.as_ref().map(|s| {
        json!({
            "printableStatus": s.printable_status,
            "ready": s.ready,
            "created": s.created,
            "conditions": s.conditions,
        })
    });
    if current.as_ref() == Some(&status) {
        return Ok(());
    }
    Api::<VirtualMachine>::namespaced(ctx.client.clone(), &vm.namespace().unwrap_or_default())
        .patch_status(
            &vm.name_any(),
            &PatchParams::default(),
            &Patch::Merge(json!({"status": status})),
        )
        .await?;
    Ok(())
}
