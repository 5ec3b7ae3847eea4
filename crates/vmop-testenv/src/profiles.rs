//! Profiles for tests that need one quickly, and what tests read of their status.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use vmop_api::{DiskSpec, Phase, VirtualMachineProfile, fixtures::valid_profile};

/// The seed profile reduced to the pod network and its image disk: quick to run.
pub fn small_profile(name: &str) -> VirtualMachineProfile {
    let mut profile = valid_profile(name);
    profile.spec.networks.clear();
    profile.spec.disks.truncate(1);
    profile
}

/// The seed profile reduced to the pod network and one blank 1 GiB disk named `disk` on the
/// StorageClass `class`: nothing to import.
pub fn blank_disk_profile(name: &str, disk: &str, class: &str) -> VirtualMachineProfile {
    let mut profile = valid_profile(name);
    profile.spec.networks.clear();
    profile.spec.disks = vec![DiskSpec {
        name: disk.into(),
        size: "1Gi".into(),
        storage_class_name: Some(class.into()),
        ..DiskSpec::default()
    }];
    profile
}

/// The profile's phase, if it has a status.
pub fn phase(profile: &VirtualMachineProfile) -> Option<Phase> {
    profile.status.as_ref().and_then(|s| s.phase)
}

/// The profile's condition of type `type_`.
pub fn condition<'a>(profile: &'a VirtualMachineProfile, type_: &str) -> Option<&'a Condition> {
    profile
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == type_))
}

/// A user's own bridge NAD named `name` in `ns`, as profiles name with `nadName` (the seed
/// profile's `business-net`).
pub async fn existing_nad(ns: &crate::TestNamespace, name: &str) {
    use vmop_api::external::multus::{
        NetworkAttachmentDefinition, NetworkAttachmentDefinitionSpec,
    };
    let nad = NetworkAttachmentDefinition::new(
        name,
        NetworkAttachmentDefinitionSpec {
            config: Some(r#"{"cniVersion":"0.3.1","type":"bridge","bridge":"br-biz"}"#.into()),
            ..Default::default()
        },
    );
    ns.api::<NetworkAttachmentDefinition>()
        .create(&kube::api::PostParams::default(), &nad)
        .await
        .unwrap_or_else(|e| panic!("the user's NAD {name}: {e}"));
}

/// A pool `name` of `replicas` members of `spec`, each given an address of `range` on its
/// network `network` (no template metadata, no gateway).
pub fn pool_of(
    name: &str,
    replicas: i32,
    spec: vmop_api::VirtualMachineProfileSpec,
    network: &str,
    range: &str,
) -> vmop_api::pool::VirtualMachineProfilePool {
    use vmop_api::pool::{
        AddressPool, ProfileTemplate, VirtualMachineProfilePool, VirtualMachineProfilePoolSpec,
    };
    VirtualMachineProfilePool::new(
        name,
        VirtualMachineProfilePoolSpec {
            replicas,
            template: ProfileTemplate {
                metadata: None,
                spec,
            },
            addresses: vec![AddressPool {
                network: network.into(),
                range: range.into(),
                gateway: None,
                exclude: vec![],
            }],
        },
    )
}
