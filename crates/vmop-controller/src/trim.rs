//! What each watch cache keeps of an object: what reconciles read, so that memory grows by
//! that and not by everything the API server returns.

use kube::Resource;
use vmop_api::external::{
    UpstreamCondition,
    cdi::DataVolume,
    kubevirt::{VirtualMachine, VirtualMachineInstance},
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
    if let Some(status) = vm.status.as_mut() {
        status.extra.clear();
        trim_conditions(&mut status.conditions);
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
}
