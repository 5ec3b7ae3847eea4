//! Limits and error messages shared by the CRD's CEL rules and the Rust validator, so a user
//! reads the same words whether the API server or the controller rejected a profile.

/// Longest Kubernetes object name that is also a DNS-1123 label (and a label value).
pub const MAX_OBJECT_NAME: usize = 63;
/// Longest profile name: the VM's name, its hostname and `<name>--cloudinit` must fit in 63.
pub const MAX_PROFILE_NAME: usize = 52;
/// Longest network or disk name.
pub const MAX_ENTRY_NAME: usize = 32;
/// Longest Linux interface name (IFNAMSIZ - 1).
pub const MAX_INTERFACE_NAME: usize = 15;
/// Most networks per profile (besides the pod network).
pub const MAX_NETWORKS: usize = 16;
/// Most disks per profile.
pub const MAX_DISKS: usize = 32;
/// Most SSH keys per profile.
pub const MAX_SSH_KEYS: usize = 32;
/// Most cores, sockets and threads of a VM.
pub const MAX_CORES: i32 = 256;
/// Most sockets of a VM (`spec.cpuTopology.sockets`).
pub const MAX_SOCKETS: i32 = 16;
/// Most threads per core of a VM (`spec.cpuTopology.threads`).
pub const MAX_THREADS: i32 = 8;

/// `spec.cpu` out of range.
pub const CPU_RANGE: &str = "must be between 1 and 256";
/// `spec.cpuTopology.sockets` out of range.
pub const SOCKETS_RANGE: &str = "must be between 1 and 16";
/// `spec.cpuTopology.threads` out of range.
pub const THREADS_RANGE: &str = "must be between 1 and 8";
/// A size that is not a positive quantity.
pub const POSITIVE_QUANTITY: &str = "must be a positive quantity such as 8Gi";
/// `metadata.name` longer than [`MAX_PROFILE_NAME`].
pub const PROFILE_NAME_TOO_LONG: &str = "metadata.name must be at most 52 characters so that derived names such as <name>--cloudinit stay within 63";
/// `metadata.name` that is not a DNS-1123 label.
pub const PROFILE_NAME_LABEL: &str = "metadata.name must be a DNS-1123 label (lower-case letters, digits and '-', no '.'): it is the VM's name and hostname, and the first part of every derived name";
/// `metadata.name` and `spec.networks[].name` that make a NAD name longer than 63.
pub const DERIVED_NETWORK_NAME_TOO_LONG: &str = "metadata.name and every network name joined by '--' must be at most 63 characters (the NetworkAttachmentDefinition is named <profile>--<network>)";
/// `metadata.name` and `spec.disks[].name` that make a volume name longer than 63.
pub const DERIVED_DISK_NAME_TOO_LONG: &str = "metadata.name and every disk name joined by '--' must be at most 63 characters (the volume is named <profile>--<disk>)";
/// A network or disk name that cannot be part of a derived name.
pub const ENTRY_NAME: &str = "must be a DNS-1123 label of at most 32 characters without '--': lower-case letters, digits and single '-', starting and ending with a letter or digit ('--' separates the profile's name from the entry's in derived names)";
/// `spec.networks[].type` or `spec.disks[].backend` that cannot name a plugin.
pub const PLUGIN_NAME: &str =
    "must be a plugin name: lower-case letters, digits and '-', at most 63 characters";
