//! The scheduler's part: which node an instance may go to, and what its volumes wait for.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, NodeSelectorRequirement, PersistentVolumeClaim};
use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams},
};
use serde_json::json;

use crate::sim::{
    SimContext, SimError,
    kinds::{
        bytes,
        kubevirt::{VirtualMachine, VirtualMachineInstanceSpec},
    },
    upstream::{SELECTED_NODE_ANNOTATION, dv_phase, printable_status as ps},
};

use super::{Blocked, instance::fnv};

/// Reason of a node the pod's node selector or required affinity excludes, as kube-scheduler's
/// NodeAffinity filter words it.
const NODE_AFFINITY_MISMATCH: &str = "node(s) didn't match Pod's node affinity/selector";
/// Reason of a node without the memory the pod requests (NodeResourcesFit).
const INSUFFICIENT_MEMORY: &str = "Insufficient memory";

/// A node the scheduler would bind the virt-launcher pod to (node selector, required node
/// affinity, then the guest's memory against the node's allocatable memory), spread by name;
/// or, when none fits, kube-scheduler's `Unschedulable` message: every node's first failing
/// filter counted, as `0/3 nodes are available: 1 Insufficient memory, 2 node(s) didn't
/// match Pod's node affinity/selector.` This world's nodes run nothing else, so each is
/// measured empty.
pub(super) async fn pick_node(
    ctx: &SimContext,
    vm: &VirtualMachine,
    spec: &VirtualMachineInstanceSpec,
) -> Result<Result<String, Blocked>, SimError> {
    let nodes = ctx.nodes().await?;
    let wanted = spec
        .domain
        .memory
        .as_ref()
        .and_then(|m| m.guest.as_deref())
        .and_then(bytes);
    let mut failures: BTreeMap<&str, usize> = BTreeMap::new();
    let mut candidates = Vec::new();
    for node in &nodes {
        let reason = if !placement_matches(node.labels(), spec) {
            Some(NODE_AFFINITY_MISMATCH)
        } else if wanted
            .zip(allocatable_memory(node))
            .is_some_and(|(w, a)| w > a)
        {
            Some(INSUFFICIENT_MEMORY)
        } else {
            None
        };
        match reason {
            Some(reason) => *failures.entry(reason).or_default() += 1,
            None => candidates.push(node.name_any()),
        }
    }
    if candidates.is_empty() {
        let mut counted: Vec<String> = failures
            .iter()
            .map(|(reason, count)| format!("{count} {reason}"))
            .collect();
        counted.sort();
        return Ok(Err(Blocked {
            printable: ps::ERROR_UNSCHEDULABLE,
            reason: "Unschedulable",
            message: format!(
                "0/{} nodes are available: {}.",
                nodes.len(),
                counted.join(", ")
            ),
        }));
    }
    candidates.sort();
    let key = format!("{}/{}", vm.namespace().unwrap_or_default(), vm.name_any());
    let index = (fnv(&key) % candidates.len() as u64) as usize;
    Ok(Ok(candidates.swap_remove(index)))
}

/// The node's `status.allocatable.memory` in bytes, when it says.
fn allocatable_memory(node: &Node) -> Option<f64> {
    let allocatable = node.status.as_ref()?.allocatable.as_ref()?;
    bytes(&allocatable.get("memory")?.0)
}

/// Whether a node with `labels` satisfies the instance's node selector and required node
/// affinity.
fn placement_matches(labels: &BTreeMap<String, String>, spec: &VirtualMachineInstanceSpec) -> bool {
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
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
        && (terms.is_empty()
            || terms.iter().any(|term| {
                term.match_expressions
                    .iter()
                    .flatten()
                    .all(|req| matches_requirement(labels, req))
            }))
}

/// The nodes (sorted by name) that satisfy the instance's node selector and required node
/// affinity, and how many nodes there are.
pub(crate) async fn eligible_nodes(
    ctx: &SimContext,
    spec: &VirtualMachineInstanceSpec,
) -> Result<(Vec<String>, usize), SimError> {
    let nodes = ctx.nodes().await?;
    let mut candidates: Vec<String> = nodes
        .iter()
        .filter(|node| placement_matches(node.labels(), spec))
        .map(ResourceExt::name_any)
        .collect();
    candidates.sort();
    Ok((candidates, nodes.len()))
}

pub(super) fn matches_requirement(
    labels: &BTreeMap<String, String>,
    req: &NodeSelectorRequirement,
) -> bool {
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
pub(super) async fn check_volumes(
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
pub(super) async fn pod_volumes_blocked(
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

pub(super) async fn select_node_if_waiting(
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
