//! `vm-operator render` as a pipeline runs it: every case of the invalid-spec table exits
//! non-zero naming its field; the examples render under the demo's policy, in apply order,
//! as YAML or as a JSON List, with the user data redacted.

use std::{io::Write, path::Path, process::Command};

use serde_json::Value;
use vmop_api::fixtures::invalid_cases;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn render(args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vm-operator"))
        .arg("render")
        .args(args)
        .current_dir(root())
        .env("RUST_BACKTRACE", "0")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("vm-operator runs");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.unwrap_or_default().as_bytes())
        .expect("write stdin");
    drop(input);
    let output = child.wait_with_output().expect("vm-operator ends");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn every_invalid_case_exits_non_zero_and_names_its_field() {
    let cases = invalid_cases();
    assert!(cases.len() > 50, "the whole table: {}", cases.len());
    for case in cases {
        let yaml = serde_yaml::to_string(&case.profile).expect("yaml");
        let (ok, stdout, stderr) = render(&["-f", "-"], Some(&yaml));
        assert!(!ok, "{}: rendered: {stdout}", case.description);
        assert!(
            stderr.contains(case.path),
            "{}: {} not named in: {stderr}",
            case.description,
            case.path
        );
        assert!(
            !stdout.contains("kind:"),
            "{}: nothing is printed for it: {stdout}",
            case.description
        );
    }
}

#[test]
fn the_examples_render_in_apply_order_with_user_data_redacted() {
    let (ok, stdout, stderr) = render(
        &[
            "-f",
            "examples/manifests/web-vm-01.yaml",
            "--policy",
            "examples/policy/demo.yaml",
            "-n",
            "demo",
        ],
        None,
    );
    assert!(ok, "{stderr}");
    let kinds: Vec<String> = serde_yaml::Deserializer::from_str(&stdout)
        .map(|d| {
            let value: Value = serde::Deserialize::deserialize(d).expect("YAML");
            value["kind"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "NetworkAttachmentDefinition",
            "NodeNetworkConfigurationPolicy",
            "DataVolume",
            "PersistentVolumeClaim",
            "Secret",
            "VirtualMachine"
        ]
    );
    assert!(stdout.contains("<redacted: "), "{stdout}");
    assert!(!stdout.contains("ssh-ed25519"), "no user data: {stdout}");
    assert!(
        stderr.contains("StorageClass huamei-sc-ssd is not in the input"),
        "{stderr}"
    );

    // Without the policy, the node networking is refused as the controller would refuse it.
    let (ok, _, stderr) = render(&["-f", "examples/manifests/web-vm-01.yaml"], None);
    assert!(!ok);
    assert!(stderr.contains("NotAllowed"), "{stderr}");
    assert!(
        stderr.contains("spec.networks[0].nodeInterface"),
        "{stderr}"
    );

    // A pool as a JSON List: its members first, each followed by its own objects. Its disk
    // names no class: the cluster's default is given with the input, as k3s ships it.
    let (ok, _, stderr) = render(&["-f", "examples/pools/web-pool.yaml"], None);
    assert!(!ok);
    assert!(
        stderr.contains("spec.disks[0].storageClassName"),
        "{stderr}"
    );
    let local_path = r#"
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: local-path
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: rancher.io/local-path
volumeBindingMode: WaitForFirstConsumer
"#;
    let (ok, stdout, stderr) = render(
        &[
            "-f",
            "examples/pools/web-pool.yaml",
            "-f",
            "-",
            "-o",
            "json",
        ],
        Some(local_path),
    );
    assert!(ok, "{stderr}");
    let list: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(list["kind"], "List");
    let items = list["items"].as_array().expect("items");
    assert_eq!(items[0]["kind"], "VirtualMachineProfile");
    assert_eq!(items[0]["metadata"]["name"], "web-0");
    let members = items
        .iter()
        .filter(|i| i["kind"] == "VirtualMachineProfile")
        .count();
    let vms = items
        .iter()
        .filter(|i| i["kind"] == "VirtualMachine")
        .count();
    assert_eq!((members, vms), (3, 3));
    // Like the controller, the DataVolumes leave the class to the cluster's default.
    let disks: Vec<&Value> = items.iter().filter(|i| i["kind"] == "DataVolume").collect();
    assert_eq!(disks.len(), 3);
    assert!(
        disks
            .iter()
            .all(|d| d["spec"]["storage"]["storageClassName"].is_null())
    );
    assert!(
        items
            .iter()
            .all(|i| i["metadata"]["ownerReferences"].is_null()),
        "no owner references: render knows no UIDs"
    );
}
