//! The committed CRD is what the code generates: run `cargo xtask crdgen` after changing the API.

use std::{fs, path::Path};

#[test]
fn committed_crds_match_the_generated_one() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let profiles = vmop_api::crd_yaml().expect("the CRD serializes");
    let pools = vmop_api::pool_crd_yaml().expect("the pool CRD serializes");
    let images = vmop_api::image_crd_yaml().expect("the image CRD serializes");
    for (relative, generated) in [
        (vmop_api::CRD_PATH, &profiles),
        (vmop_api::CHART_CRD_PATH, &profiles),
        (vmop_api::POOL_CRD_PATHS[0], &pools),
        (vmop_api::POOL_CRD_PATHS[1], &pools),
        (vmop_api::IMAGE_CRD_PATHS[0], &images),
        (vmop_api::IMAGE_CRD_PATHS[1], &images),
    ] {
        let path = root.join(relative);
        let committed = fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("reading {}: {e}; run `cargo xtask crdgen`", path.display())
        });
        assert!(
            &committed == generated,
            "{relative} is stale: run `cargo xtask crdgen` and commit the result"
        );
    }
}

#[test]
fn the_crd_carries_what_users_see() {
    let crd: serde_yaml::Value =
        serde_yaml::from_str(&vmop_api::crd_yaml().expect("serializes")).expect("parses");
    let names = &crd["spec"]["names"];
    assert_eq!(names["kind"], "VirtualMachineProfile");
    // Names nothing else in the stack uses (tests/crd_names.rs checks).
    assert_eq!(names["shortNames"][0], "vmprofile");
    assert_eq!(names["shortNames"][1], "vmprofiles");
    let version = &crd["spec"]["versions"][0];
    assert_eq!(version["name"], "v1alpha1");
    assert!(version["subresources"]["status"].is_mapping());
    let columns: Vec<&str> = version["additionalPrinterColumns"]
        .as_sequence()
        .expect("printer columns")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        columns,
        [
            "Phase", "vCPUs", "Memory", "Node", "IP", "Reason", "Ready", "Age"
        ]
    );
    let networks =
        &version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["networks"];
    assert_eq!(networks["x-kubernetes-list-type"], "map");
    assert_eq!(networks["maxItems"], 16);
    let description = networks["description"].as_str().expect("described");
    assert!(!description.contains("always\nthe"), "{description:?}");
}
