//! Golden YAML of the cloud-init template over a table of profiles, and every VM and Secret it
//! builds created on the real API server and read back unchanged.

use std::{collections::BTreeMap, path::Path};

use kube::Api;
use vmop_plugin::{
    InterfaceBinding, NetworkAttachment, TemplateInput, VMTemplate, VolumeAttachment,
    VolumeSourceRef,
    testing::{assert_golden, render_vm},
    vmop_api::{
        CpuTopology, HA_GROUP_LABEL, IpamSpec, NetworkSpec, RunStrategy, SriovSpec,
        VirtualMachineProfile, external::kubevirt::VirtualMachine, fixtures::valid_profile,
        k8s_openapi::api::core::v1::Secret, kube::ResourceExt, pool::POOL_LABEL, profile::IpamType,
    },
};
use vmop_template_cloudinit::CloudInitTemplate;
use vmop_testenv::{TestEnv, create_unchanged};

fn input(mut profile: VirtualMachineProfile) -> TemplateInput {
    profile.metadata.namespace = Some("prod".into());
    profile.metadata.uid = Some("8d6e4f3a-0000-4000-8000-000000000001".into());
    let name = profile.metadata.name.clone().unwrap_or_default();
    let networks = profile
        .spec
        .networks
        .iter()
        .map(|n| NetworkAttachment {
            name: n.name.clone(),
            nad: n.nad_name.clone().map_or_else(
                || format!("prod/{name}-{}", n.name),
                |nad| format!("prod/{nad}"),
            ),
            binding: match n.type_.as_deref() {
                Some("sriov") => InterfaceBinding::Sriov,
                Some("passt") => InterfaceBinding::Plugin("passt".into()),
                _ => InterfaceBinding::Bridge,
            },
            node_selector: n.node_selector.clone(),
        })
        .collect();
    let volumes = profile
        .spec
        .disks
        .iter()
        .map(|d| VolumeAttachment {
            name: d.name.clone(),
            source: if d.image.is_some() {
                VolumeSourceRef::DataVolume(format!("{name}-{}", d.name))
            } else {
                VolumeSourceRef::Claim(format!("{name}-{}", d.name))
            },
            boot_order: d.boot_order,
        })
        .collect();
    TemplateInput {
        profile,
        networks,
        volumes,
        macs: BTreeMap::new(),
        user_data: None,
    }
}

fn seed() -> VirtualMachineProfile {
    valid_profile("web-vm-01")
}

fn with(change: impl FnOnce(&mut VirtualMachineProfile)) -> TemplateInput {
    let mut profile = seed();
    change(&mut profile);
    input(profile)
}

