//! The CRD's validation rules, applied in Rust with the same field paths and messages.
//!
//! The API server enforces these at admission; the controller applies them again so that a
//! profile built in code, or stored before a rule existed, gets the same clear error as a
//! `Ready=False` condition instead of a half-built VM.

use std::{collections::HashSet, fmt, net::IpAddr};

use thiserror::Error;

use crate::{
    messages as msg,
    profile::{
        AccessMode, CloudInitSpec, DiskSource, DiskSpec, IpamType, NetworkSpec,
        VirtualMachineProfileSpec,
    },
    quantity,
};

/// One invalid field: where (`spec.networks[0].vlan`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Path of the field, as the API server spells it.
    pub path: String,
    /// What is wrong, in the words of [`crate::messages`].
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every invalid field of a profile.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join("; "))
    }
}

/// Collects errors while walking a spec.
#[derive(Default)]
struct Errors(Vec<FieldError>);

impl Errors {
    fn add(&mut self, path: impl Into<String>, message: &str) {
        self.0.push(FieldError {
            path: path.into(),
            message: message.to_owned(),
        });
    }

    fn check(&mut self, ok: bool, path: impl FnOnce() -> String, message: &str) {
        if !ok {
            self.add(path(), message);
        }
    }
}

/// Validates a profile named `name` the way its CRD does.
pub fn validate_profile(
    name: &str,
    spec: &VirtualMachineProfileSpec,
) -> Result<(), ValidationErrors> {
    let mut e = Errors::default();
    e.check(
        name.len() <= msg::MAX_PROFILE_NAME,
        || "metadata.name".into(),
        msg::PROFILE_NAME_TOO_LONG,
    );
    e.check(
        is_dns_label(name, usize::MAX),
        || "metadata.name".into(),
        msg::PROFILE_NAME_LABEL,
    );
    if let Some(cpu) = spec.cpu {
        e.check(
            (1..=msg::MAX_CORES).contains(&cpu),
            || "spec.cpu".into(),
            msg::CPU_RANGE,
        );
    }
    e.check(
        spec.instancetype.is_none()
            || (spec.cpu.is_none() && spec.memory.is_none() && spec.cpu_topology.is_none()),
        || "spec.instancetype".into(),
        msg::INSTANCETYPE_EXCLUSIVE,
    );
    e.check(
        spec.instancetype.is_some() || (spec.cpu.is_some() && spec.memory.is_some()),
        || "spec".into(),
        msg::SIZE_REQUIRED,
    );
    if let Some(instancetype) = &spec.instancetype {
        e.check(
            is_dns_subdomain(&instancetype.name),
            || "spec.instancetype.name".into(),
            msg::KUBEVIRT_OBJECT_NAME,
        );
    }
    if let Some(preference) = &spec.preference {
        e.check(
            is_dns_subdomain(&preference.name),
            || "spec.preference.name".into(),
            msg::KUBEVIRT_OBJECT_NAME,
        );
    }
    if let Some(topology) = &spec.cpu_topology {
        if let Some(sockets) = topology.sockets {
            e.check(
                (1..=msg::MAX_SOCKETS).contains(&sockets),
                || "spec.cpuTopology.sockets".into(),
                msg::SOCKETS_RANGE,
            );
        }
        if let Some(threads) = topology.threads {
            e.check(
                (1..=msg::MAX_THREADS).contains(&threads),
                || "spec.cpuTopology.threads".into(),
                msg::THREADS_RANGE,
            );
        }
    }
    if let Some(live) = &spec.live_update {
        e.check(
            spec.instancetype.is_none(),
            || "spec.liveUpdate".into(),
            msg::LIVE_UPDATE_NEEDS_SIZE,
        );
        e.check(
            (1..=64).contains(&live.max_sockets),
            || "spec.liveUpdate.maxSockets".into(),
            msg::LIVE_UPDATE_SOCKETS_RANGE,
        );
        let sockets = spec
            .cpu_topology
            .as_ref()
            .and_then(|t| t.sockets)
            .unwrap_or(1);
        e.check(
            sockets <= live.max_sockets,
            || "spec.liveUpdate.maxSockets".into(),
            msg::LIVE_UPDATE_SOCKETS_BELOW,
        );
        e.check(
            is_whole_bytes_at_least(&live.max_memory, 64.0 * MI),
            || "spec.liveUpdate.maxMemory".into(),
            msg::MEMORY_QUANTITY,
        );
        let below = spec
            .memory
            .as_deref()
            .and_then(|m| quantity::parse(m).ok())
            .zip(quantity::parse(&live.max_memory).ok())
            .is_some_and(|(memory, max)| max < memory);
        e.check(
            !below,
            || "spec.liveUpdate.maxMemory".into(),
            msg::LIVE_UPDATE_MEMORY_BELOW,
        );
    }
    if let Some(isolation) = &spec.isolation {
        for (i, port) in isolation.ports.iter().enumerate() {
            e.check(
                (1..=65535).contains(&port.port),
                || format!("spec.isolation.ports[{i}].port"),
                msg::ISOLATION_PORT,
            );
        }
        e.check(
            isolation.cidrs.iter().all(|x| is_cidr(x)),
            || "spec.isolation.cidrs".into(),
            msg::ISOLATION_CIDR,
        );
    }
    if let Some(memory) = &spec.memory {
        e.check(
            is_whole_bytes_at_least(memory, 64.0 * MI),
            || "spec.memory".into(),
            msg::MEMORY_QUANTITY,
        );
    }
    // Only when cpu is in range itself, as the CRD rule: one mistake, one error.
    let sockets = spec
        .cpu_topology
        .as_ref()
        .and_then(|t| t.sockets)
        .unwrap_or(1);
    let threads = spec
        .cpu_topology
        .as_ref()
        .and_then(|t| t.threads)
        .unwrap_or(1);
    let cpu = spec.cpu.unwrap_or(1);
    e.check(
        cpu > msg::MAX_CORES
            || i64::from(cpu) * i64::from(sockets) * i64::from(threads)
                <= i64::from(msg::MAX_VCPUS),
        || "spec.cpuTopology".into(),
        msg::VCPUS_RANGE,
    );
    if let Some(template) = &spec.template {
        e.check(
            is_plugin_name(template),
            || "spec.template".into(),
            msg::PLUGIN_NAME,
        );
    }

    e.check(
        spec.networks
            .iter()
            .all(|n| name.len() + 2 + n.name.len() <= msg::MAX_OBJECT_NAME),
        || "spec.networks".into(),
        msg::DERIVED_NETWORK_NAME_TOO_LONG,
    );
    check_unique(
        &mut e,
        "spec.networks",
        spec.networks.iter().map(|n| &n.name),
    );
    for (i, network) in spec.networks.iter().enumerate() {
        validate_network(&mut e, &format!("spec.networks[{i}]"), network);
    }
    e.check(
        spec.networks.iter().filter(|n| n.gateway.is_some()).count() <= 1,
        || "spec.networks".into(),
        msg::ONE_DEFAULT_GATEWAY,
    );
    let addresses: Vec<IpAddr> = spec
        .networks
        .iter()
        .filter_map(|n| parse_cidr(n.ip_address.as_deref()?))
        .map(|(address, _)| address)
        .collect();
    e.check(
        addresses.len() == addresses.iter().collect::<HashSet<_>>().len(),
        || "spec.networks".into(),
        msg::DUPLICATE_ADDRESS,
    );
    let macs: Vec<String> = spec
        .networks
        .iter()
        .filter_map(|n| n.mac_address.as_ref().map(|m| m.to_ascii_lowercase()))
        .collect();
    e.check(
        macs.len() == macs.iter().collect::<HashSet<_>>().len(),
        || "spec.networks".into(),
        msg::DUPLICATE_MAC,
    );

    e.check(
        spec.disks
            .iter()
            .all(|d| name.len() + 2 + d.name.len() <= msg::MAX_OBJECT_NAME),
        || "spec.disks".into(),
        msg::DERIVED_DISK_NAME_TOO_LONG,
    );
    check_unique(&mut e, "spec.disks", spec.disks.iter().map(|d| &d.name));
    let boot_orders: Vec<i32> = spec.disks.iter().filter_map(|d| d.boot_order).collect();
    e.check(
        boot_orders.len() == boot_orders.iter().collect::<HashSet<_>>().len(),
        || "spec.disks".into(),
        msg::BOOT_ORDER_UNIQUE,
    );
    e.check(
        !spec.high_availability
            || spec.disks.iter().all(|d| {
                d.access_modes
                    .as_ref()
                    .is_none_or(|modes| modes == &[AccessMode::ReadWriteMany])
            }),
        || "spec.disks".into(),
        msg::HA_NEEDS_RWX,
    );
    for (i, disk) in spec.disks.iter().enumerate() {
        validate_disk(&mut e, &format!("spec.disks[{i}]"), disk);
    }

    if let Some(cloud_init) = &spec.cloud_init {
        validate_cloud_init(&mut e, cloud_init);
    }

    if e.0.is_empty() {
        Ok(())
    } else {
        Err(ValidationErrors(e.0))
    }
}

