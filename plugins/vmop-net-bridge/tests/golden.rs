//! Golden YAML of the bridge plugin's output over a table of networks, and every generated
//! object created on the real API server and read back unchanged.

use std::{collections::BTreeMap, path::Path};

use vmop_net_bridge::BridgePlugin;
use vmop_plugin::{
    NetworkConfig, NetworkPlugin,
    testing::{assert_golden, network_config, render_network},
    vmop_api::{IpamSpec, NetworkSpec, SriovSpec, profile::IpamType},
};
use vmop_testenv::{TestEnv, plugin_outputs};

fn network(name: &str) -> NetworkSpec {
    NetworkSpec {
        name: name.into(),
        type_: Some("bridge".into()),
        bridge: Some("br-mgmt".into()),
        ..NetworkSpec::default()
    }
}

fn selector(pairs: &[(&str, &str)]) -> Option<BTreeMap<String, String>> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
    )
}

fn cases() -> Vec<(&'static str, &'static str, NetworkSpec)> {
    vec![
        ("plain", "web", network("mgmt")),
        (
            "vlan",
            "web",
            NetworkSpec {
                vlan: Some(100),
                ..network("mgmt")
            },
        ),
        (
            "mtu",
            "web",
            NetworkSpec {
                mtu: Some(9000),
                ..network("storage")
            },
        ),
        (
            "static-ipam",
            "web",
            NetworkSpec {
                ip_address: Some("192.168.100.10/24".into()),
                gateway: Some("192.168.100.1".into()),
                ipam: Some(IpamSpec {
                    type_: IpamType::Static,
                    range: None,
                    exclude: vec![],
                }),
                ..network("mgmt")
            },
        ),
        (
            "whereabouts",
            "web",
            NetworkSpec {
                ipam: Some(IpamSpec {
                    type_: IpamType::Whereabouts,
                    range: Some("10.30.0.0/24".into()),
                    exclude: vec!["10.30.0.1/32".into()],
                }),
                ..network("storage")
            },
        ),
        (
            "address-without-ipam",
            "web",
            NetworkSpec {
                ip_address: Some("192.168.100.10/24".into()),
                ..network("mgmt")
            },
        ),
        (
            "node-port",
            "web",
            NetworkSpec {
                vlan: Some(100),
                node_interface: Some("eth1".into()),
                ..network("mgmt")
            },
        ),
        (
            "node-port-selector",
            "web",
            NetworkSpec {
                node_interface: Some("eth1".into()),
                node_selector: selector(&[("network.vmoperator.io/eth1", "true")]),
                ..network("mgmt")
            },
        ),
        (
            "same-bridge-other-profile",
            "db",
            NetworkSpec {
                vlan: Some(300),
                node_interface: Some("eth1".into()),
                ..network("mgmt")
            },
        ),
        (
            "existing-nad",
            "web",
            NetworkSpec {
                name: "business".into(),
                type_: None,
                bridge: None,
                nad_name: Some("business-net".into()),
                ..NetworkSpec::default()
            },
        ),
        (
            "existing-nad-other-namespace",
            "web",
            NetworkSpec {
                name: "business".into(),
                type_: None,
                bridge: None,
                nad_name: Some("shared/business-net".into()),
                ..NetworkSpec::default()
            },
        ),
        (
            "long-names",
            "a-very-long-profile-name-for-a-virtual-machine-x",
            NetworkSpec {
                vlan: Some(10),
                ..network("management-network")
            },
        ),
        (
            "error-no-bridge",
            "web",
            NetworkSpec {
                bridge: None,
                ..network("mgmt")
            },
        ),
        (
            "error-sriov-settings",
            "web",
            NetworkSpec {
                sriov: Some(SriovSpec::default()),
                ..network("mgmt")
            },
        ),
        (
            "error-selector-without-port",
            "web",
            NetworkSpec {
                node_selector: selector(&[("a", "b")]),
                ..network("mgmt")
            },
        ),
    ]
}

fn config(profile: &str, network: NetworkSpec) -> NetworkConfig {
    network_config(profile, network)
}

#[tokio::test]
async fn output_matches_the_golden_files() {
    assert!(cases().len() >= 10);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    for (case, profile, network) in cases() {
        let result = BridgePlugin.build(&config(profile, network)).await;
        assert_golden(&dir, case, &render_network(&result));
    }
}

#[tokio::test]
async fn profiles_on_one_bridge_and_port_share_one_identical_policy() {
    let web = BridgePlugin
        .build(&config(
            "web",
            NetworkSpec {
                vlan: Some(100),
                node_interface: Some("eth1".into()),
                ..network("mgmt")
            },
        ))
        .await
        .expect("web");
    let db = BridgePlugin
        .build(&config(
            "db",
            NetworkSpec {
                vlan: Some(300),
                node_interface: Some("eth1".into()),
                ..network("data")
            },
        ))
        .await
        .expect("db");
    assert_eq!(web.policies, db.policies);
    assert_ne!(web.nad, db.nad);
}

#[tokio::test]
async fn generated_objects_are_accepted_by_the_api_server_unchanged() {
    let ns = TestEnv::shared().namespace("bridge").await;
    let mut outputs = Vec::new();
    for (case, profile, network) in cases() {
        if let Ok(desired) = BridgePlugin.build(&config(profile, network)).await {
            outputs.push((case.to_owned(), desired));
        }
    }
    assert!(plugin_outputs::networks_accepted(&ns, outputs).await >= 10);
}
