//! Golden YAML of the macvlan plugin's output over a table of networks (errors included), and
//! every NAD it builds created on the real API server (upstream Multus schema) unchanged.

use std::path::Path;

use vmop_example_macvlan_network::MacvlanPlugin;
use vmop_plugin::{
    NetworkConfig, NetworkPlugin,
    testing::{assert_golden, network_config, render_network},
    vmop_api::{IpamSpec, NetworkSpec, profile::IpamType},
};
use vmop_testenv::{TestEnv, plugin_outputs};

fn network(name: &str) -> NetworkSpec {
    NetworkSpec {
        name: name.into(),
        type_: Some("macvlan".into()),
        node_interface: Some("eth1".into()),
        ..NetworkSpec::default()
    }
}

fn cases() -> Vec<(&'static str, NetworkSpec)> {
    vec![
        ("plain", network("lan")),
        (
            "static-address-and-mtu",
            NetworkSpec {
                ip_address: Some("192.168.60.10/24".into()),
                mtu: Some(9000),
                ..network("lan")
            },
        ),
        (
            "whereabouts",
            NetworkSpec {
                ipam: Some(IpamSpec {
                    type_: IpamType::Whereabouts,
                    range: Some("10.60.0.0/24".into()),
                    exclude: vec!["10.60.0.1/32".into()],
                }),
                ..network("lan")
            },
        ),
        (
            "error-no-node-interface",
            NetworkSpec {
                node_interface: None,
                ..network("lan")
            },
        ),
        (
            "error-vlan",
            NetworkSpec {
                vlan: Some(100),
                ..network("lan")
            },
        ),
        (
            "error-bridge",
            NetworkSpec {
                bridge: Some("br0".into()),
                ..network("lan")
            },
        ),
    ]
}

fn config(network: NetworkSpec) -> NetworkConfig {
    network_config("web", network)
}

#[tokio::test]
async fn output_matches_the_golden_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    for (case, network) in cases() {
        let result = MacvlanPlugin.build(&config(network)).await;
        assert_eq!(case.starts_with("error-"), result.is_err(), "{case}");
        assert_golden(&dir, case, &render_network(&result));
    }
}

#[tokio::test]
async fn every_nad_it_builds_is_accepted_by_the_api_server_unchanged() {
    let ns = TestEnv::shared().namespace("macvlan-golden").await;
    let mut outputs = Vec::new();
    for (case, network) in cases()
        .into_iter()
        .filter(|(c, _)| !c.starts_with("error-"))
    {
        let built = MacvlanPlugin.build(&config(network)).await.expect(case);
        assert!(built.nad.is_some(), "{case}: a NAD");
        outputs.push((format!("web--{case}"), built));
    }
    let expected = outputs.len();
    assert_eq!(
        plugin_outputs::networks_accepted(&ns, outputs).await,
        expected
    );
}
