//! Sizes from KubeVirt's catalogue, on the real control plane with the upstream instancetype
//! CRDs and a few common instancetypes: a profile sized by `u1.medium` runs with the
//! instancetype's CPUs and memory in its VMI and in its status; a missing instancetype or
//! preference is a condition naming it and nothing is created, until it appears.

mod common;

use common::{Operator, condition, phase, wait_for};
use kube::{
    Api,
    api::{Patch, PatchParams, PostParams},
};
use serde_json::json;
use vmop_api::{
    InstancetypeKind, InstancetypeRef, Phase, PreferenceRef, VirtualMachineProfile,
    external::kubevirt::{VirtualMachine, VirtualMachineInstance},
    fixtures::{instancetype, valid_profile},
};
use vmop_testenv::TestEnv;

/// A profile on the pod network only, sized by `instancetype`.
fn sized(name: &str, instancetype: InstancetypeRef) -> VirtualMachineProfile {
    let mut profile = valid_profile(name);
    profile.spec.networks.clear();
    profile.spec.cpu = None;
    profile.spec.memory = None;
    profile.spec.instancetype = Some(instancetype);
    profile.spec.preference = Some(PreferenceRef {
        name: "fedora".into(),
        kind: None,
    });
    profile
}

#[tokio::test]
async fn a_profile_sized_by_an_instancetype_runs_with_its_cpus_and_memory() {
    let ns = TestEnv::shared().namespace("instancetype").await;
    let operator = Operator::start(&ns).await;
    let profiles: Api<VirtualMachineProfile> = ns.api();
    profiles
        .create(
            &PostParams::default(),
            &sized("sized-vm", instancetype("u1.medium")),
        )
        .await
        .expect("profile");
    let running = wait_for(&profiles, "sized-vm", "the sized profile to run", |p| {
        phase(p) == Some(Phase::Running)
    })
    .await;
    let resources = running
        .status
        .as_ref()
        .and_then(|s| s.resources.clone())
        .expect("resources in status");
    assert_eq!(resources.vcpus, 1);
    assert_eq!(resources.memory, "4Gi");
    assert_eq!(
        resources.instancetype.as_deref(),
        Some("VirtualMachineClusterInstancetype/u1.medium")
    );

    // The VM names the instancetype and preference as KubeVirt expects, with no CPU or
    // memory of its own; KubeVirt put the instancetype's into the instance.
    let vm = ns
        .api::<VirtualMachine>()
        .get("sized-vm")
        .await
        .expect("VM");
    let matcher = vm.spec.instancetype.as_ref().expect("spec.instancetype");
    assert_eq!(matcher.name, "u1.medium");
    assert_eq!(
        matcher.kind.as_deref(),
        Some("VirtualMachineClusterInstancetype")
    );
    assert_eq!(
        vm.spec.preference.as_ref().map(|p| p.name.as_str()),
        Some("fedora")
    );
    let domain = &vm
        .spec
        .template
        .as_ref()
        .and_then(|t| t.spec.as_ref())
        .expect("template")
        .domain;
    assert!(
        domain.cpu.is_none() && domain.memory.is_none(),
        "{domain:?}"
    );
    let vmi = ns
        .api::<VirtualMachineInstance>()
        .get("sized-vm")
        .await
        .expect("VMI");
    assert_eq!(
        vmi.spec
            .domain
            .memory
            .as_ref()
            .and_then(|m| m.guest.as_deref()),
        Some("4Gi")
    );
    assert_eq!(
        vmi.spec.domain.cpu.as_ref().and_then(|c| c.sockets),
        Some(1)
    );

    // A raw-sized profile shows its vCPUs too (cores x sockets x threads).
    let mut raw = valid_profile("raw-vm");
    raw.spec.networks.clear();
    profiles
        .create(&PostParams::default(), &raw)
        .await
        .expect("raw profile");
    let raw = wait_for(&profiles, "raw-vm", "the raw profile's size", |p| {
        p.status
            .as_ref()
            .and_then(|s| s.resources.as_ref())
            .is_some()
    })
    .await;
    let resources = raw.status.and_then(|s| s.resources).expect("resources");
    assert_eq!((resources.vcpus, resources.memory.as_str()), (4, "8Gi"));
    operator.stop().await;
}

#[tokio::test]
async fn a_missing_instancetype_is_a_condition_naming_it_until_it_appears() {
    let ns = TestEnv::shared().namespace("instancetype-missing").await;
    let operator = Operator::start(&ns).await;
    let profiles: Api<VirtualMachineProfile> = ns.api();
    let local = InstancetypeRef {
        name: "team-large".into(),
        kind: Some(InstancetypeKind::VirtualMachineInstancetype),
    };
    profiles
        .create(&PostParams::default(), &sized("waiting-vm", local))
        .await
        .expect("profile");
    let blocked = wait_for(&profiles, "waiting-vm", "the missing instancetype", |p| {
        condition(p, "Ready").is_some_and(|c| c.reason == "InstancetypeNotFound")
    })
    .await;
    assert_eq!(
        condition(&blocked, "Ready").map(|c| c.message.as_str()),
        Some(
            "spec.instancetype: VirtualMachineInstancetype team-large (in the profile's namespace) does not exist"
        )
    );
    assert_eq!(phase(&blocked), Some(Phase::Pending));
    assert!(
        ns.api::<VirtualMachine>()
            .get_opt("waiting-vm")
            .await
            .expect("get")
            .is_none(),
        "nothing is created for it"
    );

    // The team creates it in its namespace: the profile goes on, with its size.
    let instancetypes: Api<kube::api::DynamicObject> = Api::namespaced_with(
        ns.client.clone(),
        &ns.name,
        &kube::core::ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk(
            "instancetype.kubevirt.io",
            "v1beta1",
            "VirtualMachineInstancetype",
        )),
    );
    instancetypes
        .patch(
            "team-large",
            &PatchParams::apply("test").force(),
            &Patch::Apply(json!({
                "apiVersion": "instancetype.kubevirt.io/v1beta1",
                "kind": "VirtualMachineInstancetype",
                "metadata": {"name": "team-large"},
                "spec": {"cpu": {"guest": 8}, "memory": {"guest": "32Gi"}},
            })),
        )
        .await
        .expect("instancetype");
    let running = wait_for(&profiles, "waiting-vm", "the profile to run", |p| {
        phase(p) == Some(Phase::Running)
    })
    .await;
    let resources = running.status.and_then(|s| s.resources).expect("resources");
    assert_eq!((resources.vcpus, resources.memory.as_str()), (8, "32Gi"));

    // A missing preference is named the same way.
    let mut no_preference = sized("unpreferred-vm", instancetype("u1.small"));
    no_preference.spec.preference = Some(PreferenceRef {
        name: "windows-11".into(),
        kind: None,
    });
    profiles
        .create(&PostParams::default(), &no_preference)
        .await
        .expect("profile");
    let blocked = wait_for(&profiles, "unpreferred-vm", "the missing preference", |p| {
        condition(p, "Ready").is_some_and(|c| c.reason == "PreferenceNotFound")
    })
    .await;
    assert!(
        condition(&blocked, "Ready").is_some_and(|c| c
            .message
            .contains("VirtualMachineClusterPreference windows-11")),
        "{:?}",
        blocked.status
    );
    operator.stop().await;
}
