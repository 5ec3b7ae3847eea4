//! Profiles for tests: a valid one, and a table of invalid ones with the exact error each must
//! produce. The same table runs against [`crate::validate`] (unit tests) and against the real
//! API server with the installed CRD (control-plane tests), so the two cannot drift apart.

use crate::{
    messages as msg,
    profile::{
        AccessMode, CloudInitSpec, CpuTopology, DiskSource, DiskSpec, InstancetypeRef, IpamSpec,
        IpamType, IsolationPort, IsolationSpec, LiveUpdateSpec, NetworkSpec, PreferenceRef,
        PullMethod, SourceReference, SriovSpec, VirtualMachineProfile, VirtualMachineProfileSpec,
    },
};

/// The seed document's web-vm-01: two networks, an image disk and a data disk, cloud-init.
pub fn valid_profile(name: &str) -> VirtualMachineProfile {
    VirtualMachineProfile::new(
        name,
        VirtualMachineProfileSpec {
            cpu: Some(4),
            cpu_topology: None,
            memory: Some("8Gi".into()),
            instancetype: None,
            preference: None,
            run_strategy: Default::default(),
            high_availability: false,
            isolation: None,
            live_update: None,
            networks: vec![
                NetworkSpec {
                    name: "mgmt".into(),
                    type_: Some("bridge".into()),
                    bridge: Some("br-mgmt".into()),
                    vlan: Some(100),
                    node_interface: Some("eth1".into()),
                    ip_address: Some("192.168.100.10/24".into()),
                    gateway: Some("192.168.100.1".into()),
                    ..NetworkSpec::default()
                },
                NetworkSpec {
                    name: "business".into(),
                    nad_name: Some("business-net".into()),
                    ..NetworkSpec::default()
                },
            ],
            disks: vec![
                DiskSpec {
                    name: "system".into(),
                    size: "80Gi".into(),
                    storage_class_name: Some("huamei-sc-ssd".into()),
                    image: Some("docker://registry.example.com/centos-stream:8".into()),
                    boot_order: Some(1),
                    ..DiskSpec::default()
                },
                DiskSpec {
                    name: "data".into(),
                    size: "200Gi".into(),
                    storage_class_name: Some("huamei-sc-ssd".into()),
                    ..DiskSpec::default()
                },
            ],
            cloud_init: Some(CloudInitSpec {
                hostname: Some("web-vm-01".into()),
                ssh_authorized_keys: vec![
                    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOps ops@example".into(),
                ],
                user_data_secret_ref: None,
            }),
            disk_retention_policy: Default::default(),
            template: None,
        },
    )
}

/// One invalid profile and the error it must produce.
#[derive(Debug)]
pub struct InvalidCase {
    /// What is wrong, for test output.
    pub description: &'static str,
    /// The invalid profile.
    pub profile: VirtualMachineProfile,
    /// The field path both validators report.
    pub path: &'static str,
    /// The message [`crate::validate`] reports (from [`crate::messages`]).
    pub message: String,
    /// What the API server says instead, where its own schema check words it (duplicates,
    /// root-level rules without a field path); `None` when it says [`Self::message`].
    pub api_server_message: Option<&'static str>,
    /// The path the API server reports, where it differs from [`Self::path`].
    pub api_server_path: Option<&'static str>,
}

fn case(
    description: &'static str,
    path: &'static str,
    message: &str,
    change: impl FnOnce(&mut VirtualMachineProfile),
) -> InvalidCase {
    let mut profile = valid_profile("web-vm-01");
    change(&mut profile);
    InvalidCase {
        description,
        profile,
        path,
        message: message.to_owned(),
        api_server_message: None,
        api_server_path: None,
    }
}

fn first_network(p: &mut VirtualMachineProfile) -> &mut NetworkSpec {
    &mut p.spec.networks[0]
}

fn first_disk(p: &mut VirtualMachineProfile) -> &mut DiskSpec {
    &mut p.spec.disks[0]
}

/// A cluster-wide instancetype reference.
pub fn instancetype(name: &str) -> InstancetypeRef {
    InstancetypeRef {
        name: name.into(),
        kind: None,
    }
}

