//! Verdicts: what each part of a profile (networks, storage, the VM) came to, and the
//! conditions they make. Pure.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use vmop_api::{
    Phase, RunStrategy,
    external::{
        find_condition,
        kubevirt::{
            LIVE_MIGRATABLE_CONDITION, VirtualMachineInstance, printable_status as ps, vm_condition,
        },
    },
};
use vmop_plugin::Readiness;

use crate::{converge::vm::VmOutcome, report::status::Observed};

/// What one part came to: Ready or not, why.
pub(super) struct Verdict {
    pub ok: bool,
    pub reason: String,
    pub message: String,
}

impl Verdict {
    pub(super) fn new(ok: bool, reason: impl Into<String>, message: impl Into<String>) -> Self {
        Verdict {
            ok,
            reason: reason.into(),
            message: message.into(),
        }
    }
}

/// The reason of a part still in progress with nothing more to say.
pub(super) const PROGRESSING: &str = "Progressing";

/// Reasons of parts still in progress that say more than "Progressing".
pub(super) const TELLING_REASONS: [&str; 2] = [
    vmop_api::reasons::QUEUED,
    vmop_api::reasons::IMAGE_PULL_FAILED,
];

pub(super) fn summarize<'a>(
    items: impl Iterator<Item = (&'a str, &'a Readiness)>,
    all_ready: &str,
) -> (Verdict, bool) {
    let mut waiting = Vec::new();
    // The first part held back for a reason worth naming (in line, an image that cannot be
    // pulled) gives the verdict its reason; other progress is just "Progressing".
    let mut telling = None;
    for (name, readiness) in items {
        match readiness {
            Readiness::Ready => {}
            Readiness::Failed { reason, message } => {
                return (
                    Verdict::new(false, reason.clone(), format!("{name}: {message}")),
                    true,
                );
            }
            Readiness::InProgress { reason, message } => {
                waiting.push(format!("{name}: {message}"));
                if telling.is_none() && TELLING_REASONS.contains(&reason.as_str()) {
                    telling = Some(reason.clone());
                }
            }
        }
    }
    if waiting.is_empty() {
        (Verdict::new(true, all_ready, ""), false)
    } else {
        (
            Verdict::new(
                false,
                telling.unwrap_or_else(|| PROGRESSING.into()),
                waiting.join("; "),
            ),
            false,
        )
    }
}

/// The VM's verdict and the phase it implies.
pub(super) fn vm_verdict(observed: &Observed<'_>) -> (Verdict, Phase) {
    let Some(outcome) = observed.vm_outcome else {
        return (
            Verdict::new(false, "NotCreated", "the VM is not created yet"),
            Phase::Provisioning,
        );
    };
    match outcome {
        VmOutcome::Invalid(message) => (
            Verdict::new(false, vmop_api::reasons::INVALID_SPEC, message.clone()),
            Phase::Pending,
        ),
        VmOutcome::Waiting {
            reason, message, ..
        } => (
            Verdict::new(false, reason.clone(), message.clone()),
            if reason == vmop_api::reasons::QUEUED {
                Phase::Queued
            } else {
                Phase::Provisioning
            },
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
            // Upstream's Ready says only that the pod reports no readiness; the scheduler's
            // reason is on PodScheduled.
            let ready_message = match unscheduled(observed) {
                Some(verdict) if printable == ps::ERROR_UNSCHEDULABLE => verdict.message,
                _ => ready_message,
            };
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

/// KubeVirt's `PodScheduled` on the VM when it is `False`: the scheduler's reason and message.
fn unscheduled(observed: &Observed<'_>) -> Option<Verdict> {
    let status = observed.vm?.status.as_ref()?;
    let condition = find_condition(&status.conditions, vm_condition::POD_SCHEDULED)?;
    (condition.status == "False").then(|| {
        Verdict::new(
            false,
            condition.reason.as_deref().unwrap_or("Unschedulable"),
            condition.message.clone().unwrap_or_default(),
        )
    })
}

/// The `Scheduled` condition while the VM is asked to run: `False` with the scheduler's reason
/// and message when KubeVirt reports the pod unschedulable, `True` once the instance is on a
/// node; none before KubeVirt says either (or while the VM is stopped).
pub(super) fn scheduled(observed: &Observed<'_>) -> Option<Verdict> {
    if observed.run_strategy == RunStrategy::Halted {
        return None;
    }
    if let Some(verdict) = unscheduled(observed) {
        return Some(verdict);
    }
    let node = observed
        .vmi
        .and_then(|vmi| vmi.status.as_ref())
        .and_then(|s| s.node_name.as_deref())
        .filter(|node| !node.is_empty())?;
    Some(Verdict::new(
        true,
        vmop_api::reasons::ON_NODE,
        format!("on node {node}"),
    ))
}

/// Sets a condition, keeping its transition time when its status did not change.
pub(super) fn set_condition(
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

pub(super) fn readiness_message(readiness: &Readiness) -> Option<String> {
    match readiness {
        Readiness::Ready => None,
        Readiness::InProgress { message, .. } | Readiness::Failed { message, .. } => {
            Some(message.clone())
        }
    }
}

/// KubeVirt's `LiveMigratable` condition of the instance, for the profile's own conditions.
pub(super) fn live_migratable(vmi: &VirtualMachineInstance) -> Option<Verdict> {
    let c = vmi
        .status
        .iter()
        .flat_map(|s| &s.conditions)
        .find(|c| c.type_ == LIVE_MIGRATABLE_CONDITION)?;
    let ok = c.status == "True";
    let reason = c
        .reason
        .as_deref()
        .filter(|r| !r.is_empty())
        .unwrap_or(if ok { "Migratable" } else { "NotMigratable" });
    let message = c.message.clone().unwrap_or_else(|| {
        if ok {
            "KubeVirt can live-migrate the VM"
        } else {
            "KubeVirt cannot live-migrate the VM"
        }
        .into()
    });
    Some(Verdict::new(ok, reason, message))
}
