//! A third-party storage backend through the real controller, end to end: LocalPathBackend
//! builds a claim without any of the labels the controller's watches select on, and the
//! managers stamp them, so the disk is watched, reported ready, and cleaned up.

use std::{sync::Arc, time::Duration};

use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::{Api, ResourceExt, api::PostParams};
use vmop_controller::{ControllerConfig, Metrics, Timing, controller};
use vmop_example_custom_plugin::{LOCAL_PATH, LocalPathBackend};
use vmop_plugin::{
    Registries, StorageBackend, VMTemplate,
    vmop_api::{DiskSpec, Phase, VirtualMachineProfile, fixtures::valid_profile},
};
use vmop_template_cloudinit::CloudInitTemplate;
use vmop_testenv::{TestEnv, wait};

const WAIT: Duration = Duration::from_secs(90);

#[tokio::test]
async fn a_backend_that_forgets_the_labels_is_still_watched_reported_and_cleaned_up() {
    let ns = TestEnv::shared().namespace("third-party").await;
    let mut registries = Registries::empty();
    let backend: Arc<dyn StorageBackend> = Arc::new(LocalPathBackend);
    registries
        .storage
        .register(LOCAL_PATH, "vmop_example_custom_plugin", backend)
        .expect("backend");
    let template: Arc<dyn VMTemplate> = Arc::new(CloudInitTemplate);
    registries
        .templates
        .register("cloud-init", "vmop_template_cloudinit", template)
        .expect("template");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = controller(
        ns.client.clone(),
        Arc::new(registries),
        Arc::new(Metrics::default()),
        ControllerConfig::default()
            .namespace(ns.name.clone())
            .concurrency(2)
            .timing(Timing::default().converging(Duration::from_millis(500)))
            .admin_policy(vmop_controller::AdminPolicySource::Fixed(
                vmop_controller::AdminPolicy::allow_all(),
            )),
        async move {
            let _ = stopped.await;
        },
    );
    let task = tokio::spawn(running.run());

    let mut profile = valid_profile("tp-vm");
    profile.spec.networks.clear();
    profile.spec.disks = vec![DiskSpec {
        name: "scratch".into(),
        size: "5Gi".into(),
        backend: Some(LOCAL_PATH.into()),
        ..DiskSpec::default()
    }];
    let profiles: Api<VirtualMachineProfile> = ns.api();
    profiles
        .create(&PostParams::default(), &profile)
        .await
        .expect("profile");

    let running = wait::wait_for_phase(&profiles, "tp-vm", Phase::Running, WAIT)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let disk = &running.status.expect("status").disks[0];
    assert_eq!(disk.backend.as_deref(), Some(LOCAL_PATH));
    assert!(disk.ready, "{disk:?}");

    let claims: Api<PersistentVolumeClaim> = ns.api();
    let claim = claims.get("tp-vm--scratch").await.expect("claim");
    assert_eq!(
        claim
            .labels()
            .get("vmoperator.io/profile")
            .map(String::as_str),
        Some("tp-vm"),
        "the manager stamped the label the plugin forgot"
    );
    assert_eq!(
        claim.labels().get("vmoperator.io/disk").map(String::as_str),
        Some("scratch")
    );

    profiles
        .delete("tp-vm", &Default::default())
        .await
        .expect("delete");
    wait::until("the profile and its claim to be gone", WAIT, || async {
        let profile_gone = profiles.get_opt("tp-vm").await.ok()?.is_none();
        let claim_gone = claims
            .get_opt("tp-vm--scratch")
            .await
            .ok()?
            .is_none_or(|c| c.metadata.deletion_timestamp.is_some());
        (profile_gone && claim_gone).then_some(())
    })
    .await
    .expect("cleaned up");
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(30), task).await;
}