/// Invalid profiles, each wrong in exactly one way.
pub fn invalid_cases() -> Vec<InvalidCase> {
    let mut cases = vec![
        case("no CPU", "spec.cpu", msg::CPU_RANGE, |p| {
            p.spec.cpu = Some(0)
        }),
        case(
            "a network named like the guest's loopback",
            "spec.networks[0].name",
            msg::GUEST_INTERFACE_RESERVED,
            |p| p.spec.networks[0].name = "lo".into(),
        ),
        case(
            "a network named like the guest's first NIC",
            "spec.networks[1].name",
            msg::GUEST_INTERFACE_RESERVED,
            |p| p.spec.networks[1].name = "eth0".into(),
        ),
        case(
            "a network with a predictable interface name of the guest",
            "spec.networks[0].name",
            msg::GUEST_INTERFACE_RESERVED,
            |p| p.spec.networks[0].name = "enp1s0".into(),
        ),
        case(
            "a network named like a USB NIC's MAC-based name",
            "spec.networks[0].name",
            msg::GUEST_INTERFACE_RESERVED,
            |p| p.spec.networks[0].name = "enx0e7850228d33".into(),
        ),
        case(
            "cpu together with an instancetype",
            "spec.instancetype",
            msg::INSTANCETYPE_EXCLUSIVE,
            |p| p.spec.instancetype = Some(instancetype("u1.medium")),
        ),
        case(
            "memory and cpuTopology together with an instancetype",
            "spec.instancetype",
            msg::INSTANCETYPE_EXCLUSIVE,
            |p| {
                p.spec.cpu = None;
                p.spec.cpu_topology = Some(CpuTopology {
                    sockets: Some(2),
                    threads: None,
                });
                p.spec.instancetype = Some(instancetype("u1.medium"));
            },
        ),
        case(
            "neither cpu nor an instancetype",
            "spec",
            msg::SIZE_REQUIRED,
            |p| p.spec.cpu = None,
        ),
        case("memory missing", "spec", msg::SIZE_REQUIRED, |p| {
            p.spec.memory = None
        }),
        case(
            "an instancetype name that is not a DNS subdomain",
            "spec.instancetype.name",
            msg::KUBEVIRT_OBJECT_NAME,
            |p| {
                p.spec.cpu = None;
                p.spec.memory = None;
                p.spec.instancetype = Some(instancetype("U1_Medium"));
            },
        ),
        case(
            "a preference name that is not a DNS subdomain",
            "spec.preference.name",
            msg::KUBEVIRT_OBJECT_NAME,
            |p| {
                p.spec.preference = Some(PreferenceRef {
                    name: "Fedora!".into(),
                    kind: None,
                })
            },
        ),
        case("too many cores", "spec.cpu", msg::CPU_RANGE, |p| {
            p.spec.cpu = Some(300)
        }),
        case(
            "zero sockets",
            "spec.cpuTopology.sockets",
            msg::SOCKETS_RANGE,
            |p| {
                p.spec.cpu_topology = Some(CpuTopology {
                    sockets: Some(0),
                    threads: None,
                })
            },
        ),
        case(
            "too many threads",
            "spec.cpuTopology.threads",
            msg::THREADS_RANGE,
            |p| {
                p.spec.cpu_topology = Some(CpuTopology {
                    sockets: None,
                    threads: Some(9),
                })
            },
        ),
        case(
            "memory in a unit Kubernetes does not know",
            "spec.memory",
            msg::MEMORY_QUANTITY,
            |p| p.spec.memory = Some("8GB".into()),
        ),
        case("zero memory", "spec.memory", msg::MEMORY_QUANTITY, |p| {
            p.spec.memory = Some("0".into())
        }),
        case(
            "network name with capitals",
            "spec.networks[0].name",
            msg::ENTRY_NAME,
            |p| first_network(p).name = "Mgmt".into(),
        ),
        case(
            "network name with '--' (the derived-name separator)",
            "spec.networks[0].name",
            msg::ENTRY_NAME,
            |p| first_network(p).name = "b--c".into(),
        ),
        case(
            "disk name with '--' (the derived-name separator)",
            "spec.disks[0].name",
            msg::ENTRY_NAME,
            |p| first_disk(p).name = "sys--tem".into(),
        ),
        case(
            "network type that is no plugin name",
            "spec.networks[0].type",
            msg::PLUGIN_NAME,
            |p| first_network(p).type_ = Some("SR-IOV".into()),
        ),
        case("VLAN 0", "spec.networks[0].vlan", msg::VLAN_RANGE, |p| {
            first_network(p).vlan = Some(0)
        }),
        case("VLAN 4095", "spec.networks[0].vlan", msg::VLAN_RANGE, |p| {
            first_network(p).vlan = Some(4095)
        }),
        case(
            "MTU below IPv4's minimum",
            "spec.networks[0].mtu",
            msg::MTU_RANGE,
            |p| first_network(p).mtu = Some(100),
        ),
        case(
            "bridge name with a space",
            "spec.networks[0].bridge",
            msg::INTERFACE_NAME,
            |p| first_network(p).bridge = Some("br mgmt".into()),
        ),
        case(
            "node interface starting with '-'",
            "spec.networks[0].nodeInterface",
            msg::INTERFACE_NAME,
            |p| first_network(p).node_interface = Some("-eth1".into()),
        ),
        case(
            "address without prefix length",
            "spec.networks[0].ipAddress",
            msg::CIDR,
            |p| first_network(p).ip_address = Some("192.168.100.10".into()),
        ),
        case(
            "IPv4 prefix longer than 32",
            "spec.networks[0].ipAddress",
            msg::CIDR,
            |p| first_network(p).ip_address = Some("192.168.100.10/33".into()),
        ),
        case(
            "truncated gateway",
            "spec.networks[0].gateway",
            msg::IP,
            |p| first_network(p).gateway = Some("192.168.100".into()),
        ),
        case(
            "gateway without an address",
            "spec.networks[0].gateway",
            msg::GATEWAY_WITHOUT_ADDRESS,
            |p| first_network(p).ip_address = None,
        ),
        case(
            "multicast MAC",
            "spec.networks[0].macAddress",
            msg::MAC,
            |p| first_network(p).mac_address = Some("03:00:00:00:00:01".into()),
        ),
        case(
            "existing NAD with a bridge",
            "spec.networks[1].nadName",
            msg::NAD_EXCLUSIVE,
            |p| p.spec.networks[1].bridge = Some("br-biz".into()),
        ),
        case(
            "NAD name with two slashes",
            "spec.networks[1].nadName",
            msg::NAD_NAME,
            |p| p.spec.networks[1].nad_name = Some("a/b/c".into()),
        ),
        case(
            "static IPAM without an address",
            "spec.networks[0].ipam",
            msg::IPAM_STATIC_NEEDS_ADDRESS,
            |p| {
                let n = first_network(p);
                n.ip_address = None;
                n.gateway = None;
                n.ipam = Some(IpamSpec {
                    type_: IpamType::Static,
                    range: None,
                    exclude: Vec::new(),
                });
            },
        ),
        case(
            "whereabouts range without prefix",
            "spec.networks[0].ipam.range",
            msg::WHEREABOUTS_RANGE,
            |p| {
                let n = first_network(p);
                n.ip_address = None;
                n.gateway = None;
                n.ipam = Some(IpamSpec {
                    type_: IpamType::Whereabouts,
                    range: Some("10.0.0.0".into()),
                    exclude: Vec::new(),
                })
            },
        ),
        case(
            "zero SR-IOV VFs",
            "spec.networks[0].sriov.numVfs",
            msg::NUM_VFS_RANGE,
            |p| {
                first_network(p).sriov = Some(SriovSpec {
                    num_vfs: Some(0),
                    ..SriovSpec::default()
                })
            },
        ),
        case(
            "empty disk",
            "spec.disks[0].size",
            msg::SIZE_QUANTITY,
            |p| first_disk(p).size = "0Gi".into(),
        ),
        case(
            "image over FTP",
            "spec.disks[0].image",
            msg::IMAGE_SCHEME,
            |p| first_disk(p).image = Some("ftp://images.example.com/centos.qcow2".into()),
        ),
        case(
            "image and a clone source",
            "spec.disks[0].source",
            msg::IMAGE_OR_SOURCE,
            |p| {
                first_disk(p).source = Some(DiskSource {
                    pvc: Some(SourceReference {
                        name: "golden".into(),
                        namespace: None,
                    }),
                    ..DiskSource::default()
                })
            },
        ),
        case(
            "two sources at once",
            "spec.disks[1].source",
            msg::ONE_SOURCE,
            |p| {
                p.spec.disks[1].source = Some(DiskSource {
                    pvc: Some(SourceReference {
                        name: "golden".into(),
                        namespace: None,
                    }),
                    data_source: None,
                    blank: Some(true),
                })
            },
        ),
        case(
            "pull method for an HTTP image",
            "spec.disks[0].pullMethod",
            msg::PULL_METHOD_NEEDS_REGISTRY,
            |p| {
                let d = first_disk(p);
                d.image = Some("https://images.example.com/centos.qcow2".into());
                d.pull_method = Some(PullMethod::Node);
            },
        ),
        case(
            "boot order 0",
            "spec.disks[0].bootOrder",
            msg::BOOT_ORDER_RANGE,
            |p| first_disk(p).boot_order = Some(0),
        ),
        case(
            "two disks boot first",
            "spec.disks",
            msg::BOOT_ORDER_UNIQUE,
            |p| p.spec.disks[1].boot_order = Some(1),
        ),
        case(
            "storage class with capitals",
            "spec.disks[1].storageClassName",
            msg::STORAGE_CLASS_NAME,
            |p| p.spec.disks[1].storage_class_name = Some("Fast_SSD".into()),
        ),
        case(
            "high availability on a ReadWriteOnce disk",
            "spec.disks",
            msg::HA_NEEDS_RWX,
            |p| {
                p.spec.high_availability = true;
                p.spec.disks[1].access_modes = Some(vec![AccessMode::ReadWriteOnce]);
            },
        ),
        case(
            "hostname with an underscore",
            "spec.cloudInit.hostname",
            msg::HOSTNAME,
            |p| {
                if let Some(c) = p.spec.cloud_init.as_mut() {
                    c.hostname = Some("web_01".into());
                }
            },
        ),
        case(
            "SSH key that is a password",
            "spec.cloudInit.sshAuthorizedKeys",
            msg::SSH_KEY,
            |p| {
                if let Some(c) = p.spec.cloud_init.as_mut() {
                    c.ssh_authorized_keys = vec!["hunter2".into()];
                }
            },
        ),
        case(
            "network name that makes the NAD name too long",
            "spec.networks",
            msg::DERIVED_NETWORK_NAME_TOO_LONG,
            |p| {
                p.metadata.name = Some("a".repeat(40));
                first_network(p).name = "n".repeat(30);
            },
        ),
        case(
            "disk name that makes the claim name too long",
            "spec.disks",
            msg::DERIVED_DISK_NAME_TOO_LONG,
            |p| {
                p.metadata.name = Some("a".repeat(40));
                first_disk(p).name = "d".repeat(30);
            },
        ),
    ];

    cases.extend(hostile_cases());

    let mut long_name = case(
        "profile name too long for derived names",
        "metadata.name",
        msg::PROFILE_NAME_TOO_LONG,
        |p| {
            p.metadata.name = Some("w".repeat(53));
            p.spec.networks.clear();
            p.spec.disks.clear();
        },
    );
    // A root-level CEL rule cannot point into metadata: the API server reports no field.
    long_name.api_server_path = Some("<nil>");
    cases.push(long_name);
    let mut dotted = case(
        "profile name with a dot",
        "metadata.name",
        msg::PROFILE_NAME_LABEL,
        |p| p.metadata.name = Some("web.vm".into()),
    );
    dotted.api_server_path = Some("<nil>");
    cases.push(dotted);

    let mut duplicate = case(
        "two networks with one name",
        "spec.networks[1]",
        "Duplicate value: name \"mgmt\"",
        |p| {
            p.spec.networks[1].name = "mgmt".into();
        },
    );
    // listType=map makes the API server itself refuse duplicate keys, in its own words.
    duplicate.api_server_message = Some("Duplicate value");
    cases.push(duplicate);

    cases
}

