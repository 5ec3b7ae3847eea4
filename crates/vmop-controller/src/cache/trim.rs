//! What each watch cache keeps of an object: what reconciles read, so that memory grows by
//! that and not by everything the API server returns.

use kube::Resource;
use vmop_api::external::{
    UpstreamCondition,
    cdi::DataVolume,
    kubevirt::{PVC_NOT_FOUND_REASON, VirtualMachine, VirtualMachineInstance},
};

/// Drops what no reconcile reads from any object: managed fields (often larger than the
/// object) and the last-applied annotation.
pub fn strip<K: Resource>(object: &mut K) {
    let meta = object.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// Annotation put on the cached copy only (never written to the API server) of a child
/// cached as metadata only, when another manager owns content the operator set: the cache
/// cannot compare that content, so the managed fields say it changed, and it is applied again.
pub const FOREIGN_CONTENT_MARK: &str = "vmoperator.io/cached-foreign-content";

/// Top-level fields that hold a child's content (not its metadata, whose labels and
/// annotations others may add to as they like).
const CONTENT_FIELDS: [&str; 3] = ["f:spec", "f:data", "f:stringData"];

/// For children cached as metadata only (NADs, Secrets, NetworkPolicies): marks a copy whose
/// content someone else took over (see [`FOREIGN_CONTENT_MARK`]), then [`strip`]s it. A
/// field another manager owns alongside the operator (the same value applied by both) is
/// shared, not taken, and is no mark.
pub fn metadata_only<K: Resource>(object: &mut K) {
    if foreign_content(object.meta().managed_fields.as_deref().unwrap_or_default()) {
        object
            .meta_mut()
            .annotations
            .get_or_insert_default()
            .insert(FOREIGN_CONTENT_MARK.into(), "true".into());
    }
    strip(object);
}

/// Whether a manager other than the operator owns a content field the operator does not.
fn foreign_content(
    entries: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry],
) -> bool {
    let mut ours = std::collections::BTreeSet::new();
    let mut theirs = std::collections::BTreeSet::new();
    for entry in entries {
        // Status is the subresource's; the main resource's entries carry none.
        if entry.subresource.as_deref().is_some_and(|s| !s.is_empty()) {
            continue;
        }
        let Some(fields) = entry.fields_v1.as_ref().map(|f| &f.0) else {
            continue;
        };
        let set = if entry.manager.as_deref() == Some(crate::context::FIELD_MANAGER) {
            &mut ours
        } else {
            &mut theirs
        };
        for top in CONTENT_FIELDS {
            if let Some(tree) = fields.get(top) {
                leaves(tree, &mut vec![top.to_owned()], set);
            }
        }
    }
    !theirs.is_subset(&ours)
}

/// The leaf paths of a managed-fields tree (`fieldsV1`).
fn leaves(
    tree: &serde_json::Value,
    path: &mut Vec<String>,
    out: &mut std::collections::BTreeSet<Vec<String>>,
) {
    let children: Vec<_> = tree
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(key, _)| key.as_str() != ".")
        .collect();
    if children.is_empty() {
        out.insert(path.clone());
        return;
    }
    for (key, child) in children {
        path.push(key.clone());
        leaves(child, path, out);
        path.pop();
    }
}

/// Upstream conditions keep type, status, reason and message; their timestamps go.
fn trim_conditions(conditions: &mut [UpstreamCondition]) {
    conditions.iter_mut().for_each(|c| c.extra.clear());
}

/// A VMI keeps only what status is computed from: phase, node, interfaces, conditions and
/// migration state. The spec (a copy of the VM's template with KubeVirt's defaults) and the
/// rest of the status are the larger part of an instance, and nothing reads them.
pub fn instance(vmi: &mut VirtualMachineInstance) {
    strip(vmi);
    vmi.metadata.annotations = None;
    vmi.spec = Default::default();
    if let Some(status) = vmi.status.as_mut() {
        status.extra.clear();
        status.interfaces.iter_mut().for_each(|i| i.extra.clear());
        trim_conditions(&mut status.conditions);
    }
}

/// A VM keeps its whole spec (an apply is skipped only while the cache still holds every
/// field the operator set) and, of its status, what the profile's status and restart
/// requests read.
pub fn vm(vm: &mut VirtualMachine) {
    strip(vm);
    let disks: Vec<String> = vm
        .spec
        .template
        .iter()
        .filter_map(|t| t.spec.as_ref())
        .flat_map(|s| &s.volumes)
        .filter(|v| v.data_volume.is_some() || v.persistent_volume_claim.is_some())
        .map(|v| v.name.clone())
        .collect();
    if let Some(status) = vm.status.as_mut() {
        status.extra.clear();
        trim_conditions(&mut status.conditions);
        // Only a disk KubeVirt says cannot be snapshotted is reported (`SnapshotsAvailable`);
        // a claim it has not seen yet is no verdict.
        status.volume_snapshot_statuses.retain(|v| {
            !v.enabled
                && disks.contains(&v.name)
                && v.reason.as_deref() != Some(PVC_NOT_FOUND_REASON)
        });
    }
}

