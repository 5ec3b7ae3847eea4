//! Multus `NetworkAttachmentDefinition` (k8s.cni.cncf.io/v1).

use kube::CustomResource;
use serde::{Deserialize, Serialize};

use super::Extra;

/// Annotation naming the device-plugin resource a NAD needs: the SR-IOV pool
/// (`<prefix>/<resource>`) or, for bridges, `bridge.network.kubevirt.io/<bridge>`
/// (bridge-marker), so pods land only on nodes that have it.
pub const RESOURCE_NAME_ANNOTATION: &str = "k8s.v1.cni.cncf.io/resourceName";

/// A CNI configuration that pods and VMs attach to as a secondary network.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "k8s.cni.cncf.io",
    version = "v1",
    kind = "NetworkAttachmentDefinition",
    plural = "network-attachment-definitions",
    shortname = "net-attach-def",
    namespaced,
    schema = "disabled",
    derive = "Default",
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
pub struct NetworkAttachmentDefinitionSpec {
    /// The CNI configuration, a JSON document in a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}
