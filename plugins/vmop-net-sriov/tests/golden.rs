//! Golden YAML of the SR-IOV plugin's output over a table of networks, and every generated
//! object created on the real API server and read back unchanged.

use std::{collections::BTreeMap, path::Path};

use vmop_net_sriov::SriovPlugin;
use vmop_plugin::{
    NetworkConfig, NetworkPlugin,
    testing::{assert_golden, network_config, render_network},
    vmop_api::{IpamSpec, NetworkSpec, SriovSpec, profile::IpamType},
};
use vmop_testenv::{TestEnv, plugin_outputs};

fn sriov(resource: &str) -> SriovSpec {
    SriovSpec {
        resource_name: Some(resource.into()),
        ..SriovSpec::default()
    }
}

fn network(name: &str) -> NetworkSpec {
    NetworkSpec {
        name: name.into(),
        type_: Some("sriov".into()),
        sriov: Some(sriov("intel.com/sriov_netdevice")),
        ..NetworkSpec::default()
    }
}

fn cases() -> Vec<(&'static str, NetworkSpec)> {
    vec![
        ("plain", network("fast")),
        (
            "vlan",
            NetworkSpec {
                vlan: Some(200),
                ..network("fast")
            },
        ),
        (
            "trusted-no-spoofcheck",
            NetworkSpec {
                sriov: Some(SriovSpec {
                    spoof_check: Some(false),
                    trust: Some(true),
                    ..sriov("intel.com/sriov_netdevice")
                }),
                ..network("fast")
            },
        ),
        (
            "static-ipam",
            NetworkSpec {
                ip_address: Some("10.20.0.15/24".into()),
                gateway: Some("10.20.0.1".into()),
                ipam: Some(IpamSpec {
                    type_: IpamType::Static,
                    range: None,
                    exclude: vec![],
                }),
                ..network("fast")
            },
        ),
        (
            "create-vfs",
            NetworkSpec {
                sriov: Some(SriovSpec {
                    physical_function: Some("ens1f0".into()),
                    num_vfs: Some(8),
                    ..sriov("intel.com/sriov_netdevice")
                }),
                ..network("fast")
            },
        ),
        (
            "create-vfs-on-selected-nodes",
            NetworkSpec {
                node_selector: Some(BTreeMap::from([(
                    "feature.node.kubernetes.io/network-sriov.capable".into(),
                    "true".into(),
                )])),
                sriov: Some(SriovSpec {
                    physical_function: Some("ens1f0".into()),
                    num_vfs: Some(8),
                    ..sriov("mellanox.com/cx5")
                }),
                ..network("fast")
            },
        ),
        (
            "existing-nad",
            NetworkSpec {
                name: "fast".into(),
                type_: Some("sriov".into()),
                nad_name: Some("sriov-net".into()),
                ..NetworkSpec::default()
            },
        ),
        (
            "error-no-resource",
            NetworkSpec {
                sriov: None,
                ..network("fast")
            },
        ),
        (
            "error-empty-resource",
            NetworkSpec {
                sriov: Some(sriov("")),
                ..network("fast")
            },
        ),
        (
            "error-bridge",
            NetworkSpec {
                bridge: Some("br0".into()),
                ..network("fast")
            },
        ),
        (
            "error-node-interface",
            NetworkSpec {
                node_interface: Some("ens1f0".into()),
                ..network("fast")
            },
        ),
        (
            "error-mtu",
            NetworkSpec {
                mtu: Some(9000),
                ..network("fast")
            },
        ),
        (
            "error-whereabouts",
            NetworkSpec {
                ipam: Some(IpamSpec {
                    type_: IpamType::Whereabouts,
                    range: Some("10.0.0.0/24".into()),
                    exclude: vec![],
                }),
                ..network("fast")
            },
        ),
        (
            "error-vfs-without-pf",
            NetworkSpec {
                sriov: Some(SriovSpec {
                    num_vfs: Some(8),
                    ..sriov("intel.com/sriov_netdevice")
                }),
                ..network("fast")
            },
        ),
    ]
}

fn config(network: NetworkSpec) -> NetworkConfig {
    network_config("dpdk", network)
}

#[tokio::test]
async fn output_matches_the_golden_files() {
    assert!(cases().len() >= 10);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    for (case, network) in cases() {
        let result = SriovPlugin.build(&config(network)).await;
        assert_golden(&dir, case, &render_network(&result));
    }
}

#[tokio::test]
async fn generated_objects_are_accepted_by_the_api_server_unchanged() {
    let ns = TestEnv::shared().namespace("sriov").await;
    let mut outputs = Vec::new();
    for (case, network) in cases() {
        if let Ok(desired) = SriovPlugin.build(&config(network)).await {
            outputs.push((case.to_owned(), desired));
        }
    }
    assert!(plugin_outputs::networks_accepted(&ns, outputs).await >= 5);
}
