//! kubernetes-nmstate: for each policy, an enactment per matching node (`<node>.<policy>`,
//! owned by the policy) recording the policy generation it applied, and the policy's
//! Available / Degraded / Progressing / Ignored conditions with upstream reasons.
//! A desired state naming the configured bad interface fails on every node.

use std::{collections::BTreeMap, sync::Arc};

use k8s_openapi::{
    api::core::v1::Node,
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference},
};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{ListParams, Patch, PatchParams},
    runtime::controller::Action,
};
use serde_json::{Value, json};

use super::{
    SimConfig, SimContext, SimError, controller, drive,
    kinds::{
        Condition,
        nmstate::{
            EnactmentSpec, NodeNetworkConfigurationEnactment, NodeNetworkConfigurationPolicy,
        },
    },
    retry,
    upstream::nmstate::{ENACTMENT_NODE_LABEL, ENACTMENT_POLICY_LABEL, condition, reason},
};

const MANAGER: &str = "nmstate-simulator";

/// Runs the policy handler.
pub async fn run(client: Client, config: Arc<SimConfig>) {
    let context = SimContext::new(&client, &config);
    let enactments = Api::<NodeNetworkConfigurationEnactment>::all(client.clone());
    let stream = controller::<NodeNetworkConfigurationPolicy>(&client)
        .owns(enactments, kube::runtime::watcher::Config::default())
        .run(reconcile, retry, context);
    drive("nmstate", stream).await;
}

/// Whether a desired state touches `interface` (as an interface or a bridge port).
fn mentions_interface(state: &Value, interface: &str) -> bool {
    match state {
        Value::String(s) => s == interface,
        Value::Array(items) => items.iter().any(|v| mentions_interface(v, interface)),
        Value::Object(map) => map.values().any(|v| mentions_interface(v, interface)),
        _ => false,
    }
}

async fn reconcile(
    policy: Arc<NodeNetworkConfigurationPolicy>,
    ctx: Arc<SimContext>,
) -> Result<Action, SimError> {
    if policy.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let name = policy.name_any();
    let generation = policy.metadata.generation.unwrap_or(1);
    let selector = policy.spec.node_selector.clone().unwrap_or_default();
    let label_selector = selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let nodes = Api::<Node>::all(ctx.client.clone())
        .list(&ListParams::default().labels(&label_selector))
        .await?;
    let node_names: Vec<String> = nodes.items.iter().map(ResourceExt::name_any).collect();

    let fails = policy
        .spec
        .desired_state
        .as_ref()
        .is_some_and(|s| mentions_interface(s, &ctx.config.bad_interface));

    // The first pass over a generation reports Progressing; the next one, once every node's
    // enactment records that generation, the outcome.
    let enactments = Api::<NodeNetworkConfigurationEnactment>::all(ctx.client.clone());
    let existing = enactments
        .list(&ListParams::default().labels(&format!("{ENACTMENT_POLICY_LABEL}={name}")))
        .await?;
    let recorded = |node: &String| {
        existing.items.iter().any(|e| {
            e.labels().get(ENACTMENT_NODE_LABEL) == Some(node)
                && e.status.as_ref().and_then(|s| s.policy_generation) == Some(generation)
        })
    };
    // The outcome of a generation, once reached, stays: the object that triggered this pass may
    // be older than our last status write, so it cannot tell.
    let key = format!("{name}/{generation}");
    let settled = ctx.config.step_delay.is_zero()
        || ctx.settled(&key)
        || (node_names.iter().all(recorded)
            && ctx.wait_before_step(&key).is_none()
            && ctx.settle(&key));

    let owner = OwnerReference {
        api_version: NodeNetworkConfigurationPolicy::api_version(&()).into_owned(),
        kind: NodeNetworkConfigurationPolicy::kind(&()).into_owned(),
        name: name.clone(),
        uid: policy
            .uid()
            .ok_or_else(|| SimError::Invalid("policy without uid".into()))?,
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    let enactments_of = Enactments {
        api: &enactments,
        policy: &name,
        generation,
        owner: &owner,
    };
    for node in &node_names {
        enactments_of.record(&ctx, node, settled, fails).await?;
    }
    let conditions = policy_conditions(node_names.len(), settled, fails);
    let status = json!({"status": {"conditions": conditions}});
    let current = serde_json::to_value(&policy.status).unwrap_or_default();
    if current != status["status"] {
        Api::<NodeNetworkConfigurationPolicy>::all(ctx.client.clone())
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(status))
            .await?;
    }
    Ok(if settled {
        Action::await_change()
    } else {
        ctx.config.next_step()
    })
}

/// Where a policy's enactments go, and what they record.
struct Enactments<'a> {
    api: &'a Api<NodeNetworkConfigurationEnactment>,
    policy: &'a str,
    generation: i64,
    owner: &'a OwnerReference,
}

