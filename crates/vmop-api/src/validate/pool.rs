//! A pool: its own rules, and its template's spec as a profile's.

use std::net::IpAddr;

use crate::{
    messages as msg,
    validate::{Errors, ValidationErrors, formats::is_dns_label, validate_profile},
};

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
