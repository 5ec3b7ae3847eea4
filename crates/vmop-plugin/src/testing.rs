//! Golden-file assertions for plugin tests (feature `testing`).

use std::{fs, path::Path};

/// Compares `actual` with the file at `path`. With `UPDATE_GOLDEN=1` in the environment the
/// file is (re)written instead, for review in the diff.
pub fn assert_golden(path: &Path, actual: &str) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        }
        fs::write(path, actual).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        return;
    }
    let expected = fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with UPDATE_GOLDEN=1 to create it",
            path.display()
        )
    });
    if expected != actual {
        panic!(
            "{} differs from the output (run with UPDATE_GOLDEN=1 to accept it):\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        );
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
