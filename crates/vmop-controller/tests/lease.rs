//! Leader election on the real API server: of two replicas exactly one holds the Lease; a
//! holder whose Lease is taken from it reports the loss; a released Lease has no holder.

use std::time::Duration;

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::MicroTime,
    jiff::Timestamp,
};
use kube::{
    Api,
    api::{Patch, PatchParams},
    config::{KubeConfigOptions, Kubeconfig},
};
use serde_json::json;
use vmop_controller::lease::{self, Election, LeaseConfig, LeaseTiming};
use vmop_testenv::{TestEnv, wait};

const WAIT: Duration = Duration::from_secs(60);

async fn elect(namespace: &str, identity: &str) -> Election {
    let file = Kubeconfig::read_from(TestEnv::shared().kubeconfig()).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
        .await
        .expect("cluster config");
    let timing = LeaseTiming::default()
        .duration(Duration::from_secs(4))
        .grace(Duration::from_secs(2))
        .request_timeout(Duration::from_secs(1));
    let lease = LeaseConfig::new(namespace, "elect", identity)
        .create_if_missing(true)
        .timing(timing);
    lease::elect(config, lease).await.expect("election starts")
}

async fn holder(leases: &Api<Lease>) -> Option<String> {
    leases.get_opt("elect").await.ok()??.spec?.holder_identity
}

#[tokio::test(flavor = "multi_thread")]
async fn one_replica_holds_the_lease_and_the_holder_notices_when_it_is_taken() {
    let ns = TestEnv::shared().namespace("lease").await;
    let leases: Api<Lease> = ns.api();
    let a = elect(&ns.name, "replica-a").await;
    let b = elect(&ns.name, "replica-b").await;
    let leader = wait::until("one replica to lead", WAIT, || async {
        match (a.leadership().held(), b.leadership().held()) {
            (true, false) => Some("replica-a"),
            (false, true) => Some("replica-b"),
            (true, true) => panic!("both replicas lead"),
            (false, false) => None,
        }
    })
    .await
    .expect("a leader");
    assert_eq!(holder(&leases).await.as_deref(), Some(leader));
    let (leading, standby) = if leader == "replica-a" {
        (a, b)
    } else {
        (b, a)
    };

    // Somebody else writes itself in as holder: the leader must step down.
    leases
        .patch(
            "elect",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": LeaseSpec {
                holder_identity: Some("intruder".into()),
                renew_time: Some(MicroTime(Timestamp::now())),
                lease_duration_seconds: Some(4),
                ..LeaseSpec::default()
            }})),
        )
        .await
        .expect("take the lease");
    let mut lost = leading.leadership();
    tokio::time::timeout(WAIT, lost.lost())
        .await
        .expect("the leader notices the loss");
    assert!(!leading.leadership().held());
    // The former leader goes on competing and could win the expired Lease back; it stops
    // here so that the standby's takeover is what is tested.
    drop(leading);

    // The intruder never renews: the standby takes over once its Lease expires, and a
    // released Lease has no holder.
    let mut waiting = standby.leadership();
    tokio::time::timeout(WAIT, waiting.acquired())
        .await
        .expect("the standby takes over the expired Lease");
    assert_ne!(holder(&leases).await.as_deref(), Some("intruder"));
    standby.release().await.expect("release");
    assert_eq!(holder(&leases).await, None);
}
