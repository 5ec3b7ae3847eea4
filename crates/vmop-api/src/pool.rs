//! The `VirtualMachineProfilePool` custom resource: many VMs from one profile template, each
//! a profile `<pool>-<ordinal>` with its hostname, and static addresses taken in order from
//! per-network ranges, so that an ordinal keeps its address and MAC across restarts,
//! scale-down and scale-up. `kubectl scale vmprofilepool <name> --replicas=N` works (the scale
//! subresource), and so can a HorizontalPodAutoscaler.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::profile::VirtualMachineProfileSpec;

/// Label on a pool's profiles naming the pool.
pub const POOL_LABEL: &str = "vmoperator.io/pool";
/// Label on a pool's profiles giving their ordinal.
pub const ORDINAL_LABEL: &str = "vmoperator.io/pool-ordinal";
/// Most replicas of one pool.
pub const MAX_REPLICAS: i32 = 1000;
/// Longest pool name: `<pool>-<ordinal>` must stay a profile name (52).
pub const MAX_POOL_NAME: usize = 48;

/// A set of VMs from one profile template, scaled by `replicas`.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "vmoperator.io",
    version = "v1alpha1",
    kind = "VirtualMachineProfilePool",
    namespaced,
    shortname = "vmprofilepool",
    shortname = "vmprofilepools",
    category = "all",
    status = "VirtualMachineProfilePoolStatus",
    derive = "PartialEq",
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.replicas",
        label_selector_path = ".status.selector"
    ),
    doc = "VirtualMachineProfilePool runs replicas of one VirtualMachineProfile template, named <pool>-<ordinal>, with static addresses allocated in order from per-network ranges.",
    printcolumn(name = "Desired", type_ = "integer", json_path = ".spec.replicas", description = "Replicas asked for"),
    printcolumn(name = "Current", type_ = "integer", json_path = ".status.replicas", description = "Profiles that exist"),
    printcolumn(name = "Ready", type_ = "integer", json_path = ".status.readyReplicas", description = "Profiles Ready"),
    printcolumn(name = "Status", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].reason", description = "Why the pool is or is not ready"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = kube::core::Rule::new("size(self.metadata.name) <= 48").message(crate::messages::POOL_NAME_TOO_LONG),
    validation = kube::core::Rule::new("self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message(crate::messages::PROFILE_NAME_LABEL),
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = kube::core::Rule::new("!has(self.addresses) || self.addresses.all(a, has(self.template.spec.networks) && self.template.spec.networks.exists(n, n.name == a.network))").message(crate::messages::POOL_ADDRESS_NETWORK).field_path(".addresses"),
    validation = kube::core::Rule::new("!has(self.addresses) || !has(self.template.spec.networks) || self.addresses.all(a, self.template.spec.networks.all(n, n.name != a.network || (!has(n.ipAddress) && !has(n.macAddress))))").message(crate::messages::POOL_ADDRESS_SET_IN_TEMPLATE).field_path(".addresses"),
    validation = kube::core::Rule::new("!has(self.template.spec.cloudInit) || !has(self.template.spec.cloudInit.hostname)").message(crate::messages::POOL_TEMPLATE_HOSTNAME).field_path(".template.spec.cloudInit.hostname"),
)]
pub struct VirtualMachineProfilePoolSpec {
    /// How many VMs (0-1000). Scaling down deletes the highest ordinals first.
    #[x_kube(validation = kube::core::Rule::new("self >= 0 && self <= 1000").message(crate::messages::POOL_REPLICAS_RANGE))]
    pub replicas: i32,
    /// The profile every replica is made from.
    pub template: ProfileTemplate,
    /// Static addresses per network of the template: ordinal n gets the n-th address of the
    /// range (and a MAC derived from the pool, network and ordinal).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["network".into()]))]
    pub addresses: Vec<AddressPool>,
}

/// Labels for the replicas, and their profile spec.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ProfileTemplate {
    /// Labels and annotations every replica's profile gets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<TemplateMetadata>,
    /// The profile spec of every replica.
    pub spec: VirtualMachineProfileSpec,
}

/// Labels and annotations of a replica's profile.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TemplateMetadata {
    /// Labels every replica's profile carries (an `ha-group` label, say).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations every replica's profile carries.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Where a network's static addresses come from.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AddressPool {
    /// Name of a network in the template.
    #[schemars(length(max = 32))]
    pub network: String,
    /// `192.168.100.10-192.168.100.60/24` (first-last/prefix) or a CIDR such as
    /// `10.0.0.0/24` (its host addresses). IPv4.
    #[schemars(length(max = 64))]
    #[x_kube(validation = kube::core::Rule::new("self.matches('^[0-9.]+(-[0-9.]+)?/[0-9]{1,2}$')").message(crate::messages::POOL_RANGE_FORMAT))]
    pub range: String,
    /// Default gateway every member reaches over this network (its `gateway`; a template
    /// network cannot set one without an address of its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = kube::core::Rule::new("isIP(self)").message(crate::messages::IP))]
    pub gateway: Option<String>,
    /// Addresses of the range not to hand out (gateways, addresses in use elsewhere).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256))]
    pub exclude: Vec<String>,
}

/// What the pool observed.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineProfilePoolStatus {
    /// Profiles of the pool that exist.
    #[serde(default)]
    pub replicas: i32,
    /// Profiles of the pool that are Ready.
    #[serde(default)]
    pub ready_replicas: i32,
    /// Label selector of the pool's profiles (for the scale subresource).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ordinal -> name, addresses and MACs of each replica that exists or is asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<PoolMember>,
    /// Ready, with what keeps the pool from it (exhausted ranges, conflicts, restarts due).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// One replica of a pool.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PoolMember {
    /// The replica's number: its profile is `<pool>-<ordinal>`.
    pub ordinal: i32,
    /// The profile's name (and the VM's hostname).
    pub name: String,
    /// Its phase, as its profile reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Static address and MAC per network.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<MemberAddress>,
}

/// A replica's static address and MAC on one network.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MemberAddress {
    /// The template network the address is on.
    pub network: String,
    /// The replica's static address, with its prefix length.
    #[serde(rename = "ipAddress")]
    pub ip_address: String,
    /// The replica's pinned MAC address on that network.
    pub mac_address: String,
}
