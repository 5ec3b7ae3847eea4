//! Status from what was observed: pure, so every phase and condition is unit-tested.
//!
//! KubeVirt's error states (ErrorUnschedulable, DataVolumeError, ErrorPvcNotFound,
//! CrashLoopBackOff, image pull errors) become phase Failed with the state as the reason and
//! KubeVirt's message, never a profile that merely looks slow.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use vmop_api::{
    ConditionType, DiskStatus, NetworkStatus, Phase, RequestStatus, Resources, RunStrategy,
    VirtualMachineProfile, VirtualMachineProfileStatus,
    external::{
        find_condition,
        kubevirt::{
            LIVE_MIGRATABLE_CONDITION, VirtualMachine, VirtualMachineInstance, VmiInterfaceStatus,
            vm_condition,
        },
    },
};

use vmop_plugin::Readiness;

use crate::{
    converge::network::NetworkOutcome,
    converge::storage::DiskOutcome,
    converge::vm::VmOutcome,
    desired::disk_changes::DISK_CHANGE_REFUSED,
    report::verdict::{
        PROGRESSING, TELLING_REASONS, Verdict, live_migratable, readiness_message, scheduled,
        set_condition, summarize, vm_verdict,
    },
};

/// Condition type reporting that KubeVirt needs a restart to apply a change.
pub(crate) use vmop_api::reasons::RESTART_REQUIRED;
/// The VM's network name for the pod network.
const POD_NETWORK: &str = "default";
/// Condition type of a profile's isolation.
use vmop_api::reasons::{ISOLATED, SCHEDULED, SNAPSHOTS_AVAILABLE, WAITING_FOR_FIRST_START};

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
    /// What a pass that got as far as the VM resolved and recorded; `None` keeps what the
    /// last status said.
    pub converged: Option<Converged<'a>>,
}

impl<'a> Observed<'a> {
    /// What a profile that stops before its children has to show: an invalid spec
    /// (`invalid`) or a refusal with its reason (`blocked`); networks, disks and the VM are
    /// not looked at.
    pub fn stopped(
        profile: &VirtualMachineProfile,
        invalid: Option<&'a [String]>,
        blocked: Option<(&'a str, &'a [String])>,
    ) -> Self {
        Observed {
            generation: profile.metadata.generation,
            run_strategy: profile.spec.run_strategy,
            invalid,
            blocked,
            networks: &[],
            disks: &[],
            vm_outcome: None,
            vm: None,
            vmi: None,
            converged: None,
        }
    }
}

