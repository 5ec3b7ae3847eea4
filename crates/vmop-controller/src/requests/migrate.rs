//! Live migration on request: each new value of the annotation `vmoperator.io/migrate-requested`
//! is one migration, done the way `virtctl migrate` does it: a VirtualMachineInstanceMigration
//! naming the instance, which KubeVirt carries out and reports in its phase.
//!
//! Exactly once: the request is recorded in `status.migration` with the migration's name (a
//! hash of the request) before the migration is created, and that name is created at most once
//! (an existing one is only observed). A VM that KubeVirt does not call live-migratable is
//! refused with KubeVirt's reason.

use std::collections::BTreeMap;

use kube::api::ObjectMeta;
use vmop_api::{
    PROFILE_LABEL, RequestPhase, RequestStatus,
    external::kubevirt::{
        LIVE_MIGRATABLE_CONDITION, VirtualMachineInstance, VirtualMachineInstanceMigration,
        VirtualMachineInstanceMigrationSpec, migration_phase,
    },
};
use vmop_plugin::names::{derived_name, fnv1a};

/// What the reconcile does about a migration request.
#[derive(Debug, Clone, PartialEq)]
pub struct MigrateStep {
    /// `status.migration` after this pass.
    pub recorded: Option<RequestStatus>,
    /// Create this migration now.
    pub create: Option<VirtualMachineInstanceMigration>,
}

/// The migration's name for a request: the profile and a hash of the request's value.
pub fn migration_name(profile: &str, request: &str) -> String {
    derived_name(&[
        profile,
        "migrate",
        &format!("{:08x}", fnv1a(request.as_bytes()) as u32),
    ])
}

fn node(vmi: &VirtualMachineInstance) -> Option<String> {
    vmi.status.as_ref().and_then(|s| s.node_name.clone())
}

/// Whether KubeVirt says the instance can live-migrate: `Ok`, or its reason and message.
fn live_migratable(vmi: &VirtualMachineInstance) -> Result<(), String> {
    let condition = vmi
        .status
        .iter()
        .flat_map(|s| &s.conditions)
        .find(|c| c.type_ == LIVE_MIGRATABLE_CONDITION);
    match condition {
        Some(c) if c.status == "True" => Ok(()),
        Some(c) => Err(format!(
            "{}: {}",
            c.reason.as_deref().unwrap_or("NotMigratable"),
            c.message
                .as_deref()
                .unwrap_or("KubeVirt says the VM cannot live-migrate")
        )),
        None => Err("KubeVirt has not said that the VM can live-migrate".into()),
    }
}

fn running(vmi: &VirtualMachineInstance) -> bool {
    vmi.metadata.deletion_timestamp.is_none()
        && vmi.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
}

/// The migration object for a recorded request.
fn migration_object(
    profile: &str,
    namespace: &str,
    name: &str,
    vmi_name: &str,
) -> VirtualMachineInstanceMigration {
    VirtualMachineInstanceMigration {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.to_owned()),
            labels: Some(BTreeMap::from([(
                PROFILE_LABEL.to_owned(),
                profile.to_owned(),
            )])),
            ..ObjectMeta::default()
        },
        spec: VirtualMachineInstanceMigrationSpec {
            vmi_name: vmi_name.to_owned(),
            ..VirtualMachineInstanceMigrationSpec::default()
        },
        status: None,
    }
}

/// Decides from the annotation, what status recorded, the instance and the migration (if
/// one of the recorded name exists).
pub fn step(
    (profile, namespace): (&str, &str),
    requested: Option<&str>,
    recorded: Option<&RequestStatus>,
    vmi: Option<&VirtualMachineInstance>,
    migration: Option<&VirtualMachineInstanceMigration>,
) -> MigrateStep {
    let keep = MigrateStep {
        recorded: recorded.cloned(),
        create: None,
    };
    let Some(request) = requested.filter(|r| !r.is_empty()) else {
        return keep;
    };
    let Some(recorded) = recorded.filter(|r| r.request == request) else {
        let refused = |message: String| RequestStatus {
            request: request.to_owned(),
            phase: RequestPhase::Refused,
            message,
            ..RequestStatus::default()
        };
        let recorded = match vmi.filter(|vmi| running(vmi)) {
            None => refused("the VM is not running: there is nothing to migrate".into()),
            Some(vmi) => match live_migratable(vmi) {
                Err(why) => refused(format!("the VM cannot live-migrate: {why}")),
                Ok(()) => {
                    let name = migration_name(profile, request);
                    RequestStatus {
                        request: request.to_owned(),
                        phase: RequestPhase::InProgress,
                        message: format!("migration {name} created"),
                        migration_name: Some(name),
                        source_node: node(vmi),
                        ..RequestStatus::default()
                    }
                }
            },
        };
        return MigrateStep {
            recorded: Some(recorded),
            create: None,
        };
    };
    if recorded.phase != RequestPhase::InProgress {
        return keep;
    }
    let Some(name) = recorded.migration_name.as_deref() else {
        return keep;
    };
    let Some(migration) = migration else {
        return MigrateStep {
            recorded: Some(recorded.clone()),
            create: Some(migration_object(profile, namespace, name, profile)),
        };
    };
    let phase = migration
        .status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_default();
    let recorded = match phase.as_str() {
        migration_phase::SUCCEEDED => RequestStatus {
            phase: RequestPhase::Succeeded,
            message: format!("migration {name} succeeded"),
            target_node: vmi.and_then(node),
            ..recorded.clone()
        },
        migration_phase::FAILED => RequestStatus {
            phase: RequestPhase::Failed,
            message: format!("migration {name} failed; the VM stays where it was"),
            ..recorded.clone()
        },
        "" => recorded.clone(),
        under_way => RequestStatus {
            message: format!("migration {name}: {under_way}"),
            ..recorded.clone()
        },
    };
    MigrateStep {
        recorded: Some(recorded),
        create: None,
    }
}

