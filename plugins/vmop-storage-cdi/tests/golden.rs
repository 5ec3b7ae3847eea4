//! Golden YAML of the CDI backend's output over a table of disks, every DataVolume created on
//! the real API server and read back unchanged, and readiness read from the CDI simulator.

use std::{collections::BTreeMap, path::Path, time::Duration};

use kube::Api;
use vmop_plugin::{
    DiskConfig, ObservedVolume, Readiness, StorageBackend, StorageClassInfo, VolumeObject,
    testing::{assert_golden, disk_config, render_volume},
    vmop_api::{
        DiskSource, DiskSpec, LocalReference, PullMethod, SourceReference, VolumeMode,
        external::cdi::DataVolume, profile::AccessMode,
    },
};
use vmop_storage_cdi::CdiBackend;
use vmop_testenv::{TestEnv, create_unchanged, plugin_outputs, wait};

fn disk(name: &str, image: &str) -> DiskSpec {
    DiskSpec {
        name: name.into(),
        size: "80Gi".into(),
        storage_class_name: Some("huamei-sc-ssd".into()),
        image: Some(image.into()),
        boot_order: Some(1),
        ..DiskSpec::default()
    }
}

fn source(source: DiskSource) -> DiskSpec {
    DiskSpec {
        image: None,
        source: Some(source),
        ..disk("copy", "")
    }
}

fn reference(name: &str, namespace: Option<&str>) -> SourceReference {
    SourceReference {
        name: name.into(),
        namespace: namespace.map(Into::into),
    }
}

fn local(name: &str) -> LocalReference {
    LocalReference {
        name: name.into(),
        namespace: None,
    }
}

fn cases() -> Vec<(&'static str, DiskSpec, bool)> {
    vec![
        (
            "registry",
            disk("system", "docker://registry.example.com/centos-stream:8"),
            false,
        ),
        (
            "registry-node-pull",
            DiskSpec {
                pull_method: Some(PullMethod::Node),
                ..disk("system", "docker://registry.example.com/centos-stream:8")
            },
            false,
        ),
        (
            "oci-archive",
            disk("system", "oci-archive://images/fedora.tar"),
            false,
        ),
        (
            "http",
            disk("system", "https://images.example.com/fedora-40.qcow2"),
            false,
        ),
        (
            "s3-credentials",
            DiskSpec {
                credentials_secret_ref: Some(local("s3-login")),
                cert_config_map_ref: Some(local("minio-ca")),
                ..disk("system", "s3://s3.example.com/images/centos-stream-8.qcow2")
            },
            false,
        ),
        (
            "registry-credentials",
            DiskSpec {
                credentials_secret_ref: Some(local("registry-login")),
                cert_config_map_ref: Some(local("registry-ca")),
                ..disk(
                    "system",
                    "docker://registry.internal.example.com/centos-stream:8",
                )
            },
            false,
        ),
        (
            "http-credentials",
            DiskSpec {
                credentials_secret_ref: Some(local("web-login")),
                ..disk("system", "https://images.example.com/fedora-40.qcow2")
            },
            false,
        ),
        (
            "clone-same-namespace",
            source(DiskSource {
                pvc: Some(reference("golden", None)),
                ..DiskSource::default()
            }),
            false,
        ),
        (
            "clone-other-namespace",
            source(DiskSource {
                pvc: Some(reference("golden", Some("images"))),
                ..DiskSource::default()
            }),
            false,
        ),
        (
            "data-source",
            source(DiskSource {
                data_source: Some(reference("fedora", Some("kubevirt-os-images"))),
                ..DiskSource::default()
            }),
            false,
        ),
        (
            "catalog-image",
            DiskSpec {
                image: None,
                image_ref: Some("fedora-41".into()),
                ..disk("copy", "")
            },
            false,
        ),
        (
            "blank",
            source(DiskSource {
                blank: Some(true),
                ..DiskSource::default()
            }),
            false,
        ),
        (
            "ha",
            disk("system", "docker://registry.example.com/rhel:9"),
            true,
        ),
        (
            "explicit-modes",
            DiskSpec {
                access_modes: Some(vec![AccessMode::ReadWriteOnce]),
                volume_mode: Some(VolumeMode::Block),
                ..disk("system", "docker://registry.example.com/rhel:9")
            },
            false,
        ),
        (
            "error-ha-rwo",
            DiskSpec {
                access_modes: Some(vec![AccessMode::ReadWriteOnce]),
                ..disk("system", "docker://registry.example.com/rhel:9")
            },
            true,
        ),
        (
            "error-scheme",
            disk("system", "ftp://images.example.com/x.qcow2"),
            false,
        ),
    ]
}

