//! What a fresh control plane needs before vm-operator can work on it: our CRD and the
//! upstream ones, nodes to schedule on, and the Huamei StorageClasses.

use std::{collections::BTreeMap, time::Duration};

use k8s_openapi::{
    api::{
        admissionregistration::v1::{ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding},
        core::v1::{Node, NodeStatus},
        storage::v1::StorageClass,
    },
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    apimachinery::pkg::{api::resource::Quantity, apis::meta::v1::ObjectMeta},
};
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
    runtime::wait::{await_condition, conditions},
};

use serde::Deserialize;

use vmop_api::external::instancetype::{
    VirtualMachineClusterInstancetype, VirtualMachineClusterPreference,
};

use crate::TestEnvError;

/// Field manager of everything the test environment itself writes.
pub const MANAGER: &str = "vmop-testenv";

/// The upstream CRDs of the kinds vm-operator writes and reads (see `crds/SOURCES.md`).
pub const UPSTREAM_CRDS: [&str; 20] = [
    include_str!("../crds/k8s.cni.cncf.io_network-attachment-definitions.yaml"),
    include_str!("../crds/k8s.cni.cncf.io_multi-networkpolicies.yaml"),
    include_str!("../crds/nmstate.io_nodenetworkconfigurationpolicies.yaml"),
    include_str!("../crds/nmstate.io_nodenetworkconfigurationenactments.yaml"),
    include_str!("../crds/cdi.kubevirt.io_datavolumes.yaml"),
    include_str!("../crds/cdi.kubevirt.io_datasources.yaml"),
    include_str!("../crds/cdi.kubevirt.io_dataimportcrons.yaml"),
    include_str!("../crds/kubevirt.io_virtualmachines.yaml"),
    include_str!("../crds/kubevirt.io_virtualmachineinstances.yaml"),
    include_str!("../crds/kubevirt.io_virtualmachineinstancemigrations.yaml"),
    include_str!("../crds/instancetype.kubevirt.io_virtualmachineinstancetypes.yaml"),
    include_str!("../crds/instancetype.kubevirt.io_virtualmachineclusterinstancetypes.yaml"),
    include_str!("../crds/instancetype.kubevirt.io_virtualmachinepreferences.yaml"),
    include_str!("../crds/instancetype.kubevirt.io_virtualmachineclusterpreferences.yaml"),
    include_str!("../crds/snapshot.kubevirt.io_virtualmachinesnapshots.yaml"),
    include_str!("../crds/snapshot.kubevirt.io_virtualmachinesnapshotcontents.yaml"),
    include_str!("../crds/snapshot.kubevirt.io_virtualmachinerestores.yaml"),
    include_str!("../crds/snapshot.storage.k8s.io_volumesnapshotclasses.yaml"),
    include_str!("../crds/snapshot.storage.k8s.io_volumesnapshotcontents.yaml"),
    include_str!("../crds/snapshot.storage.k8s.io_volumesnapshots.yaml"),
];

/// A few of KubeVirt's common instancetypes (kubevirt/common-instancetypes, the U series:
/// general purpose), cluster-wide: (name, guest vCPUs, guest memory).
pub const COMMON_INSTANCETYPES: [(&str, u32, &str); 4] = [
    ("u1.small", 1, "2Gi"),
    ("u1.medium", 1, "4Gi"),
    ("u1.large", 2, "8Gi"),
    ("u1.xlarge", 4, "16Gi"),
];

/// Cluster-wide preferences, as common-instancetypes names them (virtio devices).
pub const COMMON_PREFERENCES: [&str; 2] = ["fedora", "ubuntu"];

/// The common instancetypes and preferences, as the upstream schema takes them.
pub fn catalogue() -> Vec<serde_json::Value> {
    let mut objects: Vec<serde_json::Value> = COMMON_INSTANCETYPES
        .iter()
        .map(|(name, cpus, memory)| {
            serde_json::json!({
                "apiVersion": "instancetype.kubevirt.io/v1beta1",
                "kind": "VirtualMachineClusterInstancetype",
                "metadata": {"name": name},
                "spec": {"cpu": {"guest": cpus}, "memory": {"guest": memory}},
            })
        })
        .collect();
    objects.extend(COMMON_PREFERENCES.iter().map(|name| {
        serde_json::json!({
            "apiVersion": "instancetype.kubevirt.io/v1beta1",
            "kind": "VirtualMachineClusterPreference",
            "metadata": {"name": name},
            "spec": {"devices": {"preferredDiskBus": "virtio", "preferredInterfaceModel": "virtio"}},
        })
    }));
    objects
}

