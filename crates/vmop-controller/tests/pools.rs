//! Pools on the real control plane with the simulators: five replicas reach Running with
//! distinct addresses and MACs; the scale subresource (what `kubectl scale` uses) takes the
//! pool to 2, removing ordinals 4 then 3 while their retained disks stay; back at 5, ordinals
//! 3 and 4 get their previous addresses and MACs (and adopt their retained disks). A range
//! too small, or one overlapping another pool's, gives a condition, never a duplicate.

mod common;

use std::collections::BTreeMap;

use common::{Operator, condition, phase, wait_for, wait_gone};
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams, PostParams},
};
use serde_json::json;
use vmop_api::{
    DiskSpec, NetworkSpec, Phase, RetentionPolicy, VirtualMachineProfile, fixtures::valid_profile,
    pool::VirtualMachineProfilePool,
};
use vmop_testenv::TestEnv;

/// A pool of `replicas` on an existing bridge, addresses from `range`, one blank disk.
fn pool(name: &str, replicas: i32, range: &str) -> VirtualMachineProfilePool {
    let mut spec = valid_profile("template").spec;
    spec.networks = vec![NetworkSpec {
        name: "lan".into(),
        type_: Some("bridge".into()),
        bridge: Some("br-pool".into()),
        ..NetworkSpec::default()
    }];
    spec.disks = vec![DiskSpec {
        name: "data".into(),
        size: "1Gi".into(),
        storage_class_name: Some("longhorn".into()),
        adopt_retained: Some(true),
        ..DiskSpec::default()
    }];
    spec.disk_retention_policy = RetentionPolicy::Retain;
    spec.cloud_init = None;
    vmop_testenv::profiles::pool_of(name, replicas, spec, "lan", range)
}

/// Member name -> (IP, MAC) as the member profiles carry them.
async fn addresses(
    profiles: &Api<VirtualMachineProfile>,
    pool: &str,
) -> BTreeMap<String, (String, String)> {
    profiles
        .list(&kube::api::ListParams::default().labels(&format!("vmoperator.io/pool={pool}")))
        .await
        .expect("list")
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| {
            let lan = &p.spec.networks[0];
            (
                p.name_any(),
                (
                    lan.ip_address.clone().unwrap_or_default(),
                    lan.mac_address.clone().unwrap_or_default(),
                ),
            )
        })
        .collect()
}

fn pool_ready(p: &VirtualMachineProfilePool) -> Option<(String, String, String)> {
    let c = p
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")?;
    Some((c.status.clone(), c.reason.clone(), c.message.clone()))
}

async fn scale(pools: &Api<VirtualMachineProfilePool>, name: &str, replicas: i32) {
    pools
        .patch_scale(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": replicas}})),
        )
        .await
        .expect("scale");
}

async fn wait_ready(
    pools: &Api<VirtualMachineProfilePool>,
    name: &str,
    replicas: i32,
) -> VirtualMachineProfilePool {
    wait_for(
        pools,
        name,
        &format!("{name} to have {replicas} ready replicas"),
        |p| {
            p.status.as_ref().is_some_and(|s| {
                s.ready_replicas == replicas
                    && s.replicas == replicas
                    && s.observed_generation == p.metadata.generation
            }) && pool_ready(p).is_some_and(|(status, _, _)| status == "True")
        },
    )
    .await
}

#[tokio::test]
async fn a_pool_scales_down_and_up_and_each_ordinal_keeps_its_address_and_mac() {
    let ns = TestEnv::shared().namespace("pool").await;
    let operator = Operator::start(&ns).await;
    let pools: Api<VirtualMachineProfilePool> = ns.api();
    let profiles: Api<VirtualMachineProfile> = ns.api();
    pools
        .create(
            &PostParams::default(),
            &pool("web", 5, "192.168.100.10-192.168.100.60/24"),
        )
        .await
        .expect("pool");
    let ready = wait_ready(&pools, "web", 5).await;
    let first = addresses(&profiles, "web").await;
    assert_eq!(first.len(), 5, "{first:?}");
    let ips: std::collections::BTreeSet<_> = first.values().map(|(ip, _)| ip).collect();
    let macs: std::collections::BTreeSet<_> = first.values().map(|(_, mac)| mac).collect();
    assert_eq!((ips.len(), macs.len()), (5, 5), "distinct: {first:?}");
    assert_eq!(first["web-0"].0, "192.168.100.10/24");
    assert_eq!(first["web-4"].0, "192.168.100.14/24");
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = ns.api();
    for member in first.keys() {
        let p = profiles.get(member).await.expect("member");
        assert_eq!(phase(&p), Some(Phase::Running), "{member}");
        // Each member's own hostname reaches its guest, not one shared by the pool.
        let secret = secrets
            .get(&format!("{member}--cloudinit"))
            .await
            .expect("the member's cloud-init Secret");
        let user_data = secret
            .data
            .as_ref()
            .and_then(|d| d.get("userdata"))
            .map(|b| String::from_utf8_lossy(&b.0).into_owned())
            .unwrap_or_default();
        assert!(
            user_data.contains(&format!("\nhostname: {member}\n")),
            "{member}: {user_data}"
        );
    }
    let status = ready.status.expect("status");
    assert_eq!(status.selector.as_deref(), Some("vmoperator.io/pool=web"));
    assert_eq!(status.members.len(), 5);

    // Scale to 2 through the scale subresource: 4 goes, then 3; their disks stay.
    scale(&pools, "web", 2).await;
    wait_gone(&profiles, "web-4", "web-4 to go").await;
    wait_gone(&profiles, "web-3", "web-3 to go").await;
    wait_ready(&pools, "web", 2).await;
    let claims: Api<PersistentVolumeClaim> = ns.api();
    for retained in ["web-3--data", "web-4--data"] {
        let claim = claims
            .get(retained)
            .await
            .expect("the retained disk survives");
        assert!(
            claim.owner_references().is_empty(),
            "{retained} kept without owner"
        );
    }
    assert_eq!(addresses(&profiles, "web").await.len(), 2);

    // Back to 5: 3 and 4 come back with their addresses and MACs, and their disks.
    scale(&pools, "web", 5).await;
    wait_ready(&pools, "web", 5).await;
    let again = addresses(&profiles, "web").await;
    assert_eq!(again, first, "every ordinal keeps its address and MAC");
    let claim = claims.get("web-4--data").await.expect("claim");
    assert!(
        !claim.owner_references().is_empty(),
        "re-adopted by the new web-4"
    );
    operator.stop().await;
}