/// `spec.networks[].vlan` out of range.
pub const VLAN_RANGE: &str = "must be between 1 and 4094";
/// `spec.networks[].mtu` out of range.
pub const MTU_RANGE: &str = "must be between 576 and 9216";
/// A bridge or node interface name Linux would refuse.
pub const INTERFACE_NAME: &str = "must be a Linux interface name: at most 15 characters of letters, digits, '.', '_' and '-', starting with a letter or digit";
/// `spec.networks[].ipAddress` without a prefix length, or not an address.
pub const CIDR: &str = "must be an IP address with a prefix length, such as 192.168.100.10/24";
/// `spec.networks[].gateway` that is not an address.
pub const IP: &str = "must be an IP address such as 192.168.100.1";
/// `spec.networks[].gateway` without `ipAddress`.
pub const GATEWAY_WITHOUT_ADDRESS: &str = "gateway needs ipAddress";
/// `spec.networks[].macAddress` that is not a unicast MAC.
pub const MAC: &str = "must be a unicast MAC address such as 02:00:00:00:00:01";
/// `spec.networks[].name` that the guest already uses for its own interfaces (the network's
/// name becomes its interface name in the guest).
pub const GUEST_INTERFACE_RESERVED: &str = "names the guest's own interfaces (lo, ethN, ibN, wlanN, or a predictable name such as enp1s0, ens3, eno1, enx<mac>): the network's name becomes its interface name in the guest, so choose another";
/// `spec.networks[].nadName` that cannot name a NetworkAttachmentDefinition.
pub const NAD_NAME: &str =
    "must be <name> or <namespace>/<name> of an existing NetworkAttachmentDefinition";
/// `spec.networks[].nadName` together with fields that would build a NAD.
pub const NAD_EXCLUSIVE: &str = "nadName uses an existing NetworkAttachmentDefinition as is: bridge, vlan, nodeInterface, mtu and ipam must not be set with it";
/// `spec.networks[].ipam.range` that is not a CIDR.
pub const WHEREABOUTS_RANGE: &str = "must be a CIDR range such as 192.168.100.0/24";
/// `spec.networks[].ipam.type: static` without `ipAddress`.
pub const IPAM_STATIC_NEEDS_ADDRESS: &str = "ipam type static needs ipAddress";
/// `spec.networks[].sriov.numVfs` out of range.
pub const NUM_VFS_RANGE: &str = "must be between 1 and 256";
/// `spec.disks[].image` with a scheme CDI does not import.
pub const IMAGE_SCHEME: &str =
    "must start with docker://, oci-archive://, http://, https:// or s3://";
/// `spec.disks[].image` of `s3://` without an endpoint, a bucket or an object.
pub const S3_URL: &str = "an s3:// image names the endpoint, the bucket and the object: s3://<endpoint>/<bucket>/<object>";
/// `spec.disks[].credentialsSecretRef` or `certConfigMapRef` without an image CDI fetches.
pub const CREDENTIALS_NEED_IMPORT: &str = "applies only to a docker://, http(s):// or s3:// image";
/// A reference to credentials or certificates that names a namespace.
pub const OTHER_NAMESPACE: &str = "credentials and certificates are read only from the profile's own namespace: leave namespace out";
/// `spec.disks[]` with both `image` and `source`.
pub const IMAGE_OR_SOURCE: &str = "set either image or source, not both";
/// `spec.disks[].source` with none or several sources.
pub const ONE_SOURCE: &str = "set exactly one of pvc, dataSource or blank";
/// `spec.disks[].pullMethod` on an image that is not `docker://`.
pub const PULL_METHOD_NEEDS_REGISTRY: &str = "pullMethod applies only to docker:// images";
/// `spec.disks[].bootOrder` below 1.
pub const BOOT_ORDER_RANGE: &str = "must be at least 1";
/// Two disks with the same `bootOrder`.
pub const BOOT_ORDER_UNIQUE: &str = "boot orders must be unique across disks";
/// `spec.disks[].storageClassName` that cannot name a StorageClass.
pub const STORAGE_CLASS_NAME: &str =
    "must be a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', at most 253 characters";
/// `spec.instancetype.name` or `spec.preference.name` that cannot name an object.
pub const KUBEVIRT_OBJECT_NAME: &str =
    "must be a DNS-1123 subdomain naming a KubeVirt instancetype or preference, such as u1.medium";
/// `spec.instancetype` together with `cpu`, `memory` or `cpuTopology`.
pub const INSTANCETYPE_EXCLUSIVE: &str =
    "instancetype sizes the VM: remove cpu, memory and cpuTopology, or remove instancetype";
