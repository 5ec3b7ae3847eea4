//! What KubeVirt's VMs say about the start line: whether a profile's VM starts when created,
//! still holds a place, or would start when applied.

use vmop_api::{
    RunStrategy, VirtualMachineProfile,
    external::kubevirt::{VirtualMachine, printable_status as ps},
};

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
