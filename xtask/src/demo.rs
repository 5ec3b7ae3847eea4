//! `cargo xtask demo`: the whole system on an embedded control plane. Starts kube-testenv and
//! the data-plane simulators (with human-scale delays), runs the real `vm-operator` binary
//! against it, applies `examples/manifests/`, and shows each profile's progress until all run
//! (exit 0) or one fails (exit 1 with its conditions). Then it live-migrates the HA example
//! and scales the example pool.

use std::{
    collections::BTreeMap,
    io::{IsTerminal, Write},
    net::TcpListener,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use kube::{
    Api, Client, ResourceExt,
    api::{ListParams, PostParams},
};
use vmop_api::{
    Phase, VirtualMachineProfile,
    external::multus::{NetworkAttachmentDefinition, NetworkAttachmentDefinitionSpec},
    k8s_openapi::{api::core::v1::Namespace, apimachinery::pkg::apis::meta::v1::ObjectMeta},
};
use vmop_testenv::{ControlPlane, bootstrap, sim};

pub const NAMESPACE: &str = "demo";

/// Options of the demo.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Keep everything running after the profiles converge, until Ctrl-C.
    #[arg(long)]
    keep: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

/// Runs the demo; the error says why it did not converge.
pub fn demo(root: &Path, args: DemoArgs) -> Result<()> {
    println!("building vm-operator");
    let status = Command::new("cargo")
        .args(["build", "--quiet", "--package", "vm-operator"])
        .current_dir(root)
        .status()
        .context("cargo build")?;
    if !status.success() {
        bail!("building vm-operator failed");
    }
    println!("starting the control plane (kube-apiserver, etcd, controller-manager)");
    let control_plane = ControlPlane::start_ephemeral()?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let client = control_plane.client().await?;
        bootstrap(&client).await?;
        tokio::spawn(sim::run_all(client.clone(), sim::SimConfig::realistic()));
        println!("simulators running: CSI, CDI, NMState, KubeVirt");
        apply_policy(&client, root).await?;
        println!("administrator's policy: examples/policy/demo.yaml");

        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let log_path = control_plane.data_dir().join("vm-operator.log");
        let log = std::fs::File::create(&log_path)?;
        let _operator = KillOnDrop(
            Command::new(root.join("target/debug/vm-operator"))
                .args(["run", "--listen", &format!("127.0.0.1:{port}")])
                .arg("--kubeconfig")
                .arg(control_plane.kubeconfig())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .context("starting vm-operator")?,
        );
        println!("vm-operator running (log: {}, metrics: http://127.0.0.1:{port}/metrics)", log_path.display());

        let names = apply_examples(&client, root).await?;
        println!("applied {} profiles from examples/manifests: {}\n", names.len(), names.join(", "));
        let mut outcome = follow(&client, args.timeout).await;
        print_table(&client).await?;
        if outcome.is_ok() {
            outcome = crate::demo_migrate::run(&client, args.timeout).await;
        }
        if outcome.is_ok() {
            outcome = crate::demo_snapshot::run(&client, args.timeout).await;
        }
        if outcome.is_ok() {
            outcome = crate::demo_pool::run(&client, root, args.timeout).await;
        }
        if outcome.is_ok() {
            outcome = crate::demo_catalog::run(&client, root, args.timeout).await;
        }
        println!(
            "\nlook around:\n  export KUBECONFIG={}\n  kubectl get vmprofile,vmprofilepool,vmimage,vmsnapshot,vmrestore -n {NAMESPACE} -o wide\n  kubectl get vm,vmi,dv,pvc,net-attach-def -n {NAMESPACE}\n  kubectl get nncp,nnce\n  kubectl describe vmprofile -n {NAMESPACE} web-vm-01",
            control_plane.kubeconfig().display()
        );
        if args.keep {
            println!("\n--keep: running until Ctrl-C");
            tokio::signal::ctrl_c().await?;
        }
        outcome
    })
}

