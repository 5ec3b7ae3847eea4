//! Restart on request: each new value of the annotation `vmoperator.io/restart-requested` is
//! one restart, done the way `virtctl restart` does it: a Stop request for the running
//! instance's UID and a Start request on the VirtualMachine's `status.stateChangeRequests`,
//! which virt-controller turns into a new instance.
//!
//! Exactly once, also across operator restarts: the request is first recorded in
//! `status.restart` with the UID of the instance it replaces, and only then is KubeVirt asked,
//! naming that UID. A Stop for an instance that is already gone stops nothing, so asking again
//! after a crash cannot restart the new instance.

use vmop_api::{
    RequestPhase, RequestStatus,
    external::kubevirt::{VirtualMachine, VirtualMachineInstance, state_change},
};

/// What the reconcile does about a restart request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartStep {
    /// `status.restart` after this pass.
    pub recorded: Option<RequestStatus>,
    /// Ask KubeVirt now to stop the instance with this UID (and start a new one).
    pub stop: Option<String>,
}

fn uid(vmi: &VirtualMachineInstance) -> Option<&str> {
    vmi.metadata.uid.as_deref()
}

fn running(vmi: &VirtualMachineInstance) -> bool {
    vmi.metadata.deletion_timestamp.is_none()
        && vmi.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
}

/// Whether the VM already carries a request (ours or anyone's): KubeVirt takes one at a time.
fn pending_requests(vm: Option<&VirtualMachine>) -> bool {
    vm.and_then(|vm| vm.status.as_ref())
        .is_some_and(|s| !s.state_change_requests.is_empty())
}

/// Decides from the annotation, what status recorded, and the VM and instance as cached.
pub fn step(
    requested: Option<&str>,
    recorded: Option<&RequestStatus>,
    vm: Option<&VirtualMachine>,
    vmi: Option<&VirtualMachineInstance>,
) -> RestartStep {
    let keep = RestartStep {
        recorded: recorded.cloned(),
        stop: None,
    };
    let Some(request) = requested.filter(|r| !r.is_empty()) else {
        return keep;
    };
    let Some(recorded) = recorded.filter(|r| r.request == request) else {
        // A new request: record it (with the instance it replaces) before anything else.
        let recorded = match vmi.filter(|vmi| running(vmi)).and_then(uid) {
            Some(current) => RequestStatus {
                request: request.to_owned(),
                phase: RequestPhase::InProgress,
                message: format!("restarting: instance {current} is replaced"),
                replaced_instance: Some(current.to_owned()),
                ..RequestStatus::default()
            },
            None => RequestStatus {
                request: request.to_owned(),
                phase: RequestPhase::Refused,
                message: "the VM is not running: there is nothing to restart".into(),
                ..RequestStatus::default()
            },
        };
        return RestartStep {
            recorded: Some(recorded),
            stop: None,
        };
    };
    if recorded.phase != RequestPhase::InProgress {
        return keep;
    }
    let replaced = recorded.replaced_instance.as_deref();
    match vmi {
        // The instance to replace is still there: ask KubeVirt (once no request is pending).
        Some(vmi) if uid(vmi) == replaced => RestartStep {
            recorded: Some(recorded.clone()),
            stop: (vmi.metadata.deletion_timestamp.is_none() && !pending_requests(vm))
                .then(|| replaced.unwrap_or_default().to_owned()),
        },
        Some(vmi) if running(vmi) => RestartStep {
            recorded: Some(RequestStatus {
                phase: RequestPhase::Succeeded,
                message: format!("restarted: instance {} runs", uid(vmi).unwrap_or_default()),
                ..recorded.clone()
            }),
            stop: None,
        },
        // The old one is going or the new one is starting.
        _ => keep,
    }
}

/// The `status.stateChangeRequests` `virtctl restart` writes for the instance `uid`.
pub fn restart_requests(uid: &str) -> serde_json::Value {
    serde_json::json!([
        { "action": state_change::STOP, "uid": uid },
        { "action": state_change::START },
    ])
}

#[cfg(test)]
mod tests {
    use vmop_api::external::kubevirt::{
        StateChangeRequest, VirtualMachineInstanceStatus, VirtualMachineStatus,
    };

    use super::*;

    fn instance(uid: &str, phase: &str) -> VirtualMachineInstance {
        let mut vmi = VirtualMachineInstance::default();
        vmi.metadata.uid = Some(uid.into());
        vmi.status = Some(VirtualMachineInstanceStatus {
            phase: Some(phase.into()),
            ..VirtualMachineInstanceStatus::default()
        });
        vmi
    }

    fn in_progress(request: &str, replaced: &str) -> RequestStatus {
        RequestStatus {
            request: request.into(),
            phase: RequestPhase::InProgress,
            message: String::new(),
            replaced_instance: Some(replaced.into()),
            ..RequestStatus::default()
        }
    }

    #[test]
    fn a_new_request_is_recorded_with_the_instance_it_replaces_before_kubevirt_is_asked() {
        let step = step(Some("t1"), None, None, Some(&instance("a", "Running")));
        assert_eq!(step.stop, None, "record first");
        let recorded = step.recorded.expect("recorded");
        assert_eq!(recorded.phase, RequestPhase::InProgress);
        assert_eq!(recorded.replaced_instance.as_deref(), Some("a"));
    }

    #[test]
    fn a_recorded_request_asks_kubevirt_to_stop_exactly_that_instance() {
        let recorded = in_progress("t1", "a");
        let vmi = instance("a", "Running");
        let asked = step(Some("t1"), Some(&recorded), None, Some(&vmi));
        assert_eq!(asked.stop.as_deref(), Some("a"));
        // A request already pending on the VM: wait for it.
        let vm = VirtualMachine {
            status: Some(VirtualMachineStatus {
                state_change_requests: vec![StateChangeRequest {
                    action: "Stop".into(),
                    uid: Some("a".into()),
                    ..StateChangeRequest::default()
                }],
                ..VirtualMachineStatus::default()
            }),
            ..VirtualMachine::default()
        };
        assert_eq!(
            step(Some("t1"), Some(&recorded), Some(&vm), Some(&vmi)).stop,
            None
        );
    }

    #[test]
    fn a_new_running_instance_completes_the_request_and_nothing_is_asked_again() {
        let recorded = in_progress("t1", "a");
        let starting = step(
            Some("t1"),
            Some(&recorded),
            None,
            Some(&instance("b", "Scheduling")),
        );
        assert_eq!(
            starting.recorded.as_ref().map(|r| r.phase),
            Some(RequestPhase::InProgress)
        );
        assert_eq!(starting.stop, None);
        let done = step(
            Some("t1"),
            Some(&recorded),
            None,
            Some(&instance("b", "Running")),
        );
        assert_eq!(done.stop, None);
        let done = done.recorded.expect("recorded");
        assert_eq!(done.phase, RequestPhase::Succeeded);
        // Once succeeded, the same value never restarts again, whatever runs.
        let again = step(
            Some("t1"),
            Some(&done),
            None,
            Some(&instance("b", "Running")),
        );
        assert_eq!(again.stop, None);
        assert_eq!(again.recorded, Some(done));
    }

    #[test]
    fn a_stopped_vm_refuses_and_no_annotation_keeps_the_record() {
        let refused = step(Some("t1"), None, None, None)
            .recorded
            .expect("recorded");
        assert_eq!(refused.phase, RequestPhase::Refused);
        let recorded = in_progress("t1", "a");
        assert_eq!(
            step(None, Some(&recorded), None, None).recorded,
            Some(recorded)
        );
    }
}
