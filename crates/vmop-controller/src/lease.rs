//! Leader election on a `coordination.k8s.io` Lease, so that of several replicas exactly one
//! writes. The holder renews every [`LeaseTiming::renew_every`]; a replica takes the Lease
//! only when it is free or its holder has not renewed for the lease duration. Every change is
//! an update with the read `resourceVersion` (optimistic concurrency): of two replicas that
//! try at once, one wins and the other sees a conflict.
//!
//! A holder that cannot renew within [`LeaseTiming::renew_deadline`] (shorter than the lease
//! duration) reports the loss, so it stops writing before anybody else may start.

use std::time::Duration;

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::MicroTime,
    jiff::Timestamp,
};
use kube::{
    Api, Client,
    api::{ObjectMeta, PostParams},
};
use tokio::sync::watch;
use tracing::{info, warn};

/// How long a Lease lasts and how often it is renewed.
#[derive(Debug, Clone)]
pub struct LeaseTiming {
    pub duration: Duration,
    pub renew_every: Duration,
    /// The holder gives up if it could not renew for this long (< `duration`).
    pub renew_deadline: Duration,
}

impl Default for LeaseTiming {
    fn default() -> Self {
        LeaseTiming {
            duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(2),
            renew_deadline: Duration::from_secs(10),
        }
    }
}

/// Where the Lease is and who this replica is.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    pub timing: LeaseTiming,
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

    pub fn held(&self) -> bool {
        *self.0.borrow()
    }
}

fn now() -> MicroTime {
    MicroTime(Timestamp::now())
}

/// Whether `spec` is free for `identity`: held by it, by nobody, or expired.
fn available(spec: &LeaseSpec, identity: &str, at: Timestamp) -> bool {
    let holder = spec.holder_identity.as_deref().unwrap_or_default();
    if holder.is_empty() || holder == identity {
        return true;
    }
    let duration = i64::from(spec.lease_duration_seconds.unwrap_or(0));
    let renewed = spec
        .renew_time
        .as_ref()
        .or(spec.acquire_time.as_ref())
        .map(|t| t.0);
    renewed.is_none_or(|renewed| {
        renewed
            .checked_add(k8s_openapi::jiff::SignedDuration::from_secs(duration))
            .is_ok_and(|expiry| expiry < at)
    })
}

/// One attempt to take or renew the Lease. `Ok(true)`: held now.
async fn try_hold(api: &Api<Lease>, config: &LeaseConfig) -> Result<bool, kube::Error> {
    let duration = i32::try_from(config.timing.duration.as_secs()).unwrap_or(i32::MAX);
    let Some(mut lease) = api.get_opt(&config.name).await? else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(config.name.clone()),
                namespace: Some(config.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(config.identity.clone()),
                lease_duration_seconds: Some(duration),
                acquire_time: Some(now()),
                renew_time: Some(now()),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        };
    };
    let spec = lease.spec.get_or_insert_default();
    if !available(spec, &config.identity, Timestamp::now()) {
        return Ok(false);
    }
    if spec.holder_identity.as_deref() != Some(config.identity.as_str()) {
        spec.holder_identity = Some(config.identity.clone());
        spec.acquire_time = Some(now());
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
    }
    spec.lease_duration_seconds = Some(duration);
    spec.renew_time = Some(now());
    // The read resourceVersion makes this an update of exactly what was read.
    match api
        .replace(&config.name, &PostParams::default(), &lease)
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

/// Gives the Lease up at once (on a graceful stop), so a standby need not wait for it to
/// expire. Does nothing if another replica holds it.
pub async fn release(client: Client, config: &LeaseConfig) -> Result<(), kube::Error> {
    let api: Api<Lease> = Api::namespaced(client, &config.namespace);
    let Some(mut lease) = api.get_opt(&config.name).await? else {
        return Ok(());
    };
    let spec = lease.spec.get_or_insert_default();
    if spec.holder_identity.as_deref() != Some(config.identity.as_str()) {
        return Ok(());
    }
    spec.holder_identity = None;
    spec.renew_time = Some(now());
    match api
        .replace(&config.name, &PostParams::default(), &lease)
        .await
    {
        Ok(_) => {
            info!(identity = %config.identity, "lease released");
            Ok(())
        }
        // Changed meanwhile: not ours to release any more.
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Starts competing for the Lease in the background.
pub fn elect(client: Client, config: LeaseConfig) -> Leadership {
    let (tx, rx) = watch::channel(false);
    let api: Api<Lease> = Api::namespaced(client, &config.namespace);
    tokio::spawn(async move {
        let mut last_renewed: Option<tokio::time::Instant> = None;
        loop {
            let held = match try_hold(&api, &config).await {
                Ok(held) => held,
                Err(error) => {
                    warn!(%error, lease = %config.name, "lease request failed");
                    false
                }
            };
            let was_held = *tx.borrow();
            if held {
                last_renewed = Some(tokio::time::Instant::now());
                if !was_held {
                    info!(identity = %config.identity, lease = %config.name, "leading");
                    let _ = tx.send(true);
                }
            } else if was_held {
                // Still ours until the deadline; past it, stop before another may start.
                let expired =
                    last_renewed.is_none_or(|at| at.elapsed() >= config.timing.renew_deadline);
                if expired {
                    warn!(identity = %config.identity, "lost the lease");
                    let _ = tx.send(false);
                }
            }
            tokio::time::sleep(config.timing.renew_every).await;
        }
    });
    Leadership(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held_by(holder: &str, renewed_secs_ago: i64) -> LeaseSpec {
        let renewed =
            Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_secs(renewed_secs_ago);
        LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(renewed)),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn a_lease_is_free_for_its_holder_for_nobody_and_after_it_expired() {
        let at = Timestamp::now();
        assert!(available(&LeaseSpec::default(), "b", at));
        assert!(available(&held_by("b", 1), "b", at));
        assert!(!available(&held_by("a", 1), "b", at));
        assert!(available(&held_by("a", 30), "b", at));
    }
}
