//! The Helm chart (`charts/vm-operator`): it lints, renders for both install modes, the
//! real API server accepts every rendered object (server-side dry run), kubeconform accepts
//! it, the plain manifests are its rendering, and the namespaced install grants what the
//! plain namespaced manifest grants.

mod common;

use std::{
    collections::{BTreeMap, BTreeSet},
    io::Write,
    process::{Command, Stdio},
};

use vmop_testenv::{TestEnv, kubeconform, manifests, tools};

/// The test control plane's version (helm renders for v1.20 when it cannot ask a cluster).
const KUBE_VERSION: &str = manifests::KUBE_VERSION;

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

fn kubectl(args: &[&str]) -> String {
    let kubectl = tools::ensure_kubectl().expect("kubectl");
    let output = Command::new(kubectl)
        .args(args)
        .current_dir(tools::workspace_root())
        .output()
        .expect("kubectl runs");
    assert!(
        output.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
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
    helm(&["lint", "charts/vm-operator"]);
    // The namespace must exist for a server-side dry run of namespaced objects.
    common::publish_policy("helm-test-unused", "{}\n").await;
    let cluster = helm(&[
        "template",
        "vmop",
        "charts/vm-operator",
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
        "charts/vm-operator",
        "--namespace",
        "vm-operator",
        "--kube-version",
        KUBE_VERSION,
        "--set",
        &format!("watchNamespace={}", ns.name),
    ]);
    dry_run(&namespaced);
    let namespaced_yaml = namespaced.clone();

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

    // The namespaced install: the chart's Role in the watched namespace and its ClusterRole
    // grant what deploy/operator/namespaced.yaml (which the binary is tested under) grants.
    let plain_namespaced =
        std::fs::read_to_string(tools::workspace_root().join("deploy/operator/namespaced.yaml"))
            .expect("namespaced.yaml")
            .replace("vm-workloads", &ns.name);
    let plain_namespaced = documents(&plain_namespaced);
    let namespaced = documents(&namespaced);
    let in_watched = |docs: &[serde_yaml::Value]| -> Vec<serde_yaml::Value> {
        docs.iter()
            .filter(|d| d["kind"] != "Role" || d["metadata"]["namespace"] == ns.name.as_str())
            .cloned()
            .collect()
    };
    assert_eq!(
        grants(&in_watched(&namespaced), "Role"),
        grants(&in_watched(&plain_namespaced), "Role"),
        "the Role in the watched namespace"
    );
    assert_eq!(
        grants(&namespaced, "ClusterRole"),
        grants(&plain_namespaced, "ClusterRole"),
        "the namespaced install's ClusterRole"
    );
    let cluster_role = grants(&namespaced, "ClusterRole");
    assert!(
        !cluster_role
            .keys()
            .any(|k| k.contains("/secrets") || k.contains("/virtualmachines")),
        "namespaced: no cluster-wide access to namespaced kinds: {cluster_role:?}"
    );

    // kubeconform -strict, offline, against the API server's own schemas: both renders, the
    // CRDs, and every plain manifest.
    let schemas = tempfile::tempdir().expect("temp dir");
    let kinds = kubeconform::write_schemas(&TestEnv::shared().client().await, schemas.path())
        .await
        .expect("schemas from /openapi/v2");
    assert!(kinds.contains("apps/v1/deployment"), "{kinds:?}");
    // The check can fail: an unknown field and a wrong type are refused.
    for bad in [
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicaz: 2}\n",
        "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: eighty}]}\n",
    ] {
        assert!(
            kubeconform::validate(schemas.path(), bad).is_err(),
            "kubeconform accepted {bad}"
        );
    }
    let root = tools::workspace_root();
    // The chart's CRDs, each file one document (Helm installs them file by file; `helm show
    // crds` prints them without separators).
    let mut crd_files: Vec<_> = std::fs::read_dir(root.join("charts/vm-operator/crds"))
        .expect("crds/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    crd_files.sort();
    assert_eq!(
        crd_files.len(),
        3,
        "profiles, pools and images: {crd_files:?}"
    );
    let crds = crd_files
        .iter()
        .map(|path| std::fs::read_to_string(path).expect("CRD"))
        .collect::<Vec<_>>()
        .join("\n---\n");
    // `kubectl apply -k deploy/`, for those without Helm: the same objects, accepted.
    let kustomized = kubectl(&["kustomize", "deploy"]);
    dry_run(&kustomized);
    let kinds_of = |yaml: &str| -> BTreeSet<(String, String)> {
        documents(yaml)
            .iter()
            .map(|d| {
                (
                    d["kind"].as_str().unwrap_or_default().to_owned(),
                    d["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .collect()
    };
    let mut chart_objects = kinds_of(&cluster);
    chart_objects.extend(kinds_of(&crds));
    chart_objects.insert(("Namespace".into(), "vm-operator".into()));
    assert_eq!(
        kinds_of(&kustomized),
        chart_objects,
        "kubectl apply -k installs the chart's objects"
    );
    let mut everything = vec![cluster.clone(), namespaced_yaml, crds, kustomized];
    for path in manifests::PLAIN
        .iter()
        .map(|m| m.path)
        .chain(["deploy/operator/namespaced.yaml"])
    {
        everything.push(std::fs::read_to_string(root.join(path)).expect("plain manifest"));
    }
    for yaml in everything {
        kubeconform::validate(schemas.path(), &yaml)
            .unwrap_or_else(|e| panic!("kubeconform: {e}\n{yaml}"));
    }
}

/// deploy/operator/ is the chart rendered (`cargo xtask manifests`): no second source.
#[test]
fn the_plain_manifests_are_the_chart_rendered() {
    for (path, rendered) in manifests::render().expect("helm template") {
        let committed = std::fs::read_to_string(&path).expect("plain manifest");
        assert!(
            committed == rendered,
            "{} differs from the chart: run `cargo xtask manifests`",
            path.display()
        );
    }
}
