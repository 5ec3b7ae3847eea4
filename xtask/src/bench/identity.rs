//! The operator's identity in the benchmark: the shipped RBAC and a token of its
//! ServiceAccount, so the API server's audit log can tell its requests from everyone else's.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};
use kube::{Api, Client, api::PostParams, config::Kubeconfig};
use vmop_api::k8s_openapi::api::{
    authentication::v1::{TokenRequest, TokenRequestSpec},
    core::v1::ServiceAccount,
};
use vmop_testenv::tools;

/// The user the audit log records.
pub const OPERATOR_USER: &str = "system:serviceaccount:vm-operator:vm-operator";

/// Applies the shipped RBAC and writes a kubeconfig with the ServiceAccount's token.
pub async fn operator_kubeconfig(
    client: &Client,
    admin_kubeconfig: &Path,
    dir: &Path,
) -> Result<PathBuf> {
    let root = tools::workspace_root();
    let kubectl = tools::ensure_kubectl()?;
    let applied = Command::new(kubectl)
        .arg("--kubeconfig")
        .arg(admin_kubeconfig)
        .args(["apply", "-f"])
        .arg(root.join("deploy/operator/rbac.yaml"))
        .arg("-f")
        .arg(root.join("deploy/operator/secret-guard.yaml"))
        .output()
        .context("kubectl apply")?;
    if !applied.status.success() {
        bail!(
            "applying the RBAC: {}",
            String::from_utf8_lossy(&applied.stderr)
        );
    }
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            expiration_seconds: Some(24 * 3600),
            ..TokenRequestSpec::default()
        }),
        ..TokenRequest::default()
    };
    let token = Api::<ServiceAccount>::namespaced(client.clone(), "vm-operator")
        .create_token_request("vm-operator", &PostParams::default(), &request)
        .await?
        .status
        .and_then(|s| s.token)
        .context("a token")?;
    let mut config = Kubeconfig::read_from(admin_kubeconfig)?;
    for user in &mut config.auth_infos {
        if let Some(auth) = user.auth_info.as_mut() {
            auth.token = Some(token.clone().into());
        }
    }
    let path = dir.join("vm-operator.kubeconfig");
    std::fs::write(&path, serde_yaml::to_string(&config)?)?;
    Ok(path)
}
