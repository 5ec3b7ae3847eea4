//! Live migration on request: on a live-migratable (HA) profile each new value of
//! `vmoperator.io/migrate-requested` creates one VirtualMachineInstanceMigration and the node
//! change shows in status; a profile KubeVirt cannot migrate shows why in its conditions and
//! refuses the request without creating anything.

mod common;

use common::{Operator, annotate, condition, phase, small_profile, wait_for};
use kube::{Api, api::PostParams};
use vmop_api::{
    MIGRATE_ANNOTATION, Phase, RequestPhase, VirtualMachineProfile,
    external::kubevirt::VirtualMachineInstanceMigration, profile::AccessMode,
};
use vmop_testenv::TestEnv;

fn small(name: &str, high_availability: bool) -> VirtualMachineProfile {
    let mut profile = small_profile(name);
    profile.spec.high_availability = high_availability;
    if high_availability {
        profile.spec.disks[0].access_modes = Some(vec![AccessMode::ReadWriteMany]);
    }
    profile
}

#[tokio::test]
async fn a_migration_request_moves_an_ha_vm_to_another_node_once() {
    let ns = TestEnv::shared().namespace("migrate").await;
    let operator = Operator::start(&ns).await;
    let profiles: Api<VirtualMachineProfile> = ns.api();
    profiles
        .create(&PostParams::default(), &small("db", true))
        .await
        .expect("profile");
    let running = wait_for(&profiles, "db", "the HA profile to run, migratable", |p| {
        phase(p) == Some(Phase::Running)
            && condition(p, "LiveMigratable").is_some_and(|c| c.status == "True")
    })
    .await;
    let source = running.status.and_then(|s| s.node_name).expect("node");

    annotate(&profiles, "db", MIGRATE_ANNOTATION, "first").await;
    let moved = wait_for(&profiles, "db", "the migration to succeed", |p| {
        p.status
            .as_ref()
            .and_then(|s| s.migration.as_ref())
            .is_some_and(|m| m.phase == RequestPhase::Succeeded)
    })
    .await;
    let status = moved.status.expect("status");
    let record = status.migration.clone().expect("status.migration");
    assert_eq!(record.source_node.as_deref(), Some(source.as_str()));
    let target = record.target_node.clone().expect("target node");
    assert_ne!(target, source, "the VM moved");
    wait_for(&profiles, "db", "the profile's node to follow", |p| {
        p.status.as_ref().and_then(|s| s.node_name.as_deref()) == Some(target.as_str())
            && phase(p) == Some(Phase::Running)
    })
    .await;
    let migrations: Api<VirtualMachineInstanceMigration> = ns.api();
    let all = migrations
        .list(&Default::default())
        .await
        .expect("list")
        .items;
    assert_eq!(all.len(), 1, "one migration for one request");
    assert_eq!(all[0].spec.vmi_name, "db");
    assert_eq!(
        all[0].metadata.name.as_deref(),
        record.migration_name.as_deref()
    );
    operator.stop().await;
}

#[tokio::test]
async fn a_vm_kubevirt_cannot_migrate_says_why_and_refuses_the_request() {
    let ns = TestEnv::shared().namespace("migrate-pinned").await;
    let operator = Operator::start(&ns).await;
    let profiles: Api<VirtualMachineProfile> = ns.api();
    profiles
        .create(&PostParams::default(), &small("pinned", false))
        .await
        .expect("profile");
    let running = wait_for(
        &profiles,
        "pinned",
        "the profile to run, not migratable",
        |p| {
            phase(p) == Some(Phase::Running)
                && condition(p, "LiveMigratable").is_some_and(|c| c.status == "False")
        },
    )
    .await;
    let why = condition(&running, "LiveMigratable").expect("condition");
    assert_eq!(why.reason, "DisksNotLiveMigratable");
    assert!(why.message.contains("ReadWriteMany"), "{}", why.message);

    annotate(&profiles, "pinned", MIGRATE_ANNOTATION, "first").await;
    let refused = wait_for(&profiles, "pinned", "the refusal", |p| {
        p.status
            .as_ref()
            .and_then(|s| s.migration.as_ref())
            .is_some_and(|m| m.phase == RequestPhase::Refused)
    })
    .await;
    let record = refused.status.and_then(|s| s.migration).expect("migration");
    assert!(
        record.message.contains("DisksNotLiveMigratable"),
        "{}",
        record.message
    );
    let migrations: Api<VirtualMachineInstanceMigration> = ns.api();
    assert!(
        migrations
            .list(&Default::default())
            .await
            .expect("list")
            .items
            .is_empty()
    );
    operator.stop().await;
}
