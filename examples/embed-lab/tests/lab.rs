//! The embedding controller in the test's process on the test control plane: a Lab with two
//! seats gets two VMs Running through the embedded vm-operator controller (a macvlan network
//! from the third-party plugin, a blank disk), and at its expiry they are torn down.

use std::{sync::Arc, time::Duration};

use k8s_openapi::{
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp,
};
use kube::{
    Api, CustomResourceExt,
    api::{ListParams, Patch, PatchParams, PostParams},
    runtime::wait::{await_condition, conditions},
};
use vmop_controller::{AdminPolicy, AdminPolicySource, ControllerConfig, Metrics, Timing};
use vmop_example_embed_lab::{Lab, LabSpec, SEAT_LABEL, run};
use vmop_plugin::vmop_api::{
    DiskSpec, NetworkSpec, Phase, VirtualMachineProfile, fixtures::valid_profile,
};
use vmop_testenv::{TestEnv, wait};

const WAIT: Duration = Duration::from_secs(120);

#[tokio::test]
async fn a_lab_stands_up_its_seats_and_tears_them_down_at_expiry() {
    let env = TestEnv::shared();
    let client = env.client().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.patch(
        "labs.training.example.com",
        &PatchParams::apply("lab-test").force(),
        &Patch::Apply(Lab::crd()),
    )
    .await
    .expect("the Lab CRD");
    tokio::time::timeout(
        WAIT,
        await_condition(
            crds,
            "labs.training.example.com",
            conditions::is_crd_established(),
        ),
    )
    .await
    .expect("established in time")
    .expect("established");

    let ns = env.namespace("lab").await;
    let policy = AdminPolicy::parse(&format!(
        "nodeNetworks:\n  - namespaces: [{}]\n    nodeInterfaces: [eth1]\n",
        ns.name
    ))
    .expect("policy");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let embedded = tokio::spawn(run(
        client.clone(),
        ControllerConfig::default()
            .namespace(ns.name.clone())
            .concurrency(4)
            .timing(Timing::default().converging(Duration::from_millis(500)))
            .admin_policy(AdminPolicySource::Fixed(policy)),
        Arc::new(Metrics::default()),
        async move {
            let _ = stopped.await;
        },
    ));

    let mut template = valid_profile("seat").spec;
    template.networks = vec![NetworkSpec {
        name: "classroom".into(),
        type_: Some("macvlan".into()),
        node_interface: Some("eth1".into()),
        ..NetworkSpec::default()
    }];
    template.disks = vec![DiskSpec {
        name: "home".into(),
        size: "1Gi".into(),
        storage_class_name: Some("longhorn".into()),
        ..DiskSpec::default()
    }];
    template.cloud_init = None;
    let expires = Timestamp::now() + std::time::Duration::from_secs(40);
    let labs: Api<Lab> = ns.api();
    labs.create(
        &PostParams::default(),
        &Lab::new(
            "k8s-101",
            LabSpec {
                seats: 2,
                expires_at: Time(expires),
                template,
            },
        ),
    )
    .await
    .expect("the Lab");

    let profiles: Api<VirtualMachineProfile> = ns.api();
    let seats = ListParams::default().labels(&format!("{SEAT_LABEL}=k8s-101"));
    wait::until("both seats to run", WAIT, || async {
        let list = profiles.list(&seats).await.ok()?;
        let running = list
            .iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase) == Some(Phase::Running))
            .count();
        (running == 2).then_some(())
    })
    .await
    .expect("two seats Running");
    assert!(
        Timestamp::now() < expires,
        "the seats ran before the expiry (the test is meaningful only then)"
    );

    wait::until("the lab to expire and its seats to go", WAIT, || async {
        let lab = labs.get("k8s-101").await.ok()?;
        let expired = lab.status.as_ref().is_some_and(|s| s.phase == "Expired");
        let left = profiles.list(&seats).await.ok()?.items.len();
        (expired && left == 0).then_some(())
    })
    .await
    .expect("torn down at expiry");
    let _ = stop.send(());
    embedded.await.expect("joined").expect("ran");
}
