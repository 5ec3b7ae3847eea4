//! Registers a network plugin under `macvlan`, a name the custom-plugin example already uses.
//! Linking both into one binary must make the registry report the clash, naming both crates.

use vmop_plugin::{
    DesiredNetwork, NetworkConfig, NetworkPlugin, ObservedNetwork, PluginError, Readiness,
    async_trait, register_network_plugin,
};

register_network_plugin!("macvlan", OtherMacvlan);

/// Keeps this crate's registration in a binary.
#[inline(never)]
pub fn link() -> &'static str {
    "macvlan"
}

/// A second macvlan implementation that refuses everything.
#[derive(Debug, Default)]
pub struct OtherMacvlan;

#[async_trait]
impl NetworkPlugin for OtherMacvlan {
    fn validate(&self, config: &NetworkConfig) -> Result<(), PluginError> {
        Err(PluginError::invalid(
            config.field_path("type"),
            "this macvlan implementation serves nothing",
        ))
    }

    async fn build(&self, config: &NetworkConfig) -> Result<DesiredNetwork, PluginError> {
        Err(PluginError::invalid(
            config.field_path("type"),
            "this macvlan implementation serves nothing",
        ))
    }

    fn readiness(&self, _desired: &DesiredNetwork, _observed: &ObservedNetwork) -> Readiness {
        Readiness::Failed {
            reason: "Unsupported".into(),
            message: "this macvlan implementation serves nothing".into(),
        }
    }
}
