//! The CRD's validation rules, applied in Rust with the same field paths and messages.
//!
//! The API server enforces these at admission; the controller applies them again so that a
//! profile built in code, or stored before a rule existed, gets the same clear error as a
//! `Ready=False` condition instead of a half-built VM.

mod cloud_init;
mod disk;
mod formats;
mod image;
mod network;
mod pool;
mod resources;

use std::{collections::HashSet, fmt, net::IpAddr};

use thiserror::Error;

#[cfg(test)]
use formats::is_guest_interface_name;
use formats::network_of;
pub use formats::{
    is_cidr, is_dns_label, is_dns_subdomain, is_interface_name, is_unicast_mac, parse_cidr,
};
pub use image::validate_image;
pub use pool::validate_pool;

use crate::{messages as msg, profile::VirtualMachineProfileSpec};

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
pub(crate) struct Errors(Vec<FieldError>);

impl Errors {
    /// `Ok` when nothing was found.
    pub(crate) fn into_result(self) -> Result<(), ValidationErrors> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors(self.0))
        }
    }

    pub(crate) fn add(&mut self, path: impl Into<String>, message: &str) {
        self.0.push(FieldError {
            path: path.into(),
            message: message.to_owned(),
        });
    }

    pub(crate) fn check(&mut self, ok: bool, path: impl FnOnce() -> String, message: &str) {
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
    resources::check_name_and_size(&mut e, name, spec);
    resources::check_live_update(&mut e, spec);
    resources::check_isolation(&mut e, spec);
    resources::check_memory_and_vcpus(&mut e, spec);
    network::check_networks(&mut e, name, spec);
    disk::check_disks(&mut e, name, spec);
    if let Some(cloud_init) = &spec.cloud_init {
        cloud_init::validate_cloud_init(&mut e, cloud_init);
    }
    if let Some(policy) = &spec.snapshots {
        check_snapshot_policy(&mut e, policy);
    }
    e.into_result()
}

/// `spec.snapshots`: a cron schedule's shape and how many to keep.
fn check_snapshot_policy(e: &mut Errors, policy: &crate::SnapshotPolicy) {
    e.check(
        image::is_cron_shape(&policy.schedule),
        || "spec.snapshots.schedule".into(),
        msg::SCHEDULE_FORMAT,
    );
    e.check(
        (1..=crate::MAX_SNAPSHOTS_KEEP).contains(&policy.keep),
        || "spec.snapshots.keep".into(),
        msg::SNAPSHOTS_KEEP_RANGE,
    );
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

/// One error per repeated name.
pub(crate) fn check_unique<'a>(
    e: &mut Errors,
    path: &str,
    names: impl Iterator<Item = &'a String>,
) {
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
