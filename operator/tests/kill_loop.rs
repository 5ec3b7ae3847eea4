//! The shipped binary, SIGKILLed at random points of a full flow, converges exactly.
//!
//! Each run drives several profiles through creation, updates that add and remove networks
//! and disks, a pool scaled up and down, and a deletion, with two profiles sharing a node
//! policy and disks under `Retain`. After each step the operator may be killed once it has
//! made a random number of further writes (the seed decides), then started again. Once it
//! has settled, every expected child exists exactly once with the right owner, nothing else
//! does, no address is held twice, no `Retain` claim was deleted or made anew, and no deleted
//! profile keeps a finalizer.
//!
//! `VMOP_FAULT_RUNS` sets the number of runs (10 by default, as CI runs it; 100 for the full
//! count) and `VMOP_FAULT_SEED` repeats a run's seed, printed at the start.

mod common;

use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    time::Duration,
};

use common::{OperatorProcess, WAIT, http_get, publish_policy};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret};
use kube::{
    Api, Resource, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
};
use serde::de::DeserializeOwned;
use serde_json::json;
use vmop_api::{
    DiskSpec, NetworkSpec, Phase, RetentionPolicy, VirtualMachineProfile,
    external::{
        kubevirt::VirtualMachine, multus::NetworkAttachmentDefinition,
        nmstate::NodeNetworkConfigurationPolicy,
    },
    fixtures::valid_profile,
    pool::VirtualMachineProfilePool,
};
use vmop_testenv::{TestEnv, wait};

const POLICY: &str = "kill-loop-policy";
const PROFILE_LABEL: &str = "vmoperator.io/profile";
const RETAINED_FROM: &str = "vmoperator.io/retained-from";

/// splitmix64: a seeded sequence, so a failing run can be repeated.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

fn bridged(name: &str, bridge: &str, port: Option<&str>, ip: Option<&str>) -> NetworkSpec {
    NetworkSpec {
        name: name.into(),
        bridge: Some(bridge.into()),
        node_interface: port.map(Into::into),
        ip_address: ip.map(Into::into),
        ..NetworkSpec::default()
    }
}

fn blank(name: &str, retention: RetentionPolicy) -> DiskSpec {
    DiskSpec {
        name: name.into(),
        size: "1Gi".into(),
        storage_class_name: Some("longhorn".into()),
        retention_policy: Some(retention),
        ..DiskSpec::default()
    }
}

/// A profile on the shared node policy (bridge br-kill on eth3) with a static address.
fn on_shared_policy(name: &str, ip: &str, disks: Vec<DiskSpec>) -> VirtualMachineProfile {
    let mut p = valid_profile(name);
    if let Some(c) = p.spec.cloud_init.as_mut() {
        c.hostname = None;
    }
    p.spec.networks = vec![bridged("lan", "br-kill", Some("eth3"), Some(ip))];
    p.spec.disks = disks;
    p
}

fn pool(replicas: i32) -> VirtualMachineProfilePool {
    let mut spec = valid_profile("template").spec;
    spec.cloud_init = None;
    spec.networks = vec![bridged("lan", "br-kill-pool", None, None)];
    spec.disks = vec![DiskSpec {
        adopt_retained: Some(true),
        ..blank("data", RetentionPolicy::Retain)
    }];
    vmop_testenv::profiles::pool_of("p", replicas, spec, "lan", "10.78.0.10-10.78.0.20/24")
}

/// The operator's writes so far, from its metrics.
fn writes(operator: &OperatorProcess) -> u64 {
    http_get(operator.port, "/metrics")
        .map(|(_, body)| {
            body.lines()
                .filter(|l| l.starts_with("vmoperator_api_writes_total{"))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum::<f64>() as u64
        })
        .unwrap_or(0)
}

/// The binary under the shipped RBAC, with one kubeconfig for all its restarts.
struct Harness {
    namespace: String,
    kubeconfig: PathBuf,
    operator: Option<OperatorProcess>,
    kills: u32,
}

