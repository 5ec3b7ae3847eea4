//! Cloud-init user data and network config v2.

use std::collections::BTreeMap;

use serde_yaml::{Mapping, Value};
use vmop_plugin::{
    PluginError, TemplateInput,
    vmop_api::{kube::ResourceExt, pool::POOL_LABEL, profile::IpamType},
};

use crate::{
    POD_NETWORK,
    bounded_yaml::{self, USER_DATA_LIMITS},
};

const CLOUD_CONFIG_HEADER: &str = "#cloud-config";
const USER_DATA_FIELD: &str = "spec.cloudInit.userDataSecretRef";

fn yaml_error(error: serde_yaml::Error) -> PluginError {
    PluginError::Build(format!("rendering cloud-init: {error}"))
}

/// `#cloud-config` with the hostname and SSH keys, merged into the user's own cloud-config:
/// the user's keys win, SSH keys are the union.
pub fn user_data(input: &TemplateInput) -> Result<String, PluginError> {
    let profile = &input.profile;
    let cloud_init = profile.spec.cloud_init.clone().unwrap_or_default();
    let mut config = match &input.user_data {
        None => Mapping::new(),
        Some(text) => {
            if !text.trim_start().starts_with(CLOUD_CONFIG_HEADER) {
                return Err(PluginError::invalid(
                    USER_DATA_FIELD,
                    "the Secret's userdata must be a #cloud-config document to merge with",
                ));
            }
            match bounded_yaml::parse(text, USER_DATA_LIMITS) {
                Ok(Value::Mapping(map)) => map,
                Ok(Value::Null) => Mapping::new(),
                Ok(_) => {
                    return Err(PluginError::invalid(
                        USER_DATA_FIELD,
                        "the Secret's userdata is not a YAML mapping after #cloud-config",
                    ));
                }
                Err(why) => {
                    return Err(PluginError::invalid(
                        USER_DATA_FIELD,
                        format!("the Secret's userdata {why}"),
                    ));
                }
            }
        }
    };
    if profile.labels().contains_key(POOL_LABEL) {
        // Members of a pool share its user data: a hostname there would be every member's.
        for key in ["hostname", "fqdn"] {
            if config.contains_key(key) {
                return Err(PluginError::invalid(
                    USER_DATA_FIELD,
                    format!(
                        "the Secret's userdata sets {key}, but a pool member's hostname is its own name ({}): remove {key} from it",
                        profile.name_any()
                    ),
                ));
            }
        }
    }
    let hostname = cloud_init
        .hostname
        .or_else(|| profile.metadata.name.clone())
        .unwrap_or_default();
    let hostname_key = Value::from("hostname");
    if !config.contains_key(&hostname_key) {
        config.insert(hostname_key, Value::from(hostname));
    }
    let keys_key = Value::from("ssh_authorized_keys");
    let mut keys: Vec<Value> = match config.get(&keys_key) {
        Some(Value::Sequence(existing)) => existing.clone(),
        _ => Vec::new(),
    };
    for key in cloud_init.ssh_authorized_keys {
        let key = Value::from(key);
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    if !keys.is_empty() {
        config.insert(keys_key, Value::Sequence(keys));
    }
    let body = serde_yaml::to_string(&Value::Mapping(config)).map_err(yaml_error)?;
    Ok(format!("{CLOUD_CONFIG_HEADER}\n{body}"))
}

/// Network config v2: DHCP on the pod interface, and on every secondary interface with an
/// address its static address and gateway, each matched by its pinned MAC.
pub fn network_data(
    input: &TemplateInput,
    macs: &BTreeMap<String, String>,
) -> Result<String, PluginError> {
    let mac_of = |name: &str| macs.get(name).cloned().unwrap_or_default();
    let has_gateway = input
        .profile
        .spec
        .networks
        .iter()
        .any(|n| n.gateway.is_some());
    let mut ethernets = Mapping::new();

    let mut pod = Mapping::new();
    pod.insert("match".into(), match_mac(&mac_of(POD_NETWORK)));
    pod.insert("dhcp4".into(), true.into());
    if has_gateway {
        // The default route goes through the network with a gateway, not the pod network.
        let mut overrides = Mapping::new();
        overrides.insert("use-routes".into(), false.into());
        pod.insert("dhcp4-overrides".into(), Value::Mapping(overrides));
    }
    ethernets.insert(POD_NETWORK.into(), Value::Mapping(pod));

    for network in &input.profile.spec.networks {
        let mut ethernet = Mapping::new();
        ethernet.insert("match".into(), match_mac(&mac_of(&network.name)));
        if network.name.len() <= 15 {
            ethernet.insert("set-name".into(), network.name.clone().into());
        }
        if let Some(address) = &network.ip_address {
            ethernet.insert(
                "addresses".into(),
                vec![Value::from(address.clone())].into(),
            );
            if let Some(gateway) = &network.gateway {
                let mut route = Mapping::new();
                route.insert("to".into(), "default".into());
                route.insert("via".into(), gateway.clone().into());
                ethernet.insert("routes".into(), vec![Value::Mapping(route)].into());
            }
        } else if network
            .ipam
            .as_ref()
            .is_some_and(|i| i.type_ != IpamType::None)
        {
            // KubeVirt's DHCP server hands the IPAM address to the guest over bridge binding.
            ethernet.insert("dhcp4".into(), true.into());
        } else {
            continue;
        }
        ethernets.insert(network.name.clone().into(), Value::Mapping(ethernet));
    }

    let mut root = Mapping::new();
    root.insert("version".into(), 2.into());
    root.insert("ethernets".into(), Value::Mapping(ethernets));
    serde_yaml::to_string(&Value::Mapping(root)).map_err(yaml_error)
}

fn match_mac(mac: &str) -> Value {
    let mut matcher = Mapping::new();
    matcher.insert("macaddress".into(), mac.into());
    Value::Mapping(matcher)
}
