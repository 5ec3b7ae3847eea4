//! ResourceQuotas on the real control plane (the API server's quota admission and the
//! controller-manager's quota controller): a profile that would exceed its namespace's quota
//! is `QuotaExceeded`, naming the quota and the resource, with nothing created; once the
//! quota is raised it runs.

mod common;

use common::{Operator, blank_disk_profile, condition, phase, wait_for};
use k8s_openapi::{
    api::core::v1::{PersistentVolumeClaim, ResourceQuota, Secret},
    apimachinery::pkg::api::resource::Quantity,
};
use kube::{
    Api,
    api::{ListParams, Patch, PatchParams, PostParams},
};
use serde_json::json;
use vmop_api::{
    Phase, VirtualMachineProfile,
    external::{cdi::DataVolume, kubevirt::VirtualMachine},
};
use vmop_testenv::TestEnv;

fn quota(name: &str, hard: &[(&str, &str)]) -> ResourceQuota {
    let mut quota: ResourceQuota = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"hard": {}},
    }))
    .expect("quota");
    if let Some(spec) = quota.spec.as_mut() {
        spec.hard = Some(
            hard.iter()
                .map(|(k, v)| ((*k).to_owned(), Quantity((*v).to_owned())))
                .collect(),
        );
    }
    quota
}

async fn count<K>(api: &Api<K>) -> usize
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.list(&ListParams::default())
        .await
        .expect("list")
        .items
        .len()
}

#[tokio::test]
async fn a_profile_over_its_quota_creates_nothing_and_runs_once_the_quota_is_raised() {
    let ns = TestEnv::shared().namespace("quota").await;
    let quotas: Api<ResourceQuota> = ns.api();
    quotas
        .create(
            &PostParams::default(),
            &quota(
                "team-quota",
                &[
                    ("requests.storage", "5Gi"),
                    ("count/virtualmachines.kubevirt.io", "3"),
                ],
            ),
        )
        .await
        .expect("quota");
    let operator = Operator::start(&ns).await;
    let profiles: Api<VirtualMachineProfile> = ns.api();
    let mut profile = blank_disk_profile("big", "data", "huamei-sc-ssd");
    profile.spec.disks[0].size = "20Gi".into();
    profiles
        .create(&PostParams::default(), &profile)
        .await
        .expect("profile");
    let refused = wait_for(&profiles, "big", "QuotaExceeded", |p| {
        condition(p, "Ready").is_some_and(|c| c.reason == "QuotaExceeded")
    })
    .await;
    let message = &condition(&refused, "Ready").expect("Ready").message;
    assert!(
        message.contains("ResourceQuota team-quota: requests.storage: disk data ask for 20Gi"),
        "names the quota, the resource and the ask: {message}"
    );
    assert!(message.contains("of 5Gi is in use"), "{message}");
    assert_ne!(phase(&refused), Some(Phase::Running));
    // Nothing partial: no claim, DataVolume, Secret or VM.
    assert_eq!(count(&ns.api::<PersistentVolumeClaim>()).await, 0);
    assert_eq!(count(&ns.api::<DataVolume>()).await, 0);
    assert_eq!(count(&ns.api::<VirtualMachine>()).await, 0);
    let secrets: Api<Secret> = ns.api();
    let ours = secrets
        .list(&ListParams::default().labels("vmoperator.io/profile=big"))
        .await
        .expect("secrets");
    assert!(
        ours.items.is_empty(),
        "no cloud-init Secret: {:?}",
        ours.items
    );

    // Raised: the profile runs, and the quota counts what it made.
    quotas
        .patch(
            "team-quota",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"hard": {"requests.storage": "50Gi"}}})),
        )
        .await
        .expect("raise");
    wait_for(&profiles, "big", "the profile to run", |p| {
        phase(p) == Some(Phase::Running)
    })
    .await;
    let counted = wait_for(&quotas, "team-quota", "the quota to count the VM", |q| {
        q.status
            .as_ref()
            .and_then(|s| s.used.as_ref())
            .and_then(|u| u.get("count/virtualmachines.kubevirt.io"))
            .is_some_and(|v| v.0 == "1")
    })
    .await;
    let used = counted.status.and_then(|s| s.used).unwrap_or_default();
    assert_eq!(
        used.get("requests.storage").map(|q| q.0.as_str()),
        Some("20Gi")
    );
    operator.stop().await;
}
