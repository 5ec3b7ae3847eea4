//! Readiness rules shared by network plugins: when a NAD and NMState policies count as ready.

use vmop_api::external::{
    find_condition,
    nmstate::{NodeNetworkConfigurationPolicy, condition, reason},
};

use crate::context::{ObservedNetwork, ObservedPolicy, ObservedVolume, Readiness, VolumeReadiness};

/// Reason of a disk whose claim waits for the VM's pod to be scheduled.
pub const WAITING_FOR_FIRST_CONSUMER: &str = vmop_api::reasons::WAITING_FOR_FIRST_CONSUMER;

/// Readiness of a plain claim named `name`: ready when Bound, failed when Lost, waiting for
/// its consumer when Pending on a WaitForFirstConsumer class (the VM is created and binds
/// it), else in progress.
pub fn claim_readiness(name: &str, observed: &ObservedVolume) -> VolumeReadiness {
    let phase = observed
        .claim
        .as_ref()
        .and_then(|c| c.status.as_ref())
        .and_then(|s| s.phase.clone());
    let waits_for_consumer = observed.claim.is_some()
        && phase.as_deref().is_none_or(|p| p == "Pending")
        && observed
            .storage_class
            .as_ref()
            .is_some_and(|c| c.wait_for_first_consumer);
    let readiness = match phase.as_deref() {
        Some("Bound") => Readiness::Ready,
        Some("Lost") => Readiness::Failed {
            reason: "ClaimLost".into(),
            message: format!("claim {name} lost its volume"),
        },
        _ if observed.claim.is_none() => Readiness::InProgress {
            reason: "ClaimPending".into(),
            message: format!("claim {name} is being created"),
        },
        _ if waits_for_consumer => Readiness::InProgress {
            reason: WAITING_FOR_FIRST_CONSUMER.into(),
            message: format!("claim {name} binds when the VM is scheduled (WaitForFirstConsumer)"),
        },
        _ => Readiness::InProgress {
            reason: "ClaimPending".into(),
            message: format!("claim {name} is waiting for a volume"),
        },
    };
    VolumeReadiness {
        phase: phase.or_else(|| observed.claim.as_ref().map(|_| "Pending".to_owned())),
        waits_for_consumer,
        ..VolumeReadiness::new(readiness, Some(name.to_owned()))
    }
}

/// A NAD is ready when it exists. `name` is `<namespace>/<name>`; `created_by_us` tells a NAD
/// still being created (in progress) from a user's NAD that is missing (a failure).
pub fn nad_readiness(observed: &ObservedNetwork, name: &str, created_by_us: bool) -> Readiness {
    match (&observed.nad, created_by_us) {
        (Some(_), _) => Readiness::Ready,
        (None, true) => Readiness::InProgress {
            reason: "NetworkAttachmentDefinitionPending".into(),
            message: format!("NetworkAttachmentDefinition {name} is being created"),
        },
        (None, false) => Readiness::Failed {
            reason: "NetworkAttachmentDefinitionNotFound".into(),
            message: format!("NetworkAttachmentDefinition {name} does not exist"),
        },
    }
}

/// A network with a NAD and node policies: its NAD's readiness, then its policies'.
pub fn nad_then_policies(desired: &crate::DesiredNetwork, observed: &ObservedNetwork) -> Readiness {
    match nad_readiness(observed, &desired.attachment.nad, desired.nad.is_some()) {
        Readiness::Ready => policies_readiness(&observed.policies),
        not_ready => not_ready,
    }
}

/// Policies are ready when each is Available and every enactment applied the policy's
/// current generation (policy conditions carry no observedGeneration). Degraded and Ignored
/// are failures, with the failing nodes' messages from their enactments.
pub fn policies_readiness(policies: &[ObservedPolicy]) -> Readiness {
    let mut waiting = Vec::new();
    for observed in policies {
        let Some(policy) = &observed.policy else {
            waiting.push(format!("policy {} is being created", observed.name));
            continue;
        };
        match policy_state(policy, observed) {
            Readiness::Ready => {}
            Readiness::InProgress { message, .. } => waiting.push(message),
            failed @ Readiness::Failed { .. } => return failed,
        }
    }
    if waiting.is_empty() {
        Readiness::Ready
    } else {
        Readiness::InProgress {
            reason: "NodeNetworkConfigurationProgressing".into(),
            message: waiting.join("; "),
        }
    }
}

fn policy_state(policy: &NodeNetworkConfigurationPolicy, observed: &ObservedPolicy) -> Readiness {
    let name = &observed.name;
    let conditions = policy
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let generation = policy.metadata.generation;
    let current = |e: &&vmop_api::external::nmstate::NodeNetworkConfigurationEnactment| {
        e.status.as_ref().and_then(|s| s.policy_generation) == generation
    };
    let all_current =
        !observed.enactments.is_empty() && observed.enactments.iter().all(|e| current(&e));

    if find_condition(conditions, condition::IGNORED).is_some_and(|c| c.is_true()) {
        return Readiness::Failed {
            reason: reason::NO_MATCHING_NODE.into(),
            message: format!("policy {name} matches no node: check the network's nodeSelector"),
        };
    }
    if find_condition(conditions, condition::DEGRADED).is_some_and(|c| c.is_true()) && all_current {
        let failures: Vec<String> = observed
            .enactments
            .iter()
            .filter_map(|e| {
                let status = e.status.as_ref()?;
                let failing = find_condition(&status.conditions, condition::FAILING)?;
                failing
                    .is_true()
                    .then(|| failing.message.clone().unwrap_or_default())
            })
            .collect();
        let summary = find_condition(conditions, condition::DEGRADED)
            .and_then(|c| c.message.clone())
            .unwrap_or_default();
        return Readiness::Failed {
            reason: reason::FAILED_TO_CONFIGURE.into(),
            message: format!("policy {name}: {summary}: {}", failures.join("; ")),
        };
    }
    if find_condition(conditions, condition::AVAILABLE).is_some_and(|c| c.is_true()) && all_current
    {
        return Readiness::Ready;
    }
    Readiness::InProgress {
        reason: reason::CONFIGURATION_PROGRESSING.into(),
        message: format!("policy {name} is being applied on the nodes"),
    }
}
