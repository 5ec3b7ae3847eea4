//! Never take over what is not ours: an object with a child's name that the profile does not
//! own is reported as a Conflict naming it, and nothing is written to it. The earlier profile
//! of a pair whose children share a name is untouched. A retained volume is taken over only
//! when the disk asks for it.

mod common;

use std::collections::BTreeMap;

use common::{Operator, blank_disk_profile, condition, phase, wait_for};
use k8s_openapi::{
    ByteString,
    api::core::v1::{
        PersistentVolumeClaim, PersistentVolumeClaimSpec, Secret, VolumeResourceRequirements,
    },
    apimachinery::pkg::{api::resource::Quantity, apis::meta::v1::ObjectMeta},
};
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, Patch, PatchParams, PostParams},
};
use serde_json::json;
use vmop_api::{
    CloudInitSpec, NetworkSpec, Phase, RetentionPolicy, SecretReference, VirtualMachineProfile,
    external::multus::{NetworkAttachmentDefinition, NetworkAttachmentDefinitionSpec},
};
use vmop_testenv::{TestEnv, TestNamespace};

async fn create(ns: &TestNamespace, profile: &VirtualMachineProfile) -> Api<VirtualMachineProfile> {
    let api: Api<VirtualMachineProfile> = ns.api();
    api.create(&PostParams::default(), profile)
        .await
        .expect("profile");
    api
}

/// Whether the operator's field manager ever wrote to the object.
fn written_by_the_operator(meta: &ObjectMeta) -> bool {
    meta.managed_fields
        .iter()
        .flatten()
        .any(|f| f.manager.as_deref() == Some(vmop_controller::FIELD_MANAGER))
}

async fn conflict_message(profiles: &Api<VirtualMachineProfile>, name: &str) -> String {
    let p = wait_for(profiles, name, "a Conflict to be reported", |p| {
        condition(p, "Ready").is_some_and(|c| c.reason == "Conflict")
    })
    .await;
    assert_eq!(
        condition(&p, "Ready").map(|c| c.status.as_str()),
        Some("False")
    );
    condition(&p, "Ready")
        .map(|c| c.message.clone())
        .unwrap_or_default()
}

fn users_claim(name: &str) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(BTreeMap::from([("owner".into(), "a-user".into())])),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            storage_class_name: Some("longhorn".into()),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([("storage".into(), Quantity("3Gi".into()))])),
                ..VolumeResourceRequirements::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        status: None,
    }
}

#[tokio::test]
async fn a_users_claim_with_a_derived_name_is_reported_and_left_alone() {
    let ns = TestEnv::shared().namespace("own-claim").await;
    let claims: Api<PersistentVolumeClaim> = ns.api();
    let before = claims
        .create(&PostParams::default(), &users_claim("db--data"))
        .await
        .expect("the user's claim");
    let operator = Operator::start(&ns).await;
    let profiles = create(&ns, &blank_disk_profile("db", "data", "longhorn")).await;
    let message = conflict_message(&profiles, "db").await;
    assert_eq!(
        message,
        "PersistentVolumeClaim db--data exists and is not this profile's (it was not created by this profile); nothing was written to it"
    );
    assert!(
        operator.metrics.reads_of("PersistentVolumeClaim", "get") >= 1,
        "the refused create-only apply is followed by a read of whose the claim is"
    );
    // The PV controller binds the claim meanwhile; the operator wrote nothing to it.
    let after = claims.get("db--data").await.expect("claim");
    assert_eq!(after.metadata.uid, before.metadata.uid);
    assert!(after.owner_references().is_empty());
    assert_eq!(after.labels(), before.labels());
    assert!(
        !written_by_the_operator(&after.metadata),
        "{:?}",
        after.metadata.managed_fields
    );

    // Deleting the profile leaves the user's claim where it was.
    profiles
        .delete("db", &DeleteParams::default())
        .await
        .expect("delete");
    common::wait_gone(&profiles, "db", "the profile to go").await;
    let kept = claims
        .get("db--data")
        .await
        .expect("the user's claim survives");
    assert!(kept.metadata.deletion_timestamp.is_none());
    operator.stop().await;
}