/// Validates a pool named `name` the way its CRD does: its own rules, and its template's
/// spec as the profile CRD's rules (paths under `spec.template.spec`).
pub fn validate_pool(
    name: &str,
    spec: &crate::pool::VirtualMachineProfilePoolSpec,
) -> Result<(), ValidationErrors> {
    let mut e = Errors::default();
    e.check(
        name.len() <= crate::pool::MAX_POOL_NAME,
        || "metadata.name".into(),
        msg::POOL_NAME_TOO_LONG,
    );
    e.check(
        is_dns_label(name, usize::MAX),
        || "metadata.name".into(),
        msg::PROFILE_NAME_LABEL,
    );
    e.check(
        (0..=crate::pool::MAX_REPLICAS).contains(&spec.replicas),
        || "spec.replicas".into(),
        msg::POOL_REPLICAS_RANGE,
    );
    let networks = &spec.template.spec.networks;
    e.check(
        spec.addresses
            .iter()
            .all(|a| networks.iter().any(|n| n.name == a.network)),
        || "spec.addresses".into(),
        msg::POOL_ADDRESS_NETWORK,
    );
    e.check(
        networks.is_empty()
            || spec.addresses.iter().all(|a| {
                networks
                    .iter()
                    .filter(|n| n.name == a.network)
                    .all(|n| n.ip_address.is_none() && n.mac_address.is_none())
            }),
        || "spec.addresses".into(),
        msg::POOL_ADDRESS_SET_IN_TEMPLATE,
    );
    e.check(
        spec.template
            .spec
            .cloud_init
            .as_ref()
            .is_none_or(|c| c.hostname.is_none()),
        || "spec.template.spec.cloudInit.hostname".into(),
        msg::POOL_TEMPLATE_HOSTNAME,
    );
    for (i, addresses) in spec.addresses.iter().enumerate() {
        e.check(
            is_range_format(&addresses.range),
            || format!("spec.addresses[{i}].range"),
            msg::POOL_RANGE_FORMAT,
        );
        if let Some(gateway) = &addresses.gateway {
            e.check(
                gateway.parse::<IpAddr>().is_ok(),
                || format!("spec.addresses[{i}].gateway"),
                msg::IP,
            );
        }
    }
    // The template as a profile: its name-based rules live on the profile, not in the pool.
    if let Err(errors) = validate_profile("x", &spec.template.spec) {
        for error in errors.0 {
            let path = error.path.replacen("spec", "spec.template.spec", 1);
            e.add(path, &error.message);
        }
    }
    if e.0.is_empty() {
        Ok(())
    } else {
        Err(ValidationErrors(e.0))
    }
}

