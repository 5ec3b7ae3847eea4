//! What the bench's profiles look like: `minimal` (one bridge network, one image disk) or
//! `seed`, the user's own example (`examples/manifests/web-vm-01.yaml`): a bridge on VLAN 100
//! over the nodes' eth1 port with a static address of its own per profile, an existing NAD
//! reused, an image disk and a blank data disk, cloud-init with a hostname and an SSH key.
//! The seed shape needs what the administrator and the user give first: the policy allowing
//! the bridge for the bench's namespace, and the reused NAD (in the world floor's namespace
//! too).

use anyhow::Result;
use kube::{
    Api, Client,
    api::{ObjectMeta, PostParams},
};
use vmop_api::{
    CloudInitSpec, DiskSpec, NetworkSpec, PullMethod, VirtualMachineProfile,
    VirtualMachineProfileSpec,
    external::multus::{NetworkAttachmentDefinition, NetworkAttachmentDefinitionSpec},
    k8s_openapi::api::core::v1::ConfigMap,
};

use super::STORAGE_CLASS;

/// The profiles' shape.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One bridge network, one image disk.
    Minimal,
    /// The user's web-vm-01: two networks (a VLAN bridge created on the nodes with a static
    /// address, a reused NAD), an image disk and a blank data disk, cloud-init.
    Seed,
}

impl Shape {
    /// The objects of its own each profile has: NAD, cloud-init Secret, one DataVolume per
    /// disk, the VM (the seed shape's node policy and reused NAD are shared).
    pub fn children_per_profile(self) -> usize {
        match self {
            Shape::Minimal => 4,
            Shape::Seed => 5,
        }
    }

    /// Its name in the report and the JSON file's name.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Minimal => "minimal",
            Shape::Seed => "seed",
        }
    }
}

/// The NAD every seed profile reuses by `nadName`, as its user made it.
const SHARED_NAD: &str = "business-net";

/// Profile number `i` of `shape`. Every profile has a snapshot schedule, so that what a
/// schedule costs while nothing is due is measured at scale (the idle window must stay at 0
/// writes and 0 reads); it is monthly, so nothing is due during a run.
pub fn profile(shape: Shape, i: usize) -> VirtualMachineProfile {
    let mut spec = match shape {
        Shape::Minimal => minimal(),
        Shape::Seed => seed(i),
    };
    spec.snapshots = Some(vmop_api::SnapshotPolicy {
        schedule: super::catalog::SCHEDULE.into(),
        keep: 1,
    });
    VirtualMachineProfile::new(&name(i), spec)
}

/// The name of profile number `i`.
pub fn name(i: usize) -> String {
    format!("vm-{i:05}")
}

/// What both shapes leave as defaulted (the spec has no `Default`: cpu or an instancetype
/// must be chosen).
fn base() -> VirtualMachineProfileSpec {
    VirtualMachineProfileSpec {
        cpu: None,
        cpu_topology: None,
        memory: None,
        instancetype: None,
        preference: None,
        run_strategy: Default::default(),
        high_availability: false,
        isolation: None,
        live_update: None,
        networks: Vec::new(),
        disks: Vec::new(),
        cloud_init: None,
        disk_retention_policy: Default::default(),
        template: None,
        snapshots: None,
    }
}

fn minimal() -> VirtualMachineProfileSpec {
    VirtualMachineProfileSpec {
        cpu: Some(2),
        memory: Some("4Gi".into()),
        networks: vec![NetworkSpec {
            name: "mgmt".into(),
            bridge: Some("br-mgmt".into()),
            vlan: Some(100),
            ..NetworkSpec::default()
        }],
        disks: vec![image_disk(
            "20Gi",
            "docker://registry.example.com/fedora:40",
        )],
        ..base()
    }
}

