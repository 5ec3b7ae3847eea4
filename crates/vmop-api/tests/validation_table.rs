//! Every invalid profile of the shared table gets exactly its error from the Rust validator.

use pretty_assertions::assert_eq;
use vmop_api::{
    fixtures::{invalid_cases, semantic_cases, valid_profile},
    validate::{FieldError, validate_profile, validate_semantics},
};

fn name_of(profile: &vmop_api::VirtualMachineProfile) -> &str {
    profile.metadata.name.as_deref().unwrap_or_default()
}

#[test]
fn the_valid_profile_is_valid() {
    let profile = valid_profile("web-vm-01");
    assert_eq!(validate_profile(name_of(&profile), &profile.spec), Ok(()));
}

#[test]
fn the_table_covers_at_least_twenty_distinct_mistakes() {
    let cases = invalid_cases();
    let descriptions: std::collections::HashSet<_> = cases.iter().map(|c| c.description).collect();
    assert!(cases.len() >= 20, "only {} cases", cases.len());
    assert_eq!(
        descriptions.len(),
        cases.len(),
        "descriptions must be unique"
    );
}

#[test]
fn each_invalid_profile_gets_exactly_its_field_and_message() {
    let mut failures = Vec::new();
    for case in invalid_cases() {
        let expected = vec![FieldError {
            path: case.path.to_owned(),
            message: case.message.clone(),
        }];
        let actual = match validate_profile(name_of(&case.profile), &case.profile.spec) {
            Ok(()) => Vec::new(),
            Err(errors) => errors.0,
        };
        if actual != expected {
            failures.push(format!(
                "{}: expected {expected:?}, got {actual:?}",
                case.description
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn errors_read_as_path_then_message() {
    let mut profile = valid_profile("web-vm-01");
    profile.spec.cpu = Some(0);
    profile.spec.networks[0].vlan = Some(5000);
    let error = validate_profile("web-vm-01", &profile.spec).expect_err("two mistakes");
    assert_eq!(
        error.to_string(),
        "spec.cpu: must be between 1 and 256; spec.networks[0].vlan: must be between 1 and 4094"
    );
}

#[test]
fn backends_default_by_image_and_can_be_named() {
    use vmop_api::{DiskSpec, VirtualMachineProfileSpec as Spec};
    let blank = DiskSpec {
        name: "data".into(),
        size: "1Gi".into(),
        ..DiskSpec::default()
    };
    let image = DiskSpec {
        image: Some("docker://x/y:1".into()),
        ..blank.clone()
    };
    let named = DiskSpec {
        backend: Some("local-path".into()),
        ..image.clone()
    };
    assert_eq!(
        Spec::backend_of(&blank),
        None,
        "chosen by the class's provisioner"
    );
    assert_eq!(Spec::backend_of(&image), Some("cdi"));
    assert_eq!(Spec::backend_of(&named), Some("local-path"));
}

#[test]
fn semantic_mistakes_pass_the_crd_rules_and_get_exactly_their_error_from_the_controller() {
    let mut failures = Vec::new();
    for case in semantic_cases() {
        let name = name_of(&case.profile);
        if let Err(errors) = validate_profile(name, &case.profile.spec) {
            failures.push(format!(
                "{}: the CRD rules refuse it: {errors}",
                case.description
            ));
        }
        let expected = vec![FieldError {
            path: case.path.to_owned(),
            message: case.message.clone(),
        }];
        let actual = validate_semantics(&case.profile.spec)
            .err()
            .map(|e| e.0)
            .unwrap_or_default();
        if actual != expected {
            failures.push(format!(
                "{}: expected {expected:?}, got {actual:?}",
                case.description
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    assert!(validate_semantics(&valid_profile("web-vm-01").spec).is_ok());
}

#[test]
fn each_invalid_pool_gets_exactly_its_field_and_message() {
    use vmop_api::{
        fixtures::{invalid_pool_cases, valid_pool},
        validate::validate_pool,
    };
    assert_eq!(validate_pool("web", &valid_pool("web").spec), Ok(()));
    let mut failures = Vec::new();
    for case in invalid_pool_cases() {
        let expected = vec![FieldError {
            path: case.path.to_owned(),
            message: case.message.to_owned(),
        }];
        let name = case.pool.metadata.name.clone().unwrap_or_default();
        let actual = validate_pool(&name, &case.pool.spec)
            .err()
            .map(|e| e.0)
            .unwrap_or_default();
        if actual != expected {
            failures.push(format!(
                "{}: expected {expected:?}, got {actual:?}",
                case.description
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn each_invalid_image_gets_exactly_its_field_and_message() {
    use vmop_api::{
        fixtures::{invalid_image_cases, valid_image},
        validate::validate_image,
    };
    assert_eq!(
        validate_image("ubuntu", &valid_image("ubuntu").spec),
        Ok(())
    );
    let cases = invalid_image_cases();
    assert!(cases.len() >= 10, "the image table covers its rules");
    for case in cases {
        let name = case.image.metadata.name.clone().unwrap_or_default();
        let errors = validate_image(&name, &case.image.spec)
            .expect_err(case.description)
            .0;
        assert_eq!(
            errors
                .iter()
                .map(|e| (e.path.as_str(), e.message.as_str()))
                .collect::<Vec<_>>(),
            vec![(case.path, case.message)],
            "{}",
            case.description
        );
    }
}
