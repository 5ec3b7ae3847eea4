//! The world's floor: the children the operator made in the run (NADs, cloud-init Secrets,
//! DataVolumes, claims of blank disks, VirtualMachines, and the node network policies they share), copied and created directly by this client into a namespace
//! of their own, like hand-written YAML applied all at once, with the same concurrency and no
//! operator involved. The simulators, the volume binder and the API server then take this long
//! to get every VM Running: what any way of making these objects pays, so the operator's time
//! divided by it is the operator's own cost.

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use anyhow::{Result, bail};
use futures::{StreamExt, TryStreamExt, stream};
use kube::{
    Api, Client,
    api::{ApiResource, DynamicObject, ListParams, ObjectMeta, PostParams},
    runtime::{WatchStreamExt, watcher},
};
use serde_json::Value;
use vmop_api::{
    PROFILE_LABEL,
    external::{
        cdi::DataVolume, kubevirt::VirtualMachine, multus::NetworkAttachmentDefinition,
        nmstate::NodeNetworkConfigurationPolicy,
    },
    k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret},
};

/// Copies of the operator's children, ready to create elsewhere.
#[derive(Debug)]
pub struct Children {
    /// Cluster-scoped: the node network policies, renamed (the run's still exist).
    policies: Vec<DynamicObject>,
    /// In creation order: per profile, its NAD, Secret, DataVolumes, claims and VM.
    objects: Vec<(ApiResource, DynamicObject)>,
    vms: usize,
}

/// The copy of a node network policy: its content under another name, without the
/// operator's label (the copy is nobody's).
fn policy_copy(mut policy: DynamicObject) -> DynamicObject {
    let name = format!("{}-world", policy.metadata.name.take().unwrap_or_default());
    policy.metadata = ObjectMeta {
        name: Some(name),
        ..ObjectMeta::default()
    };
    if let Some(data) = policy.data.as_object_mut() {
        data.remove("status");
    }
    policy
}

fn resources() -> [ApiResource; 5] {
    [
        ApiResource::erase::<NetworkAttachmentDefinition>(&()),
        ApiResource::erase::<Secret>(&()),
        ApiResource::erase::<DataVolume>(&()),
        // Blank disks (the seed shape's data disk) are claims of their own.
        ApiResource::erase::<PersistentVolumeClaim>(&()),
        ApiResource::erase::<VirtualMachine>(&()),
    ]
}

/// Annotation prefixes the cluster's controllers set (the volume binder's on a claim), not
/// its writer.
const SET_BY_THE_CLUSTER: [&str; 3] = [
    "pv.kubernetes.io/",
    "volume.kubernetes.io/",
    "volume.beta.kubernetes.io/",
];

/// `object` as a user would write it: name, labels and annotations; no owner (its profile
/// is not there), no status, no server-set fields, and no binding (a claim's volume is the
/// binder's choice).
fn as_written(mut object: DynamicObject, from: &str, to: &str) -> DynamicObject {
    let annotations = object.metadata.annotations.take().map(|annotations| {
        annotations
            .into_iter()
            .filter(|(key, _)| !SET_BY_THE_CLUSTER.iter().any(|p| key.starts_with(p)))
            .collect()
    });
    object.metadata = ObjectMeta {
        name: object.metadata.name.take(),
        labels: object.metadata.labels.take(),
        annotations,
        ..ObjectMeta::default()
    };
    if let Some(data) = object.data.as_object_mut() {
        data.remove("status");
        if let Some(spec) = data.get_mut("spec").and_then(Value::as_object_mut) {
            spec.remove("volumeName");
        }
    }
    requalify(&mut object.data, &format!("{from}/"), &format!("{to}/"));
    object
}

/// Rewrites `<namespace>/` references (a VM's Multus network names) to the new namespace.
fn requalify(value: &mut Value, from: &str, to: &str) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                match inner {
                    Value::String(s) if key == "networkName" && s.starts_with(from) => {
                        *s = format!("{to}{}", &s[from.len()..]);
                    }
                    _ => requalify(inner, from, to),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| requalify(v, from, to)),
        _ => {}
    }
}

fn owned_by_data_volume(object: &DynamicObject) -> bool {
    object
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|owner| owner.kind == "DataVolume")
}

/// The operator's children in `from`, as they would be written for namespace `to`.
pub async fn capture(client: &Client, from: &str, to: &str) -> Result<Children> {
    let mut by_kind = Vec::new();
    for resource in resources() {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), from, &resource);
        let mut listed = api
            .list(&ListParams::default().labels(PROFILE_LABEL))
            .await?;
        listed
            .items
            .sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        let copies: Vec<DynamicObject> = listed
            .items
            .into_iter()
            // A DataVolume's claim is CDI's to make (it carries the DataVolume's labels).
            .filter(|o| !owned_by_data_volume(o))
            .map(|o| as_written(o, from, to))
            .collect();
        by_kind.push((resource, copies));
    }
    let policies = Api::<DynamicObject>::all_with(client.clone(), &policy_resource())
        // Every node network policy of the bench's cluster is the operator's.
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .map(policy_copy)
        .collect();
    let vms = by_kind.last().map_or(0, |(_, v)| v.len());
    let longest = by_kind.iter().map(|(_, v)| v.len()).max().unwrap_or(0);
    let mut objects = Vec::new();
    for i in 0..longest {
        for (resource, copies) in &by_kind {
            if let Some(object) = copies.get(i) {
                objects.push((resource.clone(), object.clone()));
            }
        }
    }
    Ok(Children {
        policies,
        objects,
        vms,
    })
}

fn policy_resource() -> ApiResource {
    ApiResource::erase::<NodeNetworkConfigurationPolicy>(&())
}

