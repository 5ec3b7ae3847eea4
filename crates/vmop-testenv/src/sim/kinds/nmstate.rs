//! kubernetes-nmstate's NodeNetworkConfigurationPolicy (nmstate.io/v1) and
//! NodeNetworkConfigurationEnactment (nmstate.io/v1beta1).

use std::collections::BTreeMap;

use kube::CustomResource;
use serde::{Deserialize, Serialize};

use super::{Condition, Rest};

/// `NodeNetworkConfigurationPolicySpec`: which nodes, and the nmstate desired state.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default)]
#[kube(
    group = "nmstate.io",
    version = "v1",
    kind = "NodeNetworkConfigurationPolicy",
    status = "PolicyStatus",
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct PolicySpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_state: Option<serde_json::Value>,
    #[serde(flatten)]
    pub rest: Rest,
}

/// `NodeNetworkConfigurationPolicyStatus`.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct PolicyStatus {
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(flatten)]
    pub rest: Rest,
}

/// `NodeNetworkConfigurationEnactmentSpec` (nothing the simulator reads).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default)]
#[kube(
    group = "nmstate.io",
    version = "v1beta1",
    kind = "NodeNetworkConfigurationEnactment",
    status = "EnactmentStatus",
    schema = "disabled"
)]
pub struct EnactmentSpec {
    #[serde(flatten)]
    pub rest: Rest,
}

/// `NodeNetworkConfigurationEnactmentStatus`.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct EnactmentStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_generation: Option<i64>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(flatten)]
    pub rest: Rest,
}
