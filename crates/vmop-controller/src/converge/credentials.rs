//! The credentials Secrets of disks whose DataVolume is not created yet: CDI's importer pod
//! reads `accessKeyId` and `secretKey` from them, and a Secret it cannot read leaves the
//! import waiting with nothing said in the profile. So they are checked before anything is
//! created, and a missing or unusable one stops the profile with a condition naming it.
//!
//! A tenant names a Secret of its own namespace only (admission refuses another), and only
//! one labelled [`CREDENTIALS_LABEL`]: the image URL is the tenant's to choose, so without
//! that consent a tenant who may not read a Secret could have CDI send it to a host of its
//! choosing. Only the check's outcome is kept, never the Secret's data.

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, ResourceExt, runtime::reflector::ObjectRef};
use vmop_api::{
    IMPORT_CREDENTIALS_KEYS as CREDENTIALS_KEYS, IMPORT_CREDENTIALS_LABEL as CREDENTIALS_LABEL,
    VirtualMachineProfile,
    reasons::{CREDENTIALS_NOT_FOUND, CREDENTIALS_UNUSABLE},
};

use crate::{cache::named_secrets::SecretRead, context::Context, error::Result};

/// Whether a credentials Secret is usable: or the reason and what is wrong with it (without
/// the field that names it, which differs by profile).
pub(crate) type CredentialsRead = std::result::Result<(), (String, String)>;

impl SecretRead for CredentialsRead {
    fn size(&self) -> usize {
        self.as_ref()
            .err()
            .map_or(0, |(reason, what)| reason.len() + what.len())
    }
}

/// What a Secret says about its use as credentials, from its labels and key names only.
pub(crate) fn check_secret(secret: &Secret) -> CredentialsRead {
    let id = format!(
        "Secret {}/{}",
        secret.namespace().unwrap_or_default(),
        secret.name_any()
    );
    if secret.labels().get(CREDENTIALS_LABEL).map(String::as_str) != Some("true") {
        return Err((
            CREDENTIALS_UNUSABLE.into(),
            format!(
                "{id} is not labelled {CREDENTIALS_LABEL}=true: whoever may label it lets \
                 profiles in this namespace send it to the hosts their images name"
            ),
        ));
    }
    let data = secret.data.as_ref();
    let missing: Vec<&str> = CREDENTIALS_KEYS
        .into_iter()
        .filter(|key| data.is_none_or(|data| !data.contains_key(*key)))
        .collect();
    if !missing.is_empty() {
        return Err((
            CREDENTIALS_UNUSABLE.into(),
            format!(
                "{id} lacks the key{} CDI reads: {} (it reads accessKeyId and secretKey)",
                if missing.len() > 1 { "s" } else { "" },
                missing.join(", ")
            ),
        ));
    }
    Ok(())
}

/// The credentials of the profile's disks not created yet: `Some((reason, messages))` when
/// one is missing or unusable. Reads a Secret only when the watch of Secrets says it changed
/// since the last read.
pub(crate) async fn unusable_credentials(
    ctx: &Context,
    profile: &VirtualMachineProfile,
) -> Result<Option<(String, Vec<String>)>> {
    let namespace = profile.namespace().unwrap_or_default();
    let name = profile.name_any();
    // A created DataVolume reports its own import; CDI reads the Secret only then.
    let pending: Vec<(usize, String)> = profile
        .spec
        .disks
        .iter()
        .enumerate()
        .filter_map(|(i, disk)| Some((i, disk, disk.credentials_secret_ref.as_ref()?)))
        .filter(|(_, disk, _)| {
            let volume = vmop_plugin::names::child_name(&name, &disk.name);
            ctx.stores
                .data_volumes
                .get(&ObjectRef::new(&volume).within(&namespace))
                .is_none()
        })
        .map(|(i, _, reference)| (i, reference.name.clone()))
        .collect();
    let me = ObjectRef::from(profile);
    let keys: Vec<(String, String)> = pending
        .iter()
        .map(|(_, secret)| (namespace.clone(), secret.clone()))
        .collect();
    // Named before the reads: a change after them triggers this profile again.
    ctx.tenant_secrets
        .import_credentials
        .name(&me, keys.iter().cloned());
    let mut reason = None;
    let mut messages = Vec::new();
    for ((index, _), key) in pending.iter().zip(&keys) {
        if let Err((why, what)) = read(ctx, key).await? {
            reason.get_or_insert(why);
            messages.push(format!("spec.disks[{index}].credentialsSecretRef: {what}"));
        }
    }
    Ok(reason.map(|reason| (reason, messages)))
}

async fn read(ctx: &Context, key: &(String, String)) -> Result<CredentialsRead> {
    let secrets = &ctx.tenant_secrets.import_credentials;
    if let Some(read) = secrets.cached(key) {
        return Ok(read);
    }
    let (namespace, name) = key;
    ctx.metrics.read("Secret", "get");
    let Some(secret) = Api::<Secret>::namespaced(ctx.client.clone(), namespace)
        .get_opt(name)
        .await?
    else {
        return Ok(Err((
            CREDENTIALS_NOT_FOUND.into(),
            format!("Secret {namespace}/{name} does not exist"),
        )));
    };
    let read = check_secret(&secret);
    if let Some(version) = secret.resource_version() {
        secrets.store(key, version, &read);
    }
    Ok(read)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::ByteString;

    use super::*;

    fn secret(labelled: bool, keys: &[&str]) -> Secret {
        let mut secret = Secret::default();
        secret.metadata.name = Some("login".into());
        secret.metadata.namespace = Some("team".into());
        if labelled {
            secret.metadata.labels = Some(BTreeMap::from([(
                CREDENTIALS_LABEL.to_owned(),
                "true".to_owned(),
            )]));
        }
        secret.data = Some(
            keys.iter()
                .map(|k| ((*k).to_owned(), ByteString(b"s3cr3t-value".to_vec())))
                .collect(),
        );
        secret
    }

    #[test]
    fn a_labelled_secret_with_both_keys_is_usable() {
        assert_eq!(
            check_secret(&secret(true, &["accessKeyId", "secretKey"])),
            Ok(())
        );
    }

    #[test]
    fn missing_keys_are_named_and_values_never_appear() {
        let (reason, what) = check_secret(&secret(true, &["accessKeyId"])).expect_err("one key");
        assert_eq!(reason, CREDENTIALS_UNUSABLE);
        assert!(
            what.contains("Secret team/login") && what.contains(": secretKey "),
            "{what}"
        );
        let (_, what) = check_secret(&secret(true, &[])).expect_err("no keys");
        assert!(
            what.contains("keys CDI reads: accessKeyId, secretKey"),
            "{what}"
        );
        assert!(!what.contains("s3cr3t"));
    }

    #[test]
    fn an_unlabelled_secret_is_refused_whatever_it_holds() {
        let (reason, what) =
            check_secret(&secret(false, &["accessKeyId", "secretKey"])).expect_err("unlabelled");
        assert_eq!(reason, CREDENTIALS_UNUSABLE);
        assert!(what.contains(CREDENTIALS_LABEL), "{what}");
        let mut wrong_value = secret(true, &["accessKeyId", "secretKey"]);
        wrong_value
            .metadata
            .labels
            .as_mut()
            .expect("labelled")
            .insert(CREDENTIALS_LABEL.into(), "yes".into());
        assert!(check_secret(&wrong_value).is_err());
    }
}
