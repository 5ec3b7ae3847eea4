//! The image catalog on the real control plane: a VirtualMachineImage is imported once (or
//! on its schedule) by the test world's CDI, disks clone it with `imageRef`, a pool of five
//! makes one import and five clones, a new version reaches new disks only, and what keeps
//! an image or a disk from being created is a condition naming the field, with nothing
//! created.

mod common;

use common::{Operator, condition, phase, small_profile, wait_for};
use kube::{
    Api, ResourceExt,
    api::{ListParams, PostParams},
};
use vmop_api::{
    Phase, VirtualMachineProfile,
    external::{
        cdi::DataVolume,
        cdi_catalog::{DataImportCron, DataSource},
        kubevirt::VirtualMachine,
    },
    image::{IMAGE_VERSION_ANNOTATION, VirtualMachineImage, VirtualMachineImageSpec, image_phase},
    pool::{ProfileTemplate, VirtualMachineProfilePool, VirtualMachineProfilePoolSpec},
};
use vmop_testenv::{TestEnv, sim::registry};

const CLASS: &str = "huamei-sc-ssd";

fn image(name: &str, source: &str, schedule: Option<&str>) -> VirtualMachineImage {
    VirtualMachineImage::new(
        name,
        VirtualMachineImageSpec {
            source: source.into(),
            size: "1Gi".into(),
            storage_class_name: Some(CLASS.into()),
            credentials_secret_ref: None,
            cert_config_map_ref: None,
            schedule: schedule.map(Into::into),
            imports_to_keep: schedule.map(|_| 1),
        },
    )
}

/// The small profile with its system disk cloned from the catalog image `image`.
fn from_catalog(name: &str, image: &str) -> VirtualMachineProfile {
    let mut profile = small_profile(name);
    let system = &mut profile.spec.disks[0];
    system.image = None;
    system.image_ref = Some(image.into());
    profile
}

fn image_version(profile: &VirtualMachineProfile) -> Option<String> {
    profile
        .status
        .as_ref()?
        .disks
        .first()?
        .image_version
        .clone()
}

fn ready_version(image: &VirtualMachineImage) -> Option<String> {
    let status = image.status.as_ref()?;
    (status.phase.as_deref() == Some(image_phase::READY))
        .then(|| status.current_version.clone())
        .flatten()
}

