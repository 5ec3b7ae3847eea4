//! Registries of plugins, built from [`inventory`] submissions or by hand.

use std::{collections::BTreeMap, fmt, sync::Arc};

use thiserror::Error;
use vmop_api::validate::is_dns_label;

use crate::traits::{NetworkPlugin, StorageBackend, VMTemplate};

/// The three kinds of plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PluginKind {
    /// A NetworkPlugin.
    Network,
    /// A StorageBackend.
    Storage,
    /// A VMTemplate.
    Template,
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PluginKind::Network => "network plugin",
            PluginKind::Storage => "storage backend",
            PluginKind::Template => "VM template",
        })
    }
}

/// Why a registry could not be built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RegistryError {
    #[error("{kind} {name:?} is registered twice: by {first} and by {second}")]
    /// Two plugins of one kind share a name.
    Duplicate {
        /// Which registry.
        kind: PluginKind,
        /// The name registered twice.
        name: String,
        /// Module that registered it first.
        first: String,
        /// Module that registered it again.
        second: String,
    },
    #[error(
        "{kind} name {name:?} (registered by {module}) must be lower-case letters, digits and '-', at most 63 characters"
    )]
    /// A name that cannot appear in a spec (not a DNS label).
    InvalidName {
        /// Which registry.
        kind: PluginKind,
        /// The invalid name.
        name: String,
        /// Module that registered it.
        module: String,
    },
}

macro_rules! registration {
    ($(#[$doc:meta])* $name:ident, $trait:ident) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name {
            /// The name users select the plugin by.
            pub name: &'static str,
            /// The registering module, for error messages.
            pub module: &'static str,
            /// Creates the plugin.
            pub factory: fn() -> Arc<dyn $trait>,
        }
        inventory::collect!($name);
    };
}

registration!(
    /// A [`NetworkPlugin`] submitted with [`register_network_plugin!`](crate::register_network_plugin).
    NetworkPluginRegistration,
    NetworkPlugin
);
registration!(
    /// A [`StorageBackend`] submitted with [`register_storage_backend!`](crate::register_storage_backend).
    StorageBackendRegistration,
    StorageBackend
);
registration!(
    /// A [`VMTemplate`] submitted with [`register_vm_template!`](crate::register_vm_template).
    VMTemplateRegistration,
    VMTemplate
);

/// Registers a [`NetworkPlugin`] under a name: `register_network_plugin!("bridge", BridgePlugin::default());`
#[macro_export]
macro_rules! register_network_plugin {
    ($name:expr, $plugin:expr) => {
        $crate::inventory::submit! {
            $crate::NetworkPluginRegistration {
                name: $name,
                module: module_path!(),
                factory: || ::std::sync::Arc::new($plugin),
            }
        }
    };
}

/// Registers a [`StorageBackend`] under a name.
#[macro_export]
macro_rules! register_storage_backend {
    ($name:expr, $plugin:expr) => {
        $crate::inventory::submit! {
            $crate::StorageBackendRegistration {
                name: $name,
                module: module_path!(),
                factory: || ::std::sync::Arc::new($plugin),
            }
        }
    };
}

/// Registers a [`VMTemplate`] under a name.
#[macro_export]
macro_rules! register_vm_template {
    ($name:expr, $plugin:expr) => {
        $crate::inventory::submit! {
            $crate::VMTemplateRegistration {
                name: $name,
                module: module_path!(),
                factory: || ::std::sync::Arc::new($plugin),
            }
        }
    };
}

/// Plugins of one kind by name.
pub struct Registry<P: ?Sized> {
    kind: PluginKind,
    plugins: BTreeMap<String, (Arc<P>, String)>,
}

impl<P: ?Sized> fmt::Debug for Registry<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("kind", &self.kind)
            .field("names", &self.names())
            .finish()
    }
}

impl<P: ?Sized> Registry<P> {
    /// An empty registry.
    pub fn new(kind: PluginKind) -> Self {
        Registry {
            kind,
            plugins: BTreeMap::new(),
        }
    }

    /// Adds a plugin; `module` names who registered it, for error messages.
    pub fn register(
        &mut self,
        name: &str,
        module: &str,
        plugin: Arc<P>,
    ) -> Result<(), RegistryError> {
        if !is_dns_label(name, 63) {
            return Err(RegistryError::InvalidName {
                kind: self.kind,
                name: name.to_owned(),
                module: module.to_owned(),
            });
        }
        if let Some((_, first)) = self.plugins.get(name) {
            return Err(RegistryError::Duplicate {
                kind: self.kind,
                name: name.to_owned(),
                first: first.clone(),
                second: module.to_owned(),
            });
        }
        self.plugins
            .insert(name.to_owned(), (plugin, module.to_owned()));
        Ok(())
    }