impl Enactments<'_> {
    /// The enactment of the policy on `node` (`<node>.<policy>`, owned by the policy): the
    /// generation applied and its Available / Failing / Progressing conditions.
    async fn record(
        &self,
        ctx: &SimContext,
        node: &str,
        settled: bool,
        fails: bool,
    ) -> Result<(), SimError> {
        let (available, failing, progressing) = match (settled, fails) {
            (false, _) => (false, false, true),
            (true, false) => (true, false, false),
            (true, true) => (false, true, false),
        };
        let failure = format!(
            "error reconciling NodeNetworkConfigurationPolicy on node {node} at desired state apply: failed to execute nmstatectl set: Interface {} not found",
            ctx.config.bad_interface
        );
        let enactment_name = format!("{node}.{}", self.policy);
        let enactment = NodeNetworkConfigurationEnactment {
            metadata: ObjectMeta {
                name: Some(enactment_name.clone()),
                labels: Some(BTreeMap::from([
                    (ENACTMENT_POLICY_LABEL.into(), self.policy.to_owned()),
                    (ENACTMENT_NODE_LABEL.into(), node.to_owned()),
                ])),
                owner_references: Some(vec![self.owner.clone()]),
                ..ObjectMeta::default()
            },
            spec: EnactmentSpec::default(),
            status: None,
        };
        self.api
            .patch(
                &enactment_name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&enactment),
            )
            .await?;
        let conditions = vec![
            cond(
                condition::AVAILABLE,
                available,
                reason::SUCCESSFULLY_CONFIGURED,
                if available {
                    "successfully reconciled"
                } else {
                    ""
                },
            ),
            cond(
                condition::FAILING,
                failing,
                reason::FAILED_TO_CONFIGURE,
                if failing { &failure } else { "" },
            ),
            cond(
                condition::PROGRESSING,
                progressing,
                reason::CONFIGURATION_PROGRESSING,
                "",
            ),
        ];
        self.api
            .patch_status(
                &enactment_name,
                &PatchParams::default(),
                &Patch::Merge(
                    json!({"status": {"policyGeneration": self.generation, "conditions": conditions}}),
                ),
            )
            .await?;
        Ok(())
    }
}

/// The policy's conditions: Ignored without nodes, Progressing until settled, then Degraded
/// or Available, with upstream's reasons and messages.
fn policy_conditions(total: usize, settled: bool, fails: bool) -> Vec<Condition> {
    if total == 0 {
        vec![
            cond(condition::AVAILABLE, false, reason::NO_MATCHING_NODE, ""),
            cond(condition::DEGRADED, false, reason::NO_MATCHING_NODE, ""),
            cond(condition::PROGRESSING, false, reason::NO_MATCHING_NODE, ""),
            cond(
                condition::IGNORED,
                true,
                reason::NO_MATCHING_NODE,
                "Policy does not match any node",
            ),
        ]
    } else if !settled {
        vec![
            cond(
                condition::AVAILABLE,
                false,
                reason::CONFIGURATION_PROGRESSING,
                "",
            ),
            cond(
                condition::DEGRADED,
                false,
                reason::CONFIGURATION_PROGRESSING,
                "",
            ),
            cond(
                condition::PROGRESSING,
                true,
                reason::CONFIGURATION_PROGRESSING,
                &format!("Policy is progressing {total}/{total} nodes"),
            ),
        ]
    } else if fails {
        vec![
            cond(condition::AVAILABLE, false, reason::FAILED_TO_CONFIGURE, ""),
            cond(
                condition::DEGRADED,
                true,
                reason::FAILED_TO_CONFIGURE,
                &format!("{total}/{total} nodes failed to configure"),
            ),
            cond(
                condition::PROGRESSING,
                false,
                reason::FAILED_TO_CONFIGURE,
                "",
            ),
        ]
    } else {
        vec![
            cond(
                condition::AVAILABLE,
                true,
                reason::SUCCESSFULLY_CONFIGURED,
                &format!("{total}/{total} nodes successfully configured"),
            ),
            cond(
                condition::DEGRADED,
                false,
                reason::SUCCESSFULLY_CONFIGURED,
                "",
            ),
            cond(
                condition::PROGRESSING,
                false,
                reason::SUCCESSFULLY_CONFIGURED,
                "",
            ),
        ]
    }
}

fn cond(type_: &str, value: bool, reason: &str, message: &str) -> Condition {
    Condition {
        type_: type_.into(),
        status: if value { "True" } else { "False" }.into(),
        reason: Some(reason.into()),
        message: (!message.is_empty()).then(|| message.into()),
        rest: Default::default(),
    }
}
