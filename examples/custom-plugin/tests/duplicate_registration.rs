//! Two crates registering one name in one binary: the registry refuses to build and names both.

use vmop_plugin::{PluginKind, Registries, RegistryError};

#[test]
fn a_name_registered_by_two_crates_is_reported() {
    vmop_example_custom_plugin::link();
    vmop_example_duplicate_plugin::link();
    let error = Registries::from_inventory().expect_err("macvlan is registered twice");
    let RegistryError::Duplicate {
        kind,
        name,
        first,
        second,
    } = &error
    else {
        panic!("expected a duplicate, got {error}");
    };
    assert_eq!((*kind, name.as_str()), (PluginKind::Network, "macvlan"));
    // inventory yields submissions in no promised order: compare as a set.
    let mut modules = [first.as_str(), second.as_str()];
    modules.sort_unstable();
    assert_eq!(
        modules,
        [
            "vmop_example_custom_plugin",
            "vmop_example_duplicate_plugin"
        ]
    );
    assert!(
        error
            .to_string()
            .starts_with("network plugin \"macvlan\" is registered twice: by "),
        "{error}"
    );
}