/// A DataVolume keeps its spec and, of its status, phase, progress, claim, restarts and
/// conditions.
pub fn data_volume(dv: &mut DataVolume) {
    strip(dv);
    if let Some(status) = dv.status.as_mut() {
        status.extra.clear();
        trim_conditions(&mut status.conditions);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn with_managers(
        entries: serde_json::Value,
    ) -> vmop_api::external::multus::NetworkAttachmentDefinition {
        serde_json::from_value(json!({
            "apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": "web--lan", "managedFields": entries},
            "spec": {"config": "{}"}
        }))
        .expect("a NAD")
    }

    fn marked(nad: &vmop_api::external::multus::NetworkAttachmentDefinition) -> bool {
        nad.metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(FOREIGN_CONTENT_MARK))
    }

    #[test]
    fn content_taken_over_by_another_manager_is_marked_and_labels_are_not() {
        let ours = json!({"manager": "vm-operator", "operation": "Apply",
                          "fieldsV1": {"f:metadata": {"f:labels": {"f:vmoperator.io/profile": {}}},
                                       "f:spec": {"f:config": {}}}});
        let mut untouched = with_managers(json!([ours.clone()]));
        metadata_only(&mut untouched);
        assert!(!marked(&untouched));
        assert!(untouched.metadata.managed_fields.is_none(), "stripped");

        let mut edited = with_managers(json!([
            {"manager": "vm-operator", "operation": "Apply",
             "fieldsV1": {"f:metadata": {"f:labels": {"f:vmoperator.io/profile": {}}}}},
            {"manager": "kubectl-edit", "operation": "Update",
             "fieldsV1": {"f:spec": {"f:config": {}}}}
        ]));
        metadata_only(&mut edited);
        assert!(marked(&edited), "kubectl edit took spec.config");

        let mut labelled = with_managers(json!([
            ours.clone(),
            {"manager": "team-tool", "operation": "Apply",
             "fieldsV1": {"f:metadata": {"f:labels": {"f:team": {}}}}}
        ]));
        metadata_only(&mut labelled);
        assert!(
            !marked(&labelled),
            "another manager's own label is its own business"
        );

        let mut shared = with_managers(json!([
            ours,
            {"manager": "gitops", "operation": "Apply", "fieldsV1": {"f:spec": {"f:config": {}}}}
        ]));
        metadata_only(&mut shared);
        assert!(!marked(&shared), "the same value applied by both is shared");
    }

    #[test]
    fn an_instance_keeps_what_status_reads_and_nothing_else() {
        let mut vmi: VirtualMachineInstance = serde_json::from_value(json!({
            "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
            "metadata": {"name": "web", "labels": {"vmoperator.io/profile": "web"},
                         "annotations": {"kubevirt.io/latest-observed-api-version": "v1"},
                         "managedFields": [{"manager": "virt-handler"}]},
            "spec": {"domain": {"devices": {}}},
            "status": {"phase": "Running", "nodeName": "node-1",
                       "interfaces": [{"name": "mgmt", "mac": "02:00:00:00:00:01",
                                       "queueCount": 1}],
                       "conditions": [{"type": "Ready", "status": "True",
                                       "lastTransitionTime": "2026-01-01T00:00:00Z"}],
                       "migrationState": {"completed": true},
                       "volumeStatus": [{"name": "system"}]}
        }))
        .expect("a VMI");
        instance(&mut vmi);
        let kept = serde_json::to_value(&vmi).expect("serializes");
        assert_eq!(
            kept,
            json!({
                "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
                "metadata": {"name": "web", "labels": {"vmoperator.io/profile": "web"}},
                "spec": {"domain": {"devices": {}}},
                "status": {"phase": "Running", "nodeName": "node-1",
                           "interfaces": [{"name": "mgmt", "mac": "02:00:00:00:00:01"}],
                           "conditions": [{"type": "Ready", "status": "True"}],
                           "migrationState": {"completed": true}}
            })
        );
    }

    #[test]
    fn a_vm_keeps_its_spec_and_what_its_status_is_read_for() {
        let mut object: VirtualMachine = serde_json::from_value(json!({
            "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
            "metadata": {"name": "web", "annotations": {"vmoperator.io/applied-hash": "1"},
                         "managedFields": [{"manager": "vm-operator"}]},
            "spec": {"runStrategy": "Always", "template": {"spec": {"domain": {}}}},
            "status": {"printableStatus": "Running", "ready": true,
                       "volumeSnapshotStatuses": [{"name": "system", "enabled": false}]}
        }))
        .expect("a VM");
        vm(&mut object);
        let kept = serde_json::to_value(&object).expect("serializes");
        assert_eq!(
            kept["spec"]["template"]["spec"]["domain"],
            json!({"devices": {}})
        );
        assert_eq!(
            kept["metadata"]["annotations"]["vmoperator.io/applied-hash"],
            "1"
        );
        assert!(kept["metadata"].get("managedFields").is_none());
        assert_eq!(
            kept["status"],
            json!({"printableStatus": "Running", "ready": true})
        );
    }

    #[test]
    fn a_vm_keeps_only_the_disks_kubevirt_says_cannot_be_snapshotted() {
        let mut object: VirtualMachine = serde_json::from_value(json!({
            "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
            "metadata": {"name": "web"},
            "spec": {"template": {"spec": {"domain": {}, "volumes": [
                {"name": "system", "dataVolume": {"name": "web--system"}},
                {"name": "data", "persistentVolumeClaim": {"claimName": "web--data"}},
                {"name": "scratch", "dataVolume": {"name": "web--scratch"}},
                {"name": "cloudinitdisk", "cloudInitNoCloud": {}}]}}},
            "status": {"volumeSnapshotStatuses": [
                {"name": "system", "enabled": true},
                {"name": "data", "enabled": false, "reason": "No VolumeSnapshotClass: [local-path] [data]"},
                {"name": "scratch", "enabled": false, "reason": "PVC not found"},
                {"name": "cloudinitdisk", "enabled": false, "reason": "Snapshot is not supported"}]}
        }))
        .expect("a VM");
        vm(&mut object);
        let kept: Vec<&str> = object
            .status
            .as_ref()
            .expect("status")
            .volume_snapshot_statuses
            .iter()
            .map(|v| v.name.as_str())
            .collect();
        assert_eq!(kept, vec!["data"]);
    }
}