/// Mistakes a hostile or careless tenant makes that only semantic rules catch: whole bytes,
/// vCPU totals, address semantics, URLs with credentials, empty lists.
fn hostile_cases() -> Vec<InvalidCase> {
    vec![
        case(
            "memory of one and a half bytes",
            "spec.memory",
            msg::MEMORY_QUANTITY,
            |p| p.spec.memory = Some("1.5".into()),
        ),
        case(
            "memory in millibytes",
            "spec.memory",
            msg::MEMORY_QUANTITY,
            |p| p.spec.memory = Some("100m".into()),
        ),
        case(
            "memory below 64Mi",
            "spec.memory",
            msg::MEMORY_QUANTITY,
            |p| p.spec.memory = Some("1Mi".into()),
        ),
        case(
            "disk size in millibytes",
            "spec.disks[0].size",
            msg::SIZE_QUANTITY,
            |p| first_disk(p).size = "100m".into(),
        ),
        case(
            "disk of a few bytes",
            "spec.disks[0].size",
            msg::SIZE_QUANTITY,
            |p| first_disk(p).size = "512".into(),
        ),
        case(
            "256 cores on 16 sockets",
            "spec.cpuTopology",
            msg::VCPUS_RANGE,
            |p| {
                p.spec.cpu = Some(256);
                p.spec.cpu_topology = Some(CpuTopology {
                    sockets: Some(16),
                    threads: None,
                })
            },
        ),
        case(
            "64 cores with 8 threads",
            "spec.cpuTopology",
            msg::VCPUS_RANGE,
            |p| {
                p.spec.cpu = Some(64);
                p.spec.cpu_topology = Some(CpuTopology {
                    sockets: None,
                    threads: Some(8),
                })
            },
        ),
        case(
            "gateway outside the subnet",
            "spec.networks[0].gateway",
            msg::GATEWAY_OUTSIDE_SUBNET,
            |p| first_network(p).gateway = Some("192.168.200.1".into()),
        ),
        case(
            "IPv6 gateway for an IPv4 address",
            "spec.networks[0].gateway",
            msg::GATEWAY_OUTSIDE_SUBNET,
            |p| first_network(p).gateway = Some("fd00::1".into()),
        ),
        case(
            "two default gateways",
            "spec.networks",
            msg::ONE_DEFAULT_GATEWAY,
            |p| {
                p.spec.networks[1] = NetworkSpec {
                    name: "second".into(),
                    bridge: Some("br-second".into()),
                    ip_address: Some("10.1.0.5/24".into()),
                    gateway: Some("10.1.0.1".into()),
                    ..NetworkSpec::default()
                };
            },
        ),
        case(
            "one address on two networks",
            "spec.networks",
            msg::DUPLICATE_ADDRESS,
            |p| {
                p.spec.networks[1] = NetworkSpec {
                    name: "second".into(),
                    bridge: Some("br-second".into()),
                    ip_address: Some("192.168.100.10/16".into()),
                    ..NetworkSpec::default()
                };
            },
        ),
        case(
            "one MAC on two networks",
            "spec.networks",
            msg::DUPLICATE_MAC,
            |p| {
                first_network(p).mac_address = Some("02:00:00:00:00:01".into());
                p.spec.networks[1] = NetworkSpec {
                    name: "second".into(),
                    bridge: Some("br-second".into()),
                    mac_address: Some("02:00:00:00:00:01".into()),
                    ..NetworkSpec::default()
                };
            },
        ),
        case(
            "all-zero MAC",
            "spec.networks[0].macAddress",
            msg::ZERO_MAC,
            |p| first_network(p).mac_address = Some("00:00:00:00:00:00".into()),
        ),
        case(
            "whereabouts without a range",
            "spec.networks[0].ipam.range",
            msg::WHEREABOUTS_NEEDS_RANGE,
            |p| {
                let n = first_network(p);
                n.ip_address = None;
                n.gateway = None;
                n.ipam = Some(IpamSpec {
                    type_: IpamType::Whereabouts,
                    range: None,
                    exclude: vec![],
                });
            },
        ),
        case(
            "live update below the sockets the VM has",
            "spec.liveUpdate.maxSockets",
            msg::LIVE_UPDATE_SOCKETS_BELOW,
            |p| {
                p.spec.cpu_topology = Some(CpuTopology {
                    sockets: Some(4),
                    threads: None,
                });
                p.spec.live_update = Some(LiveUpdateSpec {
                    max_sockets: 2,
                    max_memory: "64Gi".into(),
                });
            },
        ),
        case(
            "live update below the memory the VM has",
            "spec.liveUpdate.maxMemory",
            msg::LIVE_UPDATE_MEMORY_BELOW,
            |p| {
                p.spec.live_update = Some(LiveUpdateSpec {
                    max_sockets: 4,
                    max_memory: "1Gi".into(),
                });
            },
        ),
        case(
            "live update with an instancetype",
            "spec.liveUpdate",
            msg::LIVE_UPDATE_NEEDS_SIZE,
            |p| {
                p.spec.cpu = None;
                p.spec.memory = None;
                p.spec.instancetype = Some(instancetype("u1.medium"));
                p.spec.live_update = Some(LiveUpdateSpec {
                    max_sockets: 4,
                    max_memory: "16Gi".into(),
                });
            },
        ),
        case(
            "isolation port 0",
            "spec.isolation.ports[0].port",
            msg::ISOLATION_PORT,
            |p| {
                p.spec.isolation = Some(IsolationSpec {
                    ports: vec![IsolationPort {
                        port: 0,
                        ..IsolationPort::default()
                    }],
                    ..IsolationSpec::default()
                });
            },
        ),
        case(
            "isolation source that is not a CIDR",
            "spec.isolation.cidrs",
            msg::ISOLATION_CIDR,
            |p| {
                p.spec.isolation = Some(IsolationSpec {
                    cidrs: vec!["10.0.0.0/8".into(), "office".into()],
                    ..IsolationSpec::default()
                });
            },
        ),
        case(
            "whereabouts excluding a name",
            "spec.networks[0].ipam.exclude",
            msg::WHEREABOUTS_EXCLUDE,
            |p| {
                let n = first_network(p);
                n.ip_address = None;
                n.gateway = None;
                n.ipam = Some(IpamSpec {
                    type_: IpamType::Whereabouts,
                    range: Some("10.30.0.0/24".into()),
                    exclude: vec!["gateway".into()],
                });
            },
        ),
        case(
            "whereabouts with a static address",
            "spec.networks[0].ipAddress",
            msg::WHEREABOUTS_WITH_ADDRESS,
            |p| {
                let n = first_network(p);
                n.gateway = None;
                n.ipam = Some(IpamSpec {
                    type_: IpamType::Whereabouts,
                    range: Some("192.168.100.0/24".into()),
                    exclude: vec![],
                });
            },
        ),
        case(
            "SR-IOV resource name without a domain",
            "spec.networks[0].sriov.resourceName",
            msg::RESOURCE_NAME,
            |p| {
                first_network(p).sriov = Some(SriovSpec {
                    resource_name: Some("sriov nics".into()),
                    ..SriovSpec::default()
                })
            },
        ),
        case(
            "image URL with credentials",
            "spec.disks[0].image",
            msg::IMAGE_URL,
            |p| {
                first_disk(p).image = Some("https://admin:secret@images.example.com/f.qcow2".into())
            },
        ),
        case(
            "image URL with a space",
            "spec.disks[0].image",
            msg::IMAGE_URL,
            |p| first_disk(p).image = Some("docker://registry.example.com/my image:1".into()),
        ),
        case(
            "no access modes",
            "spec.disks[1].accessModes",
            msg::ACCESS_MODES_EMPTY,
            |p| p.spec.disks[1].access_modes = Some(vec![]),
        ),
        case(
            "blank: false",
            "spec.disks[1].source.blank",
            msg::BLANK_TRUE,
            |p| {
                p.spec.disks[1].source = Some(DiskSource {
                    blank: Some(false),
                    ..DiskSource::default()
                })
            },
        ),
        case(
            "storage class with an empty label",
            "spec.disks[1].storageClassName",
            msg::STORAGE_CLASS_NAME,
            |p| p.spec.disks[1].storage_class_name = Some("fast..ssd".into()),
        ),
        case(
            "NAD name with an empty label",
            "spec.networks[1].nadName",
            msg::NAD_NAME,
            |p| p.spec.networks[1].nad_name = Some("team/business..net".into()),
        ),
    ]
}

