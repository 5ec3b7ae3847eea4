//! `render` equals the controller: for every example manifest (profiles and the pool) and
//! profiles with the optional parts (isolation in and out, high availability), each object
//! render prints is, field for field, in what the controller created on the real control
//! plane (which adds owner references, the applied hash and server defaults). Secrets are
//! compared by metadata: render redacts their values.

mod common;

use std::path::PathBuf;

use common::{Operator, existing_nad, phase, wait_for};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::{
    Api, ResourceExt,
    api::{DynamicObject, GroupVersionKind, ListParams, PostParams},
    discovery::pinned_kind,
};
use serde_json::Value;
use vmop_api::{
    EgressRule, EgressSpec, IsolationSpec, Phase, VirtualMachineProfile, fixtures::valid_profile,
    pool::VirtualMachineProfilePool,
};
use vmop_controller::{AdminPolicy, RenderContext, class_infos, render_pool, render_profile};
use vmop_plugin::Registries;
use vmop_testenv::{TestEnv, TestNamespace, first_change};

fn examples(folder: &str) -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(folder);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    paths
}

/// The profiles: every example, and the seed's profile with isolation (egress too) and HA.
fn profiles() -> Vec<VirtualMachineProfile> {
    let mut profiles: Vec<VirtualMachineProfile> = examples("manifests")
        .iter()
        .map(|path| {
            serde_yaml::from_str(&std::fs::read_to_string(path).expect("read")).expect("profile")
        })
        .collect();
    let mut isolated = valid_profile("isolated");
    // On an existing bridge: web-vm-01 configures br-mgmt on the nodes its own way.
    let bridge = &mut isolated.spec.networks[0];
    bridge.bridge = Some("br-iso".into());
    bridge.node_interface = None;
    bridge.ip_address = Some("192.168.100.21/24".into());
    isolated.spec.isolation = Some(IsolationSpec {
        cidrs: vec!["10.0.0.0/8".into()],
        egress: Some(EgressSpec {
            to: vec![EgressRule {
                cidr: "192.168.0.0/16".into(),
                ports: Vec::new(),
            }],
            dns: true,
        }),
        ..IsolationSpec::default()
    });
    profiles.push(isolated);
    profiles
}

/// The live object `rendered` names, as JSON.
async fn live(ns: &TestNamespace, rendered: &Value) -> Value {
    let (group, version) = rendered["apiVersion"]
        .as_str()
        .expect("apiVersion")
        .rsplit_once('/')
        .map_or(
            ("", rendered["apiVersion"].as_str().unwrap_or("")),
            |(g, v)| (g, v),
        );
    let kind = rendered["kind"].as_str().expect("kind");
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (resource, capabilities) = pinned_kind(&ns.client, &gvk).await.expect("discovery");
    let name = rendered["metadata"]["name"].as_str().expect("name");
    let api: Api<DynamicObject> = match capabilities.scope {
        kube::discovery::Scope::Cluster => Api::all_with(ns.client.clone(), &resource),
        kube::discovery::Scope::Namespaced => {
            Api::namespaced_with(ns.client.clone(), &ns.name, &resource)
        }
    };
    let object = api
        .get(name)
        .await
        .unwrap_or_else(|e| panic!("{kind} {name} rendered but not created: {e}"));
    serde_json::to_value(object).expect("json")
}

async fn assert_created_as_rendered(ns: &TestNamespace, rendered: &[Value], of: &str) {
    assert!(!rendered.is_empty(), "{of}: nothing rendered");
    for object in rendered {
        let got = live(ns, object).await;
        let sent = if object["kind"] == "Secret" {
            serde_json::json!({"metadata": object["metadata"]})
        } else {
            object.clone()
        };
        if let Some(change) = first_change(&sent, &got) {
            panic!(
                "{of}: {} {} differs from the controller's: {change}",
                object["kind"], object["metadata"]["name"]
            );
        }
    }
}

#[tokio::test]
async fn render_prints_what_the_controller_creates_for_every_example() {
    let ns = TestEnv::shared().namespace("render").await;
    existing_nad(&ns, "business-net").await;
    let operator = Operator::start(&ns).await;
    let profiles: Api<VirtualMachineProfile> = ns.api();
    let mut names = Vec::new();
    for mut profile in self::profiles() {
        profile.metadata.namespace = Some(ns.name.clone());
        names.push(profile.name_any());
        profiles
            .create(&PostParams::default(), &profile)
            .await
            .expect("profile");
    }
    let pools: Api<VirtualMachineProfilePool> = ns.api();
    let pool_path = &examples("pools")[0];
    let mut pool: VirtualMachineProfilePool =
        serde_yaml::from_str(&std::fs::read_to_string(pool_path).expect("read")).expect("pool");
    pool.metadata.namespace = Some(ns.name.clone());
    pools
        .create(&PostParams::default(), &pool)
        .await
        .expect("pool");

    let _ = vmop_bundled::link();
    let registries = Registries::from_inventory().expect("plugins register");
    let classes: Vec<StorageClass> = Api::<StorageClass>::all(ns.client.clone())
        .list(&ListParams::default())
        .await
        .expect("classes")
        .items;
    let infos = class_infos(&classes);
    let lookup = |name: Option<&str>| match name {
        Some(name) => infos.iter().find(|c| c.name == name).cloned(),
        None => infos.iter().find(|c| c.is_default).cloned(),
    };
    let policy = AdminPolicy::allow_all();
    let context = RenderContext {
        registries: &registries,
        classes: &lookup,
        policy: &policy,
        watch_namespace: Some(&ns.name),
    };

    // The pool's members, as the pool controller made them.
    let pool = pools.get(&pool.name_any()).await.expect("pool");
    let rendered = render_pool(&pool, &context)
        .await
        .expect("the pool renders");
    let members: Vec<Value> = rendered
        .iter()
        .filter(|o| o["kind"] == "VirtualMachineProfile")
        .cloned()
        .collect();
    assert_eq!(members.len(), pool.spec.replicas as usize);
    for member in &members {
        let name = member["metadata"]["name"].as_str().expect("name");
        names.push(name.to_owned());
        wait_for(&profiles, name, "the pool's member", |_| true).await;
    }
    assert_created_as_rendered(&ns, &members, "pool web").await;

    // Each profile's children, rendered from the stored profile (its UID seeds the MACs).
    for name in &names {
        let profile = wait_for(&profiles, name, "the profile to run", |p| {
            phase(p) == Some(Phase::Running)
        })
        .await;
        let rendered = render_profile(&profile, &context)
            .await
            .unwrap_or_else(|e| panic!("{name} renders: {e}"));
        assert_created_as_rendered(&ns, &rendered, name).await;
    }
    operator.stop().await;
}