fn config(disk: DiskSpec, high_availability: bool) -> DiskConfig {
    DiskConfig {
        index: 0,
        high_availability,
        storage_class: Some(StorageClassInfo {
            name: "huamei-sc-ssd".into(),
            provisioner: "csi.huamei.com".into(),
            parameters: BTreeMap::from([("volumeMode".into(), "Block".into())]),
            ..StorageClassInfo::default()
        }),
        ..disk_config(disk)
    }
}

#[tokio::test]
async fn output_matches_the_golden_files() {
    assert!(cases().len() >= 10);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    for (case, disk, ha) in cases() {
        let result = CdiBackend.build(&config(disk, ha)).await;
        assert_golden(&dir, case, &render_volume(&result));
    }
}

#[tokio::test]
async fn generated_data_volumes_are_accepted_by_the_api_server_unchanged() {
    let ns = TestEnv::shared().namespace("cdi-plugin").await;
    let mut outputs = Vec::new();
    for (case, disk, ha) in cases() {
        if let Ok(desired) = CdiBackend.build(&config(disk, ha)).await {
            assert!(
                matches!(desired.object, VolumeObject::DataVolume(_)),
                "{case}: cdi builds DataVolumes"
            );
            outputs.push((case.to_owned(), desired));
        }
    }
    assert!(plugin_outputs::volumes_accepted(&ns, outputs).await >= 5);
}

async fn observe(
    ns: &vmop_testenv::TestNamespace,
    image: &str,
    done: fn(&Readiness) -> bool,
) -> (Readiness, Option<String>) {
    let desired = CdiBackend
        .build(&config(disk("system", image), false))
        .await
        .expect("builds");
    let VolumeObject::DataVolume(mut dv) = desired.object.clone() else {
        panic!("a DataVolume");
    };
    dv.metadata.namespace = Some(ns.name.clone());
    let dvs: Api<DataVolume> = ns.api();
    create_unchanged(&dvs, &dv).await.expect("created");
    let name = dv.metadata.name.clone().unwrap_or_default();
    wait::until(
        "the DataVolume to settle",
        Duration::from_secs(60),
        || async {
            let observed = ObservedVolume {
                claim: None,
                data_volume: dvs.get_opt(&name).await.ok().flatten(),
                ..ObservedVolume::default()
            };
            let readiness = CdiBackend.readiness(&desired, &observed);
            done(&readiness.readiness).then_some((readiness.readiness, readiness.progress))
        },
    )
    .await
    .expect("settles")
}

#[tokio::test]
async fn readiness_follows_the_import_to_success() {
    let ns = TestEnv::shared().namespace("cdi-ready").await;
    let (readiness, progress) = observe(
        &ns,
        "docker://registry.example.com/centos-stream:8",
        Readiness::is_ready,
    )
    .await;
    assert_eq!(readiness, Readiness::Ready);
    assert_eq!(progress.as_deref(), Some("100.0%"));
}