impl Harness {
    async fn start(&mut self) {
        let dir = tempfile::tempdir().expect("temp dir");
        self.operator = Some(
            OperatorProcess::start_with(
                &self.namespace,
                POLICY,
                dir,
                self.kubeconfig.clone(),
                &[],
                "vm-operator-kill-loop",
            )
            .await,
        );
    }

    fn log(&self) -> String {
        self.operator.as_ref().map(|o| o.log()).unwrap_or_default()
    }

    /// Maybe (as the seed says) kills the operator once it has made 1 to 6 more writes, or
    /// when it has nothing more to write for a while, and starts it again.
    async fn maybe_kill(&mut self, rng: &mut Rng) {
        if rng.below(3) == 0 {
            return;
        }
        let Some(operator) = self.operator.as_mut() else {
            return;
        };
        let target = writes(operator) + 1 + rng.below(6);
        let port_operator = &*operator;
        let _ = wait::until("writes to kill at", Duration::from_secs(5), || async {
            (writes(port_operator) >= target).then_some(())
        })
        .await;
        operator.child.kill().expect("SIGKILL");
        let _ = operator.child.wait();
        self.kills += 1;
        self.start().await;
    }
}

async fn list<K>(api: &Api<K>) -> Vec<K>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    api.list(&ListParams::default())
        .await
        .expect("list")
        .items
        .into_iter()
        .filter(|o| o.meta().deletion_timestamp.is_none())
        .collect()
}

fn names<K: Resource>(objects: &[K]) -> BTreeSet<String> {
    objects.iter().map(|o| o.name_any()).collect()
}

/// Waits until the objects of `api` are exactly `expected` (none being deleted).
async fn exactly<K>(api: &Api<K>, expected: &[&str], what: &str)
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let expected: BTreeSet<String> = expected.iter().map(|s| (*s).to_owned()).collect();
    let result = wait::until(what, WAIT, || async {
        let all = api.list(&ListParams::default()).await.ok()?.items;
        (names(&all) == expected).then_some(())
    })
    .await;
    if let Err(e) = result {
        let all = api.list(&ListParams::default()).await.expect("list").items;
        panic!("{e}: expected {expected:?}, found {:?}", names(&all));
    }
}

/// Every child labelled for a profile is owned (controller reference) by that profile's UID.
fn owned_by_its_profile<K: Resource>(children: &[K], uids: &BTreeMap<String, String>) {
    for child in children {
        let profile = child
            .labels()
            .get(PROFILE_LABEL)
            .cloned()
            .unwrap_or_default();
        let owners: Vec<_> = child
            .owner_references()
            .iter()
            .filter(|o| o.controller == Some(true))
            .map(|o| o.uid.clone())
            .collect();
        assert_eq!(
            owners,
            vec![uids.get(&profile).cloned().unwrap_or_default()],
            "{} is owned by its profile {profile}",
            child.name_any()
        );
    }
}

async fn settled(profiles: &Api<VirtualMachineProfile>, name: &str) -> Result<(), String> {
    wait::until(&format!("{name} to settle Running"), WAIT, || async {
        let p = profiles.get_opt(name).await.ok().flatten()?;
        let status = p.status.as_ref()?;
        let ready = status
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        (status.phase == Some(Phase::Running)
            && ready
            && status.observed_generation == p.metadata.generation)
            .then_some(())
    })
    .await
    .map_err(|e| e.to_string())
}

