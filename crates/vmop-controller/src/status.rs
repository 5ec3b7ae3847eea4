//! Status from what was observed: pure, so every phase and condition is unit-tested.
//!
//! KubeVirt's error states (ErrorUnschedulable, DataVolumeError, ErrorPvcNotFound,
//! CrashLoopBackOff, image pull errors) become phase Failed with the state as the reason and
//! KubeVirt's message, never a profile that merely looks slow.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use vmop_api::{
    ConditionType, DiskStatus, NetworkStatus, Phase, RunStrategy, VirtualMachineProfileStatus,
    external::{
        find_condition,
        kubevirt::{VirtualMachine, VirtualMachineInstance, printable_status as ps, vm_condition},
    },
};
use vmop_plugin::Readiness;

use crate::{network::NetworkOutcome, storage::DiskOutcome, vm::VmOutcome};

/// Condition type reporting that KubeVirt needs a restart to apply a change.
pub const RESTART_REQUIRED: &str = "RestartRequired";
/// The VM's network name for the pod network.
const POD_NETWORK: &str = "default";

/// Everything status is computed from.
#[derive(Debug)]
pub struct Observed<'a> {
    pub generation: Option<i64>,
    pub run_strategy: RunStrategy,
    /// Why the spec is invalid, if it is.
    pub invalid: Option<&'a [String]>,
    pub networks: &'a [NetworkOutcome],
    pub disks: &'a [DiskOutcome],
    pub vm_outcome: Option<&'a VmOutcome>,
    pub vm: Option<&'a VirtualMachine>,
    pub vmi: Option<&'a VirtualMachineInstance>,
}

struct Verdict {
    ok: bool,
    reason: String,
    message: String,
}

impl Verdict {
    fn new(ok: bool, reason: impl Into<String>, message: impl Into<String>) -> Self {
        Verdict {
            ok,
            reason: reason.into(),
            message: message.into(),
        }
    }
}

fn summarize<'a>(
    items: impl Iterator<Item = (&'a str, &'a Readiness)>,
    all_ready: &str,
) -> (Verdict, bool) {
    let mut waiting = Vec::new();
    for (name, readiness) in items {
        match readiness {
            Readiness::Ready => {}
            Readiness::Failed { reason, message } => {
                return (
                    Verdict::new(false, reason.clone(), format!("{name}: {message}")),
                    true,
                );
            }
            Readiness::InProgress { message, .. } => waiting.push(format!("{name}: {message}")),
        }
    }
    if waiting.is_empty() {
        (Verdict::new(true, all_ready, ""), false)
    } else {
        (
            Verdict::new(false, "Progressing", waiting.join("; ")),
            false,
        )
    }
}

/// The VM's verdict and the phase it implies.
fn vm_verdict(observed: &Observed<'_>) -> (Verdict, Phase) {
    let Some(outcome) = observed.vm_outcome else {
        return (
            Verdict::new(false, "NotCreated", "the VM is not created yet"),
            Phase::Provisioning,
        );
    };
    match outcome {
        VmOutcome::Invalid(message) => (
            Verdict::new(false, "InvalidSpec", message.clone()),
            Phase::Pending,
        ),
        VmOutcome::Waiting {
            reason, message, ..
        } => (
            Verdict::new(false, reason.clone(), message.clone()),
            Phase::Provisioning,
        ),
        VmOutcome::Applied { .. } => {
            let status = observed.vm.and_then(|vm| vm.status.as_ref());
            let printable = status
                .and_then(|s| s.printable_status.as_deref())
                .unwrap_or("");
            let ready_message = status
                .and_then(|s| find_condition(&s.conditions, vm_condition::READY))
                .and_then(|c| c.message.clone())
                .or_else(|| {
                    status
                        .and_then(|s| find_condition(&s.conditions, vm_condition::FAILURE))
                        .and_then(|c| c.message.clone())
                })
                .unwrap_or_default();
            let migrating = observed
                .vmi
                .and_then(|vmi| vmi.status.as_ref())
                .and_then(|s| s.migration_state.as_ref())
                .is_some_and(|m| m.get("completed").and_then(|c| c.as_bool()) != Some(true));
            match printable {
                ps::RUNNING if migrating => {
                    (Verdict::new(true, ps::MIGRATING, ""), Phase::Migrating)
                }
                ps::RUNNING => (Verdict::new(true, ps::RUNNING, ""), Phase::Running),
                ps::MIGRATING => (Verdict::new(true, ps::MIGRATING, ""), Phase::Migrating),
                ps::STOPPED | ps::STOPPING | ps::PAUSED => {
                    let halted = observed.run_strategy == RunStrategy::Halted;
                    (
                        Verdict::new(halted, printable, ready_message),
                        Phase::Stopped,
                    )
                }
                ps::ERROR_UNSCHEDULABLE
                | ps::ERR_IMAGE_PULL
                | ps::IMAGE_PULL_BACK_OFF
                | ps::ERROR_PVC_NOT_FOUND
                | ps::DATA_VOLUME_ERROR
                | ps::CRASH_LOOP_BACK_OFF
                | ps::UNKNOWN => (Verdict::new(false, printable, ready_message), Phase::Failed),
                ps::TERMINATING => (
                    Verdict::new(false, printable, ready_message),
                    Phase::Terminating,
                ),
                "" => (
                    Verdict::new(false, "Starting", "waiting for KubeVirt"),
                    Phase::Starting,
                ),
                other => (Verdict::new(false, other, ready_message), Phase::Starting),
            }
        }
    }
}