impl Children {
    /// How many objects there are to create.
    pub fn count(&self) -> usize {
        self.policies.len() + self.objects.len()
    }

    /// Creates the copies in `namespace`, `concurrency` at a time, and returns how long until
    /// every VM showed Running.
    pub async fn measure(
        self,
        client: &Client,
        namespace: &str,
        concurrency: usize,
        timeout: Duration,
    ) -> Result<Duration> {
        let vm_resource = ApiResource::erase::<VirtualMachine>(&());
        let vms: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &vm_resource);
        // Watch from before the first create, so that no VM's Running is missed.
        let mut events = watcher(vms, watcher::Config::default())
            .applied_objects()
            .boxed();
        let started = Instant::now();
        let policies: Api<DynamicObject> = Api::all_with(client.clone(), &policy_resource());
        for policy in &self.policies {
            policies.create(&PostParams::default(), policy).await?;
        }
        let create = stream::iter(self.objects)
            .map(|(resource, object)| {
                let api: Api<DynamicObject> =
                    Api::namespaced_with(client.clone(), namespace, &resource);
                async move {
                    api.create(&PostParams::default(), &object)
                        .await
                        .map(|_| ())
                }
            })
            .buffer_unordered(concurrency)
            .try_collect::<()>();
        let expected = self.vms;
        let running = async {
            let mut running = HashSet::new();
            while running.len() < expected {
                let Some(vm) = events.try_next().await? else {
                    bail!("the VMs' watch ended");
                };
                if vm.data["status"]["printableStatus"] == "Running" {
                    running.insert(vm.metadata.name.unwrap_or_default());
                }
            }
            anyhow::Ok(started.elapsed())
        };
        let Ok((created, running)) =
            tokio::time::timeout(timeout, futures::future::join(create, running)).await
        else {
            let listed =
                Api::<DynamicObject>::namespaced_with(client.clone(), namespace, &vm_resource)
                    .list(&ListParams::default())
                    .await?;
            bail!(
                "the world floor's VMs: not all Running after {timeout:?}; {}",
                stuck_summary(&listed.items)
            );
        };
        created?;
        running
    }
}

/// What the VMs that are not Running show: their printable status and the first one's
/// conditions, so that a stuck world floor says why.
fn stuck_summary(vms: &[DynamicObject]) -> String {
    let stuck: Vec<&DynamicObject> = vms
        .iter()
        .filter(|vm| vm.data["status"]["printableStatus"] != "Running")
        .collect();
    let mut statuses: Vec<String> = stuck
        .iter()
        .map(|vm| vm.data["status"]["printableStatus"].to_string())
        .collect();
    statuses.sort();
    statuses.dedup();
    let first = stuck
        .first()
        .map_or(Value::Null, |vm| vm.data["status"]["conditions"].clone());
    format!(
        "{} of {} not Running (status {}); the first one's conditions: {first}",
        stuck.len(),
        vms.len(),
        statuses.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_copy_keeps_what_a_user_writes_and_points_at_its_own_namespace() {
        let resource = ApiResource::erase::<VirtualMachine>(&());
        let mut vm = DynamicObject::new("vm-00001", &resource).within("bench");
        vm.metadata.uid = Some("u".into());
        vm.metadata.resource_version = Some("9".into());
        vm.metadata.owner_references = Some(vec![Default::default()]);
        vm.metadata.labels = Some([(PROFILE_LABEL.to_owned(), "vm-00001".to_owned())].into());
        vm.data = json!({
            "spec": {"template": {"spec": {"networks": [
                {"name": "lan", "multus": {"networkName": "bench/vm-00001-lan"}},
                {"name": "other", "multus": {"networkName": "benchmark/x"}},
            ]}}},
            "status": {"printableStatus": "Running"},
        });
        let copy = as_written(vm, "bench", "bench-world");
        assert_eq!(copy.metadata.name.as_deref(), Some("vm-00001"));
        assert!(copy.metadata.namespace.is_none() && copy.metadata.uid.is_none());
        assert!(copy.metadata.resource_version.is_none());
        assert!(copy.metadata.owner_references.is_none());
        assert_eq!(copy.metadata.labels.map(|l| l.len()), Some(1));
        assert!(copy.data.get("status").is_none());
        let networks = &copy.data["spec"]["template"]["spec"]["networks"];
        assert_eq!(
            networks[0]["multus"]["networkName"],
            "bench-world/vm-00001-lan"
        );
        assert_eq!(networks[1]["multus"]["networkName"], "benchmark/x");
    }

    #[test]
    fn a_claim_copy_is_unbound_and_without_the_binders_annotations() {
        let resource = ApiResource::erase::<PersistentVolumeClaim>(&());
        let mut claim = DynamicObject::new("vm-00001--data", &resource).within("bench");
        claim.metadata.annotations = Some(
            [
                ("pv.kubernetes.io/bind-completed", "yes"),
                ("volume.kubernetes.io/selected-node", "node-1"),
                ("vmoperator.io/disk", "data"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into(),
        );
        claim.data = json!({"spec": {"volumeName": "pvc-1", "resources": {}}});
        let copy = as_written(claim.clone(), "bench", "bench-world");
        let kept: Vec<String> = copy
            .metadata
            .annotations
            .unwrap_or_default()
            .into_keys()
            .collect();
        assert_eq!(kept, ["vmoperator.io/disk"]);
        assert!(copy.data["spec"].get("volumeName").is_none());
        assert!(copy.data["spec"].get("resources").is_some());
        assert!(!owned_by_data_volume(&claim));
        claim.metadata.owner_references = Some(vec![
            vmop_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                kind: "DataVolume".into(),
                ..Default::default()
            },
        ]);
        assert!(owned_by_data_volume(&claim), "CDI's claim is not copied");
    }
}
