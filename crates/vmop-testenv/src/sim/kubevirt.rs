//! KubeVirt's virt-controller and virt-handler, with kube-scheduler's part in volume binding:
//! for a VM that should run, check its volumes as virt-controller's VM controller does
//! (DataVolumes Succeeded, WaitForFirstConsumer or PendingPopulation count as ready; claims
//! must exist), pick a node (node selector and required node affinity), and create the VMI
//! (owned by the VM). While the VMI is Pending its pod waits for its volumes: as the
//! scheduler does for the (temporary or launcher) pod it places, it sets
//! `volume.kubernetes.io/selected-node` on the WaitForFirstConsumer claims, then waits until
//! every claim is Bound and every DataVolume Succeeded (virt-controller's
//! `areDataVolumesReady`). Then it walks the VMI through Scheduling, Scheduled and Running,
//! reporting per-interface MAC, IPs, guest interface name and info source. A VM that should
//! not run loses its VMI. The VM's printableStatus, ready flag and conditions follow, with
//! KubeVirt's states (Provisioning, WaitingForVolumeBinding, ErrorUnschedulable,
//! DataVolumeError, ErrorPvcNotFound). VMIs have no status subresource upstream, so their
//! status is written with the object.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use k8s_openapi::{
    api::core::v1::{NodeSelectorRequirement, PersistentVolumeClaim, Secret},
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference},
};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{DeleteParams, Patch, PatchParams, PostParams},
    runtime::controller::Action,
};
use serde_json::json;
use vmop_api::external::{
    UpstreamCondition,
    kubevirt::{
        DomainSpec, VirtualMachine, VirtualMachineInstance, VirtualMachineInstanceSpec,
        VmiInterfaceStatus,
    },
};

use super::{
    Caches, SimConfig, SimContext, SimError, controller, drive, informer, keep_filled, retry,
    upstream::{
        SELECTED_NODE_ANNOTATION, dv_phase, info_source, printable_status as ps, run_strategy,
        state_change, vm_condition, vmi_phase,
    },
};

/// How often a VM waiting for volumes looks again (volumes are not watched).
const VOLUME_POLL: Duration = Duration::from_millis(500);

/// Runs the VM controller.
pub async fn run(client: Client, config: Arc<SimConfig>) {
    // virt-controller reads instances, claims, DataVolumes and classes from informers, and
    // the scheduler nodes, as here; the instances' informer also triggers the VMs.
    let (instances, instance_changes) = informer::<VirtualMachineInstance>(&client);
    let (claims, claim_changes) = informer(&client);
    let (data_volumes, data_volume_changes) = informer(&client);
    let (classes, class_changes) = informer(&client);
    let (nodes, node_changes) = informer(&client);
    let caches = Caches {
        claims: Some(claims),
        classes: Some(classes),
        data_volumes: Some(data_volumes),
        instances: Some(instances),
        nodes: Some(nodes),
    };
    let context = SimContext::with_caches(&client, &config, caches);
    let stream = controller::<VirtualMachine>(&client)
        .owns_stream(instance_changes)
        .run(reconcile, retry, context);
    tokio::join!(
        drive("kubevirt", stream),
        keep_filled(claim_changes),
        keep_filled(data_volume_changes),
        keep_filled(class_changes),
        keep_filled(node_changes),
    );
}

/// How a change of the VM's CPU or memory reaches its running instance.
#[derive(Debug, PartialEq)]
enum Change {
    None,
    /// With the LiveUpdate rollout strategy (this test world's KubeVirt is configured so),
    /// virt-controller patches the instance: more or fewer sockets up to `maxSockets`
    /// (`handleCPUChanges`), more guest memory up to `maxGuest` (`handleMemoryHotplugRequest`).
    Live(serde_json::Value),
    /// Anything else: the VM's RestartRequired condition.
    NeedsRestart,
}

