//! Which profile events call for a reconcile: a change of anything but the status the
//! operator writes as its output.
//!
//! The operator writes a profile's status three or four times on the way to Running, and
//! each write comes back as a watch event. Reconciling on those events would only read back
//! what it just wrote; under load, when they arrive further apart than the debounce, each
//! one costs a reconcile of its own. The spec, labels, annotations (requests), finalizers
//! and the deletion timestamp are what a reconcile acts on, and so are the request records
//! it keeps in status for itself: a restart or migration is recorded first and carried out
//! by the next pass. (Pinned MACs in status are read back too, but they call for no action
//! of their own, and they are derived from the profile, so a pass that reads them late
//! derives the same.) A status edited by someone else is corrected at the next reconcile,
//! at the latest the periodic one.

use vmop_api::{RequestStatus, VirtualMachineProfile, VirtualMachineProfileStatus};

/// Whether `new` differs from `old` (the cached version before this event) in anything a
/// reconcile acts on: all but its status and resourceVersion, and of the status, the request
/// records. A profile not cached before is always a change.
pub fn changed_beyond_status(
    old: Option<&VirtualMachineProfile>,
    new: &VirtualMachineProfile,
) -> bool {
    let Some(old) = old else {
        return true;
    };
    if old.spec != new.spec || requests(old.status.as_ref()) != requests(new.status.as_ref()) {
        return true;
    }
    let mut metadata = new.metadata.clone();
    metadata
        .resource_version
        .clone_from(&old.metadata.resource_version);
    metadata
        .managed_fields
        .clone_from(&old.metadata.managed_fields);
    metadata != old.metadata
}

/// The requests recorded in a status, which the next pass carries out.
fn requests(
    status: Option<&VirtualMachineProfileStatus>,
) -> (Option<&RequestStatus>, Option<&RequestStatus>) {
    status.map_or((None, None), |s| {
        (s.restart.as_deref(), s.migration.as_deref())
    })
}

#[cfg(test)]
mod tests {
    use kube::ResourceExt;
    use vmop_api::{NetworkStatus, Phase, fixtures::valid_profile};

    use super::*;

    fn cached() -> VirtualMachineProfile {
        let mut profile = valid_profile("web");
        profile.metadata.resource_version = Some("10".into());
        profile
    }

    #[test]
    fn a_status_write_or_a_new_resource_version_alone_is_no_trigger() {
        let old = cached();
        let mut new = old.clone();
        new.metadata.resource_version = Some("11".into());
        new.status = Some(VirtualMachineProfileStatus {
            phase: Some(Phase::Running),
            ..Default::default()
        });
        assert!(!changed_beyond_status(Some(&old), &new));
    }

    #[test]
    fn spec_metadata_and_deletion_changes_are_triggers() {
        let old = cached();
        let changes: [fn(&mut VirtualMachineProfile); 5] = [
            |p| p.spec.cpu = Some(8),
            |p| {
                p.annotations_mut()
                    .insert("vmoperator.io/restart".into(), "1".into());
            },
            |p| p.finalizers_mut().push("vmoperator.io/cleanup".into()),
            |p| {
                p.metadata.deletion_timestamp = Some(
                    k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Default::default()),
                )
            },
            |p| p.metadata.generation = Some(2),
        ];
        for change in changes {
            let mut new = old.clone();
            new.metadata.resource_version = Some("11".into());
            change(&mut new);
            assert!(changed_beyond_status(Some(&old), &new), "{new:?}");
        }
    }

    #[test]
    fn a_recorded_request_is_a_trigger_and_pinned_macs_are_not() {
        let old = cached();
        let mut new = old.clone();
        new.status.get_or_insert_with(Default::default).networks = vec![NetworkStatus {
            name: "mgmt".into(),
            mac_address: Some("02:00:00:00:00:01".into()),
            ..Default::default()
        }];
        assert!(!changed_beyond_status(Some(&old), &new));
        let changes: [fn(&mut VirtualMachineProfileStatus); 2] = [
            |s| {
                s.restart = Some(Box::new(RequestStatus {
                    request: "now".into(),
                    ..Default::default()
                }))
            },
            |s| {
                s.migration = Some(Box::new(RequestStatus {
                    request: "now".into(),
                    ..Default::default()
                }))
            },
        ];
        for change in changes {
            let mut new = old.clone();
            change(new.status.get_or_insert_with(Default::default));
            assert!(changed_beyond_status(Some(&old), &new), "{:?}", new.status);
        }
    }

    #[test]
    fn a_profile_not_cached_before_is_a_trigger() {
        assert!(changed_beyond_status(None, &cached()));
    }
}