/// The operator's namespace and the administrator's policy the examples need.
async fn apply_policy(client: &Client, root: &Path) -> Result<()> {
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some("vm-operator".into()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    let params = kube::api::PatchParams::apply("vmop-demo").force();
    Api::<Namespace>::all(client.clone())
        .patch("vm-operator", &params, &kube::api::Patch::Apply(&namespace))
        .await?;
    let policy: vmop_api::k8s_openapi::api::core::v1::ConfigMap = serde_yaml::from_str(
        &std::fs::read_to_string(root.join("examples/policy/demo.yaml"))?,
    )?;
    Api::<vmop_api::k8s_openapi::api::core::v1::ConfigMap>::namespaced(
        client.clone(),
        "vm-operator",
    )
    .patch(
        "vm-operator-policy",
        &params,
        &kube::api::Patch::Apply(&policy),
    )
    .await?;
    Ok(())
}

async fn apply_examples(client: &Client, root: &Path) -> Result<Vec<String>> {
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(NAMESPACE.into()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await?;
    // web-vm-01 attaches to an existing NAD, as a user's would be.
    let business = NetworkAttachmentDefinition::new(
        "business-net",
        NetworkAttachmentDefinitionSpec {
            config: Some(
                r#"{"cniVersion":"0.3.1","type":"bridge","bridge":"br-biz","ipam":{}}"#.into(),
            ),
            ..Default::default()
        },
    );
    Api::<NetworkAttachmentDefinition>::namespaced(client.clone(), NAMESPACE)
        .create(&PostParams::default(), &business)
        .await?;
    let profiles: Api<VirtualMachineProfile> = Api::namespaced(client.clone(), NAMESPACE);
    let mut names = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(root.join("examples/manifests"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    for path in paths {
        let profile: VirtualMachineProfile = serde_yaml::from_str(&std::fs::read_to_string(&path)?)
            .with_context(|| format!("{}", path.display()))?;
        names.push(profile.name_any());
        profiles.create(&PostParams::default(), &profile).await?;
    }
    Ok(names)
}

/// One line per profile: phase, each disk's import progress, each network's addresses.
fn describe(profile: &VirtualMachineProfile) -> String {
    let status = profile.status.clone().unwrap_or_default();
    let phase = status
        .phase
        .map_or_else(|| "-".to_owned(), |p| format!("{p:?}"));
    let mut parts = vec![format!("{:<11} {:<13}", profile.name_any(), phase)];
    if let Some(restarts) = status.disks.iter().filter_map(|d| d.restart_count).max() {
        parts.push(format!("(importer restarts: {restarts})"));
    }
    for disk in &status.disks {
        let progress = disk.progress.as_deref().unwrap_or("");
        let bar = progress
            .trim_end_matches('%')
            .parse::<f64>()
            .ok()
            .filter(|_| !disk.ready)
            .map(|p| {
                let filled = (p / 10.0).round() as usize;
                format!(
                    " [{}{}] {progress}",
                    "#".repeat(filled),
                    ".".repeat(10 - filled.min(10))
                )
            })
            .unwrap_or_default();
        let state = if disk.ready {
            "ready".to_owned()
        } else if disk.waiting_for_first_consumer {
            "waits for the VM (WaitForFirstConsumer)".to_owned()
        } else {
            disk.phase.clone().unwrap_or_else(|| "pending".into())
        };
        parts.push(format!("{}: {state}{bar}", disk.name));
    }
    for network in &status.networks {
        let addresses = if network.ip_addresses.is_empty() {
            "-".to_owned()
        } else {
            network.ip_addresses.join(",")
        };
        parts.push(format!("{}: {addresses}", network.name));
    }
    if let Some(node) = &status.node_name {
        parts.push(format!("on {node}"));
    }
    parts.join("  ")
}

/// Shows progress until every profile runs (Ok) or one fails or time runs out (Err).
async fn follow(client: &Client, timeout: u64) -> Result<()> {
    let profiles: Api<VirtualMachineProfile> = Api::namespaced(client.clone(), NAMESPACE);
    let tty = std::io::stdout().is_terminal();
    let started = Instant::now();
    let mut shown: BTreeMap<String, String> = BTreeMap::new();
    let mut drawn = 0;
    loop {
        let list = profiles.list(&ListParams::default()).await?;
        let lines: Vec<String> = list.items.iter().map(describe).collect();
        let mut out = std::io::stdout().lock();
        if tty {
            // Redraw in place.
            if drawn > 0 {
                write!(out, "\x1b[{drawn}A")?;
            }
            for line in &lines {
                writeln!(out, "\x1b[2K{line}")?;
            }
            drawn = lines.len();
        } else {
            for (profile, line) in list.items.iter().zip(&lines) {
                if shown.get(&profile.name_any()) != Some(line) {
                    writeln!(out, "[{:>5.1}s] {line}", started.elapsed().as_secs_f64())?;
                    shown.insert(profile.name_any(), line.clone());
                }
            }
        }
        out.flush()?;
        drop(out);
        // Done when every profile runs and is Ready (networks, disks and VM all ready).
        let ready = |p: &VirtualMachineProfile| {
            p.status.as_ref().is_some_and(|s| {
                s.phase == Some(Phase::Running)
                    && s.conditions
                        .iter()
                        .any(|c| c.type_ == "Ready" && c.status == "True")
            })
        };
        if !list.items.is_empty() && list.items.iter().all(ready) {
            println!(
                "\nall {} profiles Running and Ready after {:.1}s",
                list.items.len(),
                started.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        if let Some(failed) = list
            .items
            .iter()
            .find(|p| p.status.as_ref().and_then(|s| s.phase) == Some(Phase::Failed))
        {
            bail!("{} failed: {}", failed.name_any(), conditions(failed));
        }
        if started.elapsed() > Duration::from_secs(timeout) {
            let stuck: Vec<String> = list
                .items
                .iter()
                .filter(|p| p.status.as_ref().and_then(|s| s.phase) != Some(Phase::Running))
                .map(|p| format!("{}: {}", p.name_any(), conditions(p)))
                .collect();
            bail!(
                "not all profiles Running after {timeout}s:\n{}",
                stuck.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn conditions(profile: &VirtualMachineProfile) -> String {
    profile
        .status
        .iter()
        .flat_map(|s| &s.conditions)
        .filter(|c| c.status != "True")
        .map(|c| format!("{}={} ({}: {})", c.type_, c.status, c.reason, c.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The `kubectl get vmprofile -o wide` view.
async fn print_table(client: &Client) -> Result<()> {
    let profiles: Api<VirtualMachineProfile> = Api::namespaced(client.clone(), NAMESPACE);
    println!(
        "\n{:<11} {:<9} {:<5} {:<7} {:<7} {:<15} READY",
        "NAME", "PHASE", "VCPUS", "MEMORY", "NODE", "IP"
    );
    for p in profiles.list(&ListParams::default()).await? {
        let status = p.status.clone().unwrap_or_default();
        let ready = status
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .map_or("-", |c| c.status.as_str())
            .to_owned();
        println!(
            "{:<11} {:<9} {:<5} {:<7} {:<7} {:<15} {ready}",
            p.name_any(),
            status
                .phase
                .map_or_else(|| "-".into(), |ph| format!("{ph:?}")),
            status
                .resources
                .as_ref()
                .map_or_else(|| "-".into(), |r| r.vcpus.to_string()),
            status.resources.as_ref().map_or("-", |r| r.memory.as_str()),
            status.node_name.as_deref().unwrap_or("-"),
            status.primary_ip.as_deref().unwrap_or("-"),
        );
    }
    Ok(())
}
