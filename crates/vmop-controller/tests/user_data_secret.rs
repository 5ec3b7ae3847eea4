//! The user-data Secret a profile names in `spec.cloudInit.userDataSecretRef` is watched: an
//! edit reaches the guest's generated Secret at once (not at the next periodic resync, five
//! minutes away), for exactly the profiles that name it, and a settled reconcile reads it from
//! what the last read gave, with no GET.

mod common;

use common::{Operator, annotate, phase, small_profile, wait_for};
use k8s_openapi::{ByteString, api::core::v1::Secret};
use kube::{
    Api,
    api::{DeleteParams, Patch, PatchParams, PostParams},
};
use serde_json::json;
use vmop_api::{CloudInitSpec, Phase, SecretReference, VirtualMachineProfile};
use vmop_testenv::{TestEnv, wait};

const SOURCE: &str = "tenant-user-data";

fn user_data(edition: &str) -> String {
    format!("#cloud-config\nruncmd:\n  - echo {edition}\n")
}

fn naming_the_secret(name: &str) -> VirtualMachineProfile {
    let mut p = small_profile(name);
    p.spec.disks[0].storage_class_name = Some("longhorn".into());
    p.spec.cloud_init = Some(CloudInitSpec {
        user_data_secret_ref: Some(SecretReference {
            name: SOURCE.into(),
        }),
        ..CloudInitSpec::default()
    });
    p
}

/// The user data in the guest's generated Secret of `profile`.
async fn generated(secrets: &Api<Secret>, profile: &str) -> Option<String> {
    let secret = secrets
        .get_opt(&format!("{profile}--cloudinit"))
        .await
        .ok()??;
    let bytes = secret.data?.get("userdata")?.0.clone();
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edit_reconciles_exactly_its_profiles_and_a_settled_reconcile_reads_nothing() {
    let ns = TestEnv::shared().namespace("user-data-watch").await;
    let secrets: Api<Secret> = ns.api();
    let source = |edition: &str| Secret {
        metadata: kube::core::ObjectMeta {
            name: Some(SOURCE.into()),
            ..Default::default()
        },
        data: Some(
            [(
                "userdata".to_owned(),
                ByteString(user_data(edition).into_bytes()),
            )]
            .into(),
        ),
        ..Default::default()
    };
    secrets
        .create(&PostParams::default(), &source("first-edition"))
        .await
        .expect("the tenant's Secret");
    let operator = Operator::start(&ns).await;
    let profiles: Api<VirtualMachineProfile> = ns.api();
    let named = ["reader-a", "reader-b"];
    for name in named {
        profiles
            .create(&PostParams::default(), &naming_the_secret(name))
            .await
            .expect("create");
    }
    let mut other = small_profile("not-a-reader");
    other.spec.disks[0].storage_class_name = Some("longhorn".into());
    profiles
        .create(&PostParams::default(), &other)
        .await
        .expect("create");
    for name in named.iter().chain(&["not-a-reader"]) {
        wait_for(&profiles, name, "Running", |p| {
            phase(p) == Some(Phase::Running)
        })
        .await;
    }
    for name in named {
        let text = generated(&secrets, name).await.expect("generated Secret");
        assert!(text.contains("first-edition"), "{name}: {text}");
    }

    // Settled reconciles (an annotation triggers one each) ask nothing of the Secret.
    let reads = operator.metrics.reads_of("Secret", "get");
    let reconciles = operator.metrics.reconciles_total();
    for name in named {
        annotate(&profiles, name, "example.com/poke", "1").await;
    }
    wait::until("both profiles reconciled again", common::WAIT, || async {
        (operator.metrics.reconciles_total() >= reconciles + 2).then_some(())
    })
    .await
    .expect("reconciled");
    assert_eq!(
        operator.metrics.reads_of("Secret", "get"),
        reads,
        "a settled reconcile read the user-data Secret"
    );

    // An edit reaches both guests' Secrets well before any periodic resync.
    secrets
        .patch(
            SOURCE,
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"userdata": user_data("second-edition")}})),
        )
        .await
        .expect("edit the Secret");
    for name in named {
        wait::until(
            &format!("{name}'s guest Secret to carry the edit"),
            common::WAIT,
            || async {
                generated(&secrets, name)
                    .await
                    .filter(|t| t.contains("second-edition"))
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    }
    let read_again = operator.metrics.reads_of("Secret", "get") - reads;
    // One read serves both when the second reconcile finds it cached at the new version;
    // two reconciles racing each read it once.
    assert!(
        (1..=4).contains(&read_again),
        "the edited Secret was read again {read_again} times for two profiles"
    );

    // Gone: said in the status of those naming it.
    secrets
        .delete(SOURCE, &DeleteParams::default())
        .await
        .expect("delete the Secret");
    for name in named {
        wait_for(&profiles, name, "UserDataSecretNotFound", |p| {
            p.status.as_ref().is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.reason == "UserDataSecretNotFound")
            })
        })
        .await;
    }
    operator.stop().await;
}
