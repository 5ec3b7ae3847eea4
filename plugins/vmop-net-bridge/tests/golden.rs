//! Golden YAML of the bridge plugin's output over a table of networks, and every generated
//! object created on the real API server and read back unchanged.

use std::{collections::BTreeMap, path::Path};

use kube::Api;
use vmop_net_bridge::BridgePlugin;
use vmop_plugin::{
    NetworkConfig, NetworkPlugin, ProfileRef,
    testing::{assert_golden, render_network},
    vmop_api::{
        IpamSpec, NetworkSpec, SriovSpec,
        external::{multus::NetworkAttachmentDefinition, nmstate::NodeNetworkConfigurationPolicy},
        profile::IpamType,
    },
};
use vmop_testenv::{TestEnv, create_unchanged};

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
    NetworkConfig {
        profile: ProfileRef {
            name: profile.into(),
            namespace: "prod".into(),
            labels: BTreeMap::new(),
        },
        index: 0,
        network,
    }
}

#[tokio::test]
async fn output_matches_the_golden_files() {
    assert!(cases().len() >= 10);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    for (case, profile, network) in cases() {
        let result = BridgePlugin.build(&config(profile, network)).await;
        assert_golden(&dir.join(format!("{case}.yaml")), &render_network(&result));
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
    let nads: Api<NetworkAttachmentDefinition> = ns.api();
    let policies: Api<NodeNetworkConfigurationPolicy> = Api::all(ns.client.clone());
    for (case, profile, network) in cases() {
        let Ok(mut desired) = BridgePlugin.build(&config(profile, network)).await else {
            continue;
        };
        if let Some(mut nad) = desired.nad.take() {
            nad.metadata.namespace = Some(ns.name.clone());
            nad.metadata.name = Some(case.to_owned());
            create_unchanged(&nads, &nad)
                .await
                .unwrap_or_else(|e| panic!("{case}: NAD {e}"));
        }
        for mut policy in desired.policies {
            // Cluster-scoped: make the name unique to this test run.
            policy.metadata.name = Some(format!("{}-{case}", ns.name));
            create_unchanged(&policies, &policy)
                .await
                .unwrap_or_else(|e| panic!("{case}: policy {e}"));
        }
    }
}
