//! kubeconform, offline: JSON schemas written from the test API server's own OpenAPI (the
//! public schema registry is not reachable here, and the server is the version we target),
//! then `kubeconform -strict` over rendered manifests.

use std::{
    collections::BTreeSet,
    io::Write,
    path::Path,
    process::{Command, Stdio},
};

use kube::Client;
use serde_json::{Map, Value, json};

use crate::{error::TestEnvError, tools};

/// kubeconform, pinned, built from the Go module proxy.
pub const KUBECONFORM_MODULE: &str = "github.com/yannh/kubeconform/cmd/kubeconform@v0.7.0";

/// Where kubeconform finds a kind's schema under the directory [`write_schemas`] filled.
/// kubeconform's `.Group` of a core kind (`apiVersion: v1`) is its version.
const LOCATION: &str = "{{ .Group }}/{{ .ResourceAPIVersion }}/{{ .ResourceKind }}.json";

/// Makes an OpenAPI v2 schema a strict JSON schema, as openapi2jsonschema `--strict` does:
/// objects with declared properties refuse others; int-or-string accepts both.
fn strict(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if map.get("format").and_then(Value::as_str) == Some("int-or-string") {
                map.remove("type");
                map.remove("format");
                map.insert(
                    "oneOf".into(),
                    json!([{"type": "string"}, {"type": "integer"}]),
                );
            }
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            map.values_mut().for_each(strict);
        }
        Value::Array(items) => items.iter_mut().for_each(strict),
        _ => {}
    }
}

/// Writes one schema per kind the API server serves into `dir`, each with every definition
/// it may refer to. Returns the kinds written, as `group/version/kind`.
pub async fn write_schemas(client: &Client, dir: &Path) -> Result<BTreeSet<String>, TestEnvError> {
    let request = http::Request::get("/openapi/v2")
        .body(Vec::new())
        .map_err(|e| TestEnvError::Client {
            detail: e.to_string(),
        })?;
    let openapi: Value = client.request(request).await?;
    let mut definitions = openapi["definitions"].clone();
    strict(&mut definitions);
    let mut written = BTreeSet::new();
    let Some(all) = definitions.as_object() else {
        return Ok(written);
    };
    for (name, definition) in all {
        let Some(kinds) = definition["x-kubernetes-group-version-kind"].as_array() else {
            continue;
        };
        for gvk in kinds {
            let (group, version, kind) = (
                gvk["group"].as_str().unwrap_or_default(),
                gvk["version"].as_str().unwrap_or_default(),
                gvk["kind"].as_str().unwrap_or_default().to_lowercase(),
            );
            let mut schema: Map<String, Value> =
                definition.as_object().cloned().unwrap_or_default();
            schema.insert("definitions".into(), definitions.clone());
            schema.insert(
                "$schema".into(),
                json!("http://json-schema.org/draft-04/schema#"),
            );
            let group_dir = if group.is_empty() { version } else { group };
            let path = dir
                .join(group_dir)
                .join(version)
                .join(format!("{kind}.json"));
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| TestEnvError::io(parent, e))?;
            }
            let text = serde_json::to_vec(&schema).map_err(|e| TestEnvError::Client {
                detail: format!("{name}: {e}"),
            })?;
            std::fs::write(&path, text).map_err(|e| TestEnvError::io(&path, e))?;
            written.insert(format!("{group}/{version}/{kind}"));
        }
    }
    Ok(written)
}

/// `kubeconform -strict` of `yaml` against the schemas in `dir`; a kind without a schema is
/// an error, not skipped. Returns kubeconform's summary.
pub fn validate(dir: &Path, yaml: &str) -> Result<String, TestEnvError> {
    let kubeconform = tools::ensure_go_tool(KUBECONFORM_MODULE)?;
    let mut child = Command::new(&kubeconform)
        .args(["-strict", "-summary", "-schema-location"])
        .arg(dir.join(LOCATION))
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| TestEnvError::io(&kubeconform, e))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(yaml.as_bytes())
            .map_err(|e| TestEnvError::io(&kubeconform, e))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| TestEnvError::io(&kubeconform, e))?;
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if output.status.success() {
        Ok(report)
    } else {
        Err(TestEnvError::Tool {
            command: "kubeconform -strict".into(),
            detail: report,
        })
    }
}
