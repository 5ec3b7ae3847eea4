//! Where a disk's image URL points. CDI's importer fetches it from a pod inside the cluster,
//! so an image URL is a request the cluster makes on a tenant's behalf: to loopback, to the
//! link-local cloud metadata address, or to in-cluster and private addresses it would reach
//! what the tenant itself may not. Pure: the host is read from the URL, never resolved.
//!
//! A DNS name that resolves to such an address (or, through the importer pod's search path,
//! to a Service such as `minio.storage`) cannot be told from a public one without resolving
//! it; that is left to a NetworkPolicy on the importer pods (see docs/security.md).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why a host is one the operator does not import from without the administrator's consent.
pub fn restricted_host(host: &str) -> Option<&'static str> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = literal.parse::<IpAddr>() {
        return restricted_ip(ip);
    }
    if host == "localhost" || host.ends_with(".localhost") {
        return Some("loopback");
    }
    if !host.contains('.') {
        return Some(
            "an in-cluster name (a single label resolves through the importer pod's search path)",
        );
    }
    if [".svc", ".cluster.local", ".local", ".internal"]
        .iter()
        .any(|suffix| host.ends_with(suffix))
    {
        return Some("an in-cluster name");
    }
    // 127.1, 0x7f.1, 2130706433: numbers a resolver may still turn into an address.
    if host
        .split('.')
        .all(|part| part.bytes().all(|b| b.is_ascii_hexdigit() || b == b'x'))
        && host.bytes().next().is_some_and(|b| b.is_ascii_digit())
    {
        return Some("a numeric address in a form other than a plain IP address");
    }
    None
}

fn restricted_ip(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => restricted_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => restricted_v4(v4),
            None => restricted_v6(v6),
        },
    }
}

fn restricted_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_link_local() {
        Some("link-local (the cloud metadata address)")
    } else if ip.is_unspecified() || ip.is_broadcast() || a == 0 {
        Some("not a host address")
    } else if ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        Some("a private address (pods, Services and nodes have such addresses)")
    } else {
        None
    }
}

fn restricted_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("not a host address")
    } else if first & 0xffc0 == 0xfe80 {
        Some("link-local (the cloud metadata address)")
    } else if first & 0xfe00 == 0xfc00 {
        Some("a private address (pods, Services and nodes have such addresses)")
    } else {
        None
    }
}

/// The host of an image URL (`docker://host[:port]/path`, `http://[::1]:80/x`), if any.
pub fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if let Some(end) = authority.find(']') {
        return Some(&authority[..=end]);
    }
    let host = authority.split(':').next()?;
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_read_from_every_image_form() {
        assert_eq!(
            host_of("docker://registry.example.com:5000/os:1"),
            Some("registry.example.com")
        );
        assert_eq!(host_of("http://[::1]:8080/disk.img"), Some("[::1]"));
        assert_eq!(
            host_of("https://169.254.169.254/latest"),
            Some("169.254.169.254")
        );
        assert_eq!(host_of("oci-archive://images/os.tar"), Some("images"));
        assert_eq!(host_of("no-scheme"), None);
    }

    #[test]
    fn loopback_link_local_private_and_in_cluster_hosts_are_restricted() {
        for host in [
            "127.0.0.1",
            "127.1",
            "2130706433",
            "0x7f000001",
            "localhost",
            "LOCALHOST.",
            "[::1]",
            "[::ffff:127.0.0.1]",
            "169.254.169.254",
            "[fe80::1]",
            "10.43.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "100.64.0.1",
            "[fd00::1]",
            "0.0.0.0",
            "minio",
            "minio.storage.svc",
            "kubernetes.default.svc.cluster.local",
            "metadata.google.internal",
        ] {
            assert!(restricted_host(host).is_some(), "{host}");
        }
        for host in [
            "registry.example.com",
            "quay.io",
            "8.8.8.8",
            "[2001:db8::1]",
            "1e100.net",
        ] {
            assert_eq!(restricted_host(host), None, "{host}");
        }
    }
}
