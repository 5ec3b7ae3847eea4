//! `MultiNetworkPolicy` (k8s.cni.cncf.io/v1beta1), from k8snetworkplumbingwg/multi-networkpolicy:
//! NetworkPolicy's spec, applied to the secondary networks named by [`POLICY_FOR_ANNOTATION`].

use k8s_openapi::{
    api::networking::v1::{NetworkPolicyEgressRule, NetworkPolicyIngressRule},
    apimachinery::pkg::apis::meta::v1::LabelSelector,
};
use kube::CustomResource;
use serde::{Deserialize, Serialize};

use super::Extra;

/// Annotation naming the NetworkAttachmentDefinitions a MultiNetworkPolicy applies to:
/// `<namespace>/<name>`, comma-separated.
pub const POLICY_FOR_ANNOTATION: &str = "k8s.v1.cni.cncf.io/policy-for";

/// A NetworkPolicy for secondary networks, enforced by the multi-networkpolicy daemon where
/// it is installed.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "k8s.cni.cncf.io",
    version = "v1beta1",
    kind = "MultiNetworkPolicy",
    plural = "multi-networkpolicies",
    namespaced,
    schema = "disabled",
    derive = "Default",
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
pub struct MultiNetworkPolicySpec {
    /// The pods the policy applies to.
    pub pod_selector: LabelSelector,
    /// `Ingress`, `Egress` or both.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_types: Vec<String>,
    /// Traffic allowed in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<Vec<NetworkPolicyIngressRule>>,
    /// Traffic allowed out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<Vec<NetworkPolicyEgressRule>>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}