/// What a pass that reached the VM adds to status besides its children's state.
#[derive(Debug, Clone)]
pub struct Converged<'a> {
    /// The profile (the access hints name it).
    pub profile: &'a VirtualMachineProfile,
    /// CPU and memory, from the spec or from the instancetype.
    pub resources: Resources,
    /// The restart request as this pass left it.
    pub restart: Option<RequestStatus>,
    /// The migration request as this pass left it.
    pub migration: Option<RequestStatus>,
    /// The `Isolated` condition (ok, reason, message), when isolation is asked for.
    pub isolation: Option<(bool, &'static str, String)>,
    /// The VM's snapshots, newest first.
    pub snapshots: Vec<vmop_api::SnapshotStatus>,
    /// The snapshot request as this pass left it.
    pub snapshot: Option<RequestStatus>,
    /// The restore request as this pass left it.
    pub restore: Option<RequestStatus>,
    /// The `SnapshotsAvailable` condition (ok, reason, message), when snapshots are asked for.
    pub snapshots_available: Option<(bool, &'static str, String)>,
}

/// The status a profile should have.
pub fn compute(
    old: &VirtualMachineProfileStatus,
    observed: &Observed<'_>,
    now: Time,
) -> VirtualMachineProfileStatus {
    let refusal = observed
        .invalid
        .map(|errors| (vmop_api::reasons::INVALID_SPEC, errors))
        .or(observed.blocked);
    if let Some((reason, errors)) = refusal {
        return refused(old, observed.generation, reason, errors, &now);
    }
    let (conditions, phase) = conditions(old, observed, &now);
    let interfaces: BTreeMap<&str, &VmiInterfaceStatus> = observed
        .vmi
        .and_then(|vmi| vmi.status.as_ref())
        .map(|s| {
            s.interfaces
                .iter()
                .filter_map(|i| Some((i.name.as_deref()?, i)))
                .collect()
        })
        .unwrap_or_default();
    let networks = network_statuses(observed, &interfaces);
    let primary_ip = networks
        .iter()
        .find_map(|n| n.ip_addresses.first().cloned())
        .or_else(|| {
            interfaces
                .get(POD_NETWORK)
                .and_then(|i| i.ip_address.clone())
        });
    let vm_applied = matches!(observed.vm_outcome, Some(VmOutcome::Applied { .. }));
    let converged = observed.converged.as_ref();
    VirtualMachineProfileStatus {
        phase: Some(phase),
        observed_generation: observed.generation,
        conditions,
        networks,
        disks: disk_statuses(observed),
        node_name: observed
            .vmi
            .and_then(|vmi| vmi.status.as_ref())
            .and_then(|s| s.node_name.clone()),
        vm_name: vm_applied
            .then(|| observed.vm.and_then(|vm| vm.metadata.name.clone()))
            .flatten(),
        resources: converged.map_or_else(|| old.resources.clone(), |c| Some(c.resources.clone())),
        access: converged.map_or_else(
            || old.access.clone(),
            |c| {
                Some(crate::report::access::access(
                    c.profile,
                    primary_ip.as_deref(),
                ))
            },
        ),
        restart: converged.map_or_else(|| old.restart.clone(), |c| c.restart.clone().map(Box::new)),
        migration: converged.map_or_else(
            || old.migration.clone(),
            |c| c.migration.clone().map(Box::new),
        ),
        snapshots: converged.map_or_else(|| old.snapshots.clone(), |c| c.snapshots.clone()),
        snapshot: converged.map_or_else(
            || old.snapshot.clone(),
            |c| c.snapshot.clone().map(Box::new),
        ),
        restore: converged.map_or_else(|| old.restore.clone(), |c| c.restore.clone().map(Box::new)),
        primary_ip,
    }
}

/// The status of a profile stopped before its children: every condition False with
/// `reason`; what was known is kept, above all the pinned MACs, so nothing is lost.
fn refused(
    old: &VirtualMachineProfileStatus,
    generation: Option<i64>,
    reason: &str,
    errors: &[String],
    now: &Time,
) -> VirtualMachineProfileStatus {
    let verdict = Verdict::new(false, reason, errors.join("; "));
    let mut conditions = Vec::new();
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
            now,
        );
    }
    VirtualMachineProfileStatus {
        phase: Some(Phase::Pending),
        observed_generation: generation,
        conditions,
        ..old.clone()
    }
}

/// A disk waiting for its first consumer counts as ready while the VM is stopped as asked:
/// the VM is that consumer, and nothing else will bind it.
static WAITS_FOR_THE_VM: Readiness = Readiness::Ready;

/// Whether the VM exists and is stopped as the spec asks (`runStrategy: Halted`).
fn halted(observed: &Observed<'_>) -> bool {
    observed.run_strategy == RunStrategy::Halted
        && matches!(observed.vm_outcome, Some(VmOutcome::Applied { .. }))
}

/// Whether `disk` waits only for the VM to start.
fn waits_for_the_vm(observed: &Observed<'_>, disk: &DiskOutcome) -> bool {
    halted(observed) && disk.readiness.waits_for_consumer && !disk.readiness.readiness.is_ready()
}

/// What a disk counts as for the StorageReady verdict.
fn disk_readiness<'a>(observed: &Observed<'_>, disk: &'a DiskOutcome) -> &'a Readiness {
    if waits_for_the_vm(observed, disk) {
        &WAITS_FOR_THE_VM
    } else {
        &disk.readiness.readiness
    }
}

