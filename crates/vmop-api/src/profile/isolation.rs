//! Isolation: which traffic may reach a profile's VM.

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

/// A port an isolated VM accepts from any source.
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