#[tokio::test]
async fn an_exhausted_or_overlapping_range_is_a_condition_not_a_duplicate() {
    let ns = TestEnv::shared().namespace("pool-conflict").await;
    let operator = Operator::start(&ns).await;
    let pools: Api<VirtualMachineProfilePool> = ns.api();
    let profiles: Api<VirtualMachineProfile> = ns.api();

    // Three addresses for four replicas: three members and a condition naming the range.
    pools
        .create(
            &PostParams::default(),
            &pool("small", 4, "10.9.0.10-10.9.0.12/24"),
        )
        .await
        .expect("pool");
    let exhausted = wait_for(&pools, "small", "the exhausted range", |p| {
        pool_ready(p).is_some_and(|(_, reason, _)| reason == "AddressRangeExhausted")
    })
    .await;
    let (_, _, message) = pool_ready(&exhausted).expect("condition");
    assert!(
        message.contains("has 3 addresses for 4 replicas"),
        "{message}"
    );
    wait_for(&pools, "small", "three members", |p| {
        p.status.as_ref().is_some_and(|s| s.replicas == 3)
    })
    .await;
    assert!(profiles.get_opt("small-3").await.expect("get").is_none());
    // The first claimer holds an address; a member exists before its first reconcile
    // claims it. Wait until small-2 holds 10.9.0.12 (its VM is created only after its claim).
    let vms = ns.api::<vmop_api::external::kubevirt::VirtualMachine>();
    wait_for(&vms, "small-2", "small-2 to hold its address", |_| true).await;

    // A second pool on the same bridge whose range overlaps: its first member would take
    // 10.9.0.12, which small-2 holds. That member is refused (Conflict), and the pool says so.
    pools
        .create(
            &PostParams::default(),
            &pool("late", 1, "10.9.0.12-10.9.0.20/24"),
        )
        .await
        .expect("pool");
    let conflicted = wait_for(&pools, "late", "the overlapping range's conflict", |p| {
        pool_ready(p).is_some_and(|(_, reason, _)| reason == "Conflict")
    })
    .await;
    let (_, _, message) = pool_ready(&conflicted).expect("condition");
    assert!(
        message.contains("late-0") && message.contains("10.9.0.12") && message.contains("small-2"),
        "{message}"
    );
    let refused = profiles.get("late-0").await.expect("member");
    assert!(
        condition(&refused, "Ready").is_some_and(|c| c.reason == "Conflict"),
        "{:?}",
        refused.status
    );
    assert!(
        vms.get_opt("late-0").await.expect("get").is_none(),
        "no VM with a duplicate address"
    );
    operator.stop().await;
}

#[tokio::test]
async fn a_template_change_reaches_the_members_and_the_pool_says_which_need_a_restart() {
    let ns = TestEnv::shared().namespace("pool-rollout").await;
    let operator = Operator::start(&ns).await;
    let pools: Api<VirtualMachineProfilePool> = ns.api();
    let profiles: Api<VirtualMachineProfile> = ns.api();
    pools
        .create(
            &PostParams::default(),
            &pool("app", 2, "10.8.0.10-10.8.0.20/24"),
        )
        .await
        .expect("pool");
    wait_ready(&pools, "app", 2).await;

    // Fewer cores: KubeVirt applies that only on restart.
    pools
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"template": {"spec": {"cpu": 2}}}})),
        )
        .await
        .expect("template change");
    let told = wait_for(
        &pools,
        "app",
        "the pool to say which members need a restart",
        |p| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.iter().find(|c| c.type_ == "RestartRequired"))
                .is_some_and(|c| {
                    c.status == "True" && c.message.contains("app-0") && c.message.contains("app-1")
                })
        },
    )
    .await;
    for member in ["app-0", "app-1"] {
        let p = profiles.get(member).await.expect("member");
        assert_eq!(p.spec.cpu, Some(2), "{member} got the template change");
        assert!(
            condition(&p, "RestartRequired").is_some_and(|c| c.status == "True"),
            "{member}: {:?}",
            p.status
        );
    }
    assert!(told.status.is_some());
    operator.stop().await;
}
