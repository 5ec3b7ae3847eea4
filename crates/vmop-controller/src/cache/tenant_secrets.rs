//! The tenants' Secrets profiles name, by purpose, fed by one watch of Secrets' metadata.

use std::collections::HashSet;

use k8s_openapi::api::core::v1::Secret;
use kube::{
    core::PartialObjectMeta,
    runtime::{reflector::ObjectRef, watcher},
};
use vmop_api::VirtualMachineProfile;

use crate::{
    cache::named_secrets::NamedSecrets,
    converge::{credentials::CredentialsRead, vm::UserData},
};

/// See the module documentation.
#[derive(Debug, Default)]
pub(crate) struct TenantSecrets {
    /// `spec.cloudInit.userDataSecretRef`: the user's own cloud-config.
    pub(crate) user_data: NamedSecrets<UserData>,
    /// `spec.disks[].credentialsSecretRef` of disks not created yet: whether CDI can use it.
    pub(crate) import_credentials: NamedSecrets<CredentialsRead>,
}

impl TenantSecrets {
    /// Takes one event of the watch of Secrets' metadata; returns the profiles to reconcile,
    /// each once.
    pub(crate) fn observe(
        &self,
        event: &watcher::Event<PartialObjectMeta<Secret>>,
    ) -> Vec<ObjectRef<VirtualMachineProfile>> {
        let mut triggered: Vec<_> = self.user_data.observe(event);
        let seen: HashSet<_> = triggered.iter().cloned().collect();
        triggered.extend(
            self.import_credentials
                .observe(event)
                .into_iter()
                .filter(|p| !seen.contains(p)),
        );
        triggered
    }

    /// `profile` is gone.
    pub(crate) fn forget(&self, profile: &ObjectRef<VirtualMachineProfile>) {
        self.user_data.forget(profile);
        self.import_credentials.forget(profile);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_named_for_two_purposes_triggers_its_profile_once() {
        let secrets = TenantSecrets::default();
        let profile = ObjectRef::new("vm").within("ns");
        let key = ("ns".to_owned(), "shared".to_owned());
        secrets.user_data.name(&profile, Some(key.clone()));
        secrets.import_credentials.name(&profile, Some(key));
        let mut meta = PartialObjectMeta::<Secret>::default();
        meta.metadata.name = Some("shared".into());
        meta.metadata.namespace = Some("ns".into());
        meta.metadata.resource_version = Some("7".into());
        assert_eq!(
            secrets.observe(&watcher::Event::Apply(meta.clone())),
            vec![profile.clone()]
        );
        secrets.forget(&profile);
        meta.metadata.resource_version = Some("8".into());
        assert!(secrets.observe(&watcher::Event::Apply(meta)).is_empty());
    }
}
