//! How an embedder configures the controller: every settings struct is `#[non_exhaustive]`
//! with [`Default`] and setters, so that a setting added later breaks nobody.

use std::time::Duration;

use crate::desired::admin_policy::AdminPolicy;

/// How the controller runs: [`Default`], then the setters, so that a setting added later
/// breaks no embedder.
///
/// ```
/// use std::time::Duration;
/// use vmop_controller::{ControllerConfig, Timing};
/// let config = ControllerConfig::default()
///     .namespace("team-a")
///     .concurrency(4)
///     .timing(Timing::default().converging(Duration::from_secs(2)));
/// assert_eq!(config.namespace.as_deref(), Some("team-a"));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ControllerConfig {
    /// Watch one namespace, or all when `None`.
    pub namespace: Option<String>,
    /// Profiles reconciled at once.
    pub concurrency: u16,
    /// How soon to look again while converging and once settled.
    pub timing: Timing,
    /// The administrator's policy (default: nothing allowed).
    pub admin_policy: AdminPolicySource,
    /// At most this many VMs starting at once, operator-wide (default: no limit); the
    /// administrator's policy can set a lower cap per namespace.
    pub max_concurrent_starts: Option<usize>,
    /// At most this many imports running at once, operator-wide (default: no limit); the
    /// administrator's policy can set a lower cap per namespace.
    pub max_concurrent_imports: Option<usize>,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            namespace: None,
            concurrency: 8,
            timing: Timing::default(),
            admin_policy: AdminPolicySource::Fixed(AdminPolicy::default()),
            max_concurrent_starts: None,
            max_concurrent_imports: None,
        }
    }
}

impl ControllerConfig {
    /// Watches only this namespace (the default: all).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Watches every namespace (the default).
    pub fn all_namespaces(mut self) -> Self {
        self.namespace = None;
        self
    }

    /// How many profiles are reconciled at once (default 8).
    pub fn concurrency(mut self, concurrency: u16) -> Self {
        self.concurrency = concurrency;
        self
    }

    /// How soon profiles are looked at again.
    pub fn timing(mut self, timing: Timing) -> Self {
        self.timing = timing;
        self
    }

    /// Where the administrator's policy comes from (default: nothing allowed).
    pub fn admin_policy(mut self, policy: AdminPolicySource) -> Self {
        self.admin_policy = policy;
        self
    }

    /// At most `max` VMs starting at once (created or started, not yet running); the others
    /// wait `Queued`, in order of creation, fair across namespaces.
    pub fn max_concurrent_starts(mut self, max: usize) -> Self {
        self.max_concurrent_starts = Some(max);
        self
    }

    /// At most `max` DataVolume imports running at once (their data fetched from a registry,
    /// http or S3); the disks of the others wait `Queued`, not yet created, in order of their
    /// profiles' creation, fair across namespaces.
    pub fn max_concurrent_imports(mut self, max: usize) -> Self {
        self.max_concurrent_imports = Some(max);
        self
    }
}

/// Where the administrator's policy comes from.
#[derive(Debug, Clone)]
pub enum AdminPolicySource {
    /// A policy given in code.
    Fixed(AdminPolicy),
    /// The `policy.yaml` key of this ConfigMap, watched: changes apply at the next reconcile.
    ConfigMap {
        /// Namespace of the ConfigMap.
        namespace: String,
        /// Name of the ConfigMap.
        name: String,
    },
}

/// Timing of requeues: [`Default`], then the setters.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Timing {
    /// Look again this soon while waiting for something no watch reports (a missing
    /// StorageClass or user-data Secret, say).
    pub converging: Duration,
    /// Look again this soon while waiting only for children and shared objects whose
    /// changes trigger a reconcile anyway: a safety net, not the way a profile progresses.
    /// Looking at such a profile every few seconds would make its reconciles grow with its
    /// time to converge, and that with the load on the API server.
    pub waiting: Duration,
    /// Periodic resync of a settled profile (costs no writes).
    pub settled: Duration,
    /// Triggers of one profile that come closer together than this make one reconcile
    /// (kube-runtime's trailing-edge debounce): a child stepping through its phases in quick
    /// succession is read once, at its latest state, and written about once.
    pub debounce: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            converging: Duration::from_secs(10),
            waiting: Duration::from_secs(60),
            settled: Duration::from_secs(300),
            debounce: Duration::from_millis(250),
        }
    }
}

impl Timing {
    /// See [`Timing::converging`](#structfield.converging) (default 10 s).
    pub fn converging(mut self, after: Duration) -> Self {
        self.converging = after;
        self
    }

    /// See [`Timing::waiting`](#structfield.waiting) (default 60 s).
    pub fn waiting(mut self, after: Duration) -> Self {
        self.waiting = after;
        self
    }

    /// See [`Timing::settled`](#structfield.settled) (default 5 min).
    pub fn settled(mut self, after: Duration) -> Self {
        self.settled = after;
        self
    }

    /// See [`Timing::debounce`](#structfield.debounce) (default 250 ms).
    pub fn debounce(mut self, window: Duration) -> Self {
        self.debounce = window;
        self
    }
}
