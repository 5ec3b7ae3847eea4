//! The `cloud-init` VM template: builds the KubeVirt VirtualMachine of a profile.
//!
//! - CPU (cores, sockets, threads), guest memory, `runStrategy` (never the deprecated
//!   `running`).
//! - The pod network with masquerade binding, then one Multus network and interface per spec
//!   network, with the plugin's binding and a pinned MAC.
//! - Disks on virtio in spec order with boot orders; volumes from the claims and DataVolumes.
//! - A cloud-init NoCloud disk whose user data and network data live in a Secret the operator
//!   owns (KubeVirt caps inline data at 2048 bytes): hostname, SSH keys, the user's own
//!   cloud-config merged in, and network config v2 setting each static address on the
//!   interface matched by MAC.
//! - MACs: the spec's, else the one pinned earlier (from status), else a generated, locally
//!   administered one. Returned so the controller records them: never regenerated.
//! - Node affinity from the networks' node selectors; with high availability, eviction by live
//!   migration and a soft anti-affinity between profiles of the same HA group.

mod bounded_yaml;
mod cloud_config;
mod scheduling;

use std::collections::BTreeMap;

use vmop_plugin::{
    DesiredVm, InterfaceBinding, PluginError, TemplateInput, VMTemplate, VolumeSourceRef,
    async_trait,
    mac::generated_mac,
    names::child_name,
    objects::profile_labels,
    register_vm_template,
    vmop_api::{
        HA_GROUP_LABEL, InstancetypeKind, PreferenceKind, RunStrategy,
        external::{
            Empty,
            instancetype::kind,
            kubevirt::{
                ClaimVolumeSource, CloudInitNoCloud, Cpu, DataVolumeVolumeSource, Devices, Disk,
                DiskTarget, DomainSpec, Interface, LocalObjectReference, Matcher, Memory,
                MultusNetwork, Network, PluginBinding, TemplateMetadata, VirtualMachine,
                VirtualMachineInstanceSpec, VirtualMachineInstanceTemplateSpec, VirtualMachineSpec,
                Volume, eviction_strategy,
            },
        },
        k8s_openapi::{
            ByteString, api::core::v1::Secret, apimachinery::pkg::apis::meta::v1::ObjectMeta,
        },
    },
};

/// The name users select this template by.
pub const NAME: &str = "cloud-init";
/// The VM's network and interface name for the pod network.
pub const POD_NETWORK: &str = "default";
/// The VM's disk and volume name for the cloud-init NoCloud disk.
pub const CLOUD_INIT_DISK: &str = "cloudinitdisk";

register_vm_template!(NAME, CloudInitTemplate);

/// Keeps this crate's registration in a binary that names nothing else from it.
#[inline(never)]
pub fn link() -> &'static str {
    NAME
}

/// Name of the Secret holding a profile's cloud-init user and network data.
pub fn secret_name(profile: &str) -> String {
    child_name(profile, "cloudinit")
}

/// KubeVirt VirtualMachines with a cloud-init NoCloud disk.
#[derive(Debug, Default)]
pub struct CloudInitTemplate;

fn instancetype_kind(kind_of: InstancetypeKind) -> &'static str {
    match kind_of {
        InstancetypeKind::VirtualMachineClusterInstancetype => kind::CLUSTER_INSTANCETYPE,
        InstancetypeKind::VirtualMachineInstancetype => kind::INSTANCETYPE,
    }
}

fn preference_kind(kind_of: PreferenceKind) -> &'static str {
    match kind_of {
        PreferenceKind::VirtualMachineClusterPreference => kind::CLUSTER_PREFERENCE,
        PreferenceKind::VirtualMachinePreference => kind::PREFERENCE,
    }
}

fn run_strategy(strategy: RunStrategy) -> &'static str {
    use vmop_plugin::vmop_api::external::kubevirt::run_strategy as kv;
    match strategy {
        RunStrategy::Always => kv::ALWAYS,
        RunStrategy::Halted => kv::HALTED,
        RunStrategy::Manual => kv::MANUAL,
        RunStrategy::RerunOnFailure => kv::RERUN_ON_FAILURE,
        RunStrategy::Once => kv::ONCE,
    }
}

/// MAC of every interface, pod network included: spec, else pinned, else generated.
fn macs(input: &TemplateInput) -> BTreeMap<String, String> {
    let meta = &input.profile.metadata;
    let seed = |network: &str| {
        format!(
            "{}/{}/{}/{network}",
            meta.namespace.as_deref().unwrap_or_default(),
            meta.name.as_deref().unwrap_or_default(),
            meta.uid.as_deref().unwrap_or_default(),
        )
    };
    let mut names = vec![POD_NETWORK.to_owned()];
    names.extend(input.profile.spec.networks.iter().map(|n| n.name.clone()));
    names
        .into_iter()
        .map(|name| {
            let from_spec = input
                .profile
                .spec
                .networks
                .iter()
                .find(|n| n.name == name)
                .and_then(|n| n.mac_address.clone());
            let mac = from_spec
                .or_else(|| input.macs.get(&name).cloned())
                .unwrap_or_else(|| generated_mac(&seed(&name)))
                .to_lowercase();
            (name, mac)
        })
        .collect()
}