/// The storage verdict, and whether a disk failed.
fn storage_verdict(observed: &Observed<'_>) -> (Verdict, bool) {
    let disks = observed.disks.iter();
    let (verdict, failed) = summarize(
        disks.map(|d| (d.name.as_str(), disk_readiness(observed, d))),
        "AllDisksReady",
    );
    let waiting: Vec<&str> = observed
        .disks
        .iter()
        .filter(|d| waits_for_the_vm(observed, d))
        .map(|d| d.name.as_str())
        .collect();
    if verdict.ok && !waiting.is_empty() {
        let message = format!(
            "{} bind(s) when the VM first starts (WaitForFirstConsumer)",
            waiting.join(", ")
        );
        return (Verdict::new(true, WAITING_FOR_FIRST_START, message), failed);
    }
    (verdict, failed)
}

/// The verdicts of networks, storage and the VM, and the phase they make.
fn verdicts(observed: &Observed<'_>) -> ([Verdict; 3], Phase) {
    let (networks, network_failed) = summarize(
        observed
            .networks
            .iter()
            .map(|n| (n.name.as_str(), &n.readiness)),
        "AllNetworksReady",
    );
    let (storage, storage_failed) = storage_verdict(observed);
    // A refused change leaves the disk as it is (and the VM running on it), but is not
    // Ready: the spec asks for something that will not happen.
    let refused_change = observed
        .disks
        .iter()
        .find_map(|d| d.refused_change.as_ref());
    let storage = match refused_change {
        Some(message) if !storage_failed => {
            Verdict::new(false, DISK_CHANGE_REFUSED, message.clone())
        }
        _ => storage,
    };
    let (vm, vm_phase) = vm_verdict(observed);
    // The VM exists but waits for disks still being bound or imported: Provisioning, with
    // the disks' progress in status, until the data plane catches up.
    let disks_pending = observed
        .disks
        .iter()
        .any(|d| !d.readiness.readiness.is_ready());
    // A disk in line to import holds the whole profile in line.
    let disks_queued = observed
        .disks
        .iter()
        .any(|d| d.readiness.phase.as_deref() == Some(vmop_api::reasons::QUEUED));
    let phase = if matches!(observed.vm_outcome, Some(VmOutcome::Invalid(_))) {
        Phase::Pending
    } else if network_failed || storage_failed {
        Phase::Failed
    } else if disks_queued {
        Phase::Queued
    } else if vm_phase == Phase::Starting && disks_pending {
        Phase::Provisioning
    } else {
        vm_phase
    };
    ([networks, storage, vm], phase)
}

/// Ready: the first part not ready decides, unless it is only progressing and a later one
/// says more (in line, an image that cannot be pulled): a profile in line shows Queued while
/// its network is still being enacted, and keeps it when the network is done.
fn ready_verdict(parts: &[Verdict; 3]) -> Verdict {
    let mut not_ready = parts.iter().filter(|v| !v.ok);
    let Some(first) = not_ready.next() else {
        return Verdict::new(true, "Ready", "");
    };
    let telling = (first.reason == PROGRESSING)
        .then(|| not_ready.find(|v| TELLING_REASONS.contains(&v.reason.as_str())))
        .flatten();
    let decides = telling.unwrap_or(first);
    Verdict::new(false, decides.reason.clone(), decides.message.clone())
}

