//! Every manifest under examples/manifests parses as a VirtualMachineProfile and is valid.

use std::{fs, path::Path};

use vmop_api::{VirtualMachineProfile, validate::validate_profile};

#[test]
fn every_example_manifest_is_a_valid_profile() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/manifests");
    let mut checked = 0;
    for entry in fs::read_dir(&dir).expect("examples/manifests exists") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = fs::read_to_string(&path).expect("readable");
        let profile: VirtualMachineProfile =
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = profile.metadata.name.as_deref().unwrap_or_default();
        if let Err(errors) = validate_profile(name, &profile.spec) {
            panic!("{}: {errors}", path.display());
        }
        checked += 1;
    }
    assert!(checked >= 3, "only {checked} manifests found");
}
