//! People edit and delete children by hand. A child deleted by hand is created again, with a
//! Warning Event saying so; a field the operator set and someone changed is put back; a field
//! another manager owns is left alone (server-side apply ownership); a `Retain` disk whose
//! claim is deleted after it held data is never created again blank: its status says so.

mod common;

use common::{Operator, phase, wait_for};
use k8s_openapi::api::{
    core::v1::{PersistentVolumeClaim, Secret},
    events::v1::Event,
};
use kube::{
    Api, Resource, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
};
use serde::de::DeserializeOwned;
use serde_json::json;
use vmop_api::{
    DiskSpec, NetworkSpec, Phase, RetentionPolicy, VirtualMachineProfile,
    external::{kubevirt::VirtualMachine, multus::NetworkAttachmentDefinition},
    fixtures::valid_profile,
};
use vmop_testenv::{TestEnv, TestNamespace, wait};

fn profile() -> VirtualMachineProfile {
    let mut p = valid_profile("edited");
    p.spec.networks = vec![NetworkSpec {
        name: "lan".into(),
        bridge: Some("br-edit".into()),
        vlan: Some(12),
        ..NetworkSpec::default()
    }];
    p.spec.disks.truncate(1);
    p.spec.disks[0].storage_class_name = Some("longhorn".into());
    for (name, retention) in [
        ("scratch", RetentionPolicy::Delete),
        ("keep", RetentionPolicy::Retain),
    ] {
        p.spec.disks.push(DiskSpec {
            name: name.into(),
            size: "1Gi".into(),
            storage_class_name: Some("longhorn".into()),
            retention_policy: Some(retention),
            ..DiskSpec::default()
        });
    }
    p
}

