//! Isolation: which traffic may reach a profile's VM, and where the VM may connect to.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// Which traffic reaches an isolated VM: the peers of `allowFrom`, any source on `ports`, and
/// any port from `cidrs`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct IsolationSpec {
    /// Which VMs and pods may reach the VM on any port: `Namespace` (default) every pod of the
    /// profile's namespace, `HAGroup` only the VMs of the profile's `vmoperator.io/ha-group`
    /// (the profile must carry that label), `None` nobody beyond `ports` and `cidrs`.
    #[serde(default)]
    pub allow_from: AllowFrom,
    /// Ports reachable from any source, such as SSH on 22/TCP.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub ports: Vec<IsolationPort>,
    /// Source address ranges that may reach the VM on any port, such as 10.0.0.0/8.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(max = 64)))]
    #[x_kube(validation = kube::core::Rule::new("self.all(x, isCIDR(x))").message(crate::messages::ISOLATION_CIDR))]
    pub cidrs: Vec<String>,
    /// Where the VM may open connections to. Unset: anywhere (or the administrator's default
    /// for the namespace); set: only DNS (unless `dns: false`) and the listed destinations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<EgressSpec>,
}

/// The destinations an isolated VM may connect to; everything else is denied.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EgressSpec {
    /// Address ranges the VM may reach, each on the listed ports (every port when none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub to: Vec<EgressRule>,
    /// Whether DNS (port 53, UDP and TCP, to any address) stays allowed; on by default, since
    /// a guest that cannot resolve names fails in ways that are hard to trace to a policy.
    #[serde(default = "dns_default")]
    pub dns: bool,
}

fn dns_default() -> bool {
    true
}

impl Default for EgressSpec {
    fn default() -> Self {
        EgressSpec {
            to: Vec::new(),
            dns: true,
        }
    }
}

/// One destination an isolated VM may connect to.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EgressRule {
    /// The address range, such as 10.0.0.0/8 (`0.0.0.0/0` for every IPv4 address).
    #[schemars(length(max = 64))]
    #[x_kube(validation = kube::core::Rule::new("isCIDR(self)").message(crate::messages::EGRESS_CIDR))]
    pub cidr: String,
    /// Ports on that range; every port when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub ports: Vec<IsolationPort>,
}

/// The peers an isolated VM accepts traffic from on every port.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash,
)]
pub enum AllowFrom {
    /// Every pod and VM of the profile's namespace.
    #[default]
    Namespace,
    /// The VMs of the profile's `vmoperator.io/ha-group`.
    HAGroup,
    /// Nobody beyond the listed ports and CIDRs.
    None,
}

/// A port of an isolation rule: one the VM accepts from any source, or one it may connect to.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct IsolationPort {
    /// Port number (1-65535).
    #[x_kube(validation = kube::core::Rule::new("self >= 1 && self <= 65535").message(crate::messages::ISOLATION_PORT))]
    pub port: i32,
    /// TCP (default), UDP or SCTP.
    #[serde(default)]
    pub protocol: PortProtocol,
}

/// Transport protocols of a NetworkPolicy port.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash,
)]
pub enum PortProtocol {
    /// TCP.
    #[default]
    TCP,
    /// UDP.
    UDP,
    /// SCTP.
    SCTP,
}

impl PortProtocol {
    /// The protocol as Kubernetes writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            PortProtocol::TCP => "TCP",
            PortProtocol::UDP => "UDP",
            PortProtocol::SCTP => "SCTP",
        }
    }
}
