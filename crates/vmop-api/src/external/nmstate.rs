//! NMState `NodeNetworkConfigurationPolicy` (nmstate.io/v1, cluster-scoped) and its per-node
//! `NodeNetworkConfigurationEnactment` (nmstate.io/v1beta1).

use std::collections::BTreeMap;

use kube::CustomResource;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Extra, UpstreamCondition};

/// Label on an enactment naming its policy.
pub const ENACTMENT_POLICY_LABEL: &str = "nmstate.io/policy";
/// Label on an enactment naming its node.
pub const ENACTMENT_NODE_LABEL: &str = "nmstate.io/node";

/// Policy condition types.
pub mod condition {
    /// Condition type `Available`.
    pub const AVAILABLE: &str = "Available";
    /// Condition type `Degraded`.
    pub const DEGRADED: &str = "Degraded";
    /// Condition type `Progressing`.
    pub const PROGRESSING: &str = "Progressing";
    /// Condition type `Ignored`.
    pub const IGNORED: &str = "Ignored";
    /// Enactment condition: this node failed to apply the state.
    pub const FAILING: &str = "Failing";
}

/// Condition reasons.
pub mod reason {
    /// Condition reason `SuccessfullyConfigured`.
    pub const SUCCESSFULLY_CONFIGURED: &str = "SuccessfullyConfigured";
    /// Condition reason `FailedToConfigure`.
    pub const FAILED_TO_CONFIGURE: &str = "FailedToConfigure";
    /// Condition reason `ConfigurationProgressing`.
    pub const CONFIGURATION_PROGRESSING: &str = "ConfigurationProgressing";
    /// Condition reason `NoMatchingNode`.
    pub const NO_MATCHING_NODE: &str = "NoMatchingNode";
}

/// A desired network state applied by NMState on every matching node.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "nmstate.io",
    version = "v1",
    kind = "NodeNetworkConfigurationPolicy",
    shortname = "nncp",
    status = "NodeNetworkConfigurationPolicyStatus",
    schema = "disabled",
    derive = "Default",
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
pub struct NodeNetworkConfigurationPolicySpec {
    /// Nodes the policy applies to (plain label equality); all nodes when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,
    /// The nmstate desired state (`interfaces`, `routes`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_state: Option<Value>,
    /// How many nodes may be configured at once (default "50%").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<k8s_openapi::apimachinery::pkg::util::intstr::IntOrString>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Observed state of a policy. Its conditions carry no observedGeneration: compare each
/// enactment's `policyGeneration` with the policy's `metadata.generation` before trusting them.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NodeNetworkConfigurationPolicyStatus {
    /// `conditions` of NMState's `NodeNetworkConfigurationPolicyStatus`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<UpstreamCondition>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The outcome of one policy on one node, named `<node>.<policy>`.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "nmstate.io",
    version = "v1beta1",
    kind = "NodeNetworkConfigurationEnactment",
    shortname = "nnce",
    status = "NodeNetworkConfigurationEnactmentStatus",
    schema = "disabled",
    derive = "Default",
    derive = "PartialEq"
)]
pub struct NodeNetworkConfigurationEnactmentSpec {
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Observed state of an enactment.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NodeNetworkConfigurationEnactmentStatus {
    /// The policy generation this enactment applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_generation: Option<i64>,
    /// `conditions` of NMState's `NodeNetworkConfigurationEnactmentStatus`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<UpstreamCondition>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}