/// DataVolumes of the namespace that import (a registry source) and that clone (a sourceRef).
async fn imports_and_clones(dvs: &Api<DataVolume>) -> (Vec<String>, Vec<String>) {
    let all = dvs.list(&ListParams::default()).await.expect("list").items;
    let imports = all
        .iter()
        .filter(|dv| {
            dv.spec
                .source
                .as_ref()
                .is_some_and(|s| s.registry.is_some())
        })
        .map(ResourceExt::name_any)
        .collect();
    let clones = all
        .iter()
        .filter(|dv| dv.spec.source_ref.is_some())
        .map(ResourceExt::name_any)
        .collect();
    (imports, clones)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pool_of_five_from_one_catalog_image_makes_one_import_and_five_clones() {
    let ns = TestEnv::shared().namespace("catalog-pool").await;
    let _operator = Operator::start(&ns).await;
    let images: Api<VirtualMachineImage> = ns.api();
    images
        .create(
            &PostParams::default(),
            &image(
                "centos",
                "docker://registry.example.com/centos-stream:8",
                None,
            ),
        )
        .await
        .expect("image");
    let ready = wait_for(&images, "centos", "the image Ready", |i| {
        ready_version(i).is_some()
    })
    .await;
    assert_eq!(ready_version(&ready).as_deref(), Some("centos"));

    let mut spec = from_catalog("template", "centos").spec;
    spec.cloud_init = None;
    let pool = VirtualMachineProfilePool::new(
        "web",
        VirtualMachineProfilePoolSpec {
            replicas: 5,
            template: ProfileTemplate {
                metadata: None,
                spec,
            },
            addresses: vec![],
        },
    );
    let pools: Api<VirtualMachineProfilePool> = ns.api();
    pools
        .create(&PostParams::default(), &pool)
        .await
        .expect("pool");
    wait_for(&pools, "web", "five members Ready", |p| {
        p.status.as_ref().is_some_and(|s| s.ready_replicas == 5)
    })
    .await;

    let dvs: Api<DataVolume> = ns.api();
    let (imports, mut clones) = imports_and_clones(&dvs).await;
    clones.sort();
    assert_eq!(imports, vec!["centos".to_owned()], "one import");
    assert_eq!(
        clones,
        (0..5)
            .map(|i| format!("web-{i}--system"))
            .collect::<Vec<_>>(),
        "one clone per member"
    );
    let profiles: Api<VirtualMachineProfile> = ns.api();
    for member in 0..5 {
        let profile = profiles
            .get(&format!("web-{member}"))
            .await
            .expect("member");
        assert_eq!(image_version(&profile).as_deref(), Some("centos"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_version_of_a_scheduled_image_reaches_new_disks_and_leaves_old_ones_alone() {
    let ns = TestEnv::shared().namespace("catalog-cron").await;
    let client = TestEnv::shared().client().await;
    let _operator = Operator::start(&ns).await;
    let images: Api<VirtualMachineImage> = ns.api();
    let url = format!("docker://registry.example.com/{}/fedora:40", ns.name);
    images
        .create(
            &PostParams::default(),
            &image("fedora", &url, Some("* * * * *")),
        )
        .await
        .expect("image");
    let first = wait_for(&images, "fedora", "the first version", |i| {
        ready_version(i).is_some()
    })
    .await;
    let first = ready_version(&first).expect("a version");
    let crons: Api<DataImportCron> = ns.api();
    let cron = crons
        .get("fedora")
        .await
        .expect("the image's DataImportCron");
    assert_eq!(cron.spec.managed_data_source, "fedora");
    assert_eq!(cron.spec.imports_to_keep, Some(1));

    let profiles: Api<VirtualMachineProfile> = ns.api();
    profiles
        .create(&PostParams::default(), &from_catalog("old", "fedora"))
        .await
        .expect("profile");
    let old = wait_for(&profiles, "old", "the first VM Running", |p| {
        phase(p) == Some(Phase::Running)
    })
    .await;
    assert_eq!(image_version(&old), Some(first.clone()));

    registry::push(&client, &url).await.expect("push");
    let second = wait_for(&images, "fedora", "the pushed version", |i| {
        ready_version(i).is_some_and(|v| v != first)
    })
    .await;
    let second = ready_version(&second).expect("a version");
    assert!(
        second.starts_with("fedora-"),
        "CDI names versions after the DataSource: {second}"
    );
    profiles
        .create(&PostParams::default(), &from_catalog("new", "fedora"))
        .await
        .expect("profile");
    let new = wait_for(&profiles, "new", "the second VM Running", |p| {
        phase(p) == Some(Phase::Running)
    })
    .await;
    assert_eq!(image_version(&new), Some(second.clone()));

    // The old disk keeps its version though CDI pruned it (importsToKeep: 1).
    let dvs: Api<DataVolume> = ns.api();
    common::wait_gone(&dvs, &first, "the first version pruned").await;
    let old = profiles.get("old").await.expect("old");
    assert_eq!(image_version(&old), Some(first.clone()));
    assert_eq!(phase(&old), Some(Phase::Running));
    let old_disk = dvs.get("old--system").await.expect("old disk");
    assert_eq!(
        old_disk.annotations().get(IMAGE_VERSION_ANNOTATION),
        Some(&first)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_image_or_credentials_stop_with_the_field_named_and_nothing_created() {
    let ns = TestEnv::shared().namespace("catalog-missing").await;
    let _operator = Operator::start(&ns).await;
    let profiles: Api<VirtualMachineProfile> = ns.api();
    profiles
        .create(&PostParams::default(), &from_catalog("waits", "rocky"))
        .await
        .expect("profile");
    let waiting = wait_for(&profiles, "waits", "ImageNotFound", |p| {
        condition(p, "Ready").is_some_and(|c| c.reason == "ImageNotFound")
    })
    .await;
    let message = &condition(&waiting, "Ready").expect("Ready").message;
    assert!(
        message.contains(&format!(
            "spec.disks[0].imageRef: VirtualMachineImage {}/rocky does not exist",
            ns.name
        )),
        "{message}"
    );
    let dvs: Api<DataVolume> = ns.api();
    let vms: Api<VirtualMachine> = ns.api();
    assert!(dvs.get_opt("waits--system").await.expect("get").is_none());
    assert!(vms.get_opt("waits").await.expect("get").is_none());

    // An image whose credentials Secret is missing: Failed, naming the field; nothing made.
    let images: Api<VirtualMachineImage> = ns.api();
    let mut private = image(
        "private",
        "docker://registry.internal.example.com/os/rhel:9",
        None,
    );
    private.spec.credentials_secret_ref = Some(vmop_api::LocalReference {
        name: "registry-login".into(),
        namespace: None,
    });
    images
        .create(&PostParams::default(), &private)
        .await
        .expect("image");
    let failed = wait_for(&images, "private", "CredentialsNotFound", |i| {
        i.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.reason == "CredentialsNotFound")
        })
    })
    .await;
    let status = failed.status.expect("status");
    assert_eq!(status.phase.as_deref(), Some(image_phase::FAILED));
    assert!(
        status.conditions[0].message.starts_with(&format!(
            "spec.credentialsSecretRef: Secret {}/registry-login does not exist",
            ns.name
        )),
        "{}",
        status.conditions[0].message
    );
    assert!(dvs.get_opt("private").await.expect("get").is_none());
    let sources: Api<DataSource> = ns.api();
    assert!(sources.get_opt("private").await.expect("get").is_none());

    // The image appears: the waiting profile goes on by itself.
    images
        .create(
            &PostParams::default(),
            &image("rocky", "https://images.example.com/rocky-9.qcow2", None),
        )
        .await
        .expect("image");
    let running = wait_for(&profiles, "waits", "Running once the image is", |p| {
        phase(p) == Some(Phase::Running)
    })
    .await;
    assert_eq!(image_version(&running).as_deref(), Some("rocky"));
}