#[tokio::test]
async fn a_failed_import_is_a_failure_with_cdis_message_at_once() {
    let ns = TestEnv::shared().namespace("cdi-failed").await;
    let (readiness, _) = observe(&ns, "docker://registry.example.com/invalid-image:1", |r| {
        matches!(r, Readiness::Failed { .. })
    })
    .await;
    let Readiness::Failed { reason, message } = readiness else {
        panic!("expected a failure");
    };
    assert_eq!(reason, "ImportFailed");
    assert!(message.contains("404 Not Found"), "{message}");
    assert!(message.starts_with("DataVolume web--system: "), "{message}");
}

/// A DataVolume of the given status, as the managers would observe it.
fn observed_in(status: serde_json::Value) -> ObservedVolume {
    let mut dv = DataVolume::new("web--system", Default::default());
    dv.status = Some(serde_json::from_value(status).expect("status"));
    ObservedVolume {
        data_volume: Some(dv),
        ..ObservedVolume::default()
    }
}

#[tokio::test]
async fn waiting_for_a_consumer_lets_the_vm_be_created_and_restarts_are_reported() {
    let desired = CdiBackend
        .build(&config(
            disk("system", "docker://r.example.com/img:1"),
            false,
        ))
        .await
        .expect("builds");
    for waiting in ["WaitForFirstConsumer", "PendingPopulation"] {
        let readiness = CdiBackend.readiness(
            &desired,
            &observed_in(serde_json::json!({"phase": waiting, "progress": "N/A"})),
        );
        assert!(
            readiness.waits_for_consumer && readiness.attachable(),
            "{waiting}"
        );
        assert!(
            matches!(&readiness.readiness, Readiness::InProgress { reason, .. } if reason == "WaitingForFirstConsumer"),
            "{readiness:?}"
        );
    }
    let importing = CdiBackend.readiness(
        &desired,
        &observed_in(serde_json::json!({"phase": "ImportInProgress", "progress": "45.00%"})),
    );
    assert!(
        !importing.attachable(),
        "an import in progress is not waiting for the VM"
    );

    let retried = CdiBackend.readiness(
        &desired,
        &observed_in(serde_json::json!({
            "phase": "ImportInProgress",
            "progress": "N/A",
            "restartCount": 3,
            "conditions": [{"type": "Running", "status": "False", "reason": "Error",
                            "message": "Unable to connect to http data source: 404 Not Found"}]
        })),
    );
    assert_eq!(retried.restart_count, Some(3));
    let Readiness::InProgress { message, .. } = retried.readiness else {
        panic!("still in progress");
    };
    assert_eq!(
        message,
        "DataVolume web--system: ImportInProgress, importer restarted 3 times: Unable to connect to http data source: 404 Not Found"
    );

    // What CDI's import controller writes when the importer pod's image cannot be pulled
    // (`setAnnotationsFromPodWithPrefix`: ErrImagePull, ImagePullBackOff, InvalidImageName).
    let unpullable = CdiBackend.readiness(
        &desired,
        &observed_in(serde_json::json!({
            "phase": "ImportScheduled",
            "progress": "N/A",
            "conditions": [{"type": "Running", "status": "False", "reason": "ImagePullFailed",
                            "message": "failed to pull image: registry.example.com/os:1"}]
        })),
    );
    assert_eq!(
        unpullable.readiness,
        Readiness::InProgress {
            reason: "ImagePullFailed".into(),
            message: "DataVolume web--system: ImportScheduled: failed to pull image: registry.example.com/os:1".into(),
        }
    );
    // A Running condition with no reason to give says nothing more.
    let scheduled = CdiBackend.readiness(
        &desired,
        &observed_in(serde_json::json!({
            "phase": "ImportScheduled",
            "conditions": [{"type": "Running", "status": "False", "reason": ""}]
        })),
    );
    assert!(
        matches!(&scheduled.readiness, Readiness::InProgress { reason, message }
            if reason == "ImportScheduled" && message == "DataVolume web--system: ImportScheduled"),
        "{scheduled:?}"
    );
}
