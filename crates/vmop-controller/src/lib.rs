//! The VirtualMachineProfile controller, embeddable in another Rust controller.
//!
//! Three managers behind one [`reconcile`](reconcile::reconcile), as in the design:
//! [`network`] (NADs, shared NMState policies), [`storage`] (claims, DataVolumes) and [`vm`]
//! (the KubeVirt VirtualMachine), fed by [`plan`] (validation and building through the plugin
//! registries, pure) and summarized by [`status`] (pure). [`controller()`] wires watch caches
//! and triggers into a kube-runtime Controller; nothing is global, so an embedder can run
//! several with their own registries.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! let client = kube::Client::try_default().await?;
//! let registries = Arc::new(vmop_plugin::Registries::from_inventory()?);
//! let running = vmop_controller::controller(
//!     client,
//!     registries,
//!     Arc::new(vmop_controller::Metrics::default()),
//!     vmop_controller::ControllerConfig::default(),
//!     std::future::pending(),
//! );
//! running.run().await;
//! # Ok(()) }
//! ```

// What embedders code against: every public item says what it is.
#![deny(missing_docs)]

pub mod access;
pub mod apply;
pub mod backoff;
pub mod claims;
pub mod classes;
pub mod cleanup;
mod context;
mod controller;
pub mod disk_changes;
mod error;
pub mod events;
pub mod image_hosts;
pub mod index;
pub mod isolation;
pub mod lease;
mod metrics;
pub mod migrate;
pub mod network;
pub mod network_policy;
pub mod packed;
pub mod plan;
pub mod policy;
mod policy_gate;
pub mod pool;
pub mod pool_plan;
mod profile_triggers;
pub mod queue;
pub mod reconcile;
mod relist;
pub mod request;
pub mod restart;
pub mod seed;
pub mod sizing;
pub mod status;
pub mod storage;
pub mod transitions;
mod trim;
mod user_data_secrets;
pub mod vm;
pub mod wants;
mod watch_health;

pub use context::{
    Context, FIELD_MANAGER, FINALIZER, Failures, Indexes, PolicyHandle, Stores, Timing,
};
pub use controller::{ControllerConfig, PolicySource, Running, controller};
pub use error::{Error, Result};
pub use metrics::{DurationGuard, Metrics};
pub use policy::OperatorPolicy;
pub use watch_health::WatchHealth;
