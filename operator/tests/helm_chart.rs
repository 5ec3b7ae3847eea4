//! The Helm chart (`deploy/helm/vm-operator`): it lints, renders for both install modes, the
//! real API server accepts every rendered object (server-side dry run), and its RBAC grants
//! exactly what the plain manifests the binary is tested under grant.

mod common;

use std::{
    collections::{BTreeMap, BTreeSet},
    io::Write,
    process::{Command, Stdio},
};

use vmop_testenv::{TestEnv, tools};

/// The test control plane's version (helm renders for v1.20 when it cannot ask a cluster).
const KUBE_VERSION: &str = "1.36.3";

fn helm(args: &[&str]) -> String {
    let helm = tools::ensure_go_tool(tools::HELM_MODULE).expect("helm");
    let output = Command::new(helm)
        .args(args)
        .current_dir(tools::workspace_root())
        .output()
        .expect("helm runs");
    assert!(
        output.status.success(),
        "helm {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn documents(yaml: &str) -> Vec<serde_yaml::Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|d| serde::Deserialize::deserialize(d).expect("YAML"))
        .filter(|v: &serde_yaml::Value| !v.is_null())
        .collect()
}

/// (apiGroup, resource, resourceNames) -> verbs, over every rule of the ClusterRoles and
/// Roles named `names` (or all) in `docs`.
fn grants(docs: &[serde_yaml::Value], kind: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut grants: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for doc in docs.iter().filter(|d| d["kind"] == kind) {
        let name = doc["metadata"]["name"].as_str().unwrap_or_default();
        if name.ends_with("clone-source") {
            continue;
        }
        for rule in doc["rules"].as_sequence().into_iter().flatten() {
            let list = |key: &str| -> Vec<String> {
                rule[key]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            };
            let names = list("resourceNames").join(",");
            for group in list("apiGroups") {
                for resource in list("resources") {
                    grants
                        .entry(format!("{group}/{resource}[{names}]"))
                        .or_default()
                        .extend(list("verbs"));
                }
            }
        }
    }
    grants
}

fn dry_run(yaml: &str) {
    let env = TestEnv::shared();
    let kubectl = tools::ensure_kubectl().expect("kubectl");
    let mut apply = Command::new(kubectl)
        .arg("--kubeconfig")
        .arg(env.kubeconfig())
        .args(["apply", "--dry-run=server", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl");
    apply
        .stdin
        .take()
        .expect("stdin")
        .write_all(yaml.as_bytes())
        .expect("written");
    let output = apply.wait_with_output().expect("kubectl ends");
    assert!(
        output.status.success(),
        "the API server refuses the chart: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_chart_lints_renders_and_the_api_server_accepts_it() {
    helm(&["lint", "deploy/helm/vm-operator"]);
    // The namespace must exist for a server-side dry run of namespaced objects.
    common::publish_policy("helm-test-unused", "{}\n").await;
    let cluster = helm(&[
        "template",
        "vmop",
        "deploy/helm/vm-operator",
        "--namespace",
        "vm-operator",
        "--kube-version",
        KUBE_VERSION,
    ]);
    dry_run(&cluster);
    let ns = TestEnv::shared().namespace("helm").await;
    let namespaced = helm(&[
        "template",
        "vmop",
        "deploy/helm/vm-operator",
        "--namespace",
        "vm-operator",
        "--kube-version",
        KUBE_VERSION,
        "--set",
        &format!("watchNamespace={}", ns.name),
    ]);
    dry_run(&namespaced);

    let rendered = documents(&cluster);
    let deployment = rendered
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("a Deployment");
    let args: Vec<&str> = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_sequence()
        .expect("args")
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert!(args.contains(&"--leader-election"), "{args:?}");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let security = &deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    for kind in [
        "PodDisruptionBudget",
        "Service",
        "Lease",
        "ValidatingAdmissionPolicy",
    ] {
        assert!(
            rendered.iter().any(|d| d["kind"] == kind),
            "the chart has a {kind}"
        );
    }

    // The chart grants what rbac.yaml grants (the binary's tests run under rbac.yaml).
    let shipped =
        std::fs::read_to_string(tools::workspace_root().join("deploy/operator/rbac.yaml"))
            .expect("rbac.yaml");
    let shipped = documents(&shipped);
    assert_eq!(
        grants(&rendered, "ClusterRole"),
        grants(&shipped, "ClusterRole")
    );
    let namespaced = documents(&namespaced);
    assert!(
        namespaced
            .iter()
            .any(|d| d["kind"] == "Role" && d["metadata"]["namespace"] == ns.name.as_str()),
        "a Role in the watched namespace"
    );
    let cluster_role = grants(&namespaced, "ClusterRole");
    assert!(
        !cluster_role
            .keys()
            .any(|k| k.contains("/secrets") || k.contains("/virtualmachines")),
        "namespaced: no cluster-wide access to namespaced kinds: {cluster_role:?}"
    );
}