#[tokio::test]
async fn a_users_nad_and_secret_with_derived_names_are_not_overwritten() {
    let ns = TestEnv::shared().namespace("own-nad").await;
    let user_nad = NetworkAttachmentDefinition::new(
        "shop--lan",
        NetworkAttachmentDefinitionSpec {
            config: Some(r#"{"cniVersion":"0.3.1","type":"bridge","bridge":"br-user"}"#.into()),
            ..Default::default()
        },
    );
    let nads: Api<NetworkAttachmentDefinition> = ns.api();
    nads.create(&PostParams::default(), &user_nad)
        .await
        .expect("the user's NAD");
    let operator = Operator::start(&ns).await;
    let mut shop = blank_disk_profile("shop", "data", "longhorn");
    shop.spec.networks = vec![NetworkSpec {
        name: "lan".into(),
        bridge: Some("br-lan".into()),
        ..NetworkSpec::default()
    }];
    let profiles = create(&ns, &shop).await;
    let message = conflict_message(&profiles, "shop").await;
    assert!(
        message
            .starts_with("NetworkAttachmentDefinition shop--lan exists and is not this profile's"),
        "{message}"
    );
    let nad = nads.get("shop--lan").await.expect("NAD");
    assert_eq!(
        nad.spec.config, user_nad.spec.config,
        "the user's config is intact"
    );

    // The template's Secret name taken by the user's own user-data Secret.
    let secrets: Api<Secret> = ns.api();
    let user_secret = Secret {
        metadata: ObjectMeta {
            name: Some("cafe--cloudinit".into()),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([(
            "userdata".into(),
            ByteString(b"#cloud-config\npackages: [nginx]\n".to_vec()),
        )])),
        ..Secret::default()
    };
    secrets
        .create(&PostParams::default(), &user_secret)
        .await
        .expect("the user's Secret");
    let mut cafe = blank_disk_profile("cafe", "data", "longhorn");
    cafe.spec.cloud_init = Some(CloudInitSpec {
        user_data_secret_ref: Some(SecretReference {
            name: "cafe--cloudinit".into(),
        }),
        ..CloudInitSpec::default()
    });
    profiles
        .create(&PostParams::default(), &cafe)
        .await
        .expect("cafe");
    let message = conflict_message(&profiles, "cafe").await;
    assert!(
        message.starts_with("Secret cafe--cloudinit exists and is not this profile's"),
        "{message}"
    );
    let secret = secrets.get("cafe--cloudinit").await.expect("secret");
    assert_eq!(secret.data, user_secret.data, "the user's data is intact");
    operator.stop().await;
}

#[tokio::test]
async fn profiles_whose_names_joined_by_a_dash_would_collide_get_children_of_their_own() {
    let ns = TestEnv::shared().namespace("own-pair").await;
    let operator = Operator::start(&ns).await;
    // "pc-a" + "b-c" and "pc-a-b" + "c" joined by '-' would both be pc-a-b-c.
    let profiles = create(&ns, &blank_disk_profile("pc-a", "b-c", "longhorn")).await;
    profiles
        .create(
            &PostParams::default(),
            &blank_disk_profile("pc-a-b", "c", "longhorn"),
        )
        .await
        .expect("second");
    for name in ["pc-a", "pc-a-b"] {
        wait_for(&profiles, name, "both profiles to run", |p| {
            phase(p) == Some(Phase::Running)
        })
        .await;
    }
    let claims: Api<PersistentVolumeClaim> = ns.api();
    for (claim, owner) in [("pc-a--b-c", "pc-a"), ("pc-a-b--c", "pc-a-b")] {
        let claim = claims.get(claim).await.expect("claim");
        let uid = profiles.get(owner).await.expect("owner").metadata.uid;
        assert_eq!(claim.owner_references()[0].uid, uid.unwrap_or_default());
        let ours: Vec<_> = claim
            .managed_fields()
            .iter()
            .filter(|entry| entry.manager.as_deref() == Some(vmop_controller::FIELD_MANAGER))
            .map(|entry| entry.operation.clone().unwrap_or_default())
            .collect();
        assert_eq!(
            ours,
            ["Apply"],
            "created by server-side apply, owned by it alone"
        );
    }
    // New children are applied create-only: not one read to ask whether their names are free.
    for kind in ["PersistentVolumeClaim", "Secret", "VirtualMachine"] {
        assert_eq!(operator.metrics.reads_of(kind, "get"), 0, "{kind}");
    }
    operator.stop().await;
}

#[tokio::test]
async fn a_retained_claim_is_adopted_only_when_the_disk_asks_for_it() {
    let ns = TestEnv::shared().namespace("own-retain").await;
    let operator = Operator::start(&ns).await;
    let mut keep = blank_disk_profile("keeper", "data", "longhorn");
    keep.spec.disks[0].retention_policy = Some(RetentionPolicy::Retain);
    let profiles = create(&ns, &keep).await;
    wait_for(&profiles, "keeper", "the profile to run", |p| {
        phase(p) == Some(Phase::Running)
    })
    .await;
    profiles
        .delete("keeper", &DeleteParams::default())
        .await
        .expect("delete");
    common::wait_gone(&profiles, "keeper", "the profile to go").await;
    let claims: Api<PersistentVolumeClaim> = ns.api();
    let retained = claims.get("keeper--data").await.expect("retained");
    assert!(retained.owner_references().is_empty());

    // Re-created with the same name: the old data is reported, not silently taken.
    profiles
        .create(&PostParams::default(), &keep)
        .await
        .expect("again");
    let message = conflict_message(&profiles, "keeper").await;
    assert!(message.contains("set adoptRetained: true"), "{message}");
    assert!(
        claims
            .get("keeper--data")
            .await
            .expect("claim")
            .owner_references()
            .is_empty()
    );

    let adopt = json!({"spec": {"disks": [{"name": "data", "size": "1Gi", "storageClassName": "longhorn", "retentionPolicy": "Retain", "adoptRetained": true}]}});
    profiles
        .patch("keeper", &PatchParams::default(), &Patch::Merge(&adopt))
        .await
        .expect("adopt");
    let running = wait_for(&profiles, "keeper", "the adopted profile to run", |p| {
        phase(p) == Some(Phase::Running)
    })
    .await;
    let claim = claims.get("keeper--data").await.expect("claim");
    assert_eq!(
        claim.owner_references().first().map(|r| r.uid.clone()),
        running.uid(),
        "owned by the new profile"
    );
    assert_eq!(
        claim.metadata.uid, retained.metadata.uid,
        "the same claim, data and all"
    );
    operator.stop().await;
}

#[tokio::test]
async fn a_retained_disk_survives_its_profiles_deletion_while_the_operator_is_down() {
    let ns = TestEnv::shared().namespace("own-down").await;
    let operator = Operator::start(&ns).await;
    let mut keep = blank_disk_profile("downtime", "data", "longhorn");
    keep.spec.disks[0].retention_policy = Some(RetentionPolicy::Retain);
    let profiles = create(&ns, &keep).await;
    wait_for(&profiles, "downtime", "the profile to run", |p| {
        phase(p) == Some(Phase::Running)
    })
    .await;
    operator.stop().await;

    profiles
        .delete("downtime", &DeleteParams::default())
        .await
        .expect("delete while the operator is down");
    // A new operator starts with empty caches and finds the profile being deleted.
    let operator = Operator::start(&ns).await;
    common::wait_gone(&profiles, "downtime", "the profile to go").await;
    let claims: Api<PersistentVolumeClaim> = ns.api();
    let claim = claims
        .get("downtime--data")
        .await
        .expect("the claim survives");
    assert!(
        claim.owner_references().is_empty(),
        "released before the finalizer went"
    );
    assert!(claim.metadata.deletion_timestamp.is_none());
    assert_eq!(
        claim.annotations().get("vmoperator.io/retained-from"),
        Some(&format!("{}/downtime", ns.name))
    );
    operator.stop().await;
}