/// Neither `cpu` and `memory` nor `instancetype`.
pub const SIZE_REQUIRED: &str = "cpu and memory are required unless instancetype is set";
/// A pool `metadata.name` too long for its members' names.
pub const POOL_NAME_TOO_LONG: &str = "metadata.name of a pool must be at most 48 characters so that <pool>-<ordinal> stays a profile name";
/// A pool `spec.replicas` out of range.
pub const POOL_REPLICAS_RANGE: &str = "must be between 0 and 1000";
/// A pool `spec.addresses[].network` that names no template network.
pub const POOL_ADDRESS_NETWORK: &str =
    "every addresses[].network must name a network of the template";
/// A pool address range on a network whose template sets an address.
pub const POOL_ADDRESS_SET_IN_TEMPLATE: &str =
    "a network with a pool address range must not set ipAddress or macAddress in the template";
/// A pool template that sets `cloudInit.hostname`: every member would get the same one.
pub const POOL_TEMPLATE_HOSTNAME: &str = "a pool member's hostname is its own name <pool>-<ordinal>: leave hostname unset in the template";
/// A pool `spec.addresses[].range` in neither accepted form.
pub const POOL_RANGE_FORMAT: &str = "must be first-last/prefix, such as 192.168.100.10-192.168.100.60/24, or a CIDR such as 10.0.0.0/24";
/// A reference (`userDataSecretRef`, a source claim) that cannot name an object.
pub const OBJECT_NAME: &str = "must be a DNS-1123 subdomain naming an object in this namespace";
/// `spec.highAvailability` with a disk that cannot live-migrate.
pub const HA_NEEDS_RWX: &str =
    "highAvailability needs live-migratable disks: accessModes must be [ReadWriteMany]";
/// `spec.cloudInit.hostname` that is not a DNS-1123 label.
pub const HOSTNAME: &str = "must be a DNS-1123 label of at most 63 characters";
/// `spec.cloudInit.sshAuthorizedKeys[]` that is not a public key line.
pub const SSH_KEY: &str =
    "must be an OpenSSH public key line such as 'ssh-ed25519 AAAA... user@host'";
/// `spec.memory` (or `liveUpdate.maxMemory`) that is not whole bytes of at least 64Mi.
pub const MEMORY_QUANTITY: &str =
    "must be whole bytes of at least 64Mi, such as 8Gi (not a fraction of a byte like 1.5 or 100m)";
/// `spec.disks[].size` that is not whole bytes of at least 1Mi.
pub const SIZE_QUANTITY: &str =
    "must be whole bytes of at least 1Mi, such as 80Gi (not a fraction of a byte like 100m)";
/// Most vCPUs of a VM: cores x sockets x threads.
pub const MAX_VCPUS: i32 = 256;
/// `spec.cpu` times sockets and threads above [`MAX_VCPUS`].
pub const VCPUS_RANGE: &str =
    "cpu x cpuTopology.sockets x cpuTopology.threads must be at most 256 vCPUs";
/// `spec.disks[].source.blank` set to false.
pub const BLANK_TRUE: &str = "must be true (leave source out for no source)";
/// `spec.disks[].accessModes` empty.
pub const ACCESS_MODES_EMPTY: &str = "must list at least one access mode";
/// `spec.disks[].image` with whitespace or credentials.
pub const IMAGE_URL: &str = "must not contain whitespace or credentials (user:password@host): name a Secret in credentialsSecretRef instead";
/// `spec.networks[].ipAddress` that is its subnet's network address.
pub const NETWORK_ADDRESS: &str = "is the subnet's network address: give the VM a host address";
/// `spec.networks[].ipAddress` that is its subnet's broadcast address.
pub const BROADCAST_ADDRESS: &str = "is the subnet's broadcast address: give the VM a host address";
/// `spec.networks[].gateway` outside the address's subnet.
pub const GATEWAY_OUTSIDE_SUBNET: &str =
    "must be an address of the ipAddress's subnet, of the same family";