#[cfg(test)]
mod tests {
    use vmop_api::external::{
        UpstreamCondition,
        kubevirt::{VirtualMachineInstanceMigrationStatus, VirtualMachineInstanceStatus},
    };

    use super::*;

    const AT: (&str, &str) = ("db", "team-a");

    fn instance(node: &str, migratable: Option<(&str, &str)>) -> VirtualMachineInstance {
        let conditions = migratable
            .map(|(status, reason)| UpstreamCondition {
                type_: LIVE_MIGRATABLE_CONDITION.into(),
                status: status.into(),
                reason: Some(reason.into()),
                message: Some("why".into()),
                ..UpstreamCondition::default()
            })
            .into_iter()
            .collect();
        VirtualMachineInstance {
            status: Some(VirtualMachineInstanceStatus {
                phase: Some("Running".into()),
                node_name: Some(node.into()),
                conditions,
                ..VirtualMachineInstanceStatus::default()
            }),
            ..VirtualMachineInstance::default()
        }
    }

    fn migration(phase: &str) -> VirtualMachineInstanceMigration {
        VirtualMachineInstanceMigration {
            status: Some(VirtualMachineInstanceMigrationStatus {
                phase: Some(phase.into()),
                ..VirtualMachineInstanceMigrationStatus::default()
            }),
            ..VirtualMachineInstanceMigration::default()
        }
    }

    #[test]
    fn a_migratable_vm_records_the_request_then_creates_the_migration_once() {
        let vmi = instance("node-1", Some(("True", "")));
        let first = step(AT, Some("t1"), None, Some(&vmi), None);
        assert_eq!(first.create, None, "record first");
        let recorded = first.recorded.expect("recorded");
        assert_eq!(recorded.phase, RequestPhase::InProgress);
        assert_eq!(recorded.source_node.as_deref(), Some("node-1"));
        let name = recorded.migration_name.clone().expect("name");
        assert_eq!(name, migration_name("db", "t1"));

        let second = step(AT, Some("t1"), Some(&recorded), Some(&vmi), None);
        let created = second.create.expect("create");
        assert_eq!(created.metadata.name.as_deref(), Some(name.as_str()));
        assert_eq!(created.spec.vmi_name, "db");
        // Once it exists it is only observed.
        let running = migration("Running");
        let third = step(AT, Some("t1"), Some(&recorded), Some(&vmi), Some(&running));
        assert_eq!(third.create, None);
        assert!(
            third
                .recorded
                .expect("recorded")
                .message
                .contains("Running")
        );
    }

    #[test]
    fn success_records_the_target_node_and_failure_says_so() {
        let recorded = step(
            AT,
            Some("t1"),
            None,
            Some(&instance("node-1", Some(("True", "")))),
            None,
        )
        .recorded
        .expect("recorded");
        let moved = instance("node-2", Some(("True", "")));
        let done = step(
            AT,
            Some("t1"),
            Some(&recorded),
            Some(&moved),
            Some(&migration("Succeeded")),
        )
        .recorded
        .expect("recorded");
        assert_eq!(done.phase, RequestPhase::Succeeded);
        assert_eq!(done.target_node.as_deref(), Some("node-2"));
        assert_eq!(done.source_node.as_deref(), Some("node-1"));
        let failed = step(
            AT,
            Some("t1"),
            Some(&recorded),
            Some(&moved),
            Some(&migration("Failed")),
        )
        .recorded
        .expect("recorded");
        assert_eq!(failed.phase, RequestPhase::Failed);
    }

    #[test]
    fn a_vm_kubevirt_cannot_migrate_or_that_is_not_running_is_refused_with_the_reason() {
        let pinned = instance("node-1", Some(("False", "DisksNotLiveMigratable")));
        let refused = step(AT, Some("t1"), None, Some(&pinned), None);
        assert_eq!(refused.create, None);
        let refused = refused.recorded.expect("recorded");
        assert_eq!(refused.phase, RequestPhase::Refused);
        assert!(
            refused.message.contains("DisksNotLiveMigratable"),
            "{}",
            refused.message
        );
        let stopped = step(AT, Some("t1"), None, None, None)
            .recorded
            .expect("recorded");
        assert_eq!(stopped.phase, RequestPhase::Refused);
        // A refused request is not retried; a new value asks again.
        let again = step(
            AT,
            Some("t1"),
            Some(&stopped),
            Some(&instance("n", Some(("True", "")))),
            None,
        );
        assert_eq!(again.recorded, Some(stopped));
        assert_eq!(again.create, None);
    }
}
