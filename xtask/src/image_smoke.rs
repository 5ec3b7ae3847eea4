//! The image's proof: its root file system, unpacked, runs the operator under `chroot` as
//! the image's user against the test control plane, through one profile's flow (created,
//! Running, deleted with its children).

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use kube::{
    Api,
    api::{DeleteParams, PostParams},
};
use vmop_api::{
    DiskSpec, Phase, VirtualMachineProfile, fixtures::valid_profile,
    k8s_openapi::api::core::v1::Namespace,
};
use vmop_testenv::{ControlPlane, bootstrap, sim};

const NAMESPACE: &str = "image-smoke";

/// Kills the chrooted operator when dropped.
struct Chrooted(Child);

impl Drop for Chrooted {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn until<T, F, Fut>(what: &str, mut probe: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(found) = probe().await {
            return Ok(found);
        }
        if started.elapsed() > Duration::from_secs(120) {
            bail!("{what}: not within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Runs the operator from `root_fs` (needs root for `chroot`) through one profile.
pub fn run(root_fs: &Path) -> Result<()> {
    let control_plane = ControlPlane::start_ephemeral()?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let client = control_plane.client().await?;
        bootstrap(&client).await?;
        tokio::spawn(sim::run_all(client.clone(), sim::SimConfig::instant()));
        let namespace: Namespace =
            serde_json::from_value(serde_json::json!({"metadata": {"name": NAMESPACE}}))?;
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &namespace)
            .await?;
        // The kubeconfig carries its CA and token inline: copied in, it is all the operator
        // needs from outside the image.
        let inside = root_fs.join("tmp/kubeconfig");
        std::fs::copy(control_plane.kubeconfig(), &inside)?;
        // Readable by the image's user (65532), who runs the operator.
        let mut permissions = std::fs::metadata(&inside)?.permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o644);
        std::fs::set_permissions(&inside, permissions)?;
        let log = std::fs::File::create(root_fs.join("../smoke.log"))?;
        let operator = Chrooted(
            Command::new("chroot")
                .arg("--userspec=65532:65532")
                .arg(root_fs)
                .args([
                    super::image::BINARY_IN_IMAGE,
                    "run",
                    "--kubeconfig",
                    "/tmp/kubeconfig",
                    "--namespace",
                    NAMESPACE,
                    "--listen",
                    "127.0.0.1:0",
                ])
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .context("chroot (run as root)")?,
        );
        let profiles: Api<VirtualMachineProfile> = Api::namespaced(client.clone(), NAMESPACE);
        let mut profile = valid_profile("from-the-image");
        profile.spec.networks.clear();
        profile.spec.disks = vec![DiskSpec {
            name: "data".into(),
            size: "1Gi".into(),
            storage_class_name: Some("longhorn".into()),
            ..DiskSpec::default()
        }];
        profiles.create(&PostParams::default(), &profile).await?;
        until("the profile to run", || async {
            let p = profiles.get_opt("from-the-image").await.ok().flatten()?;
            (p.status?.phase == Some(Phase::Running)).then_some(())
        })
        .await?;
        profiles
            .delete("from-the-image", &DeleteParams::default())
            .await?;
        until("the profile to be cleaned up", || async {
            profiles
                .get_opt("from-the-image")
                .await
                .ok()
                .and_then(|p| p.is_none().then_some(()))
        })
        .await?;
        drop(operator);
        println!("the image's operator ran a profile to Running and cleaned it up");
        anyhow::Ok(())
    })
}
