//! A VirtualMachineImage: its name, source, schedule and how many versions it keeps.

use crate::{
    image::VirtualMachineImageSpec,
    messages as msg,
    validate::{Errors, ValidationErrors, disk::check_image_url, formats::*},
};

/// The schemes a catalog image's `source` may have (CDI imports an `oci-archive://` only
/// into a disk, never through a DataImportCron).
const IMAGE_SOURCE_SCHEMES: [&str; 4] = ["docker://", "http://", "https://", "s3://"];

/// Validates an image named `name` the way its CRD does.
pub fn validate_image(name: &str, spec: &VirtualMachineImageSpec) -> Result<(), ValidationErrors> {
    let mut e = Errors::default();
    e.check(
        is_dns_label(name, msg::MAX_IMAGE_NAME),
        || "metadata.name".into(),
        msg::IMAGE_NAME,
    );
    check_image_url(
        &mut e,
        "spec.source",
        &spec.source,
        &IMAGE_SOURCE_SCHEMES,
        msg::IMAGE_SOURCE_SCHEME,
    );
    e.check(
        is_whole_bytes_at_least(&spec.size, MI),
        || "spec.size".into(),
        msg::SIZE_QUANTITY,
    );
    if let Some(class) = &spec.storage_class_name {
        e.check(
            is_dns_subdomain(class),
            || "spec.storageClassName".into(),
            msg::STORAGE_CLASS_NAME,
        );
    }
    for (field, reference) in [
        ("credentialsSecretRef", &spec.credentials_secret_ref),
        ("certConfigMapRef", &spec.cert_config_map_ref),
    ] {
        if let Some(reference) = reference {
            super::disk::validate_local_reference(&mut e, &format!("spec.{field}"), reference);
        }
    }
    if let Some(schedule) = &spec.schedule {
        e.check(
            is_cron_shape(schedule),
            || "spec.schedule".into(),
            msg::SCHEDULE_FORMAT,
        );
        e.check(
            spec.source.starts_with("docker://"),
            || "spec.schedule".into(),
            msg::SCHEDULE_NEEDS_REGISTRY,
        );
    }
    if let Some(keep) = spec.imports_to_keep {
        e.check(
            (1..=20).contains(&keep),
            || "spec.importsToKeep".into(),
            msg::IMPORTS_TO_KEEP_RANGE,
        );
        e.check(
            spec.schedule.is_some(),
            || "spec.importsToKeep".into(),
            msg::IMPORTS_TO_KEEP_NEEDS_SCHEDULE,
        );
    }
    e.into_result()
}

/// The CRD's pattern for a schedule: a macro, or five fields of cron's characters separated
/// by spaces. What the fields mean is checked by the controller (a `Ready=False` condition).
pub fn is_cron_shape(schedule: &str) -> bool {
    const MACROS: [&str; 7] = [
        "@yearly",
        "@annually",
        "@monthly",
        "@weekly",
        "@daily",
        "@midnight",
        "@hourly",
    ];
    if MACROS.contains(&schedule) {
        return true;
    }
    let field_ok = |f: &str| {
        !f.is_empty()
            && f.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"*,/?#-".contains(&b))
    };
    // Fields are separated by one or more spaces, with none before or after.
    let fields: Vec<&str> = schedule.split(' ').filter(|f| !f.is_empty()).collect();
    !schedule.starts_with(' ')
        && !schedule.ends_with(' ')
        && fields.len() == 5
        && fields.iter().all(|f| field_ok(f))
}

#[cfg(test)]
mod tests {
    use super::is_cron_shape;

    #[test]
    fn cron_shapes_as_the_crd_pattern_reads_them() {
        for ok in ["0 2 * * *", "*/5 * * * MON-FRI", "@daily", "0  2 * * *"] {
            assert!(is_cron_shape(ok), "{ok}");
        }
        for bad in [
            "every day",
            "0 2 * *",
            "0 2 * * * *",
            " 0 2 * * *",
            "@often",
            "0\t2 * * *",
        ] {
            assert!(!is_cron_shape(bad), "{bad}");
        }
    }
}