/// The disk that boots when no disk sets `bootOrder`: the first with content (an image, a
/// clone or a DataSource), so a blank data disk listed first never becomes the boot disk by position.
/// `None` when some disk sets a boot order, or none has content.
fn default_boot_disk(input: &TemplateInput) -> Option<&str> {
    let disks = &input.profile.spec.disks;
    if disks.iter().any(|d| d.boot_order.is_some()) {
        return None;
    }
    disks
        .iter()
        .find(|d| {
            d.image.is_some()
                || d.source
                    .as_ref()
                    .is_some_and(|s| s.pvc.is_some() || s.data_source.is_some())
        })
        .map(|d| d.name.as_str())
}

#[async_trait]
impl VMTemplate for CloudInitTemplate {
    fn validate(&self, input: &TemplateInput) -> Result<(), PluginError> {
        let spec = &input.profile.spec;
        for (i, network) in spec.networks.iter().enumerate() {
            if network.name == POD_NETWORK {
                return Err(PluginError::invalid(
                    format!("spec.networks[{i}].name"),
                    "\"default\" is the pod network's name in the VM: choose another",
                ));
            }
        }
        for (i, disk) in spec.disks.iter().enumerate() {
            if disk.name == CLOUD_INIT_DISK {
                return Err(PluginError::invalid(
                    format!("spec.disks[{i}].name"),
                    "\"cloudinitdisk\" is the cloud-init disk's name in the VM: choose another",
                ));
            }
        }
        scheduling::node_affinity(input)?;
        cloud_config::user_data(input)?;
        Ok(())
    }

    async fn build(&self, input: &TemplateInput) -> Result<DesiredVm, PluginError> {
        self.validate(input)?;
        let profile = &input.profile;
        let name = profile.metadata.name.clone().unwrap_or_default();
        let namespace = profile.metadata.namespace.clone().unwrap_or_default();
        let spec = &profile.spec;
        let macs = macs(input);
        let secret_name = secret_name(&name);
        let labels = profile_labels(&vmop_plugin::ProfileRef {
            name: name.clone(),
            namespace: namespace.clone(),
            labels: BTreeMap::new(),
        });

        let (interfaces, networks) = network_devices(input, &macs);
        let (disks, volumes) = storage_devices(input, &secret_name);
        let mut template_labels = labels.clone();
        let ha_group = profile
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(HA_GROUP_LABEL))
            .filter(|_| spec.high_availability);
        if let Some(group) = ha_group {
            template_labels.insert(HA_GROUP_LABEL.into(), group.clone());
        }
        let instance = VirtualMachineInstanceSpec {
            domain: domain(spec, disks, interfaces),
            networks,
            volumes,
            affinity: scheduling::affinity(input)?,
            eviction_strategy: spec
                .high_availability
                .then(|| eviction_strategy::LIVE_MIGRATE.to_owned()),
            ..VirtualMachineInstanceSpec::default()
        };
        let vm = VirtualMachine {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.clone()),
                labels: Some(labels.clone()),
                ..ObjectMeta::default()
            },
            spec: VirtualMachineSpec {
                run_strategy: Some(run_strategy(spec.run_strategy).to_owned()),
                instancetype: spec.instancetype.as_ref().map(|i| Matcher {
                    name: i.name.clone(),
                    kind: Some(instancetype_kind(i.kind.unwrap_or_default()).into()),
                    ..Matcher::default()
                }),
                preference: spec.preference.as_ref().map(|p| Matcher {
                    name: p.name.clone(),
                    kind: Some(preference_kind(p.kind.unwrap_or_default()).into()),
                    ..Matcher::default()
                }),
                template: Some(VirtualMachineInstanceTemplateSpec {
                    metadata: Some(TemplateMetadata {
                        labels: template_labels,
                        ..TemplateMetadata::default()
                    }),
                    spec: Some(instance),
                }),
                ..VirtualMachineSpec::default()
            },
            status: None,
        };
        let secret = user_data_secret(input, &macs, secret_name, namespace, labels)?;
        Ok(DesiredVm {
            vm,
            secrets: vec![secret],
            macs,
        })
    }
}

/// The pod network (masquerade) and one Multus network per attachment, each interface with
/// its plugin's binding and its MAC.
fn network_devices(
    input: &TemplateInput,
    macs: &BTreeMap<String, String>,
) -> (Vec<Interface>, Vec<Network>) {
    let mut interfaces = vec![Interface {
        name: POD_NETWORK.into(),
        masquerade: Some(Empty::default()),
        mac_address: macs.get(POD_NETWORK).cloned(),
        ..Interface::default()
    }];
    let mut networks = vec![Network {
        name: POD_NETWORK.into(),
        pod: Some(Empty::default()),
        ..Network::default()
    }];
    for attachment in &input.networks {
        let mut interface = Interface {
            name: attachment.name.clone(),
            mac_address: macs.get(&attachment.name).cloned(),
            ..Interface::default()
        };
        match &attachment.binding {
            InterfaceBinding::Bridge => interface.bridge = Some(Empty::default()),
            InterfaceBinding::Sriov => interface.sriov = Some(Empty::default()),
            InterfaceBinding::Plugin(plugin) => {
                interface.binding = Some(PluginBinding {
                    name: plugin.clone(),
                })
            }
        }
        interfaces.push(interface);
        networks.push(Network {
            name: attachment.name.clone(),
            multus: Some(MultusNetwork {
                network_name: attachment.nad.clone(),
                ..MultusNetwork::default()
            }),
            ..Network::default()
        });
    }

    (interfaces, networks)
}

