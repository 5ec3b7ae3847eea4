//! Tenants' own Secrets that profiles name for one purpose (user data, import credentials):
//! which profile names which, what a watch of Secrets' metadata says their resourceVersion
//! is now, and what the last read of each gave.
//!
//! A reconcile reads a Secret with a GET only when the watch says it changed since it was
//! last read (or it was never read): a settled reconcile asks nothing, and an edit triggers
//! exactly the profiles that name the Secret. Only named Secrets are kept, each read at most
//! [`MAX_CACHED_BYTES`], so memory follows the number of profiles, whatever else the
//! namespaces hold.

use std::{
    collections::{HashMap, HashSet},
    sync::Mutex,
};

use k8s_openapi::api::core::v1::Secret;
use kube::{
    ResourceExt,
    core::PartialObjectMeta,
    runtime::{reflector::ObjectRef, watcher},
};
use vmop_api::VirtualMachineProfile;

use crate::converge::vm::UserData;

/// A read larger than this is done again each time, not kept: the bundled template refuses
/// user data over 256 KiB anyway (as cloud providers cap user data near there).
pub(crate) const MAX_CACHED_BYTES: usize = 256 * 1024;

/// What a read of a Secret leaves to keep: never the Secret itself, only what reconciles use.
pub(crate) trait SecretRead: Clone {
    /// Bytes kept.
    fn size(&self) -> usize;
}

impl SecretRead for UserData {
    fn size(&self) -> usize {
        match self {
            Ok(Some(text)) => text.len(),
            Ok(None) => 0,
            Err((reason, message)) => reason.len() + message.len(),
        }
    }
}

/// A Secret by namespace and name.
pub(crate) type SecretKey = (String, String);

type ProfileRef = ObjectRef<VirtualMachineProfile>;

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct NamedSecrets<T> {
    inner: Mutex<Inner<T>>,
}

impl<T> Default for NamedSecrets<T> {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Inner {
                users: HashMap::new(),
                named_by: HashMap::new(),
                versions: HashMap::new(),
                read: HashMap::new(),
                relisting: None,
            }),
        }
    }
}

#[derive(Debug)]
struct Inner<T> {
    users: HashMap<SecretKey, HashSet<ProfileRef>>,
    named_by: HashMap<ProfileRef, Vec<SecretKey>>,
    /// The resourceVersion of each named Secret as last seen (watch or read); absent when
    /// unknown or deleted.
    versions: HashMap<SecretKey, String>,
    /// What the last read gave, at which resourceVersion.
    read: HashMap<SecretKey, (String, T)>,
    /// During a relist: the named Secrets listed so far, with their versions.
    relisting: Option<HashMap<SecretKey, String>>,
}

impl<T> Inner<T> {
    fn forget_secret_if_unused(&mut self, key: &SecretKey) {
        if self.users.get(key).is_none_or(HashSet::is_empty) {
            self.users.remove(key);
            self.versions.remove(key);
            self.read.remove(key);
        }
    }

    /// The profiles naming `key`, after noting that its version is now `version`.
    fn seen(&mut self, key: &SecretKey, version: Option<String>) -> Vec<ProfileRef> {
        let Some(users) = self.users.get(key) else {
            return Vec::new();
        };
        let users: Vec<ProfileRef> = users.iter().cloned().collect();
        let changed = match version {
            Some(version) => self.versions.insert(key.clone(), version.clone()) != Some(version),
            None => {
                self.read.remove(key);
                self.versions.remove(key).is_some()
            }
        };
        if changed { users } else { Vec::new() }
    }
}

fn key_of(secret: &PartialObjectMeta<Secret>) -> SecretKey {
    (secret.namespace().unwrap_or_default(), secret.name_any())
}