/// Invalid profiles that only the controller refuses (see
/// [`validate_semantics`](crate::validate::validate_semantics)): the API server accepts them,
/// and the profile gets `Ready=False`, reason InvalidSpec, naming the field.
pub fn semantic_cases() -> Vec<InvalidCase> {
    let static_address = |p: &mut VirtualMachineProfile, address: &str| {
        let n = first_network(p);
        n.ip_address = Some(address.into());
        n.gateway = None;
    };
    vec![
        case(
            "the subnet's network address",
            "spec.networks[0].ipAddress",
            msg::NETWORK_ADDRESS,
            |p| static_address(p, "192.168.100.0/24"),
        ),
        case(
            "an IPv6 subnet's network address",
            "spec.networks[0].ipAddress",
            msg::NETWORK_ADDRESS,
            |p| static_address(p, "fd00:10::/64"),
        ),
        case(
            "the subnet's broadcast address",
            "spec.networks[0].ipAddress",
            msg::BROADCAST_ADDRESS,
            |p| static_address(p, "192.168.100.255/24"),
        ),
    ]
}

/// An invalid pool, wrong in exactly one way, and the error both validators report.
#[derive(Debug, Clone)]
pub struct InvalidPoolCase {
    /// What is wrong, in words.
    pub description: &'static str,
    /// The invalid pool.
    pub pool: crate::pool::VirtualMachineProfilePool,
    /// The field path both validators name.
    pub path: &'static str,
    /// The message both validators give.
    pub message: &'static str,
    /// The path the API server reports, where it differs (root rules on metadata: `<nil>`).
    pub api_server_path: Option<&'static str>,
}

