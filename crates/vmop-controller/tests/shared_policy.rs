//! A shared NodeNetworkConfigurationPolicy exists exactly while it has users, even when its
//! users come and go at once: the last user's cleanup and a new user's apply are serialized
//! per policy, and the delete carries the UID it saw as a precondition.

mod common;

use common::{Operator, blank_disk_profile, condition, wait_for, wait_gone};
use futures::future::join_all;
use kube::{
    Api,
    api::{DeleteParams, ListParams, PostParams},
};
use vmop_api::{
    NetworkSpec, VirtualMachineProfile, external::nmstate::NodeNetworkConfigurationPolicy,
};
use vmop_controller::node_policy_scope;
use vmop_plugin::objects::MANAGED_POLICY_LABEL;
use vmop_testenv::{TestEnv, TestNamespace, wait};

const BRIDGE: &str = "br-shared";

fn user(name: &str) -> VirtualMachineProfile {
    let mut p = blank_disk_profile(name, "data", "longhorn");
    p.spec.cloud_init = None;
    p.spec.networks = vec![NetworkSpec {
        name: "lan".into(),
        bridge: Some(BRIDGE.into()),
        node_interface: Some("eth5".into()),
        ..NetworkSpec::default()
    }];
    p
}

/// The node policies of this test's bridge that exist now (not being deleted).
async fn live_policies(ns: &TestNamespace) -> Vec<NodeNetworkConfigurationPolicy> {
    let scope = node_policy_scope(Some(&ns.name));
    Api::<NodeNetworkConfigurationPolicy>::all(ns.client.clone())
        .list(&ListParams::default())
        .await
        .expect("list policies")
        .items
        .into_iter()
        .filter(|p| {
            p.metadata
                .name
                .as_deref()
                .is_some_and(|n| n.contains(BRIDGE))
                && p.metadata.deletion_timestamp.is_none()
                && p.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(MANAGED_POLICY_LABEL))
                    == Some(&scope)
        })
        .collect()
}

async fn networks_ready(profiles: &Api<VirtualMachineProfile>, name: &str) {
    wait_for(
        profiles,
        name,
        "the shared policy to be ready for it",
        |p| condition(p, "NetworksReady").is_some_and(|c| c.status == "True"),
    )
    .await;
}

async fn create_all(profiles: &Api<VirtualMachineProfile>, names: &[String]) {
    join_all(names.iter().map(|name| async move {
        profiles
            .create(&PostParams::default(), &user(name))
            .await
            .expect("create a user");
    }))
    .await;
}

async fn delete_all(profiles: &Api<VirtualMachineProfile>, names: &[String]) {
    join_all(names.iter().map(|name| async move {
        profiles
            .delete(name, &DeleteParams::default())
            .await
            .expect("delete a user");
    }))
    .await;
}

async fn gone_all(profiles: &Api<VirtualMachineProfile>, names: &[String]) {
    join_all(
        names
            .iter()
            .map(|name| wait_gone(profiles, name, "a deleted user to go")),
    )
    .await;
}

async fn exactly_one_policy(ns: &TestNamespace, when: &str) {
    let found = wait::until(
        &format!("one shared policy {when}"),
        common::WAIT,
        || async {
            let live = live_policies(ns).await;
            (live.len() == 1).then_some(())
        },
    )
    .await;
    found.unwrap_or_else(|e| panic!("{e}"));
}

async fn no_policy(ns: &TestNamespace, when: &str) {
    wait::until(
        &format!("no shared policy {when}"),
        common::WAIT,
        || async { live_policies(ns).await.is_empty().then_some(()) },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn a_shared_policy_exists_exactly_while_it_has_users() {
    let ns = TestEnv::shared().namespace("shared-policy").await;
    let operator = Operator::start(&ns).await;
    let profiles: Api<VirtualMachineProfile> = ns.api();

    for round in 0..3 {
        // Many users at once: one policy for all of them.
        let names: Vec<String> = (0..6).map(|i| format!("r{round}-u{i}")).collect();
        create_all(&profiles, &names).await;
        join_all(names.iter().map(|n| networks_ready(&profiles, n))).await;
        exactly_one_policy(&ns, &format!("for the users of round {round}")).await;

        // The last users leave while a new one arrives: the newcomer keeps the policy.
        let newcomer = vec![format!("r{round}-new")];
        let (_, _) = tokio::join!(
            delete_all(&profiles, &names),
            create_all(&profiles, &newcomer)
        );
        gone_all(&profiles, &names).await;
        networks_ready(&profiles, &newcomer[0]).await;
        exactly_one_policy(&ns, &format!("for the newcomer of round {round}")).await;
        let users = operator.context.claims.node_policy_users(
            &live_policies(&ns).await[0]
                .metadata
                .name
                .clone()
                .unwrap_or_default(),
        );
        assert_eq!(users.len(), 1, "only the newcomer uses it: {users:?}");

        // Its last user gone, so is the policy.
        delete_all(&profiles, &newcomer).await;
        gone_all(&profiles, &newcomer).await;
        no_policy(&ns, &format!("after round {round}")).await;
    }
    operator.stop().await;
}
