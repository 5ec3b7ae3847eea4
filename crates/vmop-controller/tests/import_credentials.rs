//! Disks whose image needs credentials: an S3 object and a private registry. A credentials
//! Secret that is missing, unlabelled or lacks a key CDI reads stops the profile with a
//! condition naming the field and the Secret, and nothing is created; once it is usable the
//! DataVolumes carry CDI's `secretRef` and `certConfigMap` and the VM runs. The Secret's
//! values appear in no status and no Event.

mod common;

use std::collections::BTreeMap;

use common::{Operator, condition, phase, small_profile, wait_for};
use k8s_openapi::{
    ByteString,
    api::core::v1::{ConfigMap, Event, Secret},
};
use kube::{
    Api,
    api::{ListParams, Patch, PatchParams, PostParams},
    core::ObjectMeta,
};
use serde_json::json;
use vmop_api::{
    DiskSpec, IMPORT_CREDENTIALS_LABEL, LocalReference, Phase, VirtualMachineProfile,
    external::{cdi::DataVolume, kubevirt::VirtualMachine},
};
use vmop_testenv::TestEnv;

const ACCESS_KEY: &str = "AKIA-ACCESS-KEY-VALUE";
const SECRET_KEY: &str = "very-secret-key-value";

fn local(name: &str) -> Option<LocalReference> {
    Some(LocalReference {
        name: name.into(),
        namespace: None,
    })
}

/// A system disk from an S3 bucket and a data disk from a private registry with its own CA.
fn bucket_profile(name: &str) -> VirtualMachineProfile {
    let mut profile = small_profile(name);
    let system = &mut profile.spec.disks[0];
    system.image = Some("s3://s3.example.com/images/centos-stream-8.qcow2".into());
    system.credentials_secret_ref = local("s3-login");
    let class = system.storage_class_name.clone();
    profile.spec.disks.push(DiskSpec {
        name: "tools".into(),
        size: "10Gi".into(),
        storage_class_name: class,
        image: Some("docker://registry.internal.example.com/tools:1".into()),
        credentials_secret_ref: local("registry-login"),
        cert_config_map_ref: local("registry-ca"),
        ..DiskSpec::default()
    });
    profile
}

fn secret(name: &str, labelled: bool, keys: &[(&str, &str)]) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: labelled
                .then(|| BTreeMap::from([(IMPORT_CREDENTIALS_LABEL.into(), "true".into())])),
            ..ObjectMeta::default()
        },
        data: Some(
            keys.iter()
                .map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        ),
        ..Secret::default()
    }
}

fn ready_reason(p: &VirtualMachineProfile) -> Option<(String, String)> {
    condition(p, "Ready").map(|c| (c.reason.clone(), c.message.clone()))
}

