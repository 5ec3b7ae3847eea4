//! The formats fields must have, as the CRD's patterns and CEL rules spell them.

use std::net::IpAddr;

use crate::{messages as msg, quantity};

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
pub(crate) fn is_entry_name(s: &str) -> bool {
    is_dns_label(s, msg::MAX_ENTRY_NAME) && !s.contains("--")
}

/// `^(lo|(eth|ib|wlan)[0-9]+|en[ops][0-9].*|enx[0-9a-f]+)$`, as the CRD's rule: the names a
/// guest's kernel and udev give its own interfaces.
pub(crate) fn is_guest_interface_name(s: &str) -> bool {
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

pub(crate) fn is_plugin_name(s: &str) -> bool {
    is_dns_label(s, msg::MAX_OBJECT_NAME)
}

pub(crate) fn is_nad_name(s: &str) -> bool {
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

pub(crate) const MI: f64 = 1024.0 * 1024.0;

/// A quantity of whole bytes (no fraction of a byte) of at least `floor` bytes.
pub(crate) fn is_whole_bytes_at_least(q: &str, floor: f64) -> bool {
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
pub(crate) fn network_of(ip: IpAddr, prefix: u8) -> IpAddr {
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
pub(crate) fn is_resource_name(s: &str) -> bool {
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

pub(crate) fn is_ssh_key(s: &str) -> bool {
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
