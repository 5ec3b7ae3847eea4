//! A profile's cloud-init: hostname, SSH keys, the user-data Secret's name.

use crate::{
    messages as msg,
    profile::CloudInitSpec,
    validate::{Errors, formats::*},
};

/// The cloud-init fields the CRD checks.
pub(super) fn validate_cloud_init(e: &mut Errors, c: &CloudInitSpec) {
    if let Some(hostname) = &c.hostname {
        e.check(
            is_dns_label(hostname, msg::MAX_OBJECT_NAME),
            || "spec.cloudInit.hostname".into(),
            msg::HOSTNAME,
        );
    }
    e.check(
        c.ssh_authorized_keys.iter().all(|k| is_ssh_key(k)),
        || "spec.cloudInit.sshAuthorizedKeys".into(),
        msg::SSH_KEY,
    );
    if let Some(secret) = &c.user_data_secret_ref {
        e.check(
            is_dns_subdomain(&secret.name),
            || "spec.cloudInit.userDataSecretRef.name".into(),
            msg::OBJECT_NAME,
        );
    }
}
