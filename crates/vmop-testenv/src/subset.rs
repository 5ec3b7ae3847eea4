//! "Read back unchanged" for objects the server adds defaults to: every field we set must come
//! back with the same value; fields the server added are fine.

use vmop_api::json::check_subset;

/// Creates `object` and checks that the API server kept every field of it: proves that the
/// object's schema accepts what a plugin built. Returns the created object.
pub async fn create_unchanged<K>(api: &kube::Api<K>, object: &K) -> Result<K, String>
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let created = api
        .create(&kube::api::PostParams::default(), object)
        .await
        .map_err(|e| format!("refused: {e}"))?;
    let sent = serde_json::to_value(object).map_err(|e| e.to_string())?;
    let got = serde_json::to_value(&created).map_err(|e| e.to_string())?;
    check_subset(&sent, &got).map_err(|e| format!("changed: {e}"))?;
    Ok(created)
}