async fn claim_uid(claims: &Api<PersistentVolumeClaim>, name: &str) -> String {
    wait::until(&format!("claim {name}"), WAIT, || async {
        claims.get_opt(name).await.ok().flatten()?.metadata.uid
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

async fn one_run(run: u64, rng: &mut Rng, kubeconfig: PathBuf) -> u32 {
    let ns = TestEnv::shared().namespace(&format!("kill-{run}")).await;
    let mut harness = Harness {
        namespace: ns.name.clone(),
        kubeconfig,
        operator: None,
        kills: 0,
    };
    harness.start().await;
    let profiles: Api<VirtualMachineProfile> = ns.api();
    let pools: Api<VirtualMachineProfilePool> = ns.api();
    let claims: Api<PersistentVolumeClaim> = ns.api();
    let create = |p: VirtualMachineProfile| {
        let profiles = profiles.clone();
        async move {
            profiles
                .create(&PostParams::default(), &p)
                .await
                .expect("create a profile");
        }
    };

    // Creation: two profiles share a node policy; b and the pool keep disks under Retain.
    let mut a = on_shared_policy("a", "10.77.0.10/24", Vec::new());
    a.spec
        .disks
        .insert(0, valid_profile("x").spec.disks[0].clone());
    a.spec.disks[0].storage_class_name = Some("longhorn".into());
    a.spec.disks.push(blank("data", RetentionPolicy::Delete));
    create(a).await;
    harness.maybe_kill(rng).await;
    create(on_shared_policy(
        "b",
        "10.77.0.11/24",
        vec![blank("keep", RetentionPolicy::Retain)],
    ))
    .await;
    harness.maybe_kill(rng).await;
    let mut c = on_shared_policy("c", "10.77.0.12/24", Vec::new());
    c.spec.networks.clear();
    c.spec.disks = vec![
        blank("one", RetentionPolicy::Delete),
        blank("two", RetentionPolicy::Delete),
    ];
    create(c).await;
    harness.maybe_kill(rng).await;
    pools
        .create(&PostParams::default(), &pool(3))
        .await
        .expect("pool");
    harness.maybe_kill(rng).await;

    // Updates: a gains a network and a disk, c loses a disk.
    profiles
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Json::<()>(
                serde_json::from_value(json!([
                    {"op": "add", "path": "/spec/networks/-", "value": {"name": "extra", "bridge": "br-kill-x"}},
                    {"op": "add", "path": "/spec/disks/-", "value": {"name": "more", "size": "1Gi", "storageClassName": "longhorn"}}
                ]))
                .expect("patch"),
            ),
        )
        .await
        .expect("update a");
    harness.maybe_kill(rng).await;
    profiles
        .patch(
            "c",
            &PatchParams::default(),
            &Patch::Json::<()>(
                serde_json::from_value(json!([{"op": "remove", "path": "/spec/disks/1"}]))
                    .expect("patch"),
            ),
        )
        .await
        .expect("update c");
    harness.maybe_kill(rng).await;

    // The kept disks, as they were first made: they must never be made anew.
    settled(&profiles, "b")
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", harness.log()));
    let kept_b = claim_uid(&claims, "b--keep").await;
    for member in ["p-0", "p-1", "p-2"] {
        settled(&profiles, member)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", harness.log()));
    }
    let kept_p2 = claim_uid(&claims, "p-2--data").await;
    let kept_p1 = claim_uid(&claims, "p-1--data").await;

    // Scale down and up, and delete b.
    let scale = |replicas: i32| {
        let pools = pools.clone();
        async move {
            pools
                .patch_scale(
                    "p",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"replicas": replicas}})),
                )
                .await
                .expect("scale");
        }
    };
    scale(1).await;
    harness.maybe_kill(rng).await;
    scale(2).await;
    harness.maybe_kill(rng).await;
    profiles
        .delete("b", &DeleteParams::default())
        .await
        .expect("delete b");
    harness.maybe_kill(rng).await;

    // Settled: exactly what the flow asks for.
    for name in ["a", "c", "p-0", "p-1"] {
        settled(&profiles, name)
            .await
            .unwrap_or_else(|e| panic!("run {run}: {e}\n{}", harness.log()));
    }
    exactly(&profiles, &["a", "c", "p-0", "p-1"], "the profiles").await;
    let uids: BTreeMap<String, String> = list(&profiles)
        .await
        .into_iter()
        .map(|p| (p.name_any(), p.uid().unwrap_or_default()))
        .collect();
    let nads: Api<NetworkAttachmentDefinition> = ns.api();
    exactly(
        &nads,
        &["a--lan", "a--extra", "p-0--lan", "p-1--lan"],
        "the NADs",
    )
    .await;
    owned_by_its_profile(&list(&nads).await, &uids);
    let vms: Api<VirtualMachine> = ns.api();
    exactly(&vms, &["a", "c", "p-0", "p-1"], "the VMs").await;
    owned_by_its_profile(&list(&vms).await, &uids);
    let secrets: Api<Secret> = ns.api();
    let generated: Vec<Secret> = list(&secrets)
        .await
        .into_iter()
        .filter(|s| s.labels().contains_key(PROFILE_LABEL))
        .collect();
    assert_eq!(
        names(&generated),
        [
            "a--cloudinit",
            "c--cloudinit",
            "p-0--cloudinit",
            "p-1--cloudinit"
        ]
        .map(String::from)
        .into(),
        "the cloud-init Secrets"
    );
    owned_by_its_profile(&generated, &uids);
    exactly(
        &claims,
        &[
            "a--system",
            "a--data",
            "a--more",
            "c--one",
            "p-0--data",
            "p-1--data",
            "p-2--data",
            "b--keep",
        ],
        "the claims",
    )
    .await;
    let all_claims = list(&claims).await;
    let (kept, owned): (Vec<_>, Vec<_>) = all_claims
        .into_iter()
        .partition(|c| c.owner_references().is_empty());
    assert_eq!(
        names(&kept),
        ["b--keep", "p-2--data"].map(String::from).into()
    );
    for claim in &kept {
        assert!(
            claim.annotations().contains_key(RETAINED_FROM),
            "{} says where it was kept from",
            claim.name_any()
        );
    }
    let uid_of = |name: &str| {
        kept.iter()
            .chain(&owned)
            .find(|c| c.name_any() == name)
            .and_then(|c| c.uid())
            .unwrap_or_default()
    };
    assert_eq!(uid_of("b--keep"), kept_b, "b's kept claim is the original");
    assert_eq!(
        uid_of("p-2--data"),
        kept_p2,
        "p-2's kept claim is the original"
    );
    assert_eq!(uid_of("p-1--data"), kept_p1, "p-1 re-adopted its own claim");
    // CDI's DataVolume owns a--system's claim; the others are the profiles'.
    let profile_claims: Vec<_> = owned
        .into_iter()
        .filter(|c| c.name_any() != "a--system")
        .collect();
    owned_by_its_profile(&profile_claims, &uids);

    // Addresses: each held once, as the spec and the pool say.
    let mut held = BTreeSet::new();
    for p in list(&profiles).await {
        for network in &p.spec.networks {
            if let Some(ip) = &network.ip_address {
                assert!(
                    held.insert((network.bridge.clone(), ip.clone())),
                    "{ip} held twice"
                );
            }
        }
    }
    assert_eq!(held.len(), 3, "a, p-0 and p-1 (c has none): {held:?}");

    // The shared node policy: exactly one, still used by a (b is gone, finalizer and all).
    let scope = vmop_controller::node_policy_scope(Some(&ns.name));
    let policies = Api::<NodeNetworkConfigurationPolicy>::all(ns.client.clone())
        .list(&ListParams::default().labels(&format!("vmoperator.io/managed-policy={scope}")))
        .await
        .expect("policies")
        .items;
    assert_eq!(
        policies.len(),
        1,
        "one shared policy: {:?}",
        names(&policies)
    );
    let kills = harness.kills;
    drop(harness);
    kills
}

fn seed() -> u64 {
    env_number("VMOP_FAULT_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_at_random_points_the_operator_converges_exactly() {
    let seed = seed();
    let runs = env_number("VMOP_FAULT_RUNS").unwrap_or(10);
    println!("kill loop: {runs} runs, seed {seed} (VMOP_FAULT_SEED={seed} repeats it)");
    publish_policy(
        POLICY,
        "nodeNetworks:\n  - namespaces: [\"*\"]\n    nodeInterfaces: [eth3]\n    bridges: [br-kill]\n",
    )
    .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = common::service_account_kubeconfig(dir.path()).await;
    let mut rng = Rng(seed);
    let mut kills = 0;
    for run in 0..runs {
        kills += one_run(run, &mut rng, kubeconfig.clone()).await;
    }
    println!("kill loop: {runs} runs converged after {kills} kills (seed {seed})");
    assert!(kills > 0, "the loop killed the operator at least once");
}
