//! Leader election on a `coordination.k8s.io` Lease, so that of several replicas exactly one
//! writes. The Lease itself is driven by [`kube_lease_manager`]: it takes a free or expired
//! Lease with a server-side apply (of two replicas that try at once, one sees a conflict), and
//! its holder renews [`LeaseTiming::grace`] before the Lease would expire.
//!
//! What this module adds is the safety rule for a controller: a holder whose renewal fails
//! reports the loss at once, and its Lease client gives up on a request after
//! [`LeaseTiming::request_timeout`] (shorter than the grace), so the holder stops writing
//! before any other replica may take the Lease.

use std::{sync::Arc, time::Duration};

use kube::Client;
use kube_lease_manager::{LeaseCreateMode, LeaseManager, LeaseManagerBuilder, LeaseManagerError};
use tokio::{sync::watch, task::JoinHandle};
use tracing::{info, warn};

/// How long a Lease lasts, when its holder renews it, and how long one request may take:
/// [`Default`], then the setters.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LeaseTiming {
    /// How long the Lease lasts after its last renewal: a killed holder's Lease is taken
    /// over after at most this long.
    pub duration: Duration,
    /// The holder renews this long before the Lease would expire.
    pub grace: Duration,
    /// Every request of the Lease client gives up after this long (< `grace`), so that a
    /// holder cut off from the API server knows it lost the Lease while it is still valid.
    pub request_timeout: Duration,
}

impl Default for LeaseTiming {
    fn default() -> Self {
        LeaseTiming {
            duration: Duration::from_secs(15),
            grace: Duration::from_secs(5),
            request_timeout: Duration::from_secs(2),
        }
    }
}

impl LeaseTiming {
    /// How long the Lease lasts after its last renewal (default 15 s).
    pub fn duration(mut self, duration: Duration) -> Self {
        self.duration = duration;
        self
    }

    /// How long before expiry the holder renews (default 5 s).
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// How long one request of the Lease client may take (default 2 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }
}

/// Where the Lease is and who this replica is: [`LeaseConfig::new`], then the setters.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LeaseConfig {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease; one per scope, so that operators of different scopes never compete.
    pub name: String,
    /// This replica's identity, written as the Lease's `holderIdentity` (the pod name).
    pub identity: String,
    /// Create the Lease when it is missing (needs `create` on leases). The shipped RBAC
    /// pre-creates it and grants only `get` and `patch` on that one name.
    pub create_if_missing: bool,
    /// Duration, renewal and request timeout.
    pub timing: LeaseTiming,
}

impl LeaseConfig {
    /// The Lease `namespace/name`, held as `identity`; not created when missing, with the
    /// default timing.
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        identity: impl Into<String>,
    ) -> Self {
        LeaseConfig {
            namespace: namespace.into(),
            name: name.into(),
            identity: identity.into(),
            create_if_missing: false,
            timing: LeaseTiming::default(),
        }
    }

    /// Creates the Lease when it is missing (needs `create` on leases).
    pub fn create_if_missing(mut self, create: bool) -> Self {
        self.create_if_missing = create;
        self
    }

    /// Duration, renewal and request timeout.
    pub fn timing(mut self, timing: LeaseTiming) -> Self {
        self.timing = timing;
        self
    }
}

/// Leader election could not start.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The Lease client could not be built from the configuration.
    #[error("lease client: {0}")]
    Client(#[from] kube::Error),
    /// The Lease could not be read, created or released.
    #[error("lease {name}: {source}")]
    Lease {
        /// Namespace and name of the Lease.
        name: String,
        /// What the lease manager reported.
        source: LeaseManagerError,
    },
}

/// Whether this replica holds the Lease now, as a change that can be awaited.
#[derive(Debug, Clone)]
pub struct Leadership(watch::Receiver<bool>);

impl Leadership {
    /// Waits until this replica holds the Lease.
    pub async fn acquired(&mut self) {
        let _ = self.0.wait_for(|held| *held).await;
    }

    /// Waits until this replica, having held the Lease, no longer does.
    pub async fn lost(&mut self) {
        let _ = self.0.wait_for(|held| !*held).await;
    }

    /// Whether this replica holds the Lease now.
    pub fn held(&self) -> bool {
        *self.0.borrow()
    }
}

/// A running election: competes for the Lease in the background until released or dropped.
#[derive(Debug)]
pub struct Election {
    manager: Arc<LeaseManager>,
    leadership: Leadership,
    task: JoinHandle<()>,
    name: String,
}

impl Election {
    /// This replica's leadership, to await.
    pub fn leadership(&self) -> Leadership {
        self.leadership.clone()
    }

    /// Stops competing and gives the Lease up at once if this replica holds it (on a graceful
    /// stop), so a standby need not wait for it to expire.
    pub async fn release(self) -> Result<(), LeaseError> {
        // An aborted renewal drops its hold on the manager at its next await point.
        self.task.abort();
        self.manager
            .release()
            .await
            .map_err(|source| LeaseError::Lease {
                name: self.name.clone(),
                source,
            })?;
        info!(lease = %self.name, "lease released");
        Ok(())
    }
}

impl Drop for Election {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts competing for the Lease in the background. `client_config` is the operator's
/// cluster configuration; the Lease gets its own client with [`LeaseTiming::request_timeout`].
pub async fn elect(
    mut client_config: kube::Config,
    config: LeaseConfig,
) -> Result<Election, LeaseError> {
    let timing = &config.timing;
    client_config.connect_timeout = Some(timing.request_timeout);
    client_config.read_timeout = Some(timing.request_timeout);
    client_config.write_timeout = Some(timing.request_timeout);
    let client = Client::try_from(client_config)?;
    let name = format!("{}/{}", config.namespace, config.name);
    let manager = LeaseManagerBuilder::new(client, &config.name)
        .with_namespace(&config.namespace)
        .with_identity(&config.identity)
        .with_duration(timing.duration.as_secs().max(1))
        .with_grace(timing.grace.as_secs().max(1))
        .with_create_mode(if config.create_if_missing {
            LeaseCreateMode::AutoCreate
        } else {
            LeaseCreateMode::UseExistent
        })
        .build()
        .await
        .map_err(|source| LeaseError::Lease {
            name: name.clone(),
            source,
        })?;
    let manager = Arc::new(manager);
    let (tx, rx) = watch::channel(false);
    let task = tokio::spawn(compete(manager.clone(), tx, name.clone(), config.identity));
    Ok(Election {
        manager,
        leadership: Leadership(rx),
        task,
        name,
    })
}

/// Publishes every change of holder. A failed renewal ends leadership for good: the caller
/// stops writing and exits, and the restarted process competes again.
async fn compete(
    manager: Arc<LeaseManager>,
    tx: watch::Sender<bool>,
    name: String,
    identity: String,
) {
    loop {
        match manager.changed().await {
            Ok(held) => {
                if held {
                    info!(%identity, lease = %name, "leading");
                } else {
                    warn!(%identity, lease = %name, "lost the lease");
                }
                let _ = tx.send(held);
            }
            Err(error) if *tx.borrow() => {
                warn!(%error, %identity, lease = %name, "could not renew the lease: stepping down");
                let _ = tx.send(false);
                return;
            }
            Err(error) => {
                warn!(%error, lease = %name, "lease request failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
