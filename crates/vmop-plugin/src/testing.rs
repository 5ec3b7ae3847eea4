//! Test support for plugin crates (feature `testing`): golden files as insta snapshots, the
//! YAML they hold, and the configs plugins are given.

use std::path::Path;

/// Compares `actual` with the golden file `<dir>/<case>.snap`, an [insta] snapshot whose
/// body is the YAML as rendered. A difference fails the test and leaves `<case>.snap.new`
/// beside it; `INSTA_UPDATE=always` (or `cargo insta review`) accepts it, for review in the
/// diff.
pub fn assert_golden(dir: &Path, case: &str, actual: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(dir);
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_snapshot!(case, actual));
}

/// The profile `name` in namespace `prod` (no labels), as plugins see it.
pub fn profile_ref(name: &str) -> crate::ProfileRef {
    crate::ProfileRef {
        name: name.into(),
        namespace: "prod".into(),
        labels: std::collections::BTreeMap::new(),
    }
}

/// What a network plugin is given for `network`, the first network of profile `profile`
/// (in `prod`).
pub fn network_config(profile: &str, network: vmop_api::NetworkSpec) -> crate::NetworkConfig {
    crate::NetworkConfig {
        profile: profile_ref(profile),
        index: 0,
        network,
    }
}

/// What a storage backend is given for `disk`, the second disk of profile `web` (in `prod`),
/// with no high availability and no class; set those with struct update syntax.
pub fn disk_config(disk: vmop_api::DiskSpec) -> crate::DiskConfig {
    crate::DiskConfig {
        profile: profile_ref("web"),
        index: 1,
        disk,
        high_availability: false,
        storage_class: None,
    }
}

/// YAML of a network plugin's result, for golden files: the NAD with its CNI config parsed,
/// the policies and the attachment; or the error.
pub fn render_network(result: &Result<crate::DesiredNetwork, crate::PluginError>) -> String {
    let value = match result {
        Err(e) => serde_json::json!({ "error": e.to_string() }),
        Ok(desired) => {
            let binding = match &desired.attachment.binding {
                crate::InterfaceBinding::Bridge => "bridge".to_owned(),
                crate::InterfaceBinding::Sriov => "sriov".to_owned(),
                crate::InterfaceBinding::Plugin(name) => format!("plugin {name}"),
            };
            let cni: Option<serde_json::Value> = desired
                .nad
                .as_ref()
                .and_then(|n| n.spec.config.as_deref())
                .and_then(|c| serde_json::from_str(c).ok());
            serde_json::json!({
                "nad": desired.nad,
                "cniConfig": cni,
                "policies": desired.policies,
                "attachment": {
                    "nad": desired.attachment.nad,
                    "binding": binding,
                    "nodeSelector": desired.attachment.node_selector,
                },
            })
        }
    };
    to_yaml(&value)
}

/// YAML of a storage backend's result, for golden files.
pub fn render_volume(result: &Result<crate::DesiredVolume, crate::PluginError>) -> String {
    let value = match result {
        Err(e) => serde_json::json!({ "error": e.to_string() }),
        Ok(desired) => {
            let object = match &desired.object {
                crate::VolumeObject::Claim(claim) => serde_json::to_value(claim),
                crate::VolumeObject::DataVolume(dv) => serde_json::to_value(dv),
            }
            .unwrap_or_default();
            let (kind, name) = match &desired.attachment.source {
                crate::VolumeSourceRef::Claim(n) => ("persistentVolumeClaim", n),
                crate::VolumeSourceRef::DataVolume(n) => ("dataVolume", n),
            };
            serde_json::json!({
                "object": object,
                "attachment": {
                    "name": desired.attachment.name,
                    kind: name,
                    "bootOrder": desired.attachment.boot_order,
                },
            })
        }
    };
    to_yaml(&value)
}

/// YAML of a VM template's result, for golden files: Secret data shown as text.
pub fn render_vm(result: &Result<crate::DesiredVm, crate::PluginError>) -> String {
    let value = match result {
        Err(e) => serde_json::json!({ "error": e.to_string() }),
        Ok(desired) => {
            let secrets: Vec<serde_json::Value> = desired
                .secrets
                .iter()
                .map(|s| {
                    let data: std::collections::BTreeMap<&String, String> = s
                        .data
                        .iter()
                        .flatten()
                        .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
                        .collect();
                    serde_json::json!({ "name": s.metadata.name, "labels": s.metadata.labels, "data": data })
                })
                .collect();
            serde_json::json!({ "vm": desired.vm, "secrets": secrets, "macs": desired.macs })
        }
    };
    to_yaml(&value)
}

fn to_yaml(value: &serde_json::Value) -> String {
    serde_yaml::to_string(value).unwrap_or_else(|e| format!("unrenderable: {e}\n"))
}