fn cases() -> Vec<(&'static str, TemplateInput)> {
    vec![
        ("seed-web-vm", input(seed())),
        (
            "minimal",
            with(|p| {
                p.spec.networks.clear();
                p.spec.disks.truncate(1);
                p.spec.cloud_init = None;
            }),
        ),
        (
            "cpu-topology",
            with(|p| {
                p.spec.cpu_topology = Some(CpuTopology {
                    sockets: Some(2),
                    threads: Some(2),
                });
            }),
        ),
        (
            "halted",
            with(|p| p.spec.run_strategy = RunStrategy::Halted),
        ),
        (
            "instancetype",
            with(|p| {
                p.spec.cpu = None;
                p.spec.memory = None;
                p.spec.instancetype = Some(vmop_plugin::vmop_api::InstancetypeRef {
                    name: "u1.medium".into(),
                    kind: None,
                });
                p.spec.preference = Some(vmop_plugin::vmop_api::PreferenceRef {
                    name: "team-fedora".into(),
                    kind: Some(vmop_plugin::vmop_api::PreferenceKind::VirtualMachinePreference),
                });
            }),
        ),
        (
            "ha-group",
            with(|p| {
                p.spec.high_availability = true;
                p.metadata.labels =
                    Some(BTreeMap::from([(HA_GROUP_LABEL.into(), "database".into())]));
            }),
        ),
        (
            "ha-without-group",
            with(|p| p.spec.high_availability = true),
        ),
        (
            "sriov",
            with(|p| {
                p.spec.networks = vec![NetworkSpec {
                    name: "fast".into(),
                    type_: Some("sriov".into()),
                    ip_address: Some("10.20.0.15/24".into()),
                    sriov: Some(SriovSpec {
                        resource_name: Some("intel.com/sriov_netdevice".into()),
                        ..SriovSpec::default()
                    }),
                    ..NetworkSpec::default()
                }];
            }),
        ),
        ("user-data-merged", {
            let mut i = input(seed());
            i.user_data = Some("#cloud-config\npackages: [nginx]\nssh_authorized_keys:\n  - ssh-ed25519 AAAAuser user@laptop\n".into());
            i
        }),
        ("user-data-sets-hostname", {
            let mut i = input(seed());
            i.user_data = Some("#cloud-config\nhostname: custom\n".into());
            i
        }),
        ("pinned-macs", {
            let mut i = input(seed());
            i.macs = BTreeMap::from([
                ("default".into(), "02:11:22:33:44:00".into()),
                ("mgmt".into(), "02:11:22:33:44:01".into()),
            ]);
            i
        }),
        ("spec-mac-wins", {
            let mut i = with(|p| p.spec.networks[0].mac_address = Some("06:AA:BB:CC:DD:EE".into()));
            i.macs = BTreeMap::from([("mgmt".into(), "02:11:22:33:44:01".into())]);
            i
        }),
        (
            "whereabouts-dhcp",
            with(|p| {
                p.spec.networks[0].ip_address = None;
                p.spec.networks[0].gateway = None;
                p.spec.networks[0].ipam = Some(IpamSpec {
                    type_: IpamType::Whereabouts,
                    range: Some("10.30.0.0/24".into()),
                    exclude: vec![],
                });
            }),
        ),
        (
            "node-selectors",
            with(|p| {
                p.spec.networks[0].node_selector = Some(BTreeMap::from([(
                    "network.vmoperator.io/eth1".into(),
                    "true".into(),
                )]));
                p.spec.networks[1].node_selector =
                    Some(BTreeMap::from([("zone".into(), "a".into())]));
            }),
        ),
        (
            "binding-plugin",
            with(|p| p.spec.networks[0].type_ = Some("passt".into())),
        ),
        (
            "error-conflicting-selectors",
            with(|p| {
                p.spec.networks[0].node_selector =
                    Some(BTreeMap::from([("zone".into(), "a".into())]));
                p.spec.networks[1].node_selector =
                    Some(BTreeMap::from([("zone".into(), "b".into())]));
            }),
        ),
        (
            "error-network-named-default",
            with(|p| p.spec.networks[1].name = "default".into()),
        ),
        (
            "boot-order-defaults-to-the-image-disk",
            with(|p| {
                p.spec.disks.reverse();
                for disk in &mut p.spec.disks {
                    disk.boot_order = None;
                }
            }),
        ),
        ("pool-member-hostname-is-its-name", {
            let mut i = with(|p| {
                p.metadata.name = Some("web-3".into());
                p.labels_mut().insert(POOL_LABEL.into(), "web".into());
                if let Some(c) = p.spec.cloud_init.as_mut() {
                    c.hostname = None;
                }
            });
            i.user_data = Some("#cloud-config\npackages: [nginx]\n".into());
            i
        }),
        ("error-pool-member-user-data-hostname", {
            let mut i = with(|p| {
                p.metadata.name = Some("web-3".into());
                p.labels_mut().insert(POOL_LABEL.into(), "web".into());
                if let Some(c) = p.spec.cloud_init.as_mut() {
                    c.hostname = None;
                }
            });
            i.user_data = Some("#cloud-config\nhostname: web\n".into());
            i
        }),
        ("error-user-data-script", {
            let mut i = input(seed());
            i.user_data = Some("#!/bin/sh\necho hi\n".into());
            i
        }),
    ]
}

#[tokio::test]
async fn output_matches_the_golden_files() {
    assert!(cases().len() >= 10);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    for (case, input) in cases() {
        let result = CloudInitTemplate.build(&input).await;
        assert_golden(&dir, case, &render_vm(&result));
    }
}

#[tokio::test]
async fn macs_are_stable_and_pinned_ones_are_kept() {
    let first = CloudInitTemplate
        .build(&input(seed()))
        .await
        .expect("builds");
    let again = CloudInitTemplate
        .build(&input(seed()))
        .await
        .expect("builds");
    assert_eq!(first.macs, again.macs);
    assert_eq!(
        first.macs.len(),
        3,
        "pod network and two networks: {:?}",
        first.macs
    );

    // A profile re-created under the same name gets a new UID, hence new MACs, unless the
    // earlier ones are handed back (pinned).
    let mut recreated = input(seed());
    recreated.profile.metadata.uid = Some("another-uid".into());
    let fresh = CloudInitTemplate.build(&recreated).await.expect("builds");
    assert_ne!(fresh.macs, first.macs);
    recreated.macs = first.macs.clone();
    let pinned = CloudInitTemplate.build(&recreated).await.expect("builds");
    assert_eq!(pinned.macs, first.macs);
}

#[tokio::test]
async fn generated_vms_and_secrets_are_accepted_by_the_api_server_unchanged() {
    let ns = TestEnv::shared().namespace("template").await;
    let vms: Api<VirtualMachine> = ns.api();
    let secrets: Api<Secret> = ns.api();
    for (case, mut input) in cases() {
        input.profile.metadata.namespace = Some(ns.name.clone());
        let Ok(desired) = CloudInitTemplate.build(&input).await else {
            continue;
        };
        let mut vm = desired.vm;
        vm.metadata.name = Some(case.to_owned());
        vm.metadata.namespace = Some(ns.name.clone());
        create_unchanged(&vms, &vm)
            .await
            .unwrap_or_else(|e| panic!("{case}: VM {e}"));
        for mut secret in desired.secrets {
            secret.metadata.name = Some(format!("{case}-cloudinit"));
            create_unchanged(&secrets, &secret)
                .await
                .unwrap_or_else(|e| panic!("{case}: Secret {e}"));
        }
    }
}
