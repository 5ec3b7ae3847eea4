//! What a status write says happened, for the seed's lifecycle metrics: a profile seen for
//! the first time or after a spec change, a VM that started or failed, networks and storage
//! that became ready or failed. Pure: old status in, new status in, events out.

use vmop_api::{ConditionType, Phase, VirtualMachineProfileStatus};

/// One thing a status change says happened.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Transition {
    /// First status of a profile.
    Created,
    /// First status after a spec change.
    Updated,
    /// A stage succeeded or failed: `vm_start`, `network`, `storage`.
    Outcome {
        /// `vm_start`, `network` or `storage`.
        stage: &'static str,
        /// Whether it succeeded.
        success: bool,
    },
    /// The VM reached Running from provisioning; `seconds` since the profile was created.
    FirstRunning {
        /// Seconds from the profile's creation to Running.
        seconds: f64,
    },
}

fn condition_true(status: &VirtualMachineProfileStatus, type_: &str) -> bool {
    status
        .conditions
        .iter()
        .any(|c| c.type_ == type_ && c.status == "True")
}

/// The transitions from `old` to `new`; `age` is the profile's age in seconds now.
pub fn transitions(
    old: &VirtualMachineProfileStatus,
    new: &VirtualMachineProfileStatus,
    age: Option<f64>,
) -> Vec<Transition> {
    let mut found = Vec::new();
    match (old.observed_generation, new.observed_generation) {
        (None, Some(_)) => found.push(Transition::Created),
        (Some(seen), Some(now)) if seen != now => found.push(Transition::Updated),
        _ => {}
    }
    for (type_, stage) in [
        (ConditionType::NetworksReady.as_str(), "network"),
        (ConditionType::StorageReady.as_str(), "storage"),
    ] {
        if condition_true(new, type_) && !condition_true(old, type_) {
            found.push(Transition::Outcome {
                stage,
                success: true,
            });
        }
    }
    let became = |phase: Phase| new.phase == Some(phase) && old.phase != Some(phase);
    if became(Phase::Running) && old.phase != Some(Phase::Migrating) {
        found.push(Transition::Outcome {
            stage: "vm_start",
            success: true,
        });
        let provisioning = matches!(
            old.phase,
            None | Some(Phase::Pending | Phase::Provisioning | Phase::Starting)
        );
        if let Some(seconds) = age.filter(|_| provisioning) {
            found.push(Transition::FirstRunning { seconds });
        }
    }
    if became(Phase::Failed) {
        // The first stage not ready is the one that failed.
        let stage = if !condition_true(new, ConditionType::NetworksReady.as_str()) {
            "network"
        } else if !condition_true(new, ConditionType::StorageReady.as_str()) {
            "storage"
        } else {
            "vm_start"
        };
        found.push(Transition::Outcome {
            stage,
            success: false,
        });
    }
    found
}

#[cfg(test)]
mod tests {
    use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Condition, jiff::Timestamp};

    use super::*;

    fn status(phase: Phase, generation: i64, ready: &[&str]) -> VirtualMachineProfileStatus {
        VirtualMachineProfileStatus {
            phase: Some(phase),
            observed_generation: Some(generation),
            conditions: ["NetworksReady", "StorageReady", "VMReady"]
                .iter()
                .map(|type_| Condition {
                    type_: (*type_).into(),
                    status: if ready.contains(type_) {
                        "True"
                    } else {
                        "False"
                    }
                    .into(),
                    reason: "R".into(),
                    message: String::new(),
                    last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                        Timestamp::UNIX_EPOCH,
                    ),
                    observed_generation: None,
                })
                .collect(),
            ..VirtualMachineProfileStatus::default()
        }
    }

    #[test]
    fn a_profile_that_starts_counts_its_stages_once_and_its_time_to_running() {
        let none = VirtualMachineProfileStatus::default();
        let provisioning = status(Phase::Provisioning, 1, &["NetworksReady"]);
        assert_eq!(
            transitions(&none, &provisioning, Some(1.0)),
            vec![
                Transition::Created,
                Transition::Outcome {
                    stage: "network",
                    success: true
                }
            ]
        );
        let running = status(
            Phase::Running,
            1,
            &["NetworksReady", "StorageReady", "VMReady"],
        );
        assert_eq!(
            transitions(&provisioning, &running, Some(12.0)),
            vec![
                Transition::Outcome {
                    stage: "storage",
                    success: true
                },
                Transition::Outcome {
                    stage: "vm_start",
                    success: true
                },
                Transition::FirstRunning { seconds: 12.0 },
            ]
        );
        assert!(transitions(&running, &running, Some(20.0)).is_empty());
    }

    #[test]
    fn a_failure_is_counted_against_the_first_stage_not_ready() {
        let provisioning = status(Phase::Provisioning, 1, &["NetworksReady"]);
        let failed = status(Phase::Failed, 1, &["NetworksReady"]);
        assert_eq!(
            transitions(&provisioning, &failed, None),
            vec![Transition::Outcome {
                stage: "storage",
                success: false
            }]
        );
        let changed = status(Phase::Provisioning, 2, &["NetworksReady"]);
        assert_eq!(
            transitions(&provisioning, &changed, None),
            vec![Transition::Updated]
        );
    }
}