/// `^[0-9.]+(-[0-9.]+)?/[0-9]{1,2}$`, as the CRD's rule.
fn is_range_format(range: &str) -> bool {
    let Some((addresses, prefix)) = range.split_once('/') else {
        return false;
    };
    let address = |a: &str| !a.is_empty() && a.chars().all(|c| c.is_ascii_digit() || c == '.');
    let addresses_ok = match addresses.split_once('-') {
        Some((first, last)) => address(first) && address(last),
        None => address(addresses),
    };
    addresses_ok && (1..=2).contains(&prefix.len()) && prefix.chars().all(|c| c.is_ascii_digit())
}

/// Rules the API server cannot afford to check at admission (CEL's cost estimate of
/// `cidr().masked()` exceeds any budget): the controller applies them before any plugin
/// runs, so a profile breaking them gets `Ready=False`, reason InvalidSpec, naming the field,
/// and nothing is created.
pub fn validate_semantics(spec: &VirtualMachineProfileSpec) -> Result<(), ValidationErrors> {
    let mut e = Errors::default();
    for (i, network) in spec.networks.iter().enumerate() {
        let Some((ip, prefix)) = network.ip_address.as_deref().and_then(parse_cidr) else {
            continue;
        };
        // Below /31 (/127) the lowest address names the subnet, not a host.
        let host_bits_matter = if ip.is_ipv4() {
            prefix < 31
        } else {
            prefix < 127
        };
        e.check(
            !host_bits_matter || network_of(ip, prefix) != ip,
            || format!("spec.networks[{i}].ipAddress"),
            msg::NETWORK_ADDRESS,
        );
        if let IpAddr::V4(v4) = ip
            && prefix < 31
        {
            let broadcast = u32::from(v4) | (u32::MAX >> prefix);
            e.check(
                u32::from(v4) != broadcast,
                || format!("spec.networks[{i}].ipAddress"),
                msg::BROADCAST_ADDRESS,
            );
        }
    }
    if e.0.is_empty() {
        Ok(())
    } else {
        Err(ValidationErrors(e.0))
    }
}

