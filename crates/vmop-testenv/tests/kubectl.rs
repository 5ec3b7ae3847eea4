//! A real third-party client checks our claims: the pinned kubectl applies the CRD and the
//! example manifests, lists profiles with our printer columns and explains the API.

use std::process::{Command, Output};

use vmop_testenv::{TestEnv, tools};

fn kubectl(args: &[&str]) -> Output {
    let kubectl = tools::ensure_kubectl().expect("kubectl installed");
    let env = TestEnv::shared();
    let output = Command::new(&kubectl)
        .arg("--kubeconfig")
        .arg(env.kubeconfig())
        .args(args)
        .current_dir(tools::workspace_root())
        .output()
        .expect("kubectl runs");
    assert!(
        output.status.success(),
        "kubectl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_applies_lists_and_explains_profiles() {
    let ns = TestEnv::shared().namespace("kubectl").await;
    tokio::task::block_in_place(|| {
        kubectl(&[
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            "deploy/crds/",
        ]);
        let applied = stdout(&kubectl(&[
            "apply",
            "-n",
            &ns.name,
            "-f",
            "examples/manifests/",
        ]));
        for name in ["web-vm-01", "dpdk-vm-01", "db-vm-01"] {
            assert!(
                applied.contains(&format!(
                    "virtualmachineprofile.vmoperator.io/{name} created"
                )),
                "{applied}"
            );
        }

        // The short name, which no kind of the stack shares.
        let listed = stdout(&kubectl(&["get", "vmprofile", "-n", &ns.name]));
        let header: Vec<&str> = listed
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        assert_eq!(
            header,
            [
                "NAME", "PHASE", "VCPUS", "MEMORY", "NODE", "IP", "REASON", "AGE"
            ],
            "{listed}"
        );
        // Size columns come from status (no operator runs here): the profile is listed.
        assert!(
            listed.lines().any(|l| l.starts_with("web-vm-01")),
            "web-vm-01 listed: {listed}"
        );

        let explained = stdout(&kubectl(&["explain", "vmprofile.spec.networks"]));
        assert!(explained.contains("vlan"), "{explained}");
        assert!(explained.contains("VLAN ID (1-4094)"), "{explained}");
    });
}