/// Every condition: the parts', Ready (see [`ready_verdict`]), and those that
/// KubeVirt and the pass report (RestartRequired, LiveMigratable, Isolated).
fn conditions(
    old: &VirtualMachineProfileStatus,
    observed: &Observed<'_>,
    now: &Time,
) -> (Vec<Condition>, Phase) {
    let (parts, phase) = verdicts(observed);
    let ready = ready_verdict(&parts);
    let [networks, storage, vm] = parts;
    let mut verdicts = vec![
        (ConditionType::NetworksReady.as_str(), networks),
        (ConditionType::StorageReady.as_str(), storage),
        (ConditionType::VmReady.as_str(), vm),
        (ConditionType::Ready.as_str(), ready),
    ];
    verdicts.extend(restart_required(observed.vm).map(|v| (RESTART_REQUIRED, v)));
    if observed.converged.is_some() {
        let migratable = observed.vmi.and_then(live_migratable);
        verdicts.extend(migratable.map(|v| (LIVE_MIGRATABLE_CONDITION, v)));
    }
    verdicts.extend(scheduled(observed).map(|v| (SCHEDULED, v)));
    let isolation = observed
        .converged
        .as_ref()
        .and_then(|c| c.isolation.clone());
    verdicts.extend(
        isolation.map(|(ok, reason, message)| (ISOLATED, Verdict::new(ok, reason, message))),
    );
    let snapshots = observed
        .converged
        .as_ref()
        .and_then(|c| c.snapshots_available.clone());
    verdicts.extend(
        snapshots
            .map(|(ok, reason, message)| (SNAPSHOTS_AVAILABLE, Verdict::new(ok, reason, message))),
    );
    let mut conditions = Vec::new();
    for (type_, verdict) in &verdicts {
        set_condition(
            &mut conditions,
            &old.conditions,
            type_,
            verdict,
            observed.generation,
            now,
        );
    }
    (conditions, phase)
}

/// KubeVirt's RestartRequired, saying what happens and how to make it happen now.
fn restart_required(vm: Option<&VirtualMachine>) -> Option<Verdict> {
    let restart = vm
        .and_then(|vm| vm.status.as_ref())
        .and_then(|s| find_condition(&s.conditions, vm_condition::RESTART_REQUIRED))
        .filter(|c| c.is_true())?;
    Some(Verdict::new(
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
    ))
}

/// Each network as planned, with its pinned MAC and what the instance reports of it.
fn network_statuses(
    observed: &Observed<'_>,
    interfaces: &BTreeMap<&str, &VmiInterfaceStatus>,
) -> Vec<NetworkStatus> {
    let macs = observed
        .vm_outcome
        .and_then(VmOutcome::macs)
        .cloned()
        .unwrap_or_default();
    observed
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
        .collect()
}