/// More than one network with a gateway.
pub const ONE_DEFAULT_GATEWAY: &str = "at most one network may set a gateway (the default route)";
/// One IP address on two networks of a profile.
pub const DUPLICATE_ADDRESS: &str = "the same IP address is set on two networks";
/// One MAC address on two networks of a profile.
pub const DUPLICATE_MAC: &str = "the same MAC address is set on two networks";
/// `spec.networks[].macAddress` all zeros.
pub const ZERO_MAC: &str = "must not be 00:00:00:00:00:00";
/// `spec.networks[].ipam.type: whereabouts` without `range`.
pub const WHEREABOUTS_NEEDS_RANGE: &str = "ipam type whereabouts needs a range";
/// `spec.liveUpdate.maxSockets`.
pub const LIVE_UPDATE_SOCKETS_RANGE: &str = "must be from 1 to 64";
/// `spec.liveUpdate` with `spec.instancetype`.
pub const LIVE_UPDATE_NEEDS_SIZE: &str =
    "liveUpdate needs cpu and memory in the profile, not an instancetype";
/// `spec.liveUpdate.maxSockets` below the sockets the VM has.
pub const LIVE_UPDATE_SOCKETS_BELOW: &str = "must be at least cpuTopology.sockets (1 when unset)";
/// `spec.liveUpdate.maxMemory` below the memory the VM has.
pub const LIVE_UPDATE_MEMORY_BELOW: &str = "must be at least memory";
/// `spec.isolation.cidrs`.
pub const ISOLATION_CIDR: &str = "every source must be a CIDR range such as 10.0.0.0/8";
/// `spec.isolation.egress.to[].cidr`.
pub const EGRESS_CIDR: &str = "must be a CIDR range such as 10.0.0.0/8";
/// `spec.isolation.ports[].port`.
pub const ISOLATION_PORT: &str = "must be a port number from 1 to 65535";
/// `spec.isolation.allowFrom: HAGroup` on a profile without the label (a runtime check: CEL
/// cannot read labels).
pub const ISOLATION_NEEDS_HA_GROUP: &str =
    "HAGroup needs the label vmoperator.io/ha-group on the profile";
/// `spec.networks[].ipam.exclude[]` that is not a CIDR.
pub const WHEREABOUTS_EXCLUDE: &str = "every exclude must be a CIDR range such as 192.168.100.0/28";
/// `spec.networks[].ipAddress` with `ipam.type: whereabouts`.
pub const WHEREABOUTS_WITH_ADDRESS: &str =
    "whereabouts assigns the address: ipAddress must not be set with ipam type whereabouts";
/// `spec.networks[].sriov.resourceName` that is not an extended resource name.
pub const RESOURCE_NAME: &str =
    "must be an extended resource name such as intel.com/sriov_netdevice";

/// Longest VirtualMachineImage name: its versions are `<name>-<12 digest characters>`.
pub const MAX_IMAGE_NAME: usize = 50;
/// `metadata.name` of a VirtualMachineImage.
pub const IMAGE_NAME: &str =
    "must be a DNS-1123 label of at most 50 characters: versions are named <image>-<digest>";
/// `spec.disks[].imageRef` together with `image` or `source`.
pub const IMAGE_REF_EXCLUSIVE: &str = "set one of image, imageRef or source";
/// `spec.disks[].imageRef` that is not a name.
pub const IMAGE_REF_NAME: &str =
    "must name a VirtualMachineImage of this namespace (a DNS-1123 label)";
/// `spec.schedule` of a VirtualMachineImage that is not five cron fields.
pub const SCHEDULE_FORMAT: &str = "must be a cron schedule of five fields (minute hour day-of-month month day-of-week), such as \"0 2 * * *\", or @daily, @weekly, @monthly, @yearly, @hourly";
/// `spec.schedule` on an image not from a registry.
pub const SCHEDULE_NEEDS_REGISTRY: &str =
    "a refresh schedule applies only to a docker:// source (CDI polls registries for new digests)";
/// `spec.importsToKeep` out of range.
pub const IMPORTS_TO_KEEP_RANGE: &str = "must be between 1 and 20";
/// `spec.snapshots.keep` out of range.
pub const SNAPSHOTS_KEEP_RANGE: &str = "must be between 1 and 100";
/// `spec.importsToKeep` without a schedule.
pub const IMPORTS_TO_KEEP_NEEDS_SCHEDULE: &str = "applies only with a schedule";
/// `spec.source` of a VirtualMachineImage with a scheme CDI cannot import into a catalog.
pub const IMAGE_SOURCE_SCHEME: &str = "must start with docker://, http://, https:// or s3://";