/// Memory each node of the simulated cluster can give its pods (`status.allocatable`).
pub const NODE_MEMORY: &str = "64Gi";
/// CPUs each node of the simulated cluster can give its pods.
pub const NODE_CPUS: &str = "16";

/// Nodes of the simulated cluster: `node-1` and `node-2` have the `eth1` port for bridges,
/// `node-3` has SR-IOV capable NICs; each has [`NODE_CPUS`] and [`NODE_MEMORY`] allocatable,
/// as a kubelet registers them.
pub fn nodes() -> Vec<Node> {
    let resources = || {
        BTreeMap::from([
            ("cpu".to_owned(), Quantity(NODE_CPUS.into())),
            ("memory".to_owned(), Quantity(NODE_MEMORY.into())),
            ("pods".to_owned(), Quantity("110".into())),
        ])
    };
    let node = |name: &str, labels: &[(&str, &str)]| {
        let mut all: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        all.insert("kubernetes.io/hostname".into(), name.into());
        all.insert("kubernetes.io/os".into(), "linux".into());
        Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some(all),
                ..ObjectMeta::default()
            },
            status: Some(NodeStatus {
                capacity: Some(resources()),
                allocatable: Some(resources()),
                ..NodeStatus::default()
            }),
            ..Node::default()
        }
    };
    vec![
        node("node-1", &[("network.vmoperator.io/eth1", "true")]),
        node("node-2", &[("network.vmoperator.io/eth1", "true")]),
        node(
            "node-3",
            &[("feature.node.kubernetes.io/network-sriov.capable", "true")],
        ),
    ]
}

/// The CSI provisioner name of the simulated Huamei driver.
pub const HUAMEI_PROVISIONER: &str = "csi.huamei.com";

/// The provisioner of k3s's default class `local-path`.
pub const LOCAL_PATH_PROVISIONER: &str = "rancher.io/local-path";
/// The Longhorn CSI driver's provisioner.
pub const LONGHORN_PROVISIONER: &str = "driver.longhorn.io";

/// StorageClasses, shaped like a k3s cluster with extra storage: `local-path` exactly as k3s
/// ships it (the default class, WaitForFirstConsumer, no expansion), Huamei SSD and HDD
/// (bound at once, Block preferred, expandable) and Longhorn (bound at once, expandable).
pub fn storage_classes() -> Vec<StorageClass> {
    let class = |name: &str, provisioner: &str, mode: &str, expandable: bool| StorageClass {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        provisioner: provisioner.into(),
        volume_binding_mode: Some(mode.into()),
        reclaim_policy: Some("Delete".into()),
        allow_volume_expansion: expandable.then_some(true),
        ..StorageClass::default()
    };
    let huamei = |name: &str| StorageClass {
        parameters: Some(BTreeMap::from([("volumeMode".into(), "Block".into())])),
        ..class(name, HUAMEI_PROVISIONER, "Immediate", true)
    };
    let mut local_path = class(
        "local-path",
        LOCAL_PATH_PROVISIONER,
        "WaitForFirstConsumer",
        false,
    );
    local_path.metadata.annotations = Some(BTreeMap::from([(
        "storageclass.kubernetes.io/is-default-class".into(),
        "true".into(),
    )]));
    vec![
        huamei("huamei-sc-ssd"),
        huamei("huamei-sc-hdd"),
        local_path,
        class("longhorn", LONGHORN_PROVISIONER, "Immediate", true),
    ]
}