/// Deletes `name` and waits until an object of that name with another UID exists.
async fn deleted_and_recreated<K>(api: &Api<K>, name: &str)
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let before = api.get(name).await.expect("the child exists").uid();
    api.delete(name, &DeleteParams::default())
        .await
        .expect("delete by hand");
    wait::until(
        &format!("{name} to be created again"),
        common::WAIT,
        || async {
            let now = api.get_opt(name).await.ok().flatten()?;
            (now.uid() != before && now.meta().deletion_timestamp.is_none()).then_some(())
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
}

/// Waits for a Warning Event `Recreated` on the profile that names `child`.
async fn recreated_event(ns: &TestNamespace, child: &str) {
    let events: Api<Event> = ns.api();
    wait::until(
        &format!("an Event saying {child} was created again"),
        common::WAIT,
        || async {
            let list = events.list(&ListParams::default()).await.ok()?;
            list.items
                .into_iter()
                .find(|e| {
                    e.reason.as_deref() == Some("Recreated")
                        && e.type_.as_deref() == Some("Warning")
                        && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("edited")
                        && e.note.as_deref().is_some_and(|n| n.contains(child))
                })
                .map(|_| ())
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn children_deleted_or_edited_by_hand_are_put_back_and_kept_data_is_never_replaced() {
    let ns = TestEnv::shared().namespace("hand-edits").await;
    let operator = Operator::start(&ns).await;
    let profiles: Api<VirtualMachineProfile> = ns.api();
    profiles
        .create(&PostParams::default(), &profile())
        .await
        .expect("profile");
    wait_for(&profiles, "edited", "the profile to run", |p| {
        phase(p) == Some(Phase::Running)
    })
    .await;

    let nads: Api<NetworkAttachmentDefinition> = ns.api();
    let claims: Api<PersistentVolumeClaim> = ns.api();
    let secrets: Api<Secret> = ns.api();
    let vms: Api<VirtualMachine> = ns.api();

    // Deleted by hand: each comes back, and the profile says so.
    deleted_and_recreated(&nads, "edited--lan").await;
    recreated_event(&ns, "NetworkAttachmentDefinition edited--lan").await;
    deleted_and_recreated(&claims, "edited--scratch").await;
    recreated_event(&ns, "PersistentVolumeClaim edited--scratch").await;
    deleted_and_recreated(&secrets, "edited--cloudinit").await;
    recreated_event(&ns, "Secret edited--cloudinit").await;
    deleted_and_recreated(&vms, "edited").await;
    recreated_event(&ns, "VirtualMachine edited").await;
    wait_for(&profiles, "edited", "the profile to run again", |p| {
        phase(p) == Some(Phase::Running)
    })
    .await;

    // Another manager's own label stays; a field the operator set and someone edited
    // (`kubectl edit` is an Update) is put back.
    let config = nads
        .get("edited--lan")
        .await
        .expect("NAD")
        .spec
        .config
        .clone()
        .expect("the operator's config");
    nads.patch(
        "edited--lan",
        &PatchParams::apply("team-tool"),
        &Patch::Apply(json!({
            "apiVersion": "k8s.cni.cncf.io/v1",
            "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": "edited--lan", "labels": {"team": "blue"}}
        })),
    )
    .await
    .expect("another manager's label");
    let params = PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..PatchParams::default()
    };
    nads.patch(
        "edited--lan",
        &params,
        &Patch::Merge(json!({"spec": {"config": "{\"cniVersion\":\"0.3.1\",\"type\":\"bridge\",\"bridge\":\"br-hijack\"}"}})),
    )
    .await
    .expect("edit by hand");
    wait_for(
        &nads,
        "edited--lan",
        "the operator's config to be put back",
        |nad| nad.spec.config.as_deref() == Some(config.as_str()),
    )
    .await;
    let nad = nads.get("edited--lan").await.expect("NAD");
    assert_eq!(
        nad.labels().get("team").map(String::as_str),
        Some("blue"),
        "another manager's field is left alone"
    );

    vms.patch(
        "edited",
        &params,
        &Patch::Merge(json!({"spec": {"template": {"spec": {"domain": {"cpu": {"cores": 1}}}}}})),
    )
    .await
    .expect("edit the VM by hand");
    wait_for(&vms, "edited", "the VM's CPU to be put back", |vm| {
        serde_json::to_value(&vm.spec).ok().and_then(|s| {
            s.pointer("/template/spec/domain/cpu/cores")
                .and_then(serde_json::Value::as_u64)
        }) == Some(4)
    })
    .await;

    // The Retain disk's claim, deleted after it held data, is not created again blank.
    let kept_uid = claims.get("edited--keep").await.expect("claim").uid();
    claims
        .delete("edited--keep", &DeleteParams::default())
        .await
        .expect("delete the kept claim");
    let lost = wait_for(&profiles, "edited", "the lost disk in status", |p| {
        p.status.as_ref().is_some_and(|s| {
            s.disks
                .iter()
                .any(|d| d.name == "keep" && d.phase.as_deref() == Some("DiskLost"))
        })
    })
    .await;
    let disk = lost
        .status
        .as_ref()
        .and_then(|s| s.disks.iter().find(|d| d.name == "keep"))
        .expect("the disk's status");
    assert!(!disk.ready);
    assert!(
        disk.message
            .as_deref()
            .is_some_and(|m| m.contains("does not create it again blank")),
        "{disk:?}"
    );
    // Another look (a spec-neutral change triggers a reconcile) still creates nothing.
    let reconciles = operator.metrics.reconciles_total();
    let claim_writes = operator.metrics.writes_of("PersistentVolumeClaim");
    profiles
        .patch(
            "edited",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"looked-at": "again"}}})),
        )
        .await
        .expect("label");
    wait::until("another reconcile", common::WAIT, || async {
        (operator.metrics.reconciles_total() > reconciles).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    wait_for(
        &profiles,
        "edited",
        "the profile to report the lost disk",
        |p| phase(p) == Some(Phase::Failed),
    )
    .await;
    assert_eq!(
        operator.metrics.writes_of("PersistentVolumeClaim"),
        claim_writes,
        "no claim written for the lost disk"
    );
    let claim = claims.get_opt("edited--keep").await.expect("get");
    assert!(
        claim.is_none_or(|c| c.uid() == kept_uid && c.metadata.deletion_timestamp.is_some()),
        "no blank claim in place of the kept one"
    );
    operator.stop().await;
}
