//! A profile's disks: each entry, its source, and the rules across entries.

use std::collections::HashSet;

use crate::{
    messages as msg,
    profile::{AccessMode, DiskSource, DiskSpec, LocalReference, VirtualMachineProfileSpec},
    validate::{Errors, check_unique, formats::*},
};

/// Every disk, and what they may not share (names, boot orders); HA needs shared disks.
pub(super) fn check_disks(e: &mut Errors, name: &str, spec: &VirtualMachineProfileSpec) {
    e.check(
        spec.disks
            .iter()
            .all(|d| name.len() + 2 + d.name.len() <= msg::MAX_OBJECT_NAME),
        || "spec.disks".into(),
        msg::DERIVED_DISK_NAME_TOO_LONG,
    );
    check_unique(e, "spec.disks", spec.disks.iter().map(|d| &d.name));
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
        validate_disk(e, &format!("spec.disks[{i}]"), disk);
    }
}

/// The schemes a disk's `image` may have.
const DISK_IMAGE_SCHEMES: [&str; 5] = [
    "docker://",
    "oci-archive://",
    "http://",
    "https://",
    "s3://",
];

/// An image URL: one of `schemes` (else `scheme_message`), a whole S3 location, no
/// whitespace and no credentials in the authority; errors at `path`.
pub(super) fn check_image_url(
    e: &mut Errors,
    path: &str,
    image: &str,
    schemes: &[&str],
    scheme_message: &str,
) {
    let scheme_ok = schemes
        .iter()
        .any(|scheme| image.len() > scheme.len() && image.starts_with(scheme));
    e.check(scheme_ok, || path.to_owned(), scheme_message);
    e.check(
        image.strip_prefix("s3://").is_none_or(is_s3_location),
        || path.to_owned(),
        msg::S3_URL,
    );
    let authority = image
        .split_once("://")
        .map_or("", |(_, rest)| rest.split('/').next().unwrap_or(""));
    e.check(
        !image.chars().any(char::is_whitespace) && !authority.contains('@'),
        || path.to_owned(),
        msg::IMAGE_URL,
    );
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
        check_image_url(
            e,
            &format!("{at}.image"),
            image,
            &DISK_IMAGE_SCHEMES,
            msg::IMAGE_SCHEME,
        );
    }
    if let Some(image_ref) = &d.image_ref {
        e.check(
            is_dns_label(image_ref, msg::MAX_IMAGE_NAME),
            || format!("{at}.imageRef"),
            msg::IMAGE_REF_NAME,
        );
        e.check(
            d.image.is_none() && d.source.is_none(),
            || format!("{at}.imageRef"),
            msg::IMAGE_REF_EXCLUSIVE,
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
    for (field, reference) in [
        ("credentialsSecretRef", &d.credentials_secret_ref),
        ("certConfigMapRef", &d.cert_config_map_ref),
    ] {
        if let Some(reference) = reference {
            validate_local_reference(e, &format!("{at}.{field}"), reference);
            e.check(
                d.image
                    .as_deref()
                    .is_some_and(|image| !image.starts_with("oci-archive://")),
                || format!("{at}.{field}"),
                msg::CREDENTIALS_NEED_IMPORT,
            );
        }
    }
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

/// `<endpoint>/<bucket>/<object>`, none empty (CDI's importer takes the first path segment
/// as the bucket and the rest as the object).
fn is_s3_location(location: &str) -> bool {
    let mut parts = location.splitn(3, '/');
    let (endpoint, bucket, object) = (parts.next(), parts.next(), parts.next());
    let plain = |part: Option<&str>| part.is_some_and(|p| !p.is_empty() && !p.contains(['?', '#']));
    plain(endpoint) && plain(bucket) && plain(object)
}

pub(super) fn validate_local_reference(e: &mut Errors, at: &str, reference: &LocalReference) {
    e.check(
        is_dns_subdomain(&reference.name),
        || format!("{at}.name"),
        msg::OBJECT_NAME,
    );
    e.check(
        reference.namespace.is_none(),
        || format!("{at}.namespace"),
        msg::OTHER_NAMESPACE,
    );
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
