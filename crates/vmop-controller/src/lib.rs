//! The VirtualMachineProfile controller, embeddable in another Rust controller.
//!
//! One reconcile per profile, as a pipeline (fetch from the caches → plan, pure → apply →
//! status, pure), in folders that say what each part may touch:
//!
//! - `cache/`: the watch caches, what feeds them and the triggers they send;
//! - `desired/`: what a profile wants ([`plan()`], through the plugin registries, pure), what
//!   it holds in common with other profiles, the administrator's [`AdminPolicy`];
//! - `converge/`: the three managers, networks ([`NetworkOutcome`]), storage
//!   ([`DiskOutcome`]) and the VM ([`VmOutcome`]), with server-side apply and cleanup;
//! - `report/`: the status ([`compute`], pure, from what was [`Observed`]) and Events;
//! - `requests/` (restart, migration), `snapshots/` (scheduled and requested snapshots,
//!   restore) and `pools/` (VirtualMachineProfilePools);
//! - `render.rs`: the same pure steps with no cluster ([`render_profile`], [`render_pool`]),
//!   for `vm-operator render`.
//!
//! [`controller()`] wires the caches and triggers into a kube-runtime Controller; nothing is
//! global, so an embedder can run several with their own registries. The public API is what
//! this page lists: everything else is private, so refactoring inside breaks nobody.
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

mod backoff;
mod cache;
mod config;
mod context;
mod controller;
mod converge;
mod desired;
mod error;
mod error_policy;
mod images;
pub mod lease;
mod metrics;
mod pools;
mod reconcile;
mod render;
mod report;
mod requests;
mod snapshots;

pub use cache::admin_policy::AdminPolicyHandle;
pub use cache::{packed::PackedStore, watch_health::WatchHealth};
pub use config::{AdminPolicySource, ControllerConfig, Timing};
pub use context::{Context, FIELD_MANAGER, FINALIZER, Failures, Indexes, Stores};
pub use controller::{Running, controller};
pub use converge::{network::NetworkOutcome, storage::DiskOutcome, vm::VmOutcome};
pub use desired::{
    admin_policy::AdminPolicy,
    plan::{Plan, Planned, TemplateExtras, node_policy_scope, plan},
};
pub use error::{Error, Result};
pub use metrics::{DurationGuard, Metrics};
pub use render::{RenderContext, RenderError, class_infos, render_pool, render_profile};
pub use report::status::{Converged, Observed, compute};