/// Each disk with its claim, phase and import progress.
fn disk_statuses(observed: &Observed<'_>) -> Vec<DiskStatus> {
    observed
        .disks
        .iter()
        .map(|d| DiskStatus {
            message: if waits_for_the_vm(observed, d) {
                Some("waits for the VM: the claim binds when the VM first starts".into())
            } else {
                readiness_message(&d.readiness.readiness)
            },
            name: d.name.clone(),
            backend: Some(d.backend.clone()),
            claim_name: d.readiness.claim_name.clone(),
            phase: d.readiness.phase.clone(),
            progress: d.readiness.progress.clone(),
            restart_count: d.readiness.restart_count,
            waiting_for_first_consumer: d.readiness.waits_for_consumer,
            image_version: d.image_version.clone(),
            ready: d.readiness.readiness.is_ready(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use k8s_openapi::jiff::Timestamp;
    use serde_json::json;
    use vmop_api::external::kubevirt::{VirtualMachineStatus, VmiInterfaceStatus};
    use vmop_plugin::{
        InterfaceBinding, NetworkAttachment, Readiness, VolumeAttachment, VolumeReadiness,
        VolumeSourceRef,
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
            image_version: None,
        }
    }

    /// A DataVolume on a WaitForFirstConsumer class, not bound yet.
    fn waiting_for_consumer() -> DiskOutcome {
        let mut waiting = disk(
            Readiness::InProgress {
                reason: "WaitingForFirstConsumer".into(),
                message: "DataVolume web--system is populated once the VM is scheduled".into(),
            },
            "WaitForFirstConsumer",
            Some("N/A"),
        );
        waiting.readiness.waits_for_consumer = true;
        waiting
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
            converged: None,
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
    fn an_unschedulable_vm_carries_the_schedulers_reason_and_message() {
        let networks = [network(Readiness::Ready)];
        let disks = [disk(Readiness::Ready, "Succeeded", None)];
        let outcome = applied();
        let message = "0/3 nodes are available: 3 Insufficient memory.";
        let stuck = vm(
            "ErrorUnschedulable",
            json!([
                {"type": "Ready", "status": "False", "reason": "PodConditionMissing",
                 "message": "virt-launcher pod is missing the Ready condition"},
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                 "message": message},
            ]),
        );
        let status = compute(
            &Default::default(),
            &observed(&networks, &disks, &outcome, Some(&stuck), None),
            at(1),
        );
        assert_eq!(
            reason(&status, "Scheduled"),
            ("False".into(), "Unschedulable".into(), message.into())
        );
        assert_eq!(
            reason(&status, "Ready"),
            ("False".into(), "ErrorUnschedulable".into(), message.into())
        );

        // Scheduled: the node; no word from KubeVirt yet: no condition.
        let running = vm("Running", json!([{"type": "Ready", "status": "True"}]));
        let mut vmi = VirtualMachineInstance::new("web", Default::default());
        vmi.status = serde_json::from_value(json!({"phase": "Running", "nodeName": "node-2"}))
            .expect("vmi status");
        let status = compute(
            &Default::default(),
            &observed(&networks, &disks, &outcome, Some(&running), Some(&vmi)),
            at(2),
        );
        assert_eq!(
            reason(&status, "Scheduled"),
            ("True".into(), "OnNode".into(), "on node node-2".into())
        );
        let status = compute(
            &Default::default(),
            &observed(&networks, &disks, &outcome, Some(&running), None),
            at(3),
        );
        assert!(status.conditions.iter().all(|c| c.type_ != "Scheduled"));
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
            converged: None,
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
        let disks = [waiting_for_consumer()];
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

    #[test]
    fn a_converged_pass_sets_its_resources_access_requests_and_isolation_and_keeps_them_otherwise()
    {
        let networks = [network(Readiness::Ready)];
        let disks = [disk(Readiness::Ready, "Succeeded", None)];
        let outcome = applied();
        let vm = vm("Running", json!([]));
        let mut vmi = VirtualMachineInstance::new("web", Default::default());
        vmi.status = serde_json::from_value(json!({
            "conditions": [{"type": "LiveMigratable", "status": "False", "reason": "DisksNotLiveMigratable", "message": "PVC system is not shared"}],
            "interfaces": [{"name": "mgmt", "ipAddress": "10.0.0.7", "ipAddresses": ["10.0.0.7"]}]
        }))
        .expect("vmi status");
        let profile = vmop_api::fixtures::valid_profile("web");
        let restart = vmop_api::RequestStatus {
            request: "2026-12-01T10:00:00Z".into(),
            message: "asked KubeVirt to restart the VM".into(),
            ..Default::default()
        };
        let mut seen = observed(&networks, &disks, &outcome, Some(&vm), Some(&vmi));
        seen.converged = Some(Converged {
            profile: &profile,
            resources: Resources {
                vcpus: 2,
                memory: "4Gi".into(),
                instancetype: None,
            },
            restart: Some(restart.clone()),
            migration: None,
            isolation: Some((false, "NotIsolated", "bridge mgmt is not covered".into())),
            snapshots: Vec::new(),
            snapshot: None,
            restore: None,
            snapshots_available: None,
        });
        let status = compute(&Default::default(), &seen, at(1));
        assert_eq!(status.resources.as_ref().map(|r| r.vcpus), Some(2));
        assert_eq!(status.restart.as_deref(), Some(&restart));
        let access = status.access.clone().expect("access hints");
        assert!(access.console.starts_with("virtctl console"), "{access:?}");
        assert_eq!(
            reason(&status, LIVE_MIGRATABLE_CONDITION),
            (
                "False".into(),
                "DisksNotLiveMigratable".into(),
                "PVC system is not shared".into()
            )
        );
        assert_eq!(reason(&status, ISOLATED).1, "NotIsolated");

        // A pass that stops before the VM keeps them all as they were.
        let later = compute(
            &status,
            &observed(&networks, &disks, &outcome, Some(&vm), None),
            at(2),
        );
        assert_eq!(later.resources, status.resources);
        assert_eq!(later.access, status.access);
        assert_eq!(later.restart, status.restart);
        assert!(
            later
                .conditions
                .iter()
                .all(|c| c.type_ != ISOLATED && c.type_ != LIVE_MIGRATABLE_CONDITION)
        );
    }

    #[test]
    fn a_halted_vm_whose_disks_wait_for_their_first_consumer_is_stopped_and_ready() {
        let disks = [waiting_for_consumer()];
        let networks = [network(Readiness::Ready)];
        let outcome = applied();
        let stopped = vm("Stopped", json!([]));
        let mut seen = observed(&networks, &disks, &outcome, Some(&stopped), None);
        seen.run_strategy = RunStrategy::Halted;
        let status = compute(&Default::default(), &seen, at(1));
        assert_eq!(status.phase, Some(Phase::Stopped));
        assert_eq!(reason(&status, "Ready").0, "True", "{status:#?}");
        let storage = reason(&status, "StorageReady");
        assert_eq!(
            (storage.0.as_str(), storage.1.as_str()),
            ("True", "WaitingForFirstStart")
        );
        assert!(storage.2.contains("system"), "{storage:?}");
        let message = status.disks[0].message.clone().unwrap_or_default();
        assert!(message.starts_with("waits for the VM"), "{message}");
        assert!(status.disks[0].waiting_for_first_consumer && !status.disks[0].ready);

        // Asked to run, the same disks are progress again: the VM is their consumer now.
        seen.run_strategy = RunStrategy::Always;
        let starting = compute(&Default::default(), &seen, at(1));
        assert_eq!(reason(&starting, "Ready").0, "False");
        assert_eq!(reason(&starting, "StorageReady").1, "Progressing");

        // A disk that failed is not hidden by a halted VM.
        let failed = [disk(
            Readiness::Failed {
                reason: "ImportFailed".into(),
                message: "unreachable".into(),
            },
            "Failed",
            None,
        )];
        let mut seen = observed(&networks, &failed, &outcome, Some(&stopped), None);
        seen.run_strategy = RunStrategy::Halted;
        assert_eq!(
            reason(&compute(&Default::default(), &seen, at(1)), "Ready").0,
            "False"
        );
    }

    #[test]
    fn ready_names_the_first_part_not_ready_unless_a_later_one_says_more() {
        let ok = || Verdict::new(true, "AllReady", "");
        let progressing = || Verdict::new(false, PROGRESSING, "lan: enacting");
        let queued = || Verdict::new(false, vmop_api::reasons::QUEUED, "system: 3rd in line");
        let decided = |parts: [Verdict; 3]| {
            let ready = ready_verdict(&parts);
            (ready.ok, ready.reason, ready.message)
        };
        assert_eq!(
            decided([ok(), ok(), ok()]),
            (true, "Ready".into(), "".into())
        );
        assert_eq!(
            decided([
                progressing(),
                ok(),
                Verdict::new(false, "NotCreated", "no VM")
            ]),
            (false, PROGRESSING.into(), "lan: enacting".into())
        );
        // In line while the network is enacted, and still once it is: no change of reason.
        assert_eq!(
            decided([progressing(), queued(), ok()]),
            (false, "Queued".into(), "system: 3rd in line".into())
        );
        assert_eq!(decided([ok(), queued(), ok()]).1, "Queued");
        // A part that failed or was refused is never overruled by a later one.
        let refused = Verdict::new(false, "NotAllowed", "lan: the policy forbids eth9");
        assert_eq!(decided([refused, queued(), ok()]).1, "NotAllowed");
    }
}
