//! Extension points of vm-operator: [`NetworkPlugin`], [`StorageBackend`] and [`VMTemplate`],
//! and the registries that find them by name.
//!
//! **Plugins decide, managers act.** A plugin turns one spec entry into desired objects and
//! reads readiness from observed ones. It makes no API calls: the controller's managers apply
//! what plugins return (server-side apply, owner references, labels) and hand them what they
//! observed. A plugin is therefore a set of pure functions, tested without a cluster.
//!
//! ```text
//!   spec entry --validate--> ok | FieldError
//!   spec entry --build-----> desired objects      (managers apply them)
//!   observed   --readiness-> Ready | InProgress | Failed  (managers report it)
//! ```
//!
//! Plugins register with [`register_network_plugin!`], [`register_storage_backend!`] or
//! [`register_vm_template!`] and are collected through [`inventory`]; [`Registries`] builds
//! the lookup tables and rejects two plugins of one kind under one name. A plugin crate that
//! nothing references can be dropped by the linker: the binary that embeds plugins must
//! reference each crate (see `docs/plugins.md`).

// The contract plugin authors code against: every public item says what it is.
#![deny(missing_docs)]

mod context;
mod error;
pub mod mac;
pub mod names;
pub mod objects;
pub mod readiness;
mod registry;
#[cfg(feature = "testing")]
pub mod testing;
mod traits;

pub use context::{
    DesiredNetwork, DesiredVm, DesiredVolume, DiskConfig, InterfaceBinding, NetworkAttachment,
    NetworkConfig, ObservedNetwork, ObservedPolicy, ObservedVolume, ProfileRef, Readiness,
    StorageClassInfo, TemplateInput, VolumeAttachment, VolumeObject, VolumeReadiness,
    VolumeSourceRef,
};
pub use error::PluginError;
pub use registry::{
    NetworkPluginRegistration, PluginKind, Registries, Registry, RegistryError,
    StorageBackendRegistration, VMTemplateRegistration,
};
pub use traits::{NetworkPlugin, StorageBackend, VMTemplate};

#[cfg(feature = "mock")]
pub use traits::{MockNetworkPlugin, MockStorageBackend, MockVMTemplate};

// Re-exported so plugin crates need no direct dependency to register.
pub use async_trait::async_trait;
#[doc(hidden)]
pub use inventory;
pub use vmop_api;
