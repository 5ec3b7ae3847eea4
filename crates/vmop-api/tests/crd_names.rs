//! The names kubectl resolves (plural, singular, short names) of this project's kinds are
//! used by no other kind of the stack: every CRD of the test world (`crates/vmop-testenv/crds/`,
//! the upstream CRDs), KubeVirt's kinds that are not vendored, and Kubernetes' own. A shared
//! short name makes `kubectl get <name>` ambiguous, and a script silently reads the other kind.

use std::collections::BTreeMap;

use serde_yaml::Value;

/// KubeVirt kinds the test world does not install, with their names from kubevirt/kubevirt
/// `pkg/virt-operator/resource/generate/components/crds.go` (d923fdb815, after v1.9.0-beta.0).
const KUBEVIRT_NOT_VENDORED: &[(&str, &[&str])] = &[
    (
        "VirtualMachinePool",
        &[
            "virtualmachinepools",
            "virtualmachinepool",
            "vmpool",
            "vmpools",
        ],
    ),
    (
        "VirtualMachineInstancePreset",
        &[
            "virtualmachineinstancepresets",
            "virtualmachineinstancepreset",
            "vmipreset",
            "vmipresets",
        ],
    ),
    (
        "VirtualMachineInstanceReplicaSet",
        &[
            "virtualmachineinstancereplicasets",
            "virtualmachineinstancereplicaset",
            "vmirs",
            "vmirss",
        ],
    ),
    ("KubeVirt", &["kubevirts", "kubevirt", "kv", "kvs"]),
    (
        "VirtualMachineSnapshot",
        &[
            "virtualmachinesnapshots",
            "virtualmachinesnapshot",
            "vmsnapshot",
            "vmsnapshots",
        ],
    ),
    (
        "VirtualMachineSnapshotContent",
        &[
            "virtualmachinesnapshotcontents",
            "virtualmachinesnapshotcontent",
            "vmsnapshotcontent",
            "vmsnapshotcontents",
        ],
    ),
    (
        "VirtualMachineRestore",
        &[
            "virtualmachinerestores",
            "virtualmachinerestore",
            "vmrestore",
            "vmrestores",
        ],
    ),
    (
        "VirtualMachineExport",
        &[
            "virtualmachineexports",
            "virtualmachineexport",
            "vmexport",
            "vmexports",
        ],
    ),
    (
        "VirtualMachineBackup",
        &[
            "virtualmachinebackups",
            "virtualmachinebackup",
            "vmbackup",
            "vmbackups",
        ],
    ),
    (
        "VirtualMachineClone",
        &[
            "virtualmachineclones",
            "virtualmachineclone",
            "vmclone",
            "vmclones",
        ],
    ),
    ("MigrationPolicy", &["migrationpolicies", "migrationpolicy"]),
];

/// Kubernetes' own short names (`kubectl api-resources`, v1.36).
const KUBERNETES: &[&str] = &[
    "cm", "cs", "ep", "ev", "limits", "no", "ns", "po", "pv", "pvc", "quota", "rc", "sa", "svc",
    "crd", "crds", "ds", "deploy", "rs", "sts", "hpa", "cj", "csr", "ing", "netpol", "pdb", "pc",
    "sc", "vac",
];

/// (kind, names) of one CRD document.
fn names_of(crd: &Value) -> Option<(String, Vec<String>)> {
    let names = &crd["spec"]["names"];
    let kind = names["kind"].as_str()?.to_owned();
    let mut all: Vec<String> = ["plural", "singular"]
        .iter()
        .filter_map(|key| names[*key].as_str().map(str::to_owned))
        .collect();
    all.extend(
        names["shortNames"]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(|n| n.as_str().map(str::to_owned)),
    );
    Some((kind, all))
}

fn stack() -> BTreeMap<String, String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../vmop-testenv/crds");
    let mut taken = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).expect("the test world's CRDs") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable");
        for document in serde_yaml::Deserializer::from_str(&text) {
            let crd = serde_yaml::Value::deserialize(document).expect("YAML");
            if let Some((kind, names)) = names_of(&crd) {
                for name in names {
                    taken.insert(name, kind.clone());
                }
            }
        }
    }
    for (kind, names) in KUBEVIRT_NOT_VENDORED {
        for name in *names {
            taken.insert((*name).to_owned(), (*kind).to_owned());
        }
    }
    for name in KUBERNETES {
        taken.insert((*name).to_owned(), "a Kubernetes kind".to_owned());
    }
    taken
}

use serde::Deserialize;

#[test]
fn no_name_of_ours_is_taken_by_another_kind_of_the_stack() {
    let taken = stack();
    assert!(
        taken
            .get("vmp")
            .is_some_and(|k| k == "VirtualMachinePreference"),
        "the upstream CRDs were read: {taken:?}"
    );
    for yaml in [
        vmop_api::crd_yaml(),
        vmop_api::pool_crd_yaml(),
        vmop_api::image_crd_yaml(),
    ] {
        let crd: Value = serde_yaml::from_str(&yaml.expect("serializes")).expect("parses");
        let (kind, names) = names_of(&crd).expect("names");
        for name in names {
            assert!(
                !taken.contains_key(&name),
                "{kind}'s name {name:?} is {}'s too",
                taken[&name]
            );
        }
    }
}