fn seed(i: usize) -> VirtualMachineProfileSpec {
    VirtualMachineProfileSpec {
        cpu: Some(4),
        memory: Some("8Gi".into()),
        networks: vec![
            NetworkSpec {
                name: "mgmt".into(),
                type_: Some("bridge".into()),
                bridge: Some("br-mgmt".into()),
                vlan: Some(100),
                node_interface: Some("eth1".into()),
                node_selector: Some(
                    [("network.vmoperator.io/eth1".to_owned(), "true".to_owned())].into(),
                ),
                ip_address: Some(format!("{}/16", address(i))),
                gateway: Some("10.100.0.1".into()),
                ..NetworkSpec::default()
            },
            NetworkSpec {
                name: "business".into(),
                nad_name: Some(SHARED_NAD.into()),
                ..NetworkSpec::default()
            },
        ],
        disks: vec![
            DiskSpec {
                pull_method: Some(PullMethod::Node),
                ..image_disk("80Gi", "docker://registry.example.com/centos-stream:8")
            },
            DiskSpec {
                name: "data".into(),
                size: "200Gi".into(),
                storage_class_name: Some(STORAGE_CLASS.into()),
                ..DiskSpec::default()
            },
        ],
        cloud_init: Some(CloudInitSpec {
            hostname: Some(name(i)),
            ssh_authorized_keys: vec![
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOpsKeyForTheExampleOnly ops@example".into(),
            ],
            user_data_secret_ref: None,
        }),
        ..base()
    }
}

fn image_disk(size: &str, image: &str) -> DiskSpec {
    DiskSpec {
        name: "system".into(),
        size: size.into(),
        storage_class_name: Some(STORAGE_CLASS.into()),
        image: Some(image.into()),
        boot_order: Some(1),
        ..DiskSpec::default()
    }
}

/// Profile `i`'s own address on 10.100.0.0/16, from 10.100.0.10 on (10.100.0.1 is the
/// gateway): distinct for up to 65,000 profiles.
fn address(i: usize) -> String {
    let host = i + 10;
    format!("10.100.{}.{}", host / 256, host % 256)
}

/// What the administrator and the user give before the seed shape's profiles: the policy
/// letting profiles of `namespace` configure br-mgmt on VLAN 100 over eth1 (in the ConfigMap
/// the operator reads by default), and the NAD they reuse.
pub async fn prepare(client: &Client, shape: Shape, namespace: &str) -> Result<()> {
    if shape != Shape::Seed {
        return Ok(());
    }
    let policy = format!(
        "nodeNetworks:\n  - namespaces: [{namespace}]\n    nodeInterfaces: [eth1]\n    bridges: [br-mgmt]\n    vlans: [\"100\"]\n"
    );
    let config_map = ConfigMap {
        metadata: ObjectMeta {
            name: Some("vm-operator-policy".into()),
            ..ObjectMeta::default()
        },
        data: Some([("policy.yaml".to_owned(), policy)].into()),
        ..ConfigMap::default()
    };
    Api::<ConfigMap>::namespaced(client.clone(), "vm-operator")
        .create(&PostParams::default(), &config_map)
        .await?;
    shared_nad(client, shape, namespace).await
}

/// The NAD seed profiles reuse, created in `namespace` as its user would.
pub async fn shared_nad(client: &Client, shape: Shape, namespace: &str) -> Result<()> {
    if shape != Shape::Seed {
        return Ok(());
    }
    let config = serde_json::json!({
        "cniVersion": "0.3.1",
        "name": SHARED_NAD,
        "type": "bridge",
        "bridge": "br-business",
        "ipam": {},
    });
    let nad = NetworkAttachmentDefinition::new(
        SHARED_NAD,
        NetworkAttachmentDefinitionSpec {
            config: Some(config.to_string()),
            ..NetworkAttachmentDefinitionSpec::default()
        },
    );
    Api::<NetworkAttachmentDefinition>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &nad)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_profiles_pass_validation_and_have_addresses_of_their_own() {
        let first = profile(Shape::Seed, 0);
        let last = profile(Shape::Seed, 9_999);
        for p in [&first, &last, &profile(Shape::Minimal, 3)] {
            let name = p.metadata.name.as_deref().unwrap_or_default();
            vmop_api::validate::validate_profile(name, &p.spec).expect("valid at admission");
            vmop_api::validate::validate_semantics(&p.spec).expect("valid semantics");
        }
        let ip = |p: &VirtualMachineProfile| p.spec.networks[0].ip_address.clone();
        assert_eq!(ip(&first).as_deref(), Some("10.100.0.10/16"));
        assert_eq!(ip(&last).as_deref(), Some("10.100.39.25/16"));
        assert_eq!(address(246), "10.100.1.0", "a host address in a /16");
    }
}