fn check_unique<'a>(e: &mut Errors, path: &str, names: impl Iterator<Item = &'a String>) {
    let mut seen = HashSet::new();
    for (i, name) in names.enumerate() {
        if !seen.insert(name) {
            e.add(
                format!("{path}[{i}]"),
                &format!("Duplicate value: name {name:?}"),
            );
        }
    }
}

fn validate_network(e: &mut Errors, at: &str, n: &NetworkSpec) {
    e.check(
        is_entry_name(&n.name),
        || format!("{at}.name"),
        msg::ENTRY_NAME,
    );
    e.check(
        !is_guest_interface_name(&n.name),
        || format!("{at}.name"),
        msg::GUEST_INTERFACE_RESERVED,
    );
    if let Some(type_) = &n.type_ {
        e.check(
            is_plugin_name(type_),
            || format!("{at}.type"),
            msg::PLUGIN_NAME,
        );
    }
    if let Some(nad) = &n.nad_name {
        e.check(is_nad_name(nad), || format!("{at}.nadName"), msg::NAD_NAME);
        e.check(
            n.bridge.is_none()
                && n.vlan.is_none()
                && n.node_interface.is_none()
                && n.mtu.is_none()
                && n.ipam.is_none(),
            || format!("{at}.nadName"),
            msg::NAD_EXCLUSIVE,
        );
    }
    for (field, value) in [("bridge", &n.bridge), ("nodeInterface", &n.node_interface)] {
        if let Some(value) = value {
            e.check(
                is_interface_name(value),
                || format!("{at}.{field}"),
                msg::INTERFACE_NAME,
            );
        }
    }
    if let Some(vlan) = n.vlan {
        e.check(
            (1..=4094).contains(&vlan),
            || format!("{at}.vlan"),
            msg::VLAN_RANGE,
        );
    }
    if let Some(mtu) = n.mtu {
        e.check(
            (576..=9216).contains(&mtu),
            || format!("{at}.mtu"),
            msg::MTU_RANGE,
        );
    }
    if let Some(address) = &n.ip_address {
        e.check(is_cidr(address), || format!("{at}.ipAddress"), msg::CIDR);
    }
    if n.ipam
        .as_ref()
        .is_some_and(|i| i.type_ == IpamType::Whereabouts)
    {
        e.check(
            n.ip_address.is_none(),
            || format!("{at}.ipAddress"),
            msg::WHEREABOUTS_WITH_ADDRESS,
        );
    }
    if let Some(gateway) = &n.gateway {
        e.check(
            gateway.parse::<IpAddr>().is_ok(),
            || format!("{at}.gateway"),
            msg::IP,
        );
        e.check(
            n.ip_address.is_some(),
            || format!("{at}.gateway"),
            msg::GATEWAY_WITHOUT_ADDRESS,
        );
        if let (Ok(gateway), Some((ip, prefix))) = (
            gateway.parse::<IpAddr>(),
            n.ip_address.as_deref().and_then(parse_cidr),
        ) {
            e.check(
                gateway.is_ipv4() == ip.is_ipv4()
                    && network_of(gateway, prefix) == network_of(ip, prefix),
                || format!("{at}.gateway"),
                msg::GATEWAY_OUTSIDE_SUBNET,
            );
        }
    }
    if let Some(mac) = &n.mac_address {
        e.check(is_unicast_mac(mac), || format!("{at}.macAddress"), msg::MAC);
        e.check(
            mac != "00:00:00:00:00:00",
            || format!("{at}.macAddress"),
            msg::ZERO_MAC,
        );
    }
    if let Some(ipam) = &n.ipam {
        e.check(
            ipam.type_ != IpamType::Static || n.ip_address.is_some(),
            || format!("{at}.ipam"),
            msg::IPAM_STATIC_NEEDS_ADDRESS,
        );
        if let Some(range) = &ipam.range {
            e.check(
                is_cidr(range),
                || format!("{at}.ipam.range"),
                msg::WHEREABOUTS_RANGE,
            );
        }
        e.check(
            ipam.type_ != IpamType::Whereabouts || ipam.range.is_some(),
            || format!("{at}.ipam.range"),
            msg::WHEREABOUTS_NEEDS_RANGE,
        );
        e.check(
            ipam.exclude.iter().all(|x| is_cidr(x)),
            || format!("{at}.ipam.exclude"),
            msg::WHEREABOUTS_EXCLUDE,
        );
    }
    if let Some(sriov) = &n.sriov {
        if let Some(resource) = &sriov.resource_name {
            e.check(
                is_resource_name(resource),
                || format!("{at}.sriov.resourceName"),
                msg::RESOURCE_NAME,
            );
        }
        if let Some(pf) = &sriov.physical_function {
            e.check(
                is_interface_name(pf),
                || format!("{at}.sriov.physicalFunction"),
                msg::INTERFACE_NAME,
            );
        }
        if let Some(vfs) = sriov.num_vfs {
            e.check(
                (1..=256).contains(&vfs),
                || format!("{at}.sriov.numVfs"),
                msg::NUM_VFS_RANGE,
            );
        }
    }
}