fn hotplug(running: &DomainSpec, wanted: &DomainSpec) -> Change {
    if running.cpu == wanted.cpu && running.memory == wanted.memory {
        return Change::None;
    }
    let mut patch = serde_json::Map::new();
    if running.cpu != wanted.cpu {
        let (Some(now), Some(to)) = (&running.cpu, &wanted.cpu) else {
            return Change::NeedsRestart;
        };
        let same_shape = now.cores == to.cores
            && now.threads == to.threads
            && now.max_sockets == to.max_sockets
            && now.extra == to.extra;
        let fits = to
            .max_sockets
            .zip(to.sockets)
            .is_some_and(|(max, sockets)| sockets <= max);
        if !(same_shape && fits) {
            return Change::NeedsRestart;
        }
        patch.insert("cpu".into(), json!({"sockets": to.sockets}));
    }
    if running.memory != wanted.memory {
        let (Some(now), Some(to)) = (&running.memory, &wanted.memory) else {
            return Change::NeedsRestart;
        };
        let bytes =
            |q: &Option<String>| q.as_deref().and_then(|q| vmop_api::quantity::parse(q).ok());
        let grows_within = match (bytes(&now.guest), bytes(&to.guest), bytes(&to.max_guest)) {
            (Some(now), Some(to), Some(max)) => to >= now && to <= max,
            _ => false,
        };
        if !(now.max_guest == to.max_guest && now.extra == to.extra && grows_within) {
            return Change::NeedsRestart;
        }
        patch.insert("memory".into(), json!({"guest": to.guest}));
    }
    Change::Live(serde_json::Value::Object(patch))
}

/// Why a VM cannot start yet.
struct Blocked {
    printable: &'static str,
    reason: &'static str,
    message: String,
}

async fn reconcile(vm: Arc<VirtualMachine>, ctx: Arc<SimContext>) -> Result<Action, SimError> {
    if vm.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let namespace = vm
        .namespace()
        .ok_or_else(|| SimError::Invalid("VM without namespace".into()))?;
    let name = vm.name_any();
    let vmis = Api::<VirtualMachineInstance>::namespaced(ctx.client.clone(), &namespace);
    let vmi = ctx.instance(&namespace, &name).await?;
    let template = vm
        .spec
        .template
        .as_ref()
        .and_then(|t| t.spec.clone())
        .unwrap_or_default();
    let template = match super::instancetype::expand(&ctx.client, &vm, &namespace, template).await?
    {
        Ok(expanded) => expanded,
        Err((reason, message)) => {
            let blocked = Blocked {
                printable: ps::STOPPED,
                reason,
                message,
            };
            set_vm_status(&ctx, &vm, ps::STOPPED, false, Some(&blocked), false).await?;
            return Ok(Action::requeue(VOLUME_POLL));
        }
    };

    let strategy = vm
        .spec
        .run_strategy
        .as_deref()
        .unwrap_or(run_strategy::HALTED);
    let finished = vmi
        .as_ref()
        .and_then(|i| i.status.as_ref())
        .and_then(|s| s.phase.as_deref())
        .is_some_and(|p| p == vmi_phase::SUCCEEDED || p == vmi_phase::FAILED);
    // virt-controller takes `status.stateChangeRequests` one at a time (vm.go): a Stop for
    // the instance with its UID deletes that instance, and is dropped once it is gone; a
    // Start starts an instance whatever the run strategy, and is dropped once one exists.
    let requests = vm
        .status
        .as_ref()
        .map(|s| s.state_change_requests.clone())
        .unwrap_or_default();
    let mut start_requested = false;
    if let Some(first) = requests.first() {
        let live = vmi
            .as_ref()
            .filter(|i| i.metadata.deletion_timestamp.is_none());
        match first.action.as_str() {
            state_change::STOP => match &vmi {
                Some(current) if current.metadata.uid == first.uid => {
                    if current.metadata.deletion_timestamp.is_none() {
                        vmis.delete(&name, &DeleteParams::default()).await?;
                    }
                    set_vm_status(&ctx, &vm, ps::STOPPING, false, None, false).await?;
                    return Ok(ctx.config.next_step());
                }
                _ => {
                    set_state_change_requests(&ctx, &vm, &requests[1..]).await?;
                    return Ok(ctx.config.next_step());
                }
            },
            state_change::START if live.is_some() => {
                set_state_change_requests(&ctx, &vm, &requests[1..]).await?;
                return Ok(ctx.config.next_step());
            }
            state_change::START => start_requested = vmi.is_none(),
            _ => {}
        }
    }
    let should_run = start_requested
        || match strategy {
            run_strategy::ALWAYS | run_strategy::RERUN_ON_FAILURE => true,
            run_strategy::ONCE => !finished,
            run_strategy::MANUAL => vmi.is_some(),
            _ => false,
        };

    match (should_run, vmi) {
        (false, Some(vmi)) => {
            if vmi.metadata.deletion_timestamp.is_none() {
                vmis.delete(&name, &DeleteParams::default()).await?;
            }
            set_vm_status(&ctx, &vm, ps::STOPPING, false, None, false).await?;
            Ok(ctx.config.next_step())
        }
        (false, None) => {
            set_vm_status(&ctx, &vm, ps::STOPPED, false, None, false).await?;
            Ok(Action::await_change())
        }
        (true, Some(vmi)) if finished && strategy == run_strategy::ALWAYS => {
            vmis.delete(&vmi.name_any(), &DeleteParams::default())
                .await?;
            Ok(ctx.config.next_step())
        }
        (true, Some(vmi)) => {
            let restart_required = match hotplug(&vmi.spec.domain, &template.domain) {
                Change::None => false,
                Change::Live(patch) => {
                    vmis.patch(
                        &name,
                        &PatchParams::default(),
                        &Patch::Merge(json!({"spec": {"domain": patch}})),
                    )
                    .await?;
                    false
                }
                Change::NeedsRestart => true,
            };
            let pending = vmi
                .status
                .as_ref()
                .and_then(|s| s.phase.as_deref())
                .is_none_or(|p| p == vmi_phase::PENDING);
            if pending {
                let node = vmi
                    .annotations()
                    .get(TARGET_NODE_ANNOTATION)
                    .cloned()
                    .unwrap_or_default();
                if let Some(blocked) =
                    pod_volumes_blocked(&ctx, &namespace, &vmi.spec, &node).await?
                {
                    set_vm_status(&ctx, &vm, blocked.printable, false, Some(&blocked), false)
                        .await?;
                    return Ok(Action::requeue(VOLUME_POLL));
                }
            }
            let running = advance_vmi(&ctx, &vmi).await?;
            let printable = if running { ps::RUNNING } else { ps::STARTING };
            set_vm_status(&ctx, &vm, printable, running, None, restart_required).await?;
            Ok(if running {
                Action::await_change()
            } else {
                ctx.config.next_step()
            })
        }
        (true, None) => {
            let node = match pick_node(&ctx, &vm, &template).await? {
                Ok(node) => node,
                Err(blocked) => {
                    set_vm_status(&ctx, &vm, blocked.printable, false, Some(&blocked), false)
                        .await?;
                    return Ok(Action::requeue(VOLUME_POLL));
                }
            };
            if let Some(blocked) = check_volumes(&ctx, &namespace, &template, &node).await? {
                set_vm_status(&ctx, &vm, blocked.printable, false, Some(&blocked), false).await?;
                return Ok(Action::requeue(VOLUME_POLL));
            }
            vmis.create(&PostParams::default(), &instance_for(&vm, template, &node)?)
                .await?;
            set_vm_status(&ctx, &vm, ps::STARTING, false, None, false).await?;
            Ok(ctx.config.next_step())
        }
    }
}