/// A valid pool: three web VMs on the seed's business network with addresses from a range.
pub fn valid_pool(name: &str) -> crate::pool::VirtualMachineProfilePool {
    use crate::pool::{AddressPool, ProfileTemplate, VirtualMachineProfilePoolSpec};
    let mut spec = valid_profile("template").spec;
    // The pool gives each member its address, MAC and gateway.
    let mut gateway = None;
    for network in &mut spec.networks {
        network.ip_address = None;
        network.mac_address = None;
        gateway = gateway.or(network.gateway.take());
    }
    // Each member's hostname is its name.
    if let Some(cloud_init) = spec.cloud_init.as_mut() {
        cloud_init.hostname = None;
    }
    let network = spec.networks[0].name.clone();
    crate::pool::VirtualMachineProfilePool::new(
        name,
        VirtualMachineProfilePoolSpec {
            replicas: 3,
            template: ProfileTemplate {
                metadata: None,
                spec,
            },
            addresses: vec![AddressPool {
                network,
                range: "192.168.100.10-192.168.100.60/24".into(),
                gateway,
                exclude: vec![],
            }],
        },
    )
}

fn pool_case(
    description: &'static str,
    path: &'static str,
    message: &'static str,
    change: impl FnOnce(&mut crate::pool::VirtualMachineProfilePool),
) -> InvalidPoolCase {
    let mut pool = valid_pool("web");
    change(&mut pool);
    InvalidPoolCase {
        description,
        pool,
        path,
        message,
        api_server_path: path.starts_with("metadata.").then_some("<nil>"),
    }
}