fn validate_disk(e: &mut Errors, at: &str, d: &DiskSpec) {
    e.check(
        is_entry_name(&d.name),
        || format!("{at}.name"),
        msg::ENTRY_NAME,
    );
    e.check(
        is_whole_bytes_at_least(&d.size, MI),
        || format!("{at}.size"),
        msg::SIZE_QUANTITY,
    );
    if let Some(modes) = &d.access_modes {
        e.check(
            !modes.is_empty(),
            || format!("{at}.accessModes"),
            msg::ACCESS_MODES_EMPTY,
        );
    }
    if let Some(class) = &d.storage_class_name {
        e.check(
            is_dns_subdomain(class),
            || format!("{at}.storageClassName"),
            msg::STORAGE_CLASS_NAME,
        );
    }
    if let Some(image) = &d.image {
        let scheme_ok = ["docker://", "oci-archive://", "http://", "https://"]
            .iter()
            .any(|scheme| image.len() > scheme.len() && image.starts_with(scheme));
        e.check(scheme_ok, || format!("{at}.image"), msg::IMAGE_SCHEME);
        let authority = image
            .split_once("://")
            .map_or("", |(_, rest)| rest.split('/').next().unwrap_or(""));
        e.check(
            !image.chars().any(char::is_whitespace) && !authority.contains('@'),
            || format!("{at}.image"),
            msg::IMAGE_URL,
        );
    }
    e.check(
        d.image.is_none() || d.source.is_none(),
        || format!("{at}.source"),
        msg::IMAGE_OR_SOURCE,
    );
    e.check(
        d.pull_method.is_none()
            || d.image
                .as_deref()
                .is_some_and(|image| image.starts_with("docker://")),
        || format!("{at}.pullMethod"),
        msg::PULL_METHOD_NEEDS_REGISTRY,
    );
    if let Some(source) = &d.source {
        validate_source(e, &format!("{at}.source"), source);
    }
    if let Some(order) = d.boot_order {
        e.check(
            order >= 1,
            || format!("{at}.bootOrder"),
            msg::BOOT_ORDER_RANGE,
        );
    }
    if let Some(backend) = &d.backend {
        e.check(
            is_plugin_name(backend),
            || format!("{at}.backend"),
            msg::PLUGIN_NAME,
        );
    }
}