/// The VMI of a VM, with the chosen node remembered in an annotation until it is scheduled.
fn instance_for(
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
const TARGET_NODE_ANNOTATION: &str = "simulator.vmoperator.io/target-node";

/// One boot step of a VMI; true once it runs.
async fn advance_vmi(ctx: &SimContext, vmi: &VirtualMachineInstance) -> Result<bool, SimError> {
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

async fn running_status(
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
        interfaces.push(VmiInterfaceStatus {
            name: Some(interface.name.clone()),
            mac: Some(mac),
            ip_address: addresses.first().cloned(),
            ip_addresses: addresses,
            interface_name: Some(guest_name),
            info_source: Some(source),
            extra: BTreeMap::new(),
        });
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
async fn live_migratable(
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
const LIVE_MIGRATABLE: &str = "LiveMigratable";

/// Static addresses by MAC from the VMI's cloud-init network data (v2 `ethernets` matched by
/// `macaddress`), with the `set-name` when given: what the guest would configure.
async fn cloud_init_addresses(
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

/// A node satisfying the VM's node selector and required node affinity, spread by name.
async fn pick_node(
    ctx: &SimContext,
    vm: &VirtualMachine,
    spec: &VirtualMachineInstanceSpec,
) -> Result<Result<String, Blocked>, SimError> {
    let (mut candidates, total) = eligible_nodes(ctx, spec).await?;
    if candidates.is_empty() {
        return Ok(Err(Blocked {
            printable: ps::ERROR_UNSCHEDULABLE,
            reason: "Unschedulable",
            message: format!(
                "0/{total} nodes are available: {total} node(s) didn't match Pod's node affinity/selector."
            ),
        }));
    }
    let key = format!("{}/{}", vm.namespace().unwrap_or_default(), vm.name_any());
    let index = (fnv(&key) % candidates.len() as u64) as usize;
    Ok(Ok(candidates.swap_remove(index)))
}

/// The nodes (sorted by name) that satisfy the instance's node selector and required node
/// affinity, and how many nodes there are.
pub(super) async fn eligible_nodes(
    ctx: &SimContext,
    spec: &VirtualMachineInstanceSpec,
) -> Result<(Vec<String>, usize), SimError> {
    let nodes = ctx.nodes().await?;
    let selector = spec.node_selector.clone().unwrap_or_default();
    let terms = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .map(|r| r.node_selector_terms.clone())
        .unwrap_or_default();
    let mut candidates: Vec<String> = nodes
        .iter()
        .filter(|node| {
            let labels = node.labels();
            selector.iter().all(|(k, v)| labels.get(k) == Some(v))
                && (terms.is_empty()
                    || terms.iter().any(|term| {
                        term.match_expressions
                            .iter()
                            .flatten()
                            .all(|req| matches_requirement(labels, req))
                    }))
        })
        .map(ResourceExt::name_any)
        .collect();
    candidates.sort();
    Ok((candidates, nodes.len()))
}

fn matches_requirement(labels: &BTreeMap<String, String>, req: &NodeSelectorRequirement) -> bool {
    let value = labels.get(&req.key);
    let values = req.values.clone().unwrap_or_default();
    match req.operator.as_str() {
        "In" => value.is_some_and(|v| values.contains(v)),
        "NotIn" => value.is_none_or(|v| !values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        _ => false,
    }
}

/// The first reason the VM's volumes keep virt-controller from creating its VMI, if any:
/// DataVolumes must be Succeeded, WaitForFirstConsumer or PendingPopulation
/// (`handleDataVolumes`), claims must exist.
async fn check_volumes(
    ctx: &SimContext,
    namespace: &str,
    spec: &VirtualMachineInstanceSpec,
    _node: &str,
) -> Result<Option<Blocked>, SimError> {
    for volume in &spec.volumes {
        if let Some(dv) = &volume.data_volume {
            let Some(found) = ctx.data_volume(namespace, &dv.name).await? else {
                return Ok(Some(Blocked {
                    printable: ps::PROVISIONING,
                    reason: "DataVolumeNotFound",
                    message: format!("DataVolume {} does not exist", dv.name),
                }));
            };
            let status = found.status.unwrap_or_default();
            match status.phase.as_deref() {
                Some(
                    dv_phase::SUCCEEDED
                    | dv_phase::WAIT_FOR_FIRST_CONSUMER
                    | dv_phase::PENDING_POPULATION,
                ) => {}
                Some(dv_phase::FAILED) => {
                    return Ok(Some(Blocked {
                        printable: ps::DATA_VOLUME_ERROR,
                        reason: "DataVolumeError",
                        message: format!("DataVolume {} failed to import", dv.name),
                    }));
                }
                _ => {
                    return Ok(Some(Blocked {
                        printable: ps::PROVISIONING,
                        reason: "Provisioning",
                        message: format!("DataVolume {} is not ready", dv.name),
                    }));
                }
            }
        }
        if let Some(claim_ref) = &volume.persistent_volume_claim
            && ctx.claim(namespace, &claim_ref.claim_name).await?.is_none()
        {
            return Ok(Some(Blocked {
                printable: ps::ERROR_PVC_NOT_FOUND,
                reason: "FailedPvcNotFound",
                message: format!("PVC {namespace}/{} does not exist", claim_ref.claim_name),
            }));
        }
    }
    Ok(None)
}

/// What keeps a Pending VMI's pod from starting: a claim not yet Bound (the scheduler places
/// the pod, or virt-controller's temporary pod for a WaitForFirstConsumer DataVolume, and
/// selects the node on the claim), or a DataVolume still importing.
async fn pod_volumes_blocked(
    ctx: &SimContext,
    namespace: &str,
    spec: &VirtualMachineInstanceSpec,
    node: &str,
) -> Result<Option<Blocked>, SimError> {
    let mut first: Option<Blocked> = None;
    for volume in &spec.volumes {
        let (claim_name, data_volume) = match (&volume.data_volume, &volume.persistent_volume_claim)
        {
            (Some(dv), _) => (dv.name.clone(), true),
            (None, Some(claim)) => (claim.claim_name.clone(), false),
            _ => continue,
        };
        let claim = ctx.claim(namespace, &claim_name).await?;
        let bound = claim
            .as_ref()
            .and_then(|c| c.status.as_ref())
            .and_then(|s| s.phase.as_deref())
            == Some("Bound");
        if let Some(claim) = claim.as_ref().filter(|_| !bound) {
            select_node_if_waiting(ctx, claim, node).await?;
        }
        let imported = if data_volume {
            ctx.data_volume(namespace, &claim_name)
                .await?
                .and_then(|dv| dv.status)
                .and_then(|s| s.phase)
                .as_deref()
                == Some(dv_phase::SUCCEEDED)
        } else {
            true
        };
        if first.is_some() {
            continue;
        }
        if !bound {
            first = Some(Blocked {
                printable: ps::WAITING_FOR_VOLUME_BINDING,
                reason: "WaitingForVolumeBinding",
                message: format!("PVC {namespace}/{claim_name} is not bound"),
            });
        } else if !imported {
            first = Some(Blocked {
                printable: ps::PROVISIONING,
                reason: "Provisioning",
                message: format!("DataVolume {claim_name} is not ready"),
            });
        }
    }
    Ok(first)
}

async fn select_node_if_waiting(
    ctx: &SimContext,
    claim: &PersistentVolumeClaim,
    node: &str,
) -> Result<(), SimError> {
    if claim.annotations().contains_key(SELECTED_NODE_ANNOTATION) {
        return Ok(());
    }
    let class_name = claim
        .spec
        .as_ref()
        .and_then(|s| s.storage_class_name.clone())
        .unwrap_or_default();
    let class = ctx.storage_class(&class_name).await?;
    if class.and_then(|c| c.volume_binding_mode).as_deref() == Some("WaitForFirstConsumer") {
        Api::<PersistentVolumeClaim>::namespaced(
            ctx.client.clone(),
            &claim.namespace().unwrap_or_default(),
        )
        .patch(
            &claim.name_any(),
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {SELECTED_NODE_ANNOTATION: node}}})),
        )
        .await?;
    }
    Ok(())
}

/// Leaves `remaining` as the VM's pending state change requests.
async fn set_state_change_requests(
    ctx: &SimContext,
    vm: &VirtualMachine,
    remaining: &[vmop_api::external::kubevirt::StateChangeRequest],
) -> Result<(), SimError> {
    let value = if remaining.is_empty() {
        serde_json::Value::Null
    } else {
        json!(remaining)
    };
    Api::<VirtualMachine>::namespaced(ctx.client.clone(), &vm.namespace().unwrap_or_default())
        .patch_status(
            &vm.name_any(),
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"stateChangeRequests": value}})),
        )
        .await?;
    Ok(())
}

