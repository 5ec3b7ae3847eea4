//! A real Kubernetes control plane for vm-operator's tests, demo and benchmarks, with honest
//! simulators of the data plane.
//!
//! ```text
//!  tools/kube-testenv (Go)          this crate (Rust)
//!  ┌──────────────────────────┐     ┌───────────────────────────────────────────┐
//!  │ etcd + kube-apiserver    │◄────┤ bootstrap: CRDs, nodes, StorageClasses    │
//!  │ controller-manager:      │◄────┤ simulators (act only through the API):    │
//!  │  GC, namespaces, PV      │     │  CSI · CDI · NMState · KubeVirt           │
//!  │  binder and protection   │◄────┤ tests: one namespace and client per test  │
//!  └──────────────────────────┘     └───────────────────────────────────────────┘
//! ```
//!
//! [`TestEnv::shared`] starts one control plane per test binary (building the Go program on
//! first use, cached under `target/`), bootstraps it and runs the simulators on a background
//! runtime; [`TestEnv::namespace`] gives each test its own namespace and client.
//! [`ControlPlane`] can also be started alone, e.g. to restart it on the same data dir.

mod cluster;
mod control_plane;
mod error;
pub mod kubeconform;
pub mod manifests;
pub mod plugin_outputs;
pub mod profiles;
mod shared;
pub mod sim;
mod subset;
pub mod tools;
pub mod wait;

pub use cluster::{
    HUAMEI_PROVISIONER, LOCAL_PATH_PROVISIONER, LONGHORN_PROVISIONER, MANAGER, UPSTREAM_ADMISSION,
    UPSTREAM_CRDS, bootstrap, nodes, storage_classes,
};
pub use control_plane::{ControlPlane, DATASTORE_ENV, Datastore, client_for};
pub use error::TestEnvError;
pub use shared::{TestEnv, TestNamespace};
pub use subset::{create_unchanged, first_change};
