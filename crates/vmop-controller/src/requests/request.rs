//! Requests made with an annotation (restart, migration, snapshot, restore): the Event for
//! each step of one.

use vmop_api::{RequestPhase, RequestStatus};

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `vmoperator.io/restart-requested`.
    Restart,
    /// `vmoperator.io/migrate-requested`.
    Migration,
    /// `vmoperator.io/snapshot-requested`.
    Snapshot,
    /// `vmoperator.io/restore-requested`.
    Restore,
}

/// The Event for a change of the recorded request: (warning, reason, note); none when the
/// request and its phase are unchanged.
pub fn event(
    action: Action,
    old: Option<&RequestStatus>,
    new: Option<&RequestStatus>,
) -> Option<(bool, &'static str, String)> {
    let new = new?;
    if old.is_some_and(|old| old.request == new.request && old.phase == new.phase) {
        return None;
    }
    let reason = match (action, new.phase) {
        (Action::Restart, RequestPhase::InProgress) => "RestartRequested",
        (Action::Restart, RequestPhase::Succeeded) => "Restarted",
        (Action::Restart, RequestPhase::Refused) => "RestartRefused",
        (Action::Restart, RequestPhase::Failed) => "RestartFailed",
        (Action::Migration, RequestPhase::InProgress) => "MigrationRequested",
        (Action::Migration, RequestPhase::Succeeded) => "Migrated",
        (Action::Migration, RequestPhase::Refused) => "MigrationRefused",
        (Action::Migration, RequestPhase::Failed) => "MigrationFailed",
        (Action::Snapshot, RequestPhase::InProgress) => "SnapshotRequested",
        (Action::Snapshot, RequestPhase::Succeeded) => "SnapshotTaken",
        (Action::Snapshot, RequestPhase::Refused) => "SnapshotRefused",
        (Action::Snapshot, RequestPhase::Failed) => "SnapshotFailed",
        (Action::Restore, RequestPhase::InProgress) => "RestoreRequested",
        (Action::Restore, RequestPhase::Succeeded) => "Restored",
        (Action::Restore, RequestPhase::Refused) => "RestoreRefused",
        (Action::Restore, RequestPhase::Failed) => "RestoreFailed",
    };
    let warning = matches!(new.phase, RequestPhase::Refused | RequestPhase::Failed);
    Some((
        warning,
        reason,
        format!("request {:?}: {}", new.request, new.message),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(request: &str, phase: RequestPhase) -> RequestStatus {
        RequestStatus {
            request: request.into(),
            phase,
            message: "m".into(),
            ..RequestStatus::default()
        }
    }

    #[test]
    fn one_event_per_step_of_a_request() {
        let asked = record("t1", RequestPhase::InProgress);
        let done = record("t1", RequestPhase::Succeeded);
        assert_eq!(
            event(Action::Restart, None, Some(&asked)).map(|e| e.1),
            Some("RestartRequested")
        );
        assert_eq!(event(Action::Restart, Some(&asked), Some(&asked)), None);
        assert_eq!(
            event(Action::Migration, Some(&asked), Some(&done)).map(|e| (e.0, e.1)),
            Some((false, "Migrated"))
        );
        let refused = record("t2", RequestPhase::Refused);
        assert_eq!(
            event(Action::Migration, Some(&done), Some(&refused)).map(|e| (e.0, e.1)),
            Some((true, "MigrationRefused"))
        );
    }
}
