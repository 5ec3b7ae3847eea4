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

use crate::{
    converge::network::NetworkOutcome, converge::storage::DiskOutcome, converge::vm::VmOutcome,
    desired::disk_changes::DISK_CHANGE_REFUSED,
};

/// Condition type reporting that KubeVirt needs a restart to apply a change.
pub(crate) use vmop_api::reasons::RESTART_REQUIRED;
/// The VM's network name for the pod network.
const POD_NETWORK: &str = "default";

/// Everything status is computed from.
#[derive(Debug)]
pub struct Observed<'a> {
    /// The profile's `metadata.generation`.
    pub generation: Option<i64>,
    /// The run strategy the spec asks for.
    pub run_strategy: RunStrategy,
    /// Why the spec is invalid, if it is.
    pub invalid: Option<&'a [String]>,
    /// What a valid spec waits for before anything is created: (reason, messages).
    pub blocked: Option<(&'a str, &'a [String])>,
    /// What each network came to, in spec order.
    pub networks: &'a [NetworkOutcome],
    /// What each disk came to, in spec order.
    pub disks: &'a [DiskOutcome],
    /// What became of the VM in this pass.
    pub vm_outcome: Option<&'a VmOutcome>,
    /// The VirtualMachine, when it exists.
    pub vm: Option<&'a VirtualMachine>,
    /// Its instance, when it exists.
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
            Verdict::new(false, vmop_api::reasons::INVALID_SPEC, message.clone()),
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

/// Sets one condition decided outside [`compute`] (such as `Isolated`), keeping its
/// transition time while its status stays the same.
pub fn set_extra_condition(
    status: &mut VirtualMachineProfileStatus,
    old: &VirtualMachineProfileStatus,
    type_: &str,
    (ok, reason, message): (bool, &str, String),
    now: &Time,
) {
    status.conditions.retain(|c| c.type_ != type_);
    let verdict = Verdict::new(ok, reason, message);
    let generation = status.observed_generation;
    set_condition(
        &mut status.conditions,
        &old.conditions,
        type_,
        &verdict,
        generation,
        now,
    );
}

