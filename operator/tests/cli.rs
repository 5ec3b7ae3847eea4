//! The `vm-operator` binary as a user runs it.

use std::process::Command;

fn run(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_vm-operator"))
        .args(args)
        .output()
        .expect("vm-operator runs");
    assert!(
        output.status.success(),
        "vm-operator {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn plugins_lists_the_five_bundled_plugins_found_through_inventory() {
    let listed = run(&["plugins"]);
    let rows: Vec<Vec<&str>> = listed
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        vec![
            vec!["network", "bridge", "vmop_net_bridge"],
            vec!["network", "sriov", "vmop_net_sriov"],
            vec!["storage", "cdi", "vmop_storage_cdi"],
            vec!["storage", "huamei-csi", "vmop_storage_huamei"],
            vec!["storage", "pvc", "vmop_storage_pvc"],
            vec!["template", "cloud-init", "vmop_template_cloudinit"],
        ],
        "{listed}"
    );
}

#[test]
fn crd_prints_the_committed_crd() {
    assert_eq!(run(&["crd"]), vmop_api::crd_yaml().expect("serializes"));
}