/// What CDI's and KubeVirt's admission webhooks do that the operator meets, as
/// ValidatingAdmissionPolicies with their bindings: KubeVirt refuses a run strategy change
/// while a restore is under way (`pkg/storage/admitters/vm-storage-status.go`); CDI on update
/// "Cannot update DataVolume Spec" (`pkg/apiserver/webhooks/datavolume-validate.go`), on
/// create the clone authorization of the requesting user in the source namespace
/// (`datavolume-mutate.go`). The policy the bootstrap probes comes last: the API server learns
/// of policies in the order they were written, so once it enforces that one it enforces the
/// others.
pub const UPSTREAM_ADMISSION: &str = concat!(
    include_str!("../policies/kubevirt-restore-run-strategy.yaml"),
    "\n---\n",
    include_str!("../policies/cdi-clone-authorization.yaml"),
    "\n---\n",
    include_str!("../policies/cdi-datavolume-spec-immutable.yaml")
);

/// Registers [`nodes`] as kubelets do: the Node, then its status (its own subresource, which
/// an apply of the Node leaves out).
async fn register_nodes(client: &Client, params: &PatchParams) -> Result<(), TestEnvError> {
    let node_api: Api<Node> = Api::all(client.clone());
    for node in nodes() {
        let name = node.metadata.name.clone().unwrap_or_default();
        node_api.patch(&name, params, &Patch::Apply(&node)).await?;
        let status = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name},
            "status": node.status,
        });
        node_api
            .patch_status(&name, params, &Patch::Apply(&status))
            .await?;
    }
    Ok(())
}

/// Installs every CRD and waits until each is established, then creates nodes and classes.
/// Idempotent: server-side apply throughout.
pub async fn bootstrap(client: &Client) -> Result<(), TestEnvError> {
    let params = PatchParams::apply(MANAGER).force();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    // Exactly the committed CRD (kube-testenv installed it already): an apply that changed it
    // would make the API server rebuild the kind's storage under running watches.
    let mut all: Vec<CustomResourceDefinition> = Vec::new();
    for ours in [
        vmop_api::crd_yaml(),
        vmop_api::pool_crd_yaml(),
        vmop_api::image_crd_yaml(),
    ] {
        let ours = ours.map_err(|e| TestEnvError::Bootstrap {
            detail: format!("our CRD: {e}"),
        })?;
        all.push(
            serde_yaml::from_str(&ours).map_err(|e| TestEnvError::Bootstrap {
                detail: format!("our CRD: {e}"),
            })?,
        );
    }
    for yaml in UPSTREAM_CRDS {
        all.push(
            serde_yaml::from_str(yaml).map_err(|e| TestEnvError::Bootstrap {
                detail: format!("upstream CRD: {e}"),
            })?,
        );
    }
    for crd in &all {
        let name = crd.metadata.name.clone().unwrap_or_default();
        crds.patch(&name, &params, &Patch::Apply(crd)).await?;
    }
    for crd in &all {
        let name = crd.metadata.name.clone().unwrap_or_default();
        let established = await_condition(crds.clone(), &name, conditions::is_crd_established());
        tokio::time::timeout(Duration::from_secs(30), established)
            .await
            .map_err(|_| TestEnvError::Bootstrap {
                detail: format!("CRD {name} not established after 30s"),
            })?
            .map_err(|e| TestEnvError::Bootstrap {
                detail: format!("waiting for CRD {name}: {e}"),
            })?;
    }

    register_nodes(client, &params).await?;
    let policies = Api::<ValidatingAdmissionPolicy>::all(client.clone());
    let bindings = Api::<ValidatingAdmissionPolicyBinding>::all(client.clone());
    for document in serde_yaml::Deserializer::from_str(UPSTREAM_ADMISSION) {
        let value =
            serde_json::Value::deserialize(document).map_err(|e| TestEnvError::Bootstrap {
                detail: format!("CDI admission policy: {e}"),
            })?;
        let name = value["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if value["kind"] == "ValidatingAdmissionPolicy" {
            policies
                .patch(&name, &params, &Patch::Apply(&value))
                .await?;
        } else {
            bindings
                .patch(&name, &params, &Patch::Apply(&value))
                .await?;
        }
    }
    admission_active(client).await?;
    let instancetypes = Api::<VirtualMachineClusterInstancetype>::all(client.clone());
    let preferences = Api::<VirtualMachineClusterPreference>::all(client.clone());
    let strict = PatchParams {
        field_validation: Some(kube::api::ValidationDirective::Strict),
        ..params.clone()
    };
    for object in catalogue() {
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if object["kind"] == "VirtualMachineClusterInstancetype" {
            instancetypes
                .patch(&name, &strict, &Patch::Apply(&object))
                .await?;
        } else {
            preferences
                .patch(&name, &strict, &Patch::Apply(&object))
                .await?;
        }
    }
    let class_api: Api<StorageClass> = Api::all(client.clone());
    for class in storage_classes() {
        let name = class.metadata.name.clone().unwrap_or_default();
        class_api
            .patch(&name, &params, &Patch::Apply(&class))
            .await?;
    }
    apply_volume_snapshot_classes(client, &strict).await
}

