//! Builders for the objects network plugins return, so every plugin names and labels them the
//! same way. Managers add owner references; plugins never do.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use vmop_api::{
    IpamSpec, NetworkSpec, PROFILE_LABEL,
    external::{
        multus::{
            NetworkAttachmentDefinition, NetworkAttachmentDefinitionSpec, RESOURCE_NAME_ANNOTATION,
        },
        nmstate::{NodeNetworkConfigurationPolicy, NodeNetworkConfigurationPolicySpec},
    },
    k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    profile::IpamType,
};

use crate::{
    context::NetworkConfig,
    names::{child_name, derived_name},
};

/// Label on NodeNetworkConfigurationPolicies the operator manages. Policies are shared by
/// every profile that needs the same node state, so they carry no profile label.
pub const MANAGED_POLICY_LABEL: &str = "vmoperator.io/managed-policy";

/// The NAD name of a network: `<profile>-<network>`.
pub fn nad_name(config: &NetworkConfig) -> String {
    child_name(&config.profile.name, &config.network.name)
}

/// `<namespace>/<name>` for a NAD reference that may omit the namespace.
pub fn qualified(namespace: &str, nad: &str) -> String {
    if nad.contains('/') {
        nad.to_owned()
    } else {
        format!("{namespace}/{nad}")
    }
}

/// How the VM attaches to the NAD the plugin creates for `config` (named by [`nad_name`], in
/// the profile's namespace) with `binding`, on the nodes the network's selector names.
pub fn own_nad_attachment(
    config: &NetworkConfig,
    binding: crate::InterfaceBinding,
) -> crate::NetworkAttachment {
    crate::NetworkAttachment {
        name: config.network.name.clone(),
        nad: format!("{}/{}", config.profile.namespace, nad_name(config)),
        binding,
        node_selector: config
            .network
            .node_selector
            .clone()
            .filter(|s| !s.is_empty()),
    }
}

/// The network of a spec entry that names an existing NAD (`nadName`): nothing to create, the
/// VM attaches to it with `binding`. `None` when the entry names no NAD.
pub fn existing_nad(
    config: &NetworkConfig,
    binding: crate::InterfaceBinding,
) -> Option<crate::DesiredNetwork> {
    let existing = config.network.nad_name.as_ref()?;
    Some(crate::DesiredNetwork {
        nad: None,
        policies: Vec::new(),
        attachment: crate::NetworkAttachment {
            name: config.network.name.clone(),
            nad: qualified(&config.profile.namespace, existing),
            binding,
            node_selector: None,
        },
    })
}

/// The CNI `ipam` section: `{}` (none), `static` with the network's address and gateway, or
/// `whereabouts` with its range.
pub fn ipam(network: &NetworkSpec) -> Value {
    let Some(IpamSpec {
        type_,
        range,
        exclude,
    }) = &network.ipam
    else {
        return json!({});
    };
    match type_ {
        IpamType::None => json!({}),
        IpamType::Static => {
            let mut address = json!({ "address": network.ip_address });
            if let Some(gateway) = &network.gateway {
                address["gateway"] = json!(gateway);
            }
            json!({ "type": "static", "addresses": [address] })
        }
        IpamType::Whereabouts => {
            let mut ipam = json!({ "type": "whereabouts", "range": range });
            if !exclude.is_empty() {
                ipam["exclude"] = json!(exclude);
            }
            if let Some(gateway) = &network.gateway {
                ipam["gateway"] = json!(gateway);
            }
            ipam
        }
    }
}

/// A NAD in the profile's namespace with a CNI config and the device-plugin resource it
/// needs.
pub fn nad(
    config: &NetworkConfig,
    cni: &Value,
    resource_name: &str,
) -> NetworkAttachmentDefinition {
    NetworkAttachmentDefinition {
        metadata: ObjectMeta {
            name: Some(nad_name(config)),
            namespace: Some(config.profile.namespace.clone()),
            labels: Some(profile_labels(&config.profile)),
            annotations: Some(BTreeMap::from([(
                RESOURCE_NAME_ANNOTATION.to_owned(),
                resource_name.to_owned(),
            )])),
            ..ObjectMeta::default()
        },
        spec: NetworkAttachmentDefinitionSpec {
            config: Some(cni.to_string()),
            ..NetworkAttachmentDefinitionSpec::default()
        },
    }
}

/// A shared policy named from what it configures (`parts`, for people) and a hash of its
/// whole content (node selector and desired state): profiles asking for the same node state
/// produce the same object, and two different states can never share a name (the operator
/// reports two states for one node interface as a conflict instead of rewriting the policy).
pub fn shared_policy(
    parts: &[&str],
    node_selector: Option<&BTreeMap<String, String>>,
    desired_state: Value,
) -> NodeNetworkConfigurationPolicy {
    let mut name_parts: Vec<String> = vec!["vmop".into()];
    name_parts.extend(parts.iter().map(|p| (*p).to_owned()));
    let selector = node_selector.filter(|s| !s.is_empty());
    let content = serde_json::json!({"nodeSelector": selector, "desiredState": desired_state});
    let hash = crate::names::fnv1a(content.to_string().as_bytes()) as u32;
    name_parts.push(format!("{hash:08x}"));
    let refs: Vec<&str> = name_parts.iter().map(String::as_str).collect();
    NodeNetworkConfigurationPolicy {
        metadata: ObjectMeta {
            name: Some(derived_name(&refs)),
            labels: Some(BTreeMap::from([(
                MANAGED_POLICY_LABEL.to_owned(),
                "true".to_owned(),
            )])),
            ..ObjectMeta::default()
        },
        spec: NodeNetworkConfigurationPolicySpec {
            node_selector: node_selector.cloned().filter(|s| !s.is_empty()),
            desired_state: Some(desired_state),
            ..NodeNetworkConfigurationPolicySpec::default()
        },
        status: None,
    }
}

