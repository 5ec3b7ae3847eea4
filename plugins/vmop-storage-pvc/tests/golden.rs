//! Golden YAML of the generic `pvc` backend over a table of disks, its readiness rules, and
//! every claim it builds created on the real API server with strict field validation.

use std::path::Path;

use vmop_plugin::{
    DiskConfig, ObservedVolume, ProfileRef, Readiness, StorageBackend, StorageClassInfo,
    VolumeObject,
    readiness::WAITING_FOR_FIRST_CONSUMER,
    testing::{assert_golden, disk_config, profile_ref, render_volume},
    vmop_api::{
        DiskSource, DiskSpec, VolumeMode,
        k8s_openapi::api::core::v1::{PersistentVolumeClaim, PersistentVolumeClaimStatus},
        profile::AccessMode,
    },
};
use vmop_storage_pvc::PvcBackend;
use vmop_testenv::{TestEnv, plugin_outputs};

fn local_path() -> StorageClassInfo {
    StorageClassInfo {
        name: "local-path".into(),
        provisioner: "rancher.io/local-path".into(),
        wait_for_first_consumer: true,
        is_default: true,
        ..StorageClassInfo::default()
    }
}

fn disk(name: &str) -> DiskSpec {
    DiskSpec {
        name: name.into(),
        size: "20Gi".into(),
        ..DiskSpec::default()
    }
}

fn cases() -> Vec<(&'static str, DiskSpec, bool)> {
    vec![
        ("default-class", disk("data"), false),
        (
            "named-class",
            DiskSpec {
                storage_class_name: Some("longhorn".into()),
                ..disk("data")
            },
            false,
        ),
        (
            "boot-order",
            DiskSpec {
                boot_order: Some(3),
                ..disk("scratch")
            },
            false,
        ),
        (
            "explicit-modes",
            DiskSpec {
                access_modes: Some(vec![AccessMode::ReadWriteOncePod]),
                volume_mode: Some(VolumeMode::Block),
                ..disk("logs")
            },
            false,
        ),
        ("ha-rwx", disk("shared"), true),
        (
            "error-ha-rwo",
            DiskSpec {
                access_modes: Some(vec![AccessMode::ReadWriteOnce]),
                ..disk("data")
            },
            true,
        ),
        (
            "error-image",
            DiskSpec {
                image: Some("docker://quay.io/containerdisks/fedora:41".into()),
                ..disk("system")
            },
            false,
        ),
        (
            "error-image-ref",
            DiskSpec {
                image_ref: Some("fedora-41".into()),
                ..disk("system")
            },
            false,
        ),
        (
            "error-source",
            DiskSpec {
                source: Some(DiskSource {
                    blank: Some(true),
                    ..DiskSource::default()
                }),
                ..disk("copy")
            },
            false,
        ),
    ]
}

fn config(disk: DiskSpec, high_availability: bool) -> DiskConfig {
    DiskConfig {
        profile: ProfileRef {
            namespace: "team-a".into(),
            ..profile_ref("k3s-vm")
        },
        high_availability,
        storage_class: Some(local_path()),
        ..disk_config(disk)
    }
}

#[tokio::test]
async fn output_matches_the_golden_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    for (case, disk, ha) in cases() {
        let result = PvcBackend.build(&config(disk, ha)).await;
        assert_golden(&dir, case, &render_volume(&result));
    }
}

fn claim_in(phase: Option<&str>) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        status: phase.map(|p| PersistentVolumeClaimStatus {
            phase: Some(p.into()),
            ..PersistentVolumeClaimStatus::default()
        }),
        ..PersistentVolumeClaim::default()
    }
}

#[tokio::test]
async fn a_pending_claim_on_a_wait_for_first_consumer_class_lets_the_vm_be_created() {
    let desired = PvcBackend
        .build(&config(disk("data"), false))
        .await
        .expect("builds");
    let observe = |phase: Option<&str>, class: Option<StorageClassInfo>| ObservedVolume {
        claim: Some(claim_in(phase)),
        storage_class: class,
        ..ObservedVolume::default()
    };

    let waiting = PvcBackend.readiness(&desired, &observe(Some("Pending"), Some(local_path())));
    assert!(waiting.waits_for_consumer && waiting.attachable());
    assert!(
        matches!(&waiting.readiness, Readiness::InProgress { reason, .. } if reason == WAITING_FOR_FIRST_CONSUMER),
        "{waiting:?}"
    );

    let immediate = StorageClassInfo {
        wait_for_first_consumer: false,
        ..local_path()
    };
    let pending = PvcBackend.readiness(&desired, &observe(Some("Pending"), Some(immediate)));
    assert!(!pending.attachable(), "an Immediate class binds on its own");

    let bound = PvcBackend.readiness(&desired, &observe(Some("Bound"), Some(local_path())));
    assert!(bound.readiness.is_ready() && !bound.waits_for_consumer);

    let lost = PvcBackend.readiness(&desired, &observe(Some("Lost"), Some(local_path())));
    assert!(matches!(lost.readiness, Readiness::Failed { .. }));

    let missing = PvcBackend.readiness(&desired, &ObservedVolume::default());
    assert!(
        !missing.attachable(),
        "a claim not created yet cannot be attached"
    );
}

#[tokio::test]
async fn generated_claims_are_accepted_by_the_api_server_unchanged() {
    let ns = TestEnv::shared().namespace("pvc-backend").await;
    let mut outputs = Vec::new();
    for (case, disk, ha) in cases() {
        if let Ok(desired) = PvcBackend.build(&config(disk, ha)).await {
            assert!(
                matches!(desired.object, VolumeObject::Claim(_)),
                "{case}: the pvc backend builds claims"
            );
            outputs.push((case.to_owned(), desired));
        }
    }
    assert_eq!(plugin_outputs::volumes_accepted(&ns, outputs).await, 5);
}