fn validate_source(e: &mut Errors, at: &str, source: &DiskSource) {
    let set = [
        source.pvc.is_some(),
        source.data_source.is_some(),
        source.blank.is_some(),
    ];
    e.check(
        set.iter().filter(|&&s| s).count() == 1,
        || at.to_owned(),
        msg::ONE_SOURCE,
    );
    e.check(
        source.blank != Some(false),
        || format!("{at}.blank"),
        msg::BLANK_TRUE,
    );
    for (field, reference) in [("pvc", &source.pvc), ("dataSource", &source.data_source)] {
        if let Some(reference) = reference {
            e.check(
                is_dns_subdomain(&reference.name),
                || format!("{at}.{field}.name"),
                msg::OBJECT_NAME,
            );
        }
    }
}

fn validate_cloud_init(e: &mut Errors, c: &CloudInitSpec) {
    if let Some(hostname) = &c.hostname {
        e.check(
            is_dns_label(hostname, msg::MAX_OBJECT_NAME),
            || "spec.cloudInit.hostname".into(),
            msg::HOSTNAME,
        );
    }
    e.check(
        c.ssh_authorized_keys.iter().all(|k| is_ssh_key(k)),
        || "spec.cloudInit.sshAuthorizedKeys".into(),
        msg::SSH_KEY,
    );
    if let Some(secret) = &c.user_data_secret_ref {
        e.check(
            is_dns_subdomain(&secret.name),
            || "spec.cloudInit.userDataSecretRef.name".into(),
            msg::OBJECT_NAME,
        );
    }
}

/// `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$` of at most `max` characters.
pub fn is_dns_label(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A DNS-1123 subdomain: dot-separated labels, at most 253 characters.
pub fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(|label| is_dns_label(label, 63)) && !s.is_empty()
}

/// A network or disk name: a DNS label without `--`, so `<profile>--<entry>` names one pair.
fn is_entry_name(s: &str) -> bool {
    is_dns_label(s, msg::MAX_ENTRY_NAME) && !s.contains("--")
}

/// `^(lo|(eth|ib|wlan)[0-9]+|en[ops][0-9].*|enx[0-9a-f]+)$`, as the CRD's rule: the names a
/// guest's kernel and udev give its own interfaces.
fn is_guest_interface_name(s: &str) -> bool {
    let digits = |rest: &str| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit());
    if s == "lo" {
        return true;
    }
    if ["eth", "ib", "wlan"]
        .iter()
        .any(|prefix| s.strip_prefix(prefix).is_some_and(digits))
    {
        return true;
    }
    if let Some(rest) = s.strip_prefix("enx")
        && !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return true;
    }
    ["eno", "ens", "enp"].iter().any(|prefix| {
        s.strip_prefix(prefix)
            .is_some_and(|rest| rest.bytes().next().is_some_and(|b| b.is_ascii_digit()))
    })
}

