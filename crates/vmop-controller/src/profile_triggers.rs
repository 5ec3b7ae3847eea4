//! Which profile events call for a reconcile: a change of anything but the status the
//! operator writes as its output.
//!
//! The operator writes a profile's status three or four times on the way to Running, and
//! each write comes back as a watch event. Reconciling on those events would only read back
//! what it just wrote; under load, when they arrive further apart than the debounce, each
//! one costs a reconcile of its own. The spec, labels, annotations (requests), finalizers
//! and the deletion timestamp are what a reconcile acts on, and so are the records it keeps
//! in status for itself: a restart or migration request is recorded first and carried out
//! by the next pass, and pinned MACs are kept for the VM. A status edited by someone else
//! is corrected at the next reconcile, at the latest the periodic one.

use std::collections::BTreeMap;

use vmop_api::{VirtualMachineProfile, VirtualMachineProfileStatus};

/// Whether `new` differs from `old` (the cached version before this event) in anything a
/// reconcile acts on: all but its status and resourceVersion, and of the status, the records
/// described above. A profile not cached before is always a change.
pub fn changed_beyond_status(
    old: Option<&VirtualMachineProfile>,
    new: &VirtualMachineProfile,
) -> bool {
    let Some(old) = old else {
        return true;
    };
    if old.spec != new.spec || records(old.status.as_ref()) != records(new.status.as_ref()) {
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

/// What later reconciles read back from a status: the requests in progress and the MACs.
type Records<'a> = (
    Option<&'a vmop_api::RequestStatus>,
    Option<&'a vmop_api::RequestStatus>,
    BTreeMap<&'a str, &'a str>,
);

fn records(status: Option<&VirtualMachineProfileStatus>) -> Records<'_> {
    let Some(status) = status else {
        return Default::default();
    };
    let macs = status
        .networks
        .iter()
        .filter_map(|n| Some((n.name.as_str(), n.mac_address.as_deref()?)))
        .collect();
    (status.restart.as_ref(), status.migration.as_ref(), macs)
}

#[cfg(test)]
mod tests {
    use kube::ResourceExt;
    use vmop_api::{NetworkStatus, Phase, RequestStatus, fixtures::valid_profile};

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
    fn the_records_a_later_pass_reads_back_are_triggers() {
        let old = cached();
        let changes: [fn(&mut VirtualMachineProfileStatus); 3] = [
            |s| {
                s.restart = Some(RequestStatus {
                    request: "now".into(),
                    ..Default::default()
                })
            },
            |s| {
                s.migration = Some(RequestStatus {
                    request: "now".into(),
                    ..Default::default()
                })
            },
            |s| {
                s.networks = vec![NetworkStatus {
                    name: "mgmt".into(),
                    mac_address: Some("02:00:00:00:00:01".into()),
                    ..Default::default()
                }]
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