/// The claim (or DataVolume) name of a disk: `<profile>--<disk>`.
pub fn claim_name(config: &crate::context::DiskConfig) -> String {
    child_name(&config.profile.name, &config.disk.name)
}

/// Access modes asked for a disk: the spec's, else ReadWriteMany for a live-migratable
/// profile, else none (the backend's or StorageProfile's default).
pub fn access_modes(config: &crate::context::DiskConfig) -> Option<Vec<String>> {
    match &config.disk.access_modes {
        Some(modes) => Some(modes.iter().map(|m| m.as_str().to_owned()).collect()),
        None if config.high_availability => Some(vec!["ReadWriteMany".to_owned()]),
        None => None,
    }
}

/// The volume mode asked for a disk: the spec's, else Block where a live-migratable disk
/// sits on a class whose `volumeMode` parameter prefers it, else none.
pub fn volume_mode(config: &crate::context::DiskConfig) -> Option<String> {
    use vmop_api::VolumeMode;
    match config.disk.volume_mode {
        Some(VolumeMode::Block) => Some("Block".into()),
        Some(VolumeMode::Filesystem) => Some("Filesystem".into()),
        None => {
            let prefers_block = config
                .storage_class
                .as_ref()
                .and_then(|c| c.parameters.get("volumeMode"))
                .is_some_and(|m| m == "Block");
            (config.high_availability && prefers_block).then(|| "Block".into())
        }
    }
}

/// The storage request of a disk's claim: its `size`.
pub fn storage_request(
    config: &crate::context::DiskConfig,
) -> vmop_api::k8s_openapi::api::core::v1::VolumeResourceRequirements {
    use vmop_api::k8s_openapi::{
        api::core::v1::VolumeResourceRequirements, apimachinery::pkg::api::resource::Quantity,
    };
    VolumeResourceRequirements {
        requests: Some(BTreeMap::from([(
            "storage".to_owned(),
            Quantity(config.disk.size.clone()),
        )])),
        ..VolumeResourceRequirements::default()
    }
}

/// Labels of every object built for a profile.
pub fn profile_labels(profile: &crate::context::ProfileRef) -> BTreeMap<String, String> {
    BTreeMap::from([(PROFILE_LABEL.to_owned(), profile.name.clone())])
}

/// Refuses a disk with an image, a catalog image or a clone source: `backend` (its name)
/// creates blank disks only, and says that the cdi backend imports them.
pub fn require_blank(
    config: &crate::context::DiskConfig,
    backend: &str,
) -> Result<(), crate::PluginError> {
    let disk = &config.disk;
    let field = if disk.image.is_some() {
        "image"
    } else if disk.image_ref.is_some() {
        "imageRef"
    } else if disk.source.is_some() {
        "source"
    } else {
        return Ok(());
    };
    Err(crate::PluginError::invalid(
        config.field_path(field),
        format!("{backend} creates blank disks; images and clones are imported by the cdi backend"),
    ))
}

/// Refuses a disk of a live-migratable profile that is not ReadWriteMany.
pub fn require_live_migratable(
    config: &crate::context::DiskConfig,
) -> Result<(), crate::PluginError> {
    let rwx = access_modes(config).is_some_and(|m| m == ["ReadWriteMany"]);
    if config.high_availability && !rwx {
        return Err(crate::PluginError::invalid(
            config.field_path("accessModes"),
            vmop_api::messages::HA_NEEDS_RWX,
        ));
    }
    Ok(())
}

/// A blank claim for a disk, named `<profile>-<disk>` in the profile's namespace, with the
/// disk's class (none: the cluster's default), access modes (default ReadWriteOnce, or
/// ReadWriteMany for a live-migratable profile), volume mode and size; and how the VM
/// mounts it. What every claim-backed backend builds.
pub fn blank_claim(config: &crate::context::DiskConfig) -> crate::DesiredVolume {
    use vmop_api::k8s_openapi::api::core::v1::{PersistentVolumeClaim, PersistentVolumeClaimSpec};
    let name = claim_name(config);
    let claim = PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(config.profile.namespace.clone()),
            labels: Some(profile_labels(&config.profile)),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(
                access_modes(config).unwrap_or_else(|| vec!["ReadWriteOnce".into()]),
            ),
            volume_mode: volume_mode(config),
            storage_class_name: config.disk.storage_class_name.clone(),
            resources: Some(storage_request(config)),
            ..PersistentVolumeClaimSpec::default()
        }),
        status: None,
    };
    crate::DesiredVolume {
        object: crate::VolumeObject::Claim(Box::new(claim)),
        attachment: crate::VolumeAttachment {
            name: config.disk.name.clone(),
            source: crate::VolumeSourceRef::Claim(name),
            boot_order: config.disk.boot_order,
        },
    }
}