fn is_plugin_name(s: &str) -> bool {
    is_dns_label(s, msg::MAX_OBJECT_NAME)
}

fn is_nad_name(s: &str) -> bool {
    match s.split_once('/') {
        Some((namespace, name)) => is_dns_label(namespace, 63) && is_dns_subdomain(name),
        None => is_dns_subdomain(s),
    }
}

/// A Linux interface name: at most 15 characters of letters, digits, `.`, `_`, `-`.
pub fn is_interface_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= msg::MAX_INTERFACE_NAME
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && s.as_bytes()[0].is_ascii_alphanumeric()
}

/// An address with a prefix length valid for its family (`10.0.0.1/24`, `fd00::1/64`).
pub fn is_cidr(s: &str) -> bool {
    let Some((address, prefix)) = s.split_once('/') else {
        return false;
    };
    let Ok(address) = address.parse::<IpAddr>() else {
        return false;
    };
    let max = if address.is_ipv4() { 32 } else { 128 };
    !prefix.starts_with('+') && prefix.parse::<u8>().is_ok_and(|p| p <= max)
}

const MI: f64 = 1024.0 * 1024.0;

/// A quantity of whole bytes (no fraction of a byte) of at least `floor` bytes.
fn is_whole_bytes_at_least(q: &str, floor: f64) -> bool {
    quantity::parse(q).is_ok_and(|bytes| bytes.fract() == 0.0 && bytes >= floor)
}

/// Address and prefix length of a CIDR such as `10.0.0.5/24`.
pub fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    if !is_cidr(s) {
        return None;
    }
    let (address, prefix) = s.split_once('/')?;
    Some((address.parse().ok()?, prefix.parse().ok()?))
}

/// The network address of `ip` under a prefix of `prefix` bits.
fn network_of(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix.min(32)))
                .unwrap_or(0);
            IpAddr::V4((u32::from(v4) & mask).into())
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            IpAddr::V6((u128::from(v6) & mask).into())
        }
    }
}

/// An extended resource name: `<DNS subdomain>/<name>`, such as `intel.com/sriov_netdevice`.
fn is_resource_name(s: &str) -> bool {
    let Some((domain, name)) = s.split_once('/') else {
        return false;
    };
    is_dns_subdomain(domain)
        && !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric()
}

/// A MAC address `xx:xx:xx:xx:xx:xx` whose group bit is clear.
pub fn is_unicast_mac(s: &str) -> bool {
    let octets: Vec<&str> = s.split(':').collect();
    octets.len() == 6
        && octets
            .iter()
            .all(|o| o.len() == 2 && o.bytes().all(|b| b.is_ascii_hexdigit()))
        && u8::from_str_radix(octets[0], 16).is_ok_and(|first| first & 1 == 0)
}

fn is_ssh_key(s: &str) -> bool {
    const TYPES: [&str; 8] = [
        "ssh-ed25519",
        "ssh-rsa",
        "ssh-dss",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    ];
    let mut parts = s.splitn(3, ' ');
    let (Some(kind), Some(blob)) = (parts.next(), parts.next()) else {
        return false;
    };
    TYPES.contains(&kind)
        && !blob.is_empty()
        && blob
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}

#[cfg(test)]
mod tests {
    use super::is_guest_interface_name;

    #[test]
    fn guest_interface_names_are_the_kernels_and_udevs_only() {
        for reserved in [
            "lo",
            "eth0",
            "eth12",
            "ib0",
            "wlan1",
            "eno1",
            "ens3",
            "enp1s0",
            "enp0s31f6",
            "enx0e7850228d33",
        ] {
            assert!(is_guest_interface_name(reserved), "{reserved}");
        }
        for free in [
            "mgmt",
            "ethernet",
            "eth",
            "lob",
            "ens",
            "enoki",
            "enterprise",
            "env-a",
            "enx",
            "enxz",
            "wlan",
            "ib-fabric",
            "storage0",
        ] {
            assert!(!is_guest_interface_name(free), "{free}");
        }
    }
}