impl<T: SecretRead> NamedSecrets<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<T>> {
        // A panic elsewhere leaves the maps consistent (each change is one insert/remove).
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Notes that `profile` names `secrets` (and no other), before they are read: a change
    /// seen from then on triggers the profile.
    pub(crate) fn name(&self, profile: &ProfileRef, secrets: impl IntoIterator<Item = SecretKey>) {
        let mut secrets: Vec<SecretKey> = secrets.into_iter().collect();
        secrets.sort();
        secrets.dedup();
        let mut inner = self.lock();
        let before = if secrets.is_empty() {
            inner.named_by.remove(profile)
        } else {
            inner.named_by.insert(profile.clone(), secrets.clone())
        }
        .unwrap_or_default();
        if before == secrets {
            return;
        }
        for gone in before.iter().filter(|key| !secrets.contains(key)) {
            if let Some(users) = inner.users.get_mut(gone) {
                users.remove(profile);
            }
            inner.forget_secret_if_unused(gone);
        }
        for secret in secrets {
            inner
                .users
                .entry(secret)
                .or_default()
                .insert(profile.clone());
        }
    }

    /// `profile` is gone.
    pub(crate) fn forget(&self, profile: &ProfileRef) {
        self.name(profile, None);
    }

    /// What the last read of `secret` gave, if the Secret has not changed since.
    pub(crate) fn cached(&self, secret: &SecretKey) -> Option<T> {
        let inner = self.lock();
        let (version, data) = inner.read.get(secret)?;
        (inner.versions.get(secret) == Some(version)).then(|| data.clone())
    }

    /// Keeps what a read of `secret` at `version` gave (when small enough and still named).
    pub(crate) fn store(&self, secret: &SecretKey, version: String, data: &T) {
        let mut inner = self.lock();
        if !inner.users.contains_key(secret) {
            return;
        }
        // The watch may not have told of this Secret (it was named after its last event):
        // the read is as fresh, and later events replace it.
        inner
            .versions
            .entry(secret.clone())
            .or_insert_with(|| version.clone());
        if data.size() <= MAX_CACHED_BYTES {
            inner.read.insert(secret.clone(), (version, data.clone()));
        } else {
            inner.read.remove(secret);
        }
    }

