//! Golden YAML of the Huamei CSI backend's output over a table of disks, and every claim it
//! builds created on the real API server and read back unchanged.

use std::{collections::BTreeMap, path::Path};

use vmop_plugin::{
    DiskConfig, StorageBackend, StorageClassInfo, VolumeObject,
    testing::{assert_golden, disk_config, render_volume},
    vmop_api::{DiskSource, DiskSpec, VolumeMode, profile::AccessMode},
};
use vmop_storage_huamei::HuameiBackend;
use vmop_testenv::{TestEnv, plugin_outputs};

fn class(name: &str, provisioner: &str, block: bool) -> StorageClassInfo {
    StorageClassInfo {
        name: name.into(),
        provisioner: provisioner.into(),
        parameters: if block {
            BTreeMap::from([("volumeMode".into(), "Block".into())])
        } else {
            BTreeMap::new()
        },
        ..StorageClassInfo::default()
    }
}

fn disk(name: &str) -> DiskSpec {
    DiskSpec {
        name: name.into(),
        size: "200Gi".into(),
        storage_class_name: Some("huamei-sc-ssd".into()),
        ..DiskSpec::default()
    }
}

fn ssd() -> Option<StorageClassInfo> {
    Some(class("huamei-sc-ssd", "csi.huamei.com", true))
}

fn cases() -> Vec<(&'static str, DiskSpec, bool, Option<StorageClassInfo>)> {
    vec![
        ("data", disk("data"), false, ssd()),
        (
            "boot-order",
            DiskSpec {
                boot_order: Some(2),
                ..disk("data")
            },
            false,
            ssd(),
        ),
        (
            "default-class",
            DiskSpec {
                storage_class_name: None,
                ..disk("scratch")
            },
            false,
            None,
        ),
        (
            "explicit-modes",
            DiskSpec {
                access_modes: Some(vec![AccessMode::ReadWriteOncePod]),
                volume_mode: Some(VolumeMode::Filesystem),
                ..disk("logs")
            },
            false,
            ssd(),
        ),
        ("ha-prefers-block", disk("data"), true, ssd()),
        (
            "ha-filesystem-class",
            DiskSpec {
                storage_class_name: Some("huamei-sc-nas".into()),
                ..disk("data")
            },
            true,
            Some(class("huamei-sc-nas", "csi.huamei.com", false)),
        ),
        (
            "ha-explicit-rwx",
            DiskSpec {
                access_modes: Some(vec![AccessMode::ReadWriteMany]),
                volume_mode: Some(VolumeMode::Block),
                ..disk("data")
            },
            true,
            ssd(),
        ),
        (
            "small",
            DiskSpec {
                size: "512Mi".into(),
                ..disk("swap")
            },
            false,
            ssd(),
        ),
        (
            "error-image",
            DiskSpec {
                image: Some("docker://x/y:1".into()),
                ..disk("system")
            },
            false,
            ssd(),
        ),
        (
            "error-clone",
            DiskSpec {
                source: Some(DiskSource {
                    blank: Some(true),
                    ..DiskSource::default()
                }),
                ..disk("copy")
            },
            false,
            ssd(),
        ),
        (
            "error-foreign-class",
            DiskSpec {
                storage_class_name: Some("local-path".into()),
                ..disk("data")
            },
            false,
            Some(class("local-path", "rancher.io/local-path", false)),
        ),
        (
            "error-ha-rwo",
            DiskSpec {
                access_modes: Some(vec![AccessMode::ReadWriteOnce]),
                ..disk("data")
            },
            true,
            ssd(),
        ),
        (
            "error-ha-filesystem-on-block-class",
            DiskSpec {
                volume_mode: Some(VolumeMode::Filesystem),
                ..disk("data")
            },
            true,
            ssd(),
        ),
    ]
}

fn config(
    disk: DiskSpec,
    high_availability: bool,
    storage_class: Option<StorageClassInfo>,
) -> DiskConfig {
    DiskConfig {
        high_availability,
        storage_class,
        ..disk_config(disk)
    }
}

#[tokio::test]
async fn output_matches_the_golden_files() {
    assert!(cases().len() >= 10);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    for (case, disk, ha, class) in cases() {
        let result = HuameiBackend.build(&config(disk, ha, class)).await;
        assert_golden(&dir, case, &render_volume(&result));
    }
}

#[tokio::test]
async fn generated_claims_are_accepted_by_the_api_server_unchanged() {
    let ns = TestEnv::shared().namespace("huamei").await;
    let mut outputs = Vec::new();
    for (case, disk, ha, class) in cases() {
        if let Ok(desired) = HuameiBackend.build(&config(disk, ha, class)).await {
            assert!(
                matches!(desired.object, VolumeObject::Claim(_)),
                "{case}: huamei-csi builds claims"
            );
            outputs.push((case.to_owned(), desired));
        }
    }
    assert!(plugin_outputs::volumes_accepted(&ns, outputs).await >= 5);
}