/// Creates [`volume_snapshot_classes`] (or leaves them as they are).
async fn apply_volume_snapshot_classes(
    client: &Client,
    params: &PatchParams,
) -> Result<(), TestEnvError> {
    let api: Api<kube::api::DynamicObject> =
        Api::all_with(client.clone(), &volume_snapshot_class_resource());
    for class in volume_snapshot_classes() {
        let name = class["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        api.patch(&name, params, &Patch::Apply(&class)).await?;
    }
    Ok(())
}

/// `snapshot.storage.k8s.io/v1` VolumeSnapshotClass, as a dynamic kind.
fn volume_snapshot_class_resource() -> kube::api::ApiResource {
    kube::api::ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk("snapshot.storage.k8s.io", "v1", "VolumeSnapshotClass"),
        "volumesnapshotclasses",
    )
}

/// The VolumeSnapshotClasses of the test world: the Huamei CSI driver and Longhorn take
/// snapshots; k3s's local-path provisioner cannot (as upstream: it is no CSI driver), so a
/// disk on `local-path` is one KubeVirt leaves out of a VM's snapshots.
pub fn volume_snapshot_classes() -> Vec<serde_json::Value> {
    [
        ("huamei-snapshots", crate::HUAMEI_PROVISIONER),
        ("longhorn-snapshots", crate::LONGHORN_PROVISIONER),
    ]
    .iter()
    .map(|(name, driver)| {
        serde_json::json!({
            "apiVersion": "snapshot.storage.k8s.io/v1",
            "kind": "VolumeSnapshotClass",
            "metadata": {"name": name},
            "driver": driver,
            "deletionPolicy": "Delete",
        })
    })
    .collect()
}

/// Waits until the API server enforces the CDI admission policy: a new policy takes effect
/// only once the admission plugin's policy source has loaded it. Proven by trying: a probe
/// DataVolume whose spec change must be refused.
async fn admission_active(client: &Client) -> Result<(), TestEnvError> {
    use vmop_api::external::cdi::DataVolume;
    const PROBE: &str = "vmop-testenv-admission-probe";
    let dvs: Api<DataVolume> = Api::namespaced(client.clone(), "default");
    let probe: DataVolume = serde_json::from_value(serde_json::json!({
        "apiVersion": "cdi.kubevirt.io/v1beta1",
        "kind": "DataVolume",
        "metadata": {"name": PROBE},
        // A class nothing serves: no simulator acts on the probe.
        "spec": {"source": {"blank": {}}, "storage": {"storageClassName": "vmop-testenv-none",
            "resources": {"requests": {"storage": "1Mi"}}}}
    }))
    .map_err(|e| TestEnvError::Bootstrap {
        detail: format!("admission probe: {e}"),
    })?;
    dvs.patch(
        PROBE,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&probe),
    )
    .await?;
    let change =
        serde_json::json!({"spec": {"storage": {"resources": {"requests": {"storage": "2Mi"}}}}});
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match dvs
            .patch(
                PROBE,
                &PatchParams {
                    dry_run: true,
                    ..PatchParams::default()
                },
                &Patch::Merge(&change),
            )
            .await
        {
            Err(kube::Error::Api(e)) if e.message.contains("Cannot update DataVolume Spec") => {
                break;
            }
            Err(e) => return Err(e.into()),
            Ok(_) if tokio::time::Instant::now() >= deadline => {
                return Err(TestEnvError::Bootstrap {
                    detail: "the CDI admission policy is not enforced after 30s".into(),
                });
            }
            Ok(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    dvs.delete(PROBE, &Default::default()).await?;
    Ok(())
}