#[tokio::test(flavor = "multi_thread")]
async fn unusable_credentials_stop_the_profile_with_the_field_named_and_usable_ones_reach_cdi() {
    let ns = TestEnv::shared().namespace("import-credentials").await;
    let secrets: Api<Secret> = ns.api();
    secrets
        .create(
            &PostParams::default(),
            &secret(
                "registry-login",
                true,
                &[("accessKeyId", "robot"), ("secretKey", SECRET_KEY)],
            ),
        )
        .await
        .expect("registry Secret");
    let ca = ConfigMap {
        metadata: ObjectMeta {
            name: Some("registry-ca".into()),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([(
            "ca.pem".into(),
            "-----BEGIN CERTIFICATE-----".into(),
        )])),
        ..ConfigMap::default()
    };
    ns.api::<ConfigMap>()
        .create(&PostParams::default(), &ca)
        .await
        .expect("CA ConfigMap");
    let operator = Operator::start(&ns).await;
    let profiles: Api<VirtualMachineProfile> = ns.api();
    profiles
        .create(&PostParams::default(), &bucket_profile("bucket-vm"))
        .await
        .expect("profile");

    let namespace = &ns.name;
    let missing = wait_for(&profiles, "bucket-vm", "the missing Secret reported", |p| {
        ready_reason(p).is_some_and(|(r, _)| r == "CredentialsNotFound")
    })
    .await;
    assert_eq!(
        ready_reason(&missing).map(|(_, m)| m),
        Some(format!(
            "spec.disks[0].credentialsSecretRef: Secret {namespace}/s3-login does not exist"
        ))
    );
    assert_eq!(phase(&missing), Some(Phase::Pending));
    let dvs: Api<DataVolume> = ns.api();
    let vms: Api<VirtualMachine> = ns.api();
    let nothing_created = || async {
        let listed = dvs.list(&ListParams::default()).await.expect("list");
        assert!(
            listed.items.is_empty(),
            "no DataVolume while a Secret is unusable"
        );
        assert!(vms.get_opt("bucket-vm").await.expect("get").is_none());
    };
    nothing_created().await;

    // Present with both keys, but not labelled: the tenant may not be allowed to read it.
    secrets
        .create(
            &PostParams::default(),
            &secret(
                "s3-login",
                false,
                &[("accessKeyId", ACCESS_KEY), ("secretKey", SECRET_KEY)],
            ),
        )
        .await
        .expect("S3 Secret");
    let unlabelled = wait_for(&profiles, "bucket-vm", "the missing label reported", |p| {
        ready_reason(p).is_some_and(|(r, m)| r == "CredentialsUnusable" && m.contains("label"))
    })
    .await;
    let (_, message) = ready_reason(&unlabelled).expect("Ready");
    assert!(
        message.starts_with("spec.disks[0].credentialsSecretRef: Secret ")
            && message.contains(IMPORT_CREDENTIALS_LABEL),
        "{message}"
    );
    nothing_created().await;

    // Labelled, but without the secret key.
    let mut partial = secret("s3-login", true, &[("accessKeyId", ACCESS_KEY)]);
    partial.metadata.resource_version = None;
    secrets
        .replace("s3-login", &PostParams::default(), &partial)
        .await
        .expect("labelled, one key");
    let lacking = wait_for(&profiles, "bucket-vm", "the missing key reported", |p| {
        ready_reason(p).is_some_and(|(_, m)| m.contains("lacks the key CDI reads: secretKey"))
    })
    .await;
    assert_eq!(
        ready_reason(&lacking).map(|(r, _)| r).as_deref(),
        Some("CredentialsUnusable")
    );
    nothing_created().await;

    secrets
        .patch(
            "s3-login",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"secretKey": SECRET_KEY}})),
        )
        .await
        .expect("the second key");
    let running = wait_for(&profiles, "bucket-vm", "the VM to run", |p| {
        phase(p) == Some(Phase::Running)
    })
    .await;
    let system = dvs.get("bucket-vm--system").await.expect("system disk");
    let s3 = system.spec.source.and_then(|s| s.s3).expect("an S3 source");
    assert_eq!(s3.url, "s3://s3.example.com/images/centos-stream-8.qcow2");
    assert_eq!(s3.secret_ref.as_deref(), Some("s3-login"));
    let tools = dvs.get("bucket-vm--tools").await.expect("tools disk");
    let registry = tools
        .spec
        .source
        .and_then(|s| s.registry)
        .expect("a registry source");
    assert_eq!(registry.secret_ref.as_deref(), Some("registry-login"));
    assert_eq!(registry.cert_config_map.as_deref(), Some("registry-ca"));

    // What the tenant and the operator's Events show never holds the values.
    let status = serde_json::to_string(&running.status).expect("status");
    let events = ns
        .api::<Event>()
        .list(&ListParams::default())
        .await
        .expect("events");
    let said: String = events
        .items
        .iter()
        .filter_map(|e| e.message.clone())
        .collect();
    assert!(
        said.contains("s3-login"),
        "the refusal was an Event: {said}"
    );
    for value in [ACCESS_KEY, SECRET_KEY] {
        assert!(!status.contains(value) && !said.contains(value));
    }
    operator.stop().await;
}
