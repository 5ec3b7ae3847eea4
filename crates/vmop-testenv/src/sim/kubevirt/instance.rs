//! virt-handler's part: the instance created from the VM's template, walked through its
//! boot phases, and what it reports (interfaces, addresses, LiveMigratable).

use std::collections::BTreeMap;

use k8s_openapi::{
    api::core::v1::Secret,
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference},
};
use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
};
use serde_json::json;

use crate::sim::{
    SimContext, SimError,
    kinds::kubevirt::{VirtualMachine, VirtualMachineInstance, VirtualMachineInstanceSpec},
    upstream::{info_source, vmi_phase},
};

/// The VMI of a VM, with the chosen node remembered in an annotation until it is scheduled.
pub(super) fn instance_for(
    vm: &VirtualMachine,
    spec: VirtualMachineInstanceSpec,
    node: &str,
) -> Result<VirtualMachineInstance, SimError> {
    let template_meta = vm
        .spec
        .template
        .as_ref()
        .and_then(|t| t.metadata.clone())
        .unwrap_or_default();
    let owner = OwnerReference {
        api_version: VirtualMachine::api_version(&()).into_owned(),
        kind: VirtualMachine::kind(&()).into_owned(),
        name: vm.name_any(),
        uid: vm
            .uid()
            .ok_or_else(|| SimError::Invalid("VM without uid".into()))?,
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    let mut labels = template_meta.labels;
    labels.insert("kubevirt.io/vm".into(), vm.name_any());
    let mut annotations = template_meta.annotations;
    annotations.insert(TARGET_NODE_ANNOTATION.into(), node.into());
    Ok(VirtualMachineInstance {
        metadata: ObjectMeta {
            name: Some(vm.name_any()),
            namespace: vm.namespace(),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        spec,
        status: None,
    })
}

/// Where the simulated scheduler decided to put the VMI.
pub(super) const TARGET_NODE_ANNOTATION: &str = "simulator.vmoperator.io/target-node";

/// One boot step of a VMI; true once it runs.
pub(super) async fn advance_vmi(
    ctx: &SimContext,
    vmi: &VirtualMachineInstance,
) -> Result<bool, SimError> {
    let phase = vmi
        .status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_default();
    if phase == vmi_phase::RUNNING {
        return Ok(true);
    }
    let node = vmi
        .annotations()
        .get(TARGET_NODE_ANNOTATION)
        .cloned()
        .unwrap_or_default();
    if ctx
        .wait_before_step(&vmi.uid().unwrap_or_default())
        .is_some()
    {
        return Ok(false);
    }
    let instant = ctx.config.step_delay.is_zero();
    let status = match phase.as_str() {
        _ if instant => running_status(ctx, vmi, &node).await?,
        "" => json!({"phase": vmi_phase::PENDING}),
        vmi_phase::PENDING => json!({"phase": vmi_phase::SCHEDULING}),
        vmi_phase::SCHEDULING => json!({"phase": vmi_phase::SCHEDULED, "nodeName": node}),
        _ => running_status(ctx, vmi, &node).await?,
    };
    let running = status["phase"] == vmi_phase::RUNNING;
    let namespace = vmi.namespace().unwrap_or_default();
    // No status subresource for VMIs upstream: virt-handler writes the object.
    Api::<VirtualMachineInstance>::namespaced(ctx.client.clone(), &namespace)
        .patch(
            &vmi.name_any(),
            &PatchParams::default(),
            &Patch::Merge(json!({"status": status})),
        )
        .await?;
    Ok(running)
}

pub(super) async fn running_status(
    ctx: &SimContext,
    vmi: &VirtualMachineInstance,
    node: &str,
) -> Result<serde_json::Value, SimError> {
    let namespace = vmi.namespace().unwrap_or_default();
    let static_addresses = cloud_init_addresses(ctx, &namespace, &vmi.spec).await?;
    let key = format!("{namespace}/{}", vmi.name_any());
    let mut interfaces = Vec::new();
    for (index, interface) in vmi.spec.domain.devices.interfaces.iter().enumerate() {
        let network = vmi.spec.networks.iter().find(|n| n.name == interface.name);
        let is_pod = network.is_some_and(|n| n.pod.is_some());
        let mac = interface
            .mac_address
            .clone()
            .unwrap_or_else(|| derived_mac(&format!("{key}/{}", interface.name)));
        let (addresses, source, guest_name) = if is_pod {
            (
                vec![pool_address(10, 244, &format!("{key}/pod"))],
                format!("{}, {}", info_source::DOMAIN, info_source::GUEST_AGENT),
                "eth0".to_owned(),
            )
        } else {
            let configured = static_addresses.get(&mac.to_lowercase()).cloned();
            let (addresses, name) = match configured {
                Some((addresses, name)) => (addresses, name),
                None => (
                    vec![pool_address(10, 200, &format!("{key}/{}", interface.name))],
                    None,
                ),
            };
            (
                addresses,
                format!(
                    "{}, {}, {}",
                    info_source::DOMAIN,
                    info_source::GUEST_AGENT,
                    info_source::MULTUS_STATUS
                ),
                name.unwrap_or_else(|| format!("eth{index}")),
            )
        };
        interfaces.push(json!({
            "name": interface.name,
            "mac": mac,
            "ipAddress": addresses.first(),
            "ipAddresses": addresses,
            "interfaceName": guest_name,
            "infoSource": source,
        }));
    }
    Ok(json!({
        "phase": vmi_phase::RUNNING,
        "nodeName": node,
        "interfaces": interfaces,
        "conditions": [{"type": "Ready", "status": "True"}, live_migratable(ctx, vmi).await?],
    }))
}

/// virt-handler's `LiveMigratable` condition (`calculateLiveMigrationCondition`): every claim
/// (of a PVC or DataVolume volume) must be shared, ReadWriteMany.
pub(super) async fn live_migratable(
    ctx: &SimContext,
    vmi: &VirtualMachineInstance,
) -> Result<serde_json::Value, SimError> {
    let namespace = vmi.namespace().unwrap_or_default();
    for volume in &vmi.spec.volumes {
        let claim_name = match (&volume.persistent_volume_claim, &volume.data_volume) {
            (Some(pvc), _) => pvc.claim_name.clone(),
            (None, Some(dv)) => dv.name.clone(),
            (None, None) => continue,
        };
        let shared = ctx
            .claim(&namespace, &claim_name)
            .await?
            .and_then(|c| c.spec?.access_modes)
            .is_some_and(|modes| modes.iter().any(|m| m == "ReadWriteMany"));
        if !shared {
            return Ok(json!({
                "type": LIVE_MIGRATABLE,
                "status": "False",
                "reason": "DisksNotLiveMigratable",
                "message": format!("cannot migrate VMI: PVC {claim_name} is not shared, live migration requires that all PVCs must be shared (using ReadWriteMany access mode)"),
            }));
        }
    }
    Ok(json!({"type": LIVE_MIGRATABLE, "status": "True"}))
}

/// The instance condition saying whether it can live-migrate (`VirtualMachineInstanceIsMigratable`).
pub(super) const LIVE_MIGRATABLE: &str = "LiveMigratable";

/// Static addresses by MAC from the VMI's cloud-init network data (v2 `ethernets` matched by
/// `macaddress`), with the `set-name` when given: what the guest would configure.
pub(super) async fn cloud_init_addresses(
    ctx: &SimContext,
    namespace: &str,
    spec: &VirtualMachineInstanceSpec,
) -> Result<BTreeMap<String, (Vec<String>, Option<String>)>, SimError> {
    let mut found = BTreeMap::new();
    let secret_names = spec.volumes.iter().filter_map(|v| {
        v.cloud_init_no_cloud
            .as_ref()
            .and_then(|c| c.network_data_secret_ref.as_ref())
            .map(|r| r.name.clone())
    });
    let secrets = Api::<Secret>::namespaced(ctx.client.clone(), namespace);
    for secret_name in secret_names {
        let Some(secret) = secrets.get_opt(&secret_name).await? else {
            continue;
        };
        let data = secret.data.unwrap_or_default();
        let Some(bytes) = data.get("networkdata").or_else(|| data.get("networkData")) else {
            continue;
        };
        let Ok(document) = serde_yaml::from_slice::<serde_yaml::Value>(&bytes.0) else {
            continue;
        };
        let ethernets = document
            .get("ethernets")
            .or_else(|| document.get("network").and_then(|n| n.get("ethernets")));
        let Some(serde_yaml::Value::Mapping(ethernets)) = ethernets else {
            continue;
        };
        for (_, ethernet) in ethernets {
            let mac = ethernet
                .get("match")
                .and_then(|m| m.get("macaddress"))
                .and_then(serde_yaml::Value::as_str);
            let addresses: Vec<String> = ethernet
                .get("addresses")
                .and_then(serde_yaml::Value::as_sequence)
                .map(|seq| {
                    seq.iter()
                        .filter_map(serde_yaml::Value::as_str)
                        .map(|a| a.split('/').next().unwrap_or(a).to_owned())
                        .collect()
                })
                .unwrap_or_default();
            let set_name = ethernet
                .get("set-name")
                .and_then(serde_yaml::Value::as_str)
                .map(str::to_owned);
            if let (Some(mac), false) = (mac, addresses.is_empty()) {
                found.insert(mac.to_lowercase(), (addresses, set_name));
            }
        }
    }
    Ok(found)
}

pub(super) fn fnv(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A locally administered unicast MAC derived from `key`, as KubeVirt would assign one.
pub(super) fn derived_mac(key: &str) -> String {
    let b = fnv(key).to_be_bytes();
    format!(
        "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[0], b[1], b[2], b[3], b[4]
    )
}

/// An address of `a.b.0.0/16` derived from `key`, never `.0` or `.255`.
pub(super) fn pool_address(a: u8, b: u8, key: &str) -> String {
    let h = fnv(key);
    format!("{a}.{b}.{}.{}", (h >> 8) % 256, 1 + (h % 254))
}