    /// Takes one event of the watch of Secrets' metadata; returns the profiles to reconcile:
    /// those naming a Secret that changed or went away.
    pub(crate) fn observe(
        &self,
        event: &watcher::Event<PartialObjectMeta<Secret>>,
    ) -> Vec<ProfileRef> {
        let mut inner = self.lock();
        match event {
            watcher::Event::Apply(secret) => inner.seen(&key_of(secret), secret.resource_version()),
            watcher::Event::Delete(secret) => inner.seen(&key_of(secret), None),
            watcher::Event::Init => {
                inner.relisting = Some(HashMap::new());
                Vec::new()
            }
            watcher::Event::InitApply(secret) => {
                let key = key_of(secret);
                if inner.users.contains_key(&key)
                    && let (Some(listed), Some(version)) =
                        (inner.relisting.as_mut(), secret.resource_version())
                {
                    listed.insert(key, version);
                }
                Vec::new()
            }
            watcher::Event::InitDone => {
                let listed = inner.relisting.take().unwrap_or_default();
                let named: Vec<SecretKey> = inner.users.keys().cloned().collect();
                let mut triggered = HashSet::new();
                for key in named {
                    triggered.extend(inner.seen(&key, listed.get(&key).cloned()));
                }
                triggered.into_iter().collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(name: &str) -> ProfileRef {
        ObjectRef::new(name).within("ns")
    }

    fn secret(name: &str, version: &str) -> PartialObjectMeta<Secret> {
        let mut meta = PartialObjectMeta::<Secret>::default();
        meta.metadata.name = Some(name.into());
        meta.metadata.namespace = Some("ns".into());
        meta.metadata.resource_version = Some(version.into());
        meta
    }

    fn key(name: &str) -> SecretKey {
        ("ns".into(), name.into())
    }

    fn text(value: &str) -> UserData {
        Ok(Some(value.into()))
    }

    type UserDataSecrets = NamedSecrets<UserData>;

    #[test]
    fn a_read_is_reused_until_the_watch_says_the_secret_changed() {
        let secrets = UserDataSecrets::default();
        secrets.name(&profile("a"), Some(key("s")));
        assert!(secrets.cached(&key("s")).is_none(), "never read");
        secrets.store(&key("s"), "1".into(), &text("one"));
        assert_eq!(secrets.cached(&key("s")), Some(text("one")));

        let triggered = secrets.observe(&watcher::Event::Apply(secret("s", "1")));
        assert!(triggered.is_empty(), "the version read: nothing changed");
        let triggered = secrets.observe(&watcher::Event::Apply(secret("s", "2")));
        assert_eq!(triggered, vec![profile("a")]);
        assert!(secrets.cached(&key("s")).is_none(), "changed: read again");
    }

    #[test]
    fn only_named_secrets_are_kept_and_trigger_their_users() {
        let secrets = UserDataSecrets::default();
        secrets.name(&profile("a"), Some(key("s")));
        secrets.name(&profile("b"), Some(key("s")));
        secrets.name(&profile("c"), Some(key("t")));
        assert!(
            secrets
                .observe(&watcher::Event::Apply(secret("other", "9")))
                .is_empty()
        );
        let mut triggered = secrets.observe(&watcher::Event::Apply(secret("s", "5")));
        triggered.sort_by_key(|r| r.name.clone());
        assert_eq!(triggered, vec![profile("a"), profile("b")]);
        secrets.store(&key("other"), "9".into(), &text("x"));
        assert!(secrets.lock().read.is_empty(), "not named: not kept");

        secrets.forget(&profile("a"));
        secrets.name(&profile("b"), None);
        let inner = secrets.lock();
        assert!(!inner.users.contains_key(&key("s")) && !inner.versions.contains_key(&key("s")));
        assert!(inner.users.contains_key(&key("t")));
    }

    #[test]
    fn a_profile_may_name_several_and_dropping_one_keeps_the_others() {
        let secrets = UserDataSecrets::default();
        secrets.name(&profile("a"), [key("s"), key("t"), key("s")]);
        let mut triggered = secrets.observe(&watcher::Event::Apply(secret("t", "2")));
        triggered.extend(secrets.observe(&watcher::Event::Apply(secret("s", "2"))));
        assert_eq!(triggered, vec![profile("a"), profile("a")]);

        secrets.name(&profile("a"), [key("t")]);
        assert!(
            secrets
                .observe(&watcher::Event::Apply(secret("s", "3")))
                .is_empty(),
            "no longer named"
        );
        assert_eq!(
            secrets.observe(&watcher::Event::Apply(secret("t", "3"))),
            vec![profile("a")]
        );
        secrets.name(&profile("a"), []);
        assert!(secrets.lock().users.is_empty() && secrets.lock().named_by.is_empty());
    }

    #[test]
    fn a_deleted_secret_is_read_again_and_its_users_triggered() {
        let secrets = UserDataSecrets::default();
        secrets.name(&profile("a"), Some(key("s")));
        secrets.store(&key("s"), "1".into(), &text("one"));
        let triggered = secrets.observe(&watcher::Event::Delete(secret("s", "1")));
        assert_eq!(triggered, vec![profile("a")]);
        assert!(secrets.cached(&key("s")).is_none());
    }

    #[test]
    fn a_relist_triggers_the_users_of_secrets_changed_or_gone_meanwhile() {
        let secrets = UserDataSecrets::default();
        for (p, s) in [("a", "same"), ("b", "edited"), ("c", "gone")] {
            secrets.name(&profile(p), Some(key(s)));
            secrets.store(&key(s), "1".into(), &text(s));
        }
        secrets.observe(&watcher::Event::Init);
        secrets.observe(&watcher::Event::InitApply(secret("same", "1")));
        secrets.observe(&watcher::Event::InitApply(secret("edited", "2")));
        let mut triggered = secrets.observe(&watcher::Event::InitDone);
        triggered.sort_by_key(|r| r.name.clone());
        assert_eq!(triggered, vec![profile("b"), profile("c")]);
        assert_eq!(secrets.cached(&key("same")), Some(text("same")));
        assert!(secrets.cached(&key("edited")).is_none());
        assert!(secrets.cached(&key("gone")).is_none());
    }

    #[test]
    fn large_user_data_is_not_kept() {
        let secrets = UserDataSecrets::default();
        secrets.name(&profile("a"), Some(key("s")));
        let large = "x".repeat(MAX_CACHED_BYTES + 1);
        secrets.store(&key("s"), "1".into(), &text(&large));
        assert!(secrets.cached(&key("s")).is_none());
    }
}