async fn set_vm_status(
    ctx: &SimContext,
    vm: &VirtualMachine,
    printable: &str,
    ready: bool,
    blocked: Option<&Blocked>,
    restart_required: bool,
) -> Result<(), SimError> {
    let condition =
        |type_: &str, value: bool, reason: Option<&str>, message: Option<&str>| UpstreamCondition {
            type_: type_.into(),
            status: if value { "True" } else { "False" }.into(),
            reason: reason.map(str::to_owned),
            message: message.map(str::to_owned),
            extra: BTreeMap::new(),
        };
    let mut conditions = vec![condition(
        vm_condition::READY,
        ready,
        blocked.map(|b| b.reason),
        blocked.map(|b| b.message.as_str()),
    )];
    if restart_required {
        conditions.push(condition(
            vm_condition::RESTART_REQUIRED,
            true,
            None,
            Some("a non-live-updatable field was changed in the template spec"),
        ));
    }
    let status = json!({
        "printableStatus": printable,
        "ready": ready,
        "created": printable != ps::STOPPED && blocked.is_none(),
        "conditions": conditions,
    });
    let current = vm.status.as_ref().map(|s| {
        json!({
            "printableStatus": s.printable_status,
            "ready": s.ready,
            "created": s.created,
            "conditions": s.conditions,
        })
    });
    if current.as_ref() == Some(&status) {
        return Ok(());
    }
    Api::<VirtualMachine>::namespaced(ctx.client.clone(), &vm.namespace().unwrap_or_default())
        .patch_status(
            &vm.name_any(),
            &PatchParams::default(),
            &Patch::Merge(json!({"status": status})),
        )
        .await?;
    Ok(())
}

fn fnv(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A locally administered unicast MAC derived from `key`, as KubeVirt would assign one.
fn derived_mac(key: &str) -> String {
    let b = fnv(key).to_be_bytes();
    format!(
        "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[0], b[1], b[2], b[3], b[4]
    )
}

/// An address of `a.b.0.0/16` derived from `key`, never `.0` or `.255`.
fn pool_address(a: u8, b: u8, key: &str) -> String {
    let h = fnv(key);
    format!("{a}.{b}.{}.{}", (h >> 8) % 256, 1 + (h % 254))
}