/// Sets a condition, keeping its transition time when its status did not change.
fn set_condition(
    conditions: &mut Vec<Condition>,
    old: &[Condition],
    type_: &str,
    verdict: &Verdict,
    generation: Option<i64>,
    now: &Time,
) {
    let status = if verdict.ok { "True" } else { "False" };
    let last_transition_time = old
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map_or_else(|| now.clone(), |c| c.last_transition_time.clone());
    conditions.push(Condition {
        type_: type_.into(),
        status: status.into(),
        reason: verdict.reason.clone(),
        message: verdict.message.clone(),
        observed_generation: generation,
        last_transition_time,
    });
}

/// The status a profile should have.
pub fn compute(
    old: &VirtualMachineProfileStatus,
    observed: &Observed<'_>,
    now: Time,
) -> VirtualMachineProfileStatus {
    let generation = observed.generation;
    let mut conditions = Vec::new();
    if let Some(errors) = observed.invalid {
        let verdict = Verdict::new(false, "InvalidSpec", errors.join("; "));
        for type_ in [
            ConditionType::NetworksReady,
            ConditionType::StorageReady,
            ConditionType::VmReady,
            ConditionType::Ready,
        ] {
            set_condition(
                &mut conditions,
                &old.conditions,
                type_.as_str(),
                &verdict,
                generation,
                &now,
            );
        }
        return VirtualMachineProfileStatus {
            phase: Some(Phase::Pending),
            observed_generation: generation,
            conditions,
            // Keep what was known, above all the pinned MACs: nothing is lost.
            networks: old.networks.clone(),
            disks: old.disks.clone(),
            node_name: old.node_name.clone(),
            primary_ip: old.primary_ip.clone(),
            vm_name: old.vm_name.clone(),
        };
    }

    let (networks_verdict, network_failed) = summarize(
        observed
            .networks
            .iter()
            .map(|n| (n.name.as_str(), &n.readiness)),
        "AllNetworksReady",
    );
    let (storage_verdict, storage_failed) = summarize(
        observed
            .disks
            .iter()
            .map(|d| (d.name.as_str(), &d.readiness.readiness)),
        "AllDisksReady",
    );
    let (vm_verdict, vm_phase) = vm_verdict(observed);
    let spec_invalid = matches!(observed.vm_outcome, Some(VmOutcome::Invalid(_)));
    let phase = if network_failed || storage_failed {
        Phase::Failed
    } else {
        vm_phase
    };
    let ready = if networks_verdict.ok && storage_verdict.ok && vm_verdict.ok {
        Verdict::new(true, "Ready", "")
    } else {
        let first = [&networks_verdict, &storage_verdict, &vm_verdict]
            .into_iter()
            .find(|v| !v.ok)
            .map(|v| Verdict::new(false, v.reason.clone(), v.message.clone()));
        first.unwrap_or_else(|| Verdict::new(false, "NotReady", ""))
    };
    set_condition(
        &mut conditions,
        &old.conditions,
        ConditionType::NetworksReady.as_str(),
        &networks_verdict,
        generation,
        &now,
    );
    set_condition(
        &mut conditions,
        &old.conditions,
        ConditionType::StorageReady.as_str(),
        &storage_verdict,
        generation,
        &now,
    );
    set_condition(
        &mut conditions,
        &old.conditions,
        ConditionType::VmReady.as_str(),
        &vm_verdict,
        generation,
        &now,
    );
    set_condition(
        &mut conditions,
        &old.conditions,
        ConditionType::Ready.as_str(),
        &ready,
        generation,
        &now,
    );
    let restart = observed
        .vm
        .and_then(|vm| vm.status.as_ref())
        .and_then(|s| find_condition(&s.conditions, vm_condition::RESTART_REQUIRED))
        .filter(|c| c.is_true());
    if let Some(restart) = restart {
        let verdict = Verdict::new(
            true,
            RESTART_REQUIRED,
            restart.message.clone().unwrap_or_default(),
        );
        set_condition(
            &mut conditions,
            &old.conditions,
            RESTART_REQUIRED,
            &verdict,
            generation,
            &now,
        );
    }

    let macs = observed
        .vm_outcome
        .and_then(VmOutcome::macs)
        .cloned()
        .unwrap_or_default();
    let interfaces: BTreeMap<&str, &vmop_api::external::kubevirt::VmiInterfaceStatus> = observed
        .vmi
        .and_then(|vmi| vmi.status.as_ref())
        .map(|s| {
            s.interfaces
                .iter()
                .filter_map(|i| Some((i.name.as_deref()?, i)))
                .collect()
        })
        .unwrap_or_default();
    let networks: Vec<NetworkStatus> = observed
        .networks
        .iter()
        .map(|n| {
            let interface = interfaces.get(n.name.as_str());
            NetworkStatus {
                name: n.name.clone(),
                plugin: Some(n.plugin.clone()),
                nad: Some(n.attachment.nad.clone()),
                policies: n.policies.clone(),
                ready: n.readiness.is_ready(),
                message: readiness_message(&n.readiness),
                mac_address: macs.get(&n.name).cloned(),
                interface_name: interface.and_then(|i| i.interface_name.clone()),
                ip_addresses: interface
                    .map(|i| i.ip_addresses.clone())
                    .unwrap_or_default(),
                info_source: interface.and_then(|i| i.info_source.clone()),
            }
        })
        .collect();
    let disks: Vec<DiskStatus> = observed
        .disks
        .iter()
        .map(|d| DiskStatus {
            name: d.name.clone(),
            backend: Some(d.backend.clone()),
            claim_name: d.readiness.claim_name.clone(),
            phase: d.readiness.phase.clone(),
            progress: d.readiness.progress.clone(),
            ready: d.readiness.readiness.is_ready(),
            message: readiness_message(&d.readiness.readiness),
        })
        .collect();
    let primary_ip = networks
        .iter()
        .find_map(|n| n.ip_addresses.first().cloned())
        .or_else(|| {
            interfaces
                .get(POD_NETWORK)
                .and_then(|i| i.ip_address.clone())
        });
    let vm_applied = matches!(observed.vm_outcome, Some(VmOutcome::Applied { .. }));

    VirtualMachineProfileStatus {
        phase: Some(if spec_invalid { Phase::Pending } else { phase }),
        observed_generation: generation,
        conditions,
        networks,
        disks,
        node_name: observed
            .vmi
            .and_then(|vmi| vmi.status.as_ref())
            .and_then(|s| s.node_name.clone()),
        primary_ip,
        vm_name: vm_applied
            .then(|| observed.vm.and_then(|vm| vm.metadata.name.clone()))
            .flatten(),
    }
}

fn readiness_message(readiness: &Readiness) -> Option<String> {
    match readiness {
        Readiness::Ready => None,
        Readiness::InProgress { message, .. } | Readiness::Failed { message, .. } => {
            Some(message.clone())
        }
    }
}
