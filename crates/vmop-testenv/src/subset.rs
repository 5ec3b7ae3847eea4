//! "Read back unchanged" for objects the server adds defaults to: every field we set must come
//! back with the same value; fields the server added are fine.

use vmop_api::json::check_subset;

/// Field manager of objects created by [`create_unchanged`].
const STRICT_MANAGER: &str = "vmop-testenv-strict";

/// Creates `object` with strict field validation (an unknown or duplicate field is an error,
/// not a warning) and checks that the API server kept every field of it: proves that the
/// kind's schema accepts exactly what a plugin built. Returns the created object.
pub async fn create_unchanged<K>(api: &kube::Api<K>, object: &K) -> Result<K, String>
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let name = object
        .meta()
        .name
        .clone()
        .ok_or_else(|| "refused: the object has no name".to_owned())?;
    // A server-side apply that creates: the one write verb of kube-rs that carries
    // fieldValidation=Strict.
    let params = kube::api::PatchParams::apply(STRICT_MANAGER).validation_strict();
    let created = api
        .patch(&name, &params, &kube::api::Patch::Apply(object))
        .await
        .map_err(|e| format!("refused: {e}"))?;
    let sent = serde_json::to_value(object).map_err(|e| e.to_string())?;
    let got = serde_json::to_value(&created).map_err(|e| e.to_string())?;
    check_subset(&sent, &got).map_err(|e| format!("changed: {e}"))?;
    Ok(created)
}
