//! A profile's networks: each entry, and the rules across entries.

use std::{collections::HashSet, net::IpAddr};

use crate::{
    messages as msg,
    profile::{IpamType, NetworkSpec, VirtualMachineProfileSpec},
    validate::{Errors, check_unique, formats::*},
};

/// Every network, and what they may not share (names, addresses, MACs, the gateway).
pub(super) fn check_networks(e: &mut Errors, name: &str, spec: &VirtualMachineProfileSpec) {
    e.check(
        spec.networks
            .iter()
            .all(|n| name.len() + 2 + n.name.len() <= msg::MAX_OBJECT_NAME),
        || "spec.networks".into(),
        msg::DERIVED_NETWORK_NAME_TOO_LONG,
    );
    check_unique(e, "spec.networks", spec.networks.iter().map(|n| &n.name));
    for (i, network) in spec.networks.iter().enumerate() {
        validate_network(e, &format!("spec.networks[{i}]"), network);
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
}

/// One network entry.
fn validate_network(e: &mut Errors, at: &str, n: &NetworkSpec) {
    check_attachment(e, at, n);
    check_addressing(e, at, n);
    check_sriov(e, at, n);
}

/// Its name, type, NAD or bridge, VLAN and MTU.
fn check_attachment(e: &mut Errors, at: &str, n: &NetworkSpec) {
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
}

/// Its address, gateway, MAC and IPAM.
fn check_addressing(e: &mut Errors, at: &str, n: &NetworkSpec) {
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
}

/// Its SR-IOV settings.
fn check_sriov(e: &mut Errors, at: &str, n: &NetworkSpec) {
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