/// One virtio disk per volume in spec order (the boot disk first, unless orders are given),
/// then the cloud-init NoCloud disk reading the Secret `secret_name`.
fn storage_devices(input: &TemplateInput, secret_name: &str) -> (Vec<Disk>, Vec<Volume>) {
    let virtio = || {
        Some(DiskTarget {
            bus: Some("virtio".into()),
            ..DiskTarget::default()
        })
    };
    let default_boot = default_boot_disk(input);
    let mut disks = Vec::new();
    let mut volumes = Vec::new();
    for attachment in &input.volumes {
        let boot_order = attachment
            .boot_order
            .and_then(|o| u32::try_from(o).ok())
            .or_else(|| (default_boot == Some(attachment.name.as_str())).then_some(1));
        disks.push(Disk {
            name: attachment.name.clone(),
            disk: virtio(),
            boot_order,
            ..Disk::default()
        });
        let mut volume = Volume {
            name: attachment.name.clone(),
            ..Volume::default()
        };
        match &attachment.source {
            VolumeSourceRef::Claim(claim) => {
                volume.persistent_volume_claim = Some(ClaimVolumeSource {
                    claim_name: claim.clone(),
                    ..ClaimVolumeSource::default()
                })
            }
            VolumeSourceRef::DataVolume(dv) => {
                volume.data_volume = Some(DataVolumeVolumeSource {
                    name: dv.clone(),
                    ..DataVolumeVolumeSource::default()
                })
            }
        }
        volumes.push(volume);
    }
    disks.push(Disk {
        name: CLOUD_INIT_DISK.into(),
        disk: virtio(),
        ..Disk::default()
    });
    volumes.push(Volume {
        name: CLOUD_INIT_DISK.into(),
        cloud_init_no_cloud: Some(CloudInitNoCloud {
            secret_ref: Some(LocalObjectReference {
                name: secret_name.to_owned(),
            }),
            network_data_secret_ref: Some(LocalObjectReference {
                name: secret_name.to_owned(),
            }),
            ..CloudInitNoCloud::default()
        }),
        ..Volume::default()
    });

    (disks, volumes)
}

/// CPU, memory and devices. With an instancetype, KubeVirt refuses a template that sets CPU
/// or memory; with liveUpdate, KubeVirt may change sockets and guest memory of the running VM
/// up to maxSockets and maxGuest.
fn domain(
    spec: &vmop_plugin::vmop_api::VirtualMachineProfileSpec,
    disks: Vec<Disk>,
    interfaces: Vec<Interface>,
) -> DomainSpec {
    let topology = spec.cpu_topology.clone().unwrap_or_default();
    DomainSpec {
        // With an instancetype, KubeVirt refuses a template that sets CPU or memory.
        // With liveUpdate, KubeVirt may change sockets and guest memory of the running
        // VM up to maxSockets and maxGuest.
        cpu: spec.cpu.map(|cores| Cpu {
            cores: u32::try_from(cores).ok(),
            sockets: topology
                .sockets
                .or(spec.live_update.as_ref().map(|_| 1))
                .and_then(|s| u32::try_from(s).ok()),
            threads: topology.threads.and_then(|t| u32::try_from(t).ok()),
            max_sockets: spec
                .live_update
                .as_ref()
                .and_then(|l| u32::try_from(l.max_sockets).ok()),
            ..Cpu::default()
        }),
        memory: spec.memory.clone().map(|guest| Memory {
            guest: Some(guest),
            max_guest: spec.live_update.as_ref().map(|l| l.max_memory.clone()),
            ..Memory::default()
        }),
        devices: Devices {
            disks,
            interfaces,
            ..Devices::default()
        },
        ..DomainSpec::default()
    }
}

/// The Secret with the guest's user data and network data (KubeVirt caps inline data at
/// 2048 bytes).
fn user_data_secret(
    input: &TemplateInput,
    macs: &BTreeMap<String, String>,
    name: String,
    namespace: String,
    labels: BTreeMap<String, String>,
) -> Result<Secret, PluginError> {
    Ok(Secret {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(namespace),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".into()),
        data: Some(BTreeMap::from([
            (
                "userdata".to_owned(),
                ByteString(cloud_config::user_data(input)?.into_bytes()),
            ),
            (
                "networkdata".to_owned(),
                ByteString(cloud_config::network_data(input, macs)?.into_bytes()),
            ),
        ])),
        ..Secret::default()
    })
}
