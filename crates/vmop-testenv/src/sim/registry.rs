//! The test world's container registry: which digest each image reference has now. A real
//! registry answers CDI's source poller with the manifest digest of a tag; here the tag's
//! revision lives in one ConfigMap, so a test "pushes" a new build of a tag through the API
//! server ([`push`]) and the poller sees a new digest at its next scheduled run.

use std::hash::{Hash, Hasher};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
};
use serde_json::json;

use super::SimError;

/// Namespace of the registry's ConfigMap.
pub const REGISTRY_NAMESPACE: &str = "default";
/// Name of the registry's ConfigMap: data key per reference, value its revision.
pub const REGISTRY_CONFIG_MAP: &str = "sim-registry";

/// The ConfigMap key of a reference (`docker://` or not): every character a key may not
/// hold becomes `_`.
pub fn key(reference: &str) -> String {
    reference
        .trim_start_matches("docker://")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The digest (`sha256:` and 64 hex digits) of `reference` at `revision`: stable across runs.
pub fn digest_at(reference: &str, revision: &str) -> String {
    let hex: String = (0u8..4)
        .map(|part| {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            (reference.trim_start_matches("docker://"), revision, part).hash(&mut hasher);
            format!("{:016x}", hasher.finish())
        })
        .collect();
    format!("sha256:{hex}")
}

/// The digest `reference` has now (revision "0" until something is pushed).
pub async fn digest(client: &Client, reference: &str) -> Result<String, SimError> {
    let revision = Api::<ConfigMap>::namespaced(client.clone(), REGISTRY_NAMESPACE)
        .get_opt(REGISTRY_CONFIG_MAP)
        .await?
        .and_then(|cm| cm.data?.get(&key(reference)).cloned())
        .unwrap_or_else(|| "0".into());
    Ok(digest_at(reference, &revision))
}

/// Pushes a new build of `reference`: its digest changes. Returns the new digest.
pub async fn push(client: &Client, reference: &str) -> Result<String, SimError> {
    let api = Api::<ConfigMap>::namespaced(client.clone(), REGISTRY_NAMESPACE);
    let revision = api
        .get_opt(REGISTRY_CONFIG_MAP)
        .await?
        .and_then(|cm| cm.data?.get(&key(reference)).cloned())
        .and_then(|r| r.parse::<u64>().ok())
        .unwrap_or(0)
        + 1;
    api.patch(
        REGISTRY_CONFIG_MAP,
        &PatchParams::apply("sim-registry").force(),
        &Patch::Apply(json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": REGISTRY_CONFIG_MAP, "namespace": REGISTRY_NAMESPACE},
            "data": {key(reference): revision.to_string()},
        })),
    )
    .await?;
    Ok(digest_at(reference, &revision.to_string()))
}

/// `docker://host/repo:tag` as CDI's `untagDigestedDockerURL` makes it for `digest`:
/// `docker://host/repo@digest`.
pub fn digested_url(url: &str, digest: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("docker", url));
    let without_digest = rest.split('@').next().unwrap_or(rest);
    // A tag follows the last ':' after the last '/' (a port comes before it).
    let untagged = match without_digest.rfind('/') {
        Some(slash) => match without_digest[slash..].rfind(':') {
            Some(colon) => &without_digest[..slash + colon],
            None => without_digest,
        },
        None => without_digest.split(':').next().unwrap_or(without_digest),
    };
    format!("{scheme}://{untagged}@{digest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digested_url_drops_the_tag_and_keeps_the_port() {
        assert_eq!(
            digested_url("docker://registry:5000/os/ubuntu:24.04", "sha256:ab"),
            "docker://registry:5000/os/ubuntu@sha256:ab"
        );
        assert_eq!(
            digested_url("docker://quay.io/containerdisks/fedora", "sha256:cd"),
            "docker://quay.io/containerdisks/fedora@sha256:cd"
        );
    }

    #[test]
    fn a_revision_is_a_new_digest_and_the_same_revision_the_same_one() {
        let a = digest_at("docker://r/x:1", "0");
        assert_eq!(a, digest_at("docker://r/x:1", "0"));
        assert_ne!(a, digest_at("docker://r/x:1", "1"));
        assert_eq!(a.len(), "sha256:".len() + 64);
        assert_eq!(key("docker://r:5000/x:1"), "r_5000_x_1");
    }
}
