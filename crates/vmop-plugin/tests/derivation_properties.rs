//! Properties of derived names and MACs, over arbitrary inputs.

use std::collections::HashSet;

use proptest::prelude::*;
use vmop_api::validate::{is_dns_label, is_unicast_mac};
use vmop_plugin::{mac::generated_mac, names::derived_name};

proptest! {
    #[test]
    fn derived_names_are_dns_labels_of_at_most_63(parts in prop::collection::vec(".{0,80}", 1..4)) {
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        let name = derived_name(&refs);
        prop_assert!(is_dns_label(&name, 63), "{name:?}");
    }

    #[test]
    fn derived_names_are_stable(a in "[a-z0-9-]{1,60}", b in "[a-z0-9-]{1,60}") {
        prop_assert_eq!(derived_name(&[&a, &b]), derived_name(&[&a, &b]));
    }

    #[test]
    fn distinct_long_inputs_get_distinct_names(a in "[a-z]{60}", b in "[a-z]{60}") {
        prop_assume!(a != b);
        prop_assert_ne!(derived_name(&["vm", &a]), derived_name(&["vm", &b]));
    }

    #[test]
    fn generated_macs_are_unicast_locally_administered_and_stable(seed in ".{0,100}") {
        let mac = generated_mac(&seed);
        prop_assert!(is_unicast_mac(&mac), "{mac}");
        let first = u8::from_str_radix(&mac[..2], 16).expect("hex");
        prop_assert_eq!(first & 0b10, 0b10, "locally administered: {}", mac);
        prop_assert_eq!(mac.clone(), generated_mac(&seed));
    }
}

#[test]
fn macs_of_ten_thousand_interfaces_do_not_collide() {
    let macs: HashSet<String> = (0..10_000)
        .map(|i| generated_mac(&format!("prod/vm-{i}/uid-{i}/mgmt")))
        .collect();
    assert_eq!(macs.len(), 10_000);
}

#[test]
fn names_of_ten_thousand_long_profiles_do_not_collide() {
    let long = "x".repeat(60);
    let names: HashSet<String> = (0..10_000)
        .map(|i| derived_name(&[&long, &format!("disk-{i}")]))
        .collect();
    assert_eq!(names.len(), 10_000);
}
