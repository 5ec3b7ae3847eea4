//! The plain manifests under `deploy/operator/` are the Helm chart rendered: one source.
//! `cargo xtask manifests` writes them; a test renders again and fails when they differ.

use std::{path::PathBuf, process::Command};

use crate::{
    error::TestEnvError,
    tools::{self, HELM_MODULE},
};

/// The chart, relative to the workspace root.
pub const CHART: &str = "charts/vm-operator";
/// The Kubernetes version the chart is rendered for (the test control plane's).
pub const KUBE_VERSION: &str = "1.36.3";

/// One plain manifest and the chart templates it is rendered from.
#[derive(Debug)]
pub struct PlainManifest {
    pub path: &'static str,
    pub templates: &'static [&'static str],
    /// Starts with the `vm-operator` Namespace (the chart leaves it to `--create-namespace`).
    pub with_namespace: bool,
}

/// Every plain manifest of the cluster-wide install, in the order to apply them.
pub const PLAIN: &[PlainManifest] = &[
    PlainManifest {
        path: "deploy/operator/rbac.yaml",
        templates: &["serviceaccount.yaml", "rbac.yaml", "lease.yaml"],
        with_namespace: true,
    },
    PlainManifest {
        path: "deploy/operator/secret-guard.yaml",
        templates: &["secret-guard.yaml"],
        with_namespace: false,
    },
    PlainManifest {
        path: "deploy/operator/policy.yaml",
        templates: &["policy.yaml"],
        with_namespace: false,
    },
    PlainManifest {
        path: "deploy/operator/deployment.yaml",
        templates: &["deployment.yaml", "service.yaml", "pdb.yaml"],
        with_namespace: false,
    },
];

const NAMESPACE: &str = "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: vm-operator\n";

/// `helm template` of the chart with its default values, as release `vm-operator` in
/// namespace `vm-operator`, restricted to `templates`.
pub fn helm_template(templates: &[&str], extra: &[&str]) -> Result<String, TestEnvError> {
    let helm = tools::ensure_go_tool(HELM_MODULE)?;
    let mut command = Command::new(&helm);
    command
        .args(["template", "vm-operator", CHART])
        .args(["--namespace", "vm-operator", "--kube-version", KUBE_VERSION])
        .args(extra)
        .current_dir(tools::workspace_root());
    for template in templates {
        command.args(["--show-only", &format!("templates/{template}")]);
    }
    let output = command.output().map_err(|e| TestEnvError::io(&helm, e))?;
    if !output.status.success() {
        return Err(TestEnvError::Tool {
            command: format!("helm template {CHART}"),
            detail: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Each plain manifest's path (absolute) and the content the chart renders for it.
pub fn render() -> Result<Vec<(PathBuf, String)>, TestEnvError> {
    let root = tools::workspace_root();
    PLAIN
        .iter()
        .map(|manifest| {
            let rendered = helm_template(manifest.templates, &[])?;
            let mut text = format!(
                "# Rendered from {CHART} ({}) by `cargo xtask manifests`:\n# edit the chart, then run it again.\n",
                manifest.templates.join(", ")
            );
            if manifest.with_namespace {
                text.push_str(NAMESPACE);
            }
            text.push_str(&rendered);
            Ok((root.join(manifest.path), text))
        })
        .collect()
}