/// The status a profile should have.
pub fn compute(
    old: &VirtualMachineProfileStatus,
    observed: &Observed<'_>,
    now: Time,
) -> VirtualMachineProfileStatus {
    let generation = observed.generation;
    let mut conditions = Vec::new();
    let refusal = observed
        .invalid
        .map(|errors| (vmop_api::reasons::INVALID_SPEC, errors))
        .or(observed.blocked);
    if let Some((reason, errors)) = refusal {
        let verdict = Verdict::new(false, reason, errors.join("; "));
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
            resources: old.resources.clone(),
            access: old.access.clone(),
            restart: old.restart.clone(),
            migration: old.migration.clone(),
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
    // A refused change leaves the disk as it is (and the VM running on it), but is not
    // Ready: the spec asks for something that will not happen.
    let storage_verdict = match observed
        .disks
        .iter()
        .find_map(|d| d.refused_change.as_ref())
    {
        Some(message) if !storage_failed => {
            Verdict::new(false, DISK_CHANGE_REFUSED, message.clone())
        }
        _ => storage_verdict,
    };
    let (vm_verdict, vm_phase) = vm_verdict(observed);
    let spec_invalid = matches!(observed.vm_outcome, Some(VmOutcome::Invalid(_)));
    // The VM exists but waits for disks still being bound or imported: Provisioning, with
    // the disks' progress in status, until the data plane catches up.
    let disks_pending = observed
        .disks
        .iter()
        .any(|d| !d.readiness.readiness.is_ready());
    let phase = if network_failed || storage_failed {
        Phase::Failed
    } else if vm_phase == Phase::Starting && disks_pending {
        Phase::Provisioning
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
        // Say what happens and how to make it happen now.
        let verdict = Verdict::new(
            true,
            RESTART_REQUIRED,
            format!(
                "{}; KubeVirt applies the change when the VM restarts. To restart now: kubectl annotate --overwrite vmprofile <name> {}=\"$(date -Is)\"",
                restart
                    .message
                    .as_deref()
                    .unwrap_or("a change needs a restart"),
                vmop_api::RESTART_ANNOTATION
            ),
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
            restart_count: d.readiness.restart_count,
            waiting_for_first_consumer: d.readiness.waits_for_consumer,
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
        // The plan resolves these; the reconcile sets them.
        resources: old.resources.clone(),
        access: old.access.clone(),
        restart: old.restart.clone(),
        migration: old.migration.clone(),
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

#[cfg(test)]
mod tests {
    use k8s_openapi::jiff::Timestamp;
    use serde_json::json;
    use vmop_api::external::kubevirt::{VirtualMachineStatus, VmiInterfaceStatus};
    use vmop_plugin::{
        InterfaceBinding, NetworkAttachment, VolumeAttachment, VolumeReadiness, VolumeSourceRef,
    };

    use super::*;

    fn at(seconds: i64) -> Time {
        Time(Timestamp::from_second(seconds).expect("valid"))
    }

    fn network(readiness: Readiness) -> NetworkOutcome {
        NetworkOutcome {
            name: "mgmt".into(),
            plugin: "bridge".into(),
            attachment: NetworkAttachment {
                name: "mgmt".into(),
                nad: "prod/web--mgmt".into(),
                binding: InterfaceBinding::Bridge,
                node_selector: None,
            },
            policies: vec![],
            readiness,
        }
    }

    fn disk(readiness: Readiness, phase: &str, progress: Option<&str>) -> DiskOutcome {
        DiskOutcome {
            name: "system".into(),
            backend: "cdi".into(),
            attachment: VolumeAttachment {
                name: "system".into(),
                source: VolumeSourceRef::DataVolume("web--system".into()),
                boot_order: Some(1),
            },
            readiness: VolumeReadiness {
                phase: Some(phase.into()),
                progress: progress.map(Into::into),
                ..VolumeReadiness::new(readiness, Some("web--system".into()))
            },
            refused_change: None,
        }
    }

    fn vm(printable: &str, conditions: serde_json::Value) -> VirtualMachine {
        let mut vm = VirtualMachine::new("web", Default::default());
        vm.status = Some(VirtualMachineStatus {
            printable_status: Some(printable.into()),
            conditions: serde_json::from_value(conditions).expect("conditions"),
            ..VirtualMachineStatus::default()
        });
        vm
    }

    fn applied() -> VmOutcome {
        VmOutcome::Applied {
            macs: [("mgmt".to_owned(), "02:00:00:00:00:01".to_owned())].into(),
            secrets: vec![],
        }
    }

    fn observed<'a>(
        networks: &'a [NetworkOutcome],
        disks: &'a [DiskOutcome],
        outcome: &'a VmOutcome,
        vm: Option<&'a VirtualMachine>,
        vmi: Option<&'a VirtualMachineInstance>,
    ) -> Observed<'a> {
        Observed {
            generation: Some(3),
            run_strategy: RunStrategy::Always,
            invalid: None,
            blocked: None,
            networks,
            disks,
            vm_outcome: Some(outcome),
            vm,
            vmi,
        }
    }

    fn reason(status: &VirtualMachineProfileStatus, type_: &str) -> (String, String, String) {
        let c = status
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
            .expect("condition present");
        (c.status.clone(), c.reason.clone(), c.message.clone())
    }

    #[test]
    fn a_running_vm_is_ready_with_ips_node_and_the_pinned_mac() {
        let networks = [network(Readiness::Ready)];
        let disks = [disk(Readiness::Ready, "Succeeded", Some("100.0%"))];
        let outcome = applied();
        let vm = vm("Running", json!([{"type": "Ready", "status": "True"}]));
        let mut vmi = VirtualMachineInstance::new("web", Default::default());
        vmi.status = Some(vmop_api::external::kubevirt::VirtualMachineInstanceStatus {
            node_name: Some("node-2".into()),
            interfaces: vec![
                VmiInterfaceStatus {
                    name: Some("default".into()),
                    ip_address: Some("10.244.0.5".into()),
                    ..Default::default()
                },
                VmiInterfaceStatus {
                    name: Some("mgmt".into()),
                    ip_addresses: vec!["192.168.100.10".into()],
                    interface_name: Some("eth1".into()),
                    info_source: Some("domain, guest-agent".into()),
                    ..Default::default()
                },
            ],
            ..Default::default()
        });
        let status = compute(
            &Default::default(),
            &observed(&networks, &disks, &outcome, Some(&vm), Some(&vmi)),
            at(100),
        );
        assert_eq!(status.phase, Some(Phase::Running));
        assert_eq!(status.node_name.as_deref(), Some("node-2"));
        assert_eq!(status.primary_ip.as_deref(), Some("192.168.100.10"));
        assert_eq!(status.observed_generation, Some(3));
        assert_eq!(
            status.networks[0].mac_address.as_deref(),
            Some("02:00:00:00:00:01")
        );
        assert_eq!(status.networks[0].interface_name.as_deref(), Some("eth1"));
        assert_eq!(reason(&status, "Ready").0, "True");
        assert!(
            status
                .conditions
                .iter()
                .all(|c| c.observed_generation == Some(3))
        );
    }

    #[test]
    fn an_import_in_progress_is_provisioning_with_its_progress() {
        let networks = [network(Readiness::Ready)];
        let disks = [disk(
            Readiness::InProgress {
                reason: "ImportInProgress".into(),
                message: "DataVolume web--system: ImportInProgress 45.00%".into(),
            },
            "ImportInProgress",
            Some("45.00%"),
        )];
        let outcome = VmOutcome::Waiting {
            reason: "WaitingForDependencies".into(),
            message: "the VM is created once its disks are ready".into(),
            macs: Default::default(),
            secrets: vec![],
        };
        let status = compute(
            &Default::default(),
            &observed(&networks, &disks, &outcome, None, None),
            at(100),
        );
        assert_eq!(status.phase, Some(Phase::Provisioning));
        assert_eq!(status.disks[0].progress.as_deref(), Some("45.00%"));
        let (ok, why, message) = reason(&status, "StorageReady");
        assert_eq!((ok.as_str(), why.as_str()), ("False", "Progressing"));
        assert!(message.contains("45.00%"), "{message}");
        assert_eq!(
            reason(&status, "Ready").1,
            "Progressing",
            "the first unready part explains Ready"
        );
    }

    #[test]
    fn kubevirt_error_states_are_failures_with_kubevirts_message() {
        let networks = [network(Readiness::Ready)];
        let disks = [disk(Readiness::Ready, "Succeeded", None)];
        let outcome = applied();
        for printable in [
            "ErrorUnschedulable",
            "DataVolumeError",
            "ErrorPvcNotFound",
            "CrashLoopBackOff",
            "ImagePullBackOff",
        ] {
            let vm = vm(
                printable,
                json!([{"type": "Ready", "status": "False", "message": "0/3 nodes are available"}]),
            );
            let status = compute(
                &Default::default(),
                &observed(&networks, &disks, &outcome, Some(&vm), None),
                at(1),
            );
            assert_eq!(status.phase, Some(Phase::Failed), "{printable}");
            assert_eq!(
                reason(&status, "VMReady"),
                (
                    "False".into(),
                    printable.into(),
                    "0/3 nodes are available".into()
                )
            );
        }
    }

    #[test]
    fn a_failed_dependency_fails_the_profile_with_the_upstream_message() {
        let networks = [network(Readiness::Failed {
            reason: "FailedToConfigure".into(),
            message: "policy vmop-br: 1/2 nodes failed".into(),
        })];
        let disks = [disk(Readiness::Ready, "Succeeded", None)];
        let outcome = VmOutcome::Waiting {
            reason: "WaitingForDependencies".into(),
            message: String::new(),
            macs: Default::default(),
            secrets: vec![],
        };
        let status = compute(
            &Default::default(),
            &observed(&networks, &disks, &outcome, None, None),
            at(1),
        );
        assert_eq!(status.phase, Some(Phase::Failed));
        assert_eq!(
            reason(&status, "NetworksReady"),
            (
                "False".into(),
                "FailedToConfigure".into(),
                "mgmt: policy vmop-br: 1/2 nodes failed".into()
            )
        );
    }

    #[test]
    fn a_halted_vm_is_stopped_as_asked() {
        let networks = [network(Readiness::Ready)];
        let disks = [disk(Readiness::Ready, "Succeeded", None)];
        let outcome = applied();
        let vm = vm("Stopped", json!([]));
        let mut seen = observed(&networks, &disks, &outcome, Some(&vm), None);
        seen.run_strategy = RunStrategy::Halted;
        let status = compute(&Default::default(), &seen, at(1));
        assert_eq!(status.phase, Some(Phase::Stopped));
        assert_eq!(reason(&status, "VMReady").0, "True");
        seen.run_strategy = RunStrategy::Always;
        assert_eq!(
            reason(&compute(&Default::default(), &seen, at(1)), "VMReady").0,
            "False",
            "stopped against its run strategy"
        );
    }

    #[test]
    fn transition_times_move_only_when_a_condition_changes() {
        let networks = [network(Readiness::Ready)];
        let disks = [disk(Readiness::Ready, "Succeeded", None)];
        let outcome = applied();
        let vm = vm("Running", json!([]));
        let first = compute(
            &Default::default(),
            &observed(&networks, &disks, &outcome, Some(&vm), None),
            at(100),
        );
        let same = compute(
            &first,
            &observed(&networks, &disks, &outcome, Some(&vm), None),
            at(200),
        );
        assert_eq!(
            first, same,
            "an unchanged status is equal, so nothing is written"
        );
        let stopped = self::vm("Stopped", json!([]));
        let changed = compute(
            &first,
            &observed(&networks, &disks, &outcome, Some(&stopped), None),
            at(300),
        );
        let time = |s: &VirtualMachineProfileStatus, t: &str| {
            s.conditions
                .iter()
                .find(|c| c.type_ == t)
                .map(|c| c.last_transition_time.clone())
        };
        assert_eq!(time(&changed, "NetworksReady"), Some(at(100)));
        assert_eq!(time(&changed, "VMReady"), Some(at(300)));
    }

    #[test]
    fn restart_required_is_reported_from_kubevirt() {
        let networks = [network(Readiness::Ready)];
        let disks = [disk(Readiness::Ready, "Succeeded", None)];
        let outcome = applied();
        let vm = vm(
            "Running",
            json!([{"type": "RestartRequired", "status": "True", "message": "a non-live-updatable field was changed"}]),
        );
        let status = compute(
            &Default::default(),
            &observed(&networks, &disks, &outcome, Some(&vm), None),
            at(1),
        );
        let (value, why, message) = reason(&status, RESTART_REQUIRED);
        assert_eq!((value.as_str(), why.as_str()), ("True", RESTART_REQUIRED));
        // KubeVirt's words, then how to restart now.
        assert!(
            message.starts_with("a non-live-updatable field was changed; "),
            "{message}"
        );
        assert!(message.contains(vmop_api::RESTART_ANNOTATION), "{message}");
    }

    #[test]
    fn an_invalid_spec_keeps_what_was_known() {
        let old = VirtualMachineProfileStatus {
            networks: vec![NetworkStatus {
                name: "mgmt".into(),
                mac_address: Some("02:00:00:00:00:01".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        let errors = vec!["spec.cpu: must be between 1 and 256".to_owned()];
        let seen = Observed {
            generation: Some(4),
            run_strategy: RunStrategy::Always,
            invalid: Some(&errors),
            blocked: None,
            networks: &[],
            disks: &[],
            vm_outcome: None,
            vm: None,
            vmi: None,
        };
        let status = compute(&old, &seen, at(1));
        assert_eq!(status.phase, Some(Phase::Pending));
        assert_eq!(
            reason(&status, "Ready"),
            ("False".into(), "InvalidSpec".into(), errors[0].clone())
        );
        assert_eq!(status.networks, old.networks, "the pinned MAC is not lost");
    }

    #[test]
    fn a_disk_waiting_for_its_consumer_keeps_the_profile_provisioning_under_a_created_vm() {
        let mut waiting = disk(
            Readiness::InProgress {
                reason: "WaitingForFirstConsumer".into(),
                message: "DataVolume web--system is populated once the VM is scheduled".into(),
            },
            "WaitForFirstConsumer",
            Some("N/A"),
        );
        waiting.readiness.waits_for_consumer = true;
        let disks = [waiting];
        let networks = [network(Readiness::Ready)];
        let outcome = applied();
        let provisioning = vm("Provisioning", serde_json::json!([]));
        let status = compute(
            &VirtualMachineProfileStatus::default(),
            &observed(&networks, &disks, &outcome, Some(&provisioning), None),
            at(1),
        );
        assert_eq!(status.phase, Some(Phase::Provisioning));
        assert!(status.disks[0].waiting_for_first_consumer);
        assert_eq!(
            reason(&status, "StorageReady"),
            (
                "False".to_owned(),
                "Progressing".to_owned(),
                "system: DataVolume web--system is populated once the VM is scheduled".to_owned()
            )
        );
    }

    #[test]
    fn a_refused_disk_change_is_not_ready_and_says_why_while_the_vm_runs() {
        let mut refused = disk(Readiness::Ready, "Succeeded", Some("100.0%"));
        refused.refused_change = Some("spec.disks[0].image: cannot change".into());
        let disks = [refused];
        let networks = [network(Readiness::Ready)];
        let outcome = applied();
        let running = vm(
            "Running",
            serde_json::json!([{"type": "Ready", "status": "True"}]),
        );
        let status = compute(
            &VirtualMachineProfileStatus::default(),
            &observed(&networks, &disks, &outcome, Some(&running), None),
            at(1),
        );
        assert_eq!(status.phase, Some(Phase::Running));
        assert_eq!(
            reason(&status, "StorageReady"),
            (
                "False".to_owned(),
                DISK_CHANGE_REFUSED.to_owned(),
                "spec.disks[0].image: cannot change".to_owned()
            )
        );
        assert_eq!(reason(&status, "Ready").1, DISK_CHANGE_REFUSED);
    }
}