/// Invalid pools, each wrong in exactly one way.
pub fn invalid_pool_cases() -> Vec<InvalidPoolCase> {
    vec![
        pool_case(
            "negative replicas",
            "spec.replicas",
            msg::POOL_REPLICAS_RANGE,
            |p| p.spec.replicas = -1,
        ),
        pool_case(
            "too many replicas",
            "spec.replicas",
            msg::POOL_REPLICAS_RANGE,
            |p| p.spec.replicas = 1001,
        ),
        pool_case(
            "a pool name too long for its members",
            "metadata.name",
            msg::POOL_NAME_TOO_LONG,
            |p| p.metadata.name = Some("p".repeat(49)),
        ),
        pool_case(
            "addresses for a network the template lacks",
            "spec.addresses",
            msg::POOL_ADDRESS_NETWORK,
            |p| p.spec.addresses[0].network = "storage".into(),
        ),
        pool_case(
            "a template network with its own address",
            "spec.addresses",
            msg::POOL_ADDRESS_SET_IN_TEMPLATE,
            |p| p.spec.template.spec.networks[0].ip_address = Some("10.0.0.5/24".into()),
        ),
        pool_case(
            "a template hostname every member would share",
            "spec.template.spec.cloudInit.hostname",
            msg::POOL_TEMPLATE_HOSTNAME,
            |p| {
                if let Some(c) = p.spec.template.spec.cloud_init.as_mut() {
                    c.hostname = Some("web".into());
                }
            },
        ),
        pool_case(
            "a range without a prefix length",
            "spec.addresses[0].range",
            msg::POOL_RANGE_FORMAT,
            |p| p.spec.addresses[0].range = "10.0.0.1-10.0.0.9".into(),
        ),
        pool_case(
            "a pool gateway that is not an IP address",
            "spec.addresses[0].gateway",
            msg::IP,
            |p| p.spec.addresses[0].gateway = Some("router".into()),
        ),
        pool_case(
            "a template with no CPU",
            "spec.template.spec.cpu",
            msg::CPU_RANGE,
            |p| p.spec.template.spec.cpu = Some(0),
        ),
        pool_case(
            "a template with cpu and an instancetype",
            "spec.template.spec.instancetype",
            msg::INSTANCETYPE_EXCLUSIVE,
            |p| p.spec.template.spec.instancetype = Some(instancetype("u1.small")),
        ),
    ]
}
