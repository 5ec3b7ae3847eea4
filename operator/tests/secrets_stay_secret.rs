//! What a tenant keeps secret stays secret: a marker planted in a user-data Secret (one that
//! works and one the operator must refuse) and in SSH keys appears in no log line of the
//! shipped binary at debug level in JSON, in no Event and in no status, through a full flow
//! and a refusal.

mod common;

use common::{OperatorProcess, WAIT, publish_policy};
use k8s_openapi::{ByteString, api::core::v1::Secret, api::events::v1::Event};
use kube::{
    Api,
    api::{ListParams, PostParams},
};
use vmop_api::{Phase, SecretReference, VirtualMachineProfile, fixtures::valid_profile};
use vmop_testenv::{TestEnv, wait};

/// Base64 characters only, so it can sit inside an SSH key's blob too.
const MARKER: &str = "Zq9SecretMarker7f3a";

async fn user_data_secret(secrets: &Api<Secret>, name: &str, user_data: &str) {
    let mut secret = Secret::default();
    secret.metadata.name = Some(name.into());
    secret.data = Some(
        [(
            "userdata".to_owned(),
            ByteString(user_data.as_bytes().to_vec()),
        )]
        .into(),
    );
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("the tenant's Secret");
}

fn profile(name: &str, secret: &str) -> VirtualMachineProfile {
    let mut p = valid_profile(name);
    p.spec.networks.clear();
    p.spec.disks.truncate(1);
    p.spec.disks[0].storage_class_name = Some("longhorn".into());
    p.spec.disks[0].image = None;
    let cloud_init = p.spec.cloud_init.get_or_insert_default();
    cloud_init.ssh_authorized_keys = vec![format!(
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{MARKER} ops@example"
    )];
    cloud_init.user_data_secret_ref = Some(SecretReference {
        name: secret.into(),
    });
    p
}

#[tokio::test(flavor = "multi_thread")]
async fn no_log_line_event_or_status_carries_a_secret() {
    let ns = TestEnv::shared().namespace("secrets").await;
    publish_policy("secrets-test-policy", "{}\n").await;
    let secrets: Api<Secret> = ns.api();
    user_data_secret(
        &secrets,
        "good-userdata",
        &format!("#cloud-config\nwrite_files:\n  - path: /etc/token\n    content: {MARKER}\n"),
    )
    .await;
    // Refused (a flow sequence never closed): the refusal must not quote it.
    user_data_secret(
        &secrets,
        "bad-userdata",
        &format!("#cloud-config\npassword: [{MARKER}, {{\n"),
    )
    .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = common::service_account_kubeconfig(dir.path()).await;
    let operator = OperatorProcess::start_with(
        &ns.name,
        "secrets-test-policy",
        dir,
        kubeconfig,
        &["--log", "debug", "--log-format", "json"],
        "vm-operator-secrets",
    )
    .await;
    let profiles: Api<VirtualMachineProfile> = ns.api();
    for (name, secret) in [("keeps", "good-userdata"), ("refused", "bad-userdata")] {
        profiles
            .create(&PostParams::default(), &profile(name, secret))
            .await
            .expect("profile");
    }
    wait::until(
        "the good profile to run and the bad one to be refused",
        WAIT,
        || async {
            let good = profiles.get("keeps").await.ok()?;
            let bad = profiles.get("refused").await.ok()?;
            let running = good.status.as_ref()?.phase == Some(Phase::Running);
            let refused = bad.status.as_ref()?.conditions.iter().any(|c| {
                c.type_ == "Ready" && c.status == "False" && c.message.contains("userDataSecretRef")
            });
            (running && refused).then_some(())
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", operator.log()));

    // The marker did reach the guest's cloud-init Secret: it was really in play.
    let generated = secrets
        .get("keeps--cloudinit")
        .await
        .expect("generated Secret");
    let user_data = generated
        .data
        .as_ref()
        .and_then(|d| d.get("userdata"))
        .map(|b| String::from_utf8_lossy(&b.0).into_owned())
        .unwrap_or_default();
    assert!(user_data.contains(MARKER), "the guest gets it: {user_data}");

    let log = operator.log();
    assert!(log.lines().count() > 20, "debug logging ran:\n{log}");
    for line in log.lines() {
        assert!(
            !line.contains(MARKER),
            "a log line carries the secret: {line}"
        );
    }
    let events: Api<Event> = ns.api();
    let events = serde_json::to_string(&events.list(&ListParams::default()).await.expect("events"))
        .expect("json");
    assert!(!events.contains(MARKER), "an Event carries the secret");
    for p in profiles
        .list(&ListParams::default())
        .await
        .expect("profiles")
    {
        let status = serde_json::to_string(&p.status).expect("json");
        assert!(
            !status.contains(MARKER),
            "a status carries the secret: {status}"
        );
    }
}
