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

use std::{sync::Arc, time::Duration};

use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, Patch, PatchParams, PostParams},
    runtime::controller::Action,
};
use serde_json::json;

use super::{
    Caches, SimConfig, SimContext, SimError, controller, drive, informer, keep_filled,
    kinds::kubevirt::{
        DomainSpec, VirtualMachine, VirtualMachineInstance, VirtualMachineInstanceSpec,
    },
    retry,
    upstream::{printable_status as ps, run_strategy, state_change, vmi_phase},
};

mod instance;
mod placement;
mod vm_status;

use instance::{TARGET_NODE_ANNOTATION, advance_vmi, instance_for};
pub(crate) use placement::eligible_nodes;
use placement::{check_volumes, pick_node, pod_volumes_blocked};
use vm_status::{set_state_change_requests, set_vm_status};

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
            && now.rest == to.rest;
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
        let bytes = |q: &Option<String>| q.as_deref().and_then(super::kinds::bytes);
        let grows_within = match (bytes(&now.guest), bytes(&to.guest), bytes(&to.max_guest)) {
            (Some(now), Some(to), Some(max)) => to >= now && to <= max,
            _ => false,
        };
        if !(now.max_guest == to.max_guest && now.rest == to.rest && grows_within) {
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
    let start_requested = match state_change(&ctx, &vm, vmi.as_ref()).await? {
        Ok(start_requested) => start_requested,
        Err(action) => return Ok(action),
    };
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
        (true, Some(vmi)) => keep_running(&ctx, &vm, &vmi, &template).await,
        (true, None) => start(&ctx, &vm, template, &namespace).await,
    }
}

/// virt-controller takes `status.stateChangeRequests` one at a time (vm.go): a Stop for the
/// instance with its UID deletes that instance, and is dropped once it is gone; a Start
/// starts an instance whatever the run strategy, and is dropped once one exists. `Err` is
/// the pass's end; `Ok(true)` when a Start asks for an instance.
async fn state_change(
    ctx: &SimContext,
    vm: &VirtualMachine,
    vmi: Option<&VirtualMachineInstance>,
) -> Result<Result<bool, Action>, SimError> {
    let name = vm.name_any();
    let vmis = Api::<VirtualMachineInstance>::namespaced(
        ctx.client.clone(),
        &vm.namespace().unwrap_or_default(),
    );
    let requests = vm
        .status
        .as_ref()
        .map(|s| s.state_change_requests.clone())
        .unwrap_or_default();
    let Some(first) = requests.first() else {
        return Ok(Ok(false));
    };
    let live = vmi.filter(|i| i.metadata.deletion_timestamp.is_none());
    match first.action.as_str() {
        state_change::STOP => match vmi {
            Some(current) if current.metadata.uid == first.uid => {
                if current.metadata.deletion_timestamp.is_none() {
                    vmis.delete(&name, &DeleteParams::default()).await?;
                }
                set_vm_status(ctx, vm, ps::STOPPING, false, None, false).await?;
                Ok(Err(ctx.config.next_step()))
            }
            _ => {
                set_state_change_requests(ctx, vm, &requests[1..]).await?;
                Ok(Err(ctx.config.next_step()))
            }
        },
        state_change::START if live.is_some() => {
            set_state_change_requests(ctx, vm, &requests[1..]).await?;
            Ok(Err(ctx.config.next_step()))
        }
        state_change::START => Ok(Ok(vmi.is_none())),
        _ => Ok(Ok(false)),
    }
}

/// An instance that should run: CPU and memory changes hot-plugged or marked
/// RestartRequired, its pod waiting for its volumes while Pending, then one boot step.
async fn keep_running(
    ctx: &SimContext,
    vm: &VirtualMachine,
    vmi: &VirtualMachineInstance,
    template: &VirtualMachineInstanceSpec,
) -> Result<Action, SimError> {
    let (name, namespace) = (vm.name_any(), vm.namespace().unwrap_or_default());
    let vmis = Api::<VirtualMachineInstance>::namespaced(ctx.client.clone(), &namespace);
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
        if let Some(blocked) = pod_volumes_blocked(ctx, &namespace, &vmi.spec, &node).await? {
            set_vm_status(ctx, vm, blocked.printable, false, Some(&blocked), false).await?;
            return Ok(Action::requeue(VOLUME_POLL));
        }
    }
    let running = advance_vmi(ctx, vmi).await?;
    let printable = if running { ps::RUNNING } else { ps::STARTING };
    set_vm_status(ctx, vm, printable, running, None, restart_required).await?;
    Ok(if running {
        Action::await_change()
    } else {
        ctx.config.next_step()
    })
}

/// A VM that should run and has no instance: a node picked, its volumes checked, and the
/// instance created.
async fn start(
    ctx: &SimContext,
    vm: &VirtualMachine,
    template: VirtualMachineInstanceSpec,
    namespace: &str,
) -> Result<Action, SimError> {
    let vmis = Api::<VirtualMachineInstance>::namespaced(ctx.client.clone(), namespace);
    let node = match pick_node(ctx, vm, &template).await? {
        Ok(node) => node,
        Err(blocked) => {
            set_vm_status(ctx, vm, blocked.printable, false, Some(&blocked), false).await?;
            return Ok(Action::requeue(VOLUME_POLL));
        }
    };
    if let Some(blocked) = check_volumes(ctx, namespace, &template, &node).await? {
        set_vm_status(ctx, vm, blocked.printable, false, Some(&blocked), false).await?;
        return Ok(Action::requeue(VOLUME_POLL));
    }
    vmis.create(&PostParams::default(), &instance_for(vm, template, &node)?)
        .await?;
    set_vm_status(ctx, vm, ps::STARTING, false, None, false).await?;
    Ok(ctx.config.next_step())
}