    /// The plugin registered under `name`.
    pub fn get(&self, name: &str) -> Option<Arc<P>> {
        self.plugins.get(name).map(|(plugin, _)| plugin.clone())
    }

    /// Registered names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.plugins.keys().map(String::as_str).collect()
    }

    /// Registered names with the module that registered each, sorted by name.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.plugins
            .iter()
            .map(|(name, (_, module))| (name.as_str(), module.as_str()))
    }

    /// The kind of plugin this registry holds.
    pub fn kind(&self) -> PluginKind {
        self.kind
    }
}

impl Registry<dyn StorageBackend> {
    /// The backend serving blank disks of a class with this provisioner: the one that lists
    /// it in [`StorageBackend::provisioners`]; when several do, the first by name, so the
    /// choice never depends on link order.
    pub fn for_provisioner(&self, provisioner: &str) -> Option<(&str, Arc<dyn StorageBackend>)> {
        self.plugins
            .iter()
            .find(|(_, (backend, _))| backend.provisioners().iter().any(|p| p == provisioner))
            .map(|(name, (backend, _))| (name.as_str(), backend.clone()))
    }
}

/// The three registries the controller dispatches through.
#[derive(Debug)]
pub struct Registries {
    /// Network plugins by `spec.networks[].type`.
    pub networks: Registry<dyn NetworkPlugin>,
    /// Storage backends by `spec.disks[].backend`.
    pub storage: Registry<dyn StorageBackend>,
    /// VM templates by `spec.template`.
    pub templates: Registry<dyn VMTemplate>,
}

impl Default for Registries {
    fn default() -> Self {
        Self::empty()
    }
}

impl Registries {
    /// Registries with no plugins, to fill by hand (tests, embedders without inventory).
    pub fn empty() -> Self {
        Registries {
            networks: Registry::new(PluginKind::Network),
            storage: Registry::new(PluginKind::Storage),
            templates: Registry::new(PluginKind::Template),
        }
    }

    /// Every plugin submitted through [`inventory`] and linked into this binary. Fails on a
    /// name registered twice within one kind, or on a malformed name.
    pub fn from_inventory() -> Result<Self, RegistryError> {
        let mut registries = Self::empty();
        for r in inventory::iter::<NetworkPluginRegistration> {
            registries
                .networks
                .register(r.name, r.module, (r.factory)())?;
        }
        for r in inventory::iter::<StorageBackendRegistration> {
            registries
                .storage
                .register(r.name, r.module, (r.factory)())?;
        }
        for r in inventory::iter::<VMTemplateRegistration> {
            registries
                .templates
                .register(r.name, r.module, (r.factory)())?;
        }
        Ok(registries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traits::MockNetworkPlugin;

    fn mock() -> Arc<dyn NetworkPlugin> {
        Arc::new(MockNetworkPlugin::new())
    }

    #[test]
    fn finds_plugins_by_name_and_lists_them_sorted() {
        let mut registry = Registry::<dyn NetworkPlugin>::new(PluginKind::Network);
        registry
            .register("vlan", "a", mock())
            .expect("register vlan");
        registry
            .register("bond", "b", mock())
            .expect("register bond");
        assert!(registry.get("vlan").is_some());
        assert!(registry.get("macvlan").is_none());
        assert_eq!(registry.names(), vec!["bond", "vlan"]);
        assert_eq!(
            registry.entries().collect::<Vec<_>>(),
            vec![("bond", "b"), ("vlan", "a")]
        );
    }

    #[test]
    fn rejects_a_duplicate_name_naming_both_modules() {
        let mut registry = Registry::<dyn NetworkPlugin>::new(PluginKind::Network);
        registry.register("vlan", "crate_a", mock()).expect("first");
        let error = registry
            .register("vlan", "crate_b", mock())
            .expect_err("second must fail");
        assert_eq!(
            error.to_string(),
            "network plugin \"vlan\" is registered twice: by crate_a and by crate_b"
        );
    }

    #[test]
    fn rejects_names_users_could_not_type_in_a_spec() {
        let mut registry = Registry::<dyn NetworkPlugin>::new(PluginKind::Network);
        for bad in ["", "Bridge", "my_net", "-x", &"x".repeat(64)] {
            assert!(
                matches!(
                    registry.register(bad, "m", mock()),
                    Err(RegistryError::InvalidName { .. })
                ),
                "{bad:?} accepted"
            );
        }
    }
}
