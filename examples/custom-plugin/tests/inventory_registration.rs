//! The example plugins are found through `inventory` by name, in a binary that links only them.

use vmop_plugin::{NetworkConfig, ProfileRef, Registries, vmop_api::NetworkSpec};

#[test]
fn registered_plugins_are_found_by_name() {
    vmop_example_custom_plugin::link();
    let registries = Registries::from_inventory().expect("no duplicate names");
    assert_eq!(registries.networks.names(), vec!["macvlan"]);
    assert_eq!(registries.storage.names(), vec!["local-path"]);
    assert!(registries.templates.names().is_empty());
    assert_eq!(
        registries.networks.entries().collect::<Vec<_>>(),
        vec![("macvlan", "vmop_example_custom_plugin")]
    );
}

#[tokio::test]
async fn the_found_plugin_is_the_registered_implementation() {
    vmop_example_custom_plugin::link();
    let registries = Registries::from_inventory().expect("no duplicate names");
    let plugin = registries
        .networks
        .get("macvlan")
        .expect("macvlan registered");
    let config = NetworkConfig {
        profile: ProfileRef {
            name: "web".into(),
            namespace: "prod".into(),
            ..ProfileRef::default()
        },
        index: 2,
        network: NetworkSpec {
            name: "storage".into(),
            type_: Some("macvlan".into()),
            node_interface: Some("eth2".into()),
            ..NetworkSpec::default()
        },
    };
    let desired = plugin.build(&config).await.expect("builds");
    assert_eq!(desired.attachment.nad, "prod/web--storage");
    let config_json = desired
        .nad
        .and_then(|n| n.spec.config)
        .expect("a CNI config");
    assert!(config_json.contains(r#""master":"eth2""#), "{config_json}");

    let mut without_port = config;
    without_port.network.node_interface = None;
    let error = plugin.validate(&without_port).expect_err("needs a port");
    assert_eq!(
        error.to_string(),
        "spec.networks[2].nodeInterface: macvlan needs the node interface it attaches to"
    );
}
