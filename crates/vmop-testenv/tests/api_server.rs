//! The behaviours of the real API server that the operator relies on, proven on the test
//! control plane: CRD validation (OpenAPI and CEL), server-side apply with two managers,
//! optimistic concurrency, owner-reference garbage collection, RBAC (with CDI's clone
//! authorization, a policy here as its webhook is upstream) and restarts.

use std::{collections::BTreeMap, time::Duration};

use k8s_openapi::{
    api::{
        core::v1::{ConfigMap, Secret},
        rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject},
    },
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference},
};
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, Patch, PatchParams, PostParams},
};
use vmop_api::{
    VirtualMachineProfile,
    external::cdi::DataVolume,
    fixtures::{invalid_cases, valid_profile},
};
use vmop_testenv::{ControlPlane, Datastore, TestEnv, wait};

const WAIT: Duration = Duration::from_secs(60);

fn config_map(name: &str, data: &[(&str, &str)]) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        ),
        ..ConfigMap::default()
    }
}

#[tokio::test]
async fn the_valid_profile_is_accepted_and_reads_back_unchanged() {
    let ns = TestEnv::shared().namespace("valid").await;
    let api: Api<VirtualMachineProfile> = ns.api();
    let profile = valid_profile("web-vm-01");
    let created = api
        .create(&PostParams::default(), &profile)
        .await
        .expect("the API server accepts the seed's profile");
    assert_eq!(created.spec, profile.spec);
}

#[tokio::test]
async fn every_invalid_profile_is_rejected_at_admission_with_its_field_and_message() {
    let ns = TestEnv::shared().namespace("invalid").await;
    let api: Api<VirtualMachineProfile> = ns.api();
    let mut failures = Vec::new();
    for case in invalid_cases() {
        let message = match api.create(&PostParams::default(), &case.profile).await {
            Ok(_) => {
                failures.push(format!("{}: accepted", case.description));
                continue;
            }
            Err(kube::Error::Api(status)) if status.code == 422 => status.message,
            Err(other) => {
                failures.push(format!("{}: {other}", case.description));
                continue;
            }
        };
        let path = case.api_server_path.unwrap_or(case.path);
        let expected = case.api_server_message.unwrap_or(&case.message);
        let names_field = message.contains(&format!("{path}: "));
        if !names_field || !message.contains(expected) {
            failures.push(format!(
                "{}: expected `{path}: ... {expected}`, got: {message}",
                case.description
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Creates each case of `cases` (description, object, path, message): every one must be
/// refused with 422 naming its path and message. Returns what went otherwise.
async fn refusals<K>(api: &Api<K>, cases: Vec<(&str, K, &str, &str)>) -> Vec<String>
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let mut failures = Vec::new();
    for (description, object, path, expected) in cases {
        let message = match api.create(&PostParams::default(), &object).await {
            Ok(_) => {
                failures.push(format!("{description}: accepted"));
                continue;
            }
            Err(kube::Error::Api(status)) if status.code == 422 => status.message,
            Err(other) => {
                failures.push(format!("{description}: {other}"));
                continue;
            }
        };
        if !message.contains(&format!("{path}: ")) || !message.contains(expected) {
            failures.push(format!(
                "{description}: expected `{path}: ... {expected}`, got: {message}"
            ));
        }
    }
    failures
}

#[tokio::test]
async fn every_invalid_pool_is_rejected_at_admission_with_its_field_and_message() {
    use vmop_api::{
        fixtures::{invalid_pool_cases, valid_pool},
        pool::VirtualMachineProfilePool,
    };
    let ns = TestEnv::shared().namespace("invalid-pools").await;
    let api: Api<VirtualMachineProfilePool> = ns.api();
    api.create(
        &PostParams {
            dry_run: true,
            ..PostParams::default()
        },
        &valid_pool("web"),
    )
    .await
    .expect("the API server accepts the valid pool");
    let cases = invalid_pool_cases()
        .into_iter()
        .map(|c| {
            let path = c.api_server_path.unwrap_or(c.path);
            (c.description, c.pool, path, c.message)
        })
        .collect();
    let failures = refusals(&api, cases).await;
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[tokio::test]
async fn every_invalid_image_is_rejected_at_admission_with_its_field_and_message() {
    use vmop_api::{
        fixtures::{invalid_image_cases, valid_image},
        image::VirtualMachineImage,
    };
    let ns = TestEnv::shared().namespace("invalid-images").await;
    let api: Api<VirtualMachineImage> = ns.api();
    api.create(
        &PostParams {
            dry_run: true,
            ..PostParams::default()
        },
        &valid_image("ubuntu"),
    )
    .await
    .expect("the API server accepts the valid image");
    let cases = invalid_image_cases()
        .into_iter()
        .map(|c| {
            let path = c.api_server_path.unwrap_or(c.path);
            (c.description, c.image, path, c.message)
        })
        .collect();
    let failures = refusals(&api, cases).await;
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[tokio::test]
async fn two_field_managers_own_their_own_fields_under_server_side_apply() {
    let ns = TestEnv::shared().namespace("ssa").await;
    let api: Api<ConfigMap> = ns.api();
    let apply = |manager: &'static str, key: &'static str, value: &'static str| {
        let api = api.clone();
        async move {
            api.patch(
                "shared",
                &PatchParams::apply(manager),
                &Patch::Apply(&config_map("shared", &[(key, value)])),
            )
            .await
        }
    };
    apply("vm-operator/network", "bridge", "br-mgmt")
        .await
        .expect("first manager");
    let both = apply("vm-operator/storage", "class", "huamei-sc-ssd")
        .await
        .expect("second manager");
    assert_eq!(
        both.data,
        Some(BTreeMap::from([
            ("bridge".into(), "br-mgmt".into()),
            ("class".into(), "huamei-sc-ssd".into()),
        ]))
    );
    let managers: Vec<String> = both
        .managed_fields()
        .iter()
        .filter_map(|f| f.manager.clone())
        .collect();
    assert!(
        managers.contains(&"vm-operator/network".to_owned()),
        "{managers:?}"
    );
    assert!(
        managers.contains(&"vm-operator/storage".to_owned()),
        "{managers:?}"
    );

    // The second manager taking the first one's field without force is a conflict.
    let conflict = apply("vm-operator/storage", "bridge", "br-other")
        .await
        .expect_err("a field owned by another manager");
    assert!(
        matches!(&conflict, kube::Error::Api(s) if s.code == 409),
        "{conflict}"
    );

    // A manager that stops applying a field gives it up: the field goes.
    let after = apply("vm-operator/network", "mtu", "9000")
        .await
        .expect("first manager re-applies without bridge");
    let data = after.data.unwrap_or_default();
    assert!(!data.contains_key("bridge"), "{data:?}");
    assert_eq!(data.get("class").map(String::as_str), Some("huamei-sc-ssd"));
}

#[tokio::test]
async fn an_update_with_a_stale_resource_version_is_a_conflict() {
    let ns = TestEnv::shared().namespace("conflict").await;
    let api: Api<ConfigMap> = ns.api();
    let original = api
        .create(
            &PostParams::default(),
            &config_map("counter", &[("n", "1")]),
        )
        .await
        .expect("created");
    let mut first = original.clone();
    first.data = Some(BTreeMap::from([("n".into(), "2".into())]));
    api.replace("counter", &PostParams::default(), &first)
        .await
        .expect("first writer wins");
    let mut stale = original;
    stale.data = Some(BTreeMap::from([("n".into(), "3".into())]));
    let error = api
        .replace("counter", &PostParams::default(), &stale)
        .await
        .expect_err("second writer holds a stale resourceVersion");
    assert!(
        matches!(&error, kube::Error::Api(s) if s.code == 409),
        "{error}"
    );
}

#[tokio::test]
async fn a_child_is_garbage_collected_after_its_owner_is_deleted() {
    let ns = TestEnv::shared().namespace("gc").await;
    let owners: Api<ConfigMap> = ns.api();
    let owner = owners
        .create(&PostParams::default(), &config_map("owner", &[]))
        .await
        .expect("owner");
    let mut child = Secret {
        metadata: ObjectMeta {
            name: Some("child".into()),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                name: owner.name_any(),
                uid: owner.uid().expect("uid"),
                ..OwnerReference::default()
            }]),
            ..ObjectMeta::default()
        },
        ..Secret::default()
    };
    let secrets: Api<Secret> = ns.api();
    child = secrets
        .create(&PostParams::default(), &child)
        .await
        .expect("child");
    assert!(child.owner_references().len() == 1);
    owners
        .delete("owner", &DeleteParams::default())
        .await
        .expect("owner deleted");
    wait::until("the garbage collector to delete the child", WAIT, || {
        let secrets = secrets.clone();
        async move {
            secrets
                .get_opt("child")
                .await
                .ok()
                .and_then(|s| s.is_none().then_some(()))
        }
    })
    .await
    .expect("child collected");
}

#[tokio::test]
async fn rbac_denies_an_identity_without_bindings() {
    let env = TestEnv::shared();
    let ns = env.namespace("rbac").await;
    let restricted = vmop_testenv::client_for(env.kubeconfig(), Some("restricted"))
        .await
        .expect("restricted client");
    let api: Api<VirtualMachineProfile> = Api::namespaced(restricted, &ns.name);
    let error = api
        .list(&Default::default())
        .await
        .expect_err("no RBAC rule grants it anything");
    let kube::Error::Api(status) = &error else {
        panic!("expected an API error, got {error}");
    };
    assert_eq!(status.code, 403, "{status:?}");
    assert!(
        status
            .message
            .contains("User \"restricted\" cannot list resource \"virtualmachineprofiles\""),
        "{}",
        status.message
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_control_plane_keeps_its_objects_and_address_on_either_datastore() {
    for (datastore, store_path) in [
        (Datastore::Etcd, "etcd"),
        (Datastore::Sqlite, "db/state.db"),
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut control_plane =
            tokio::task::block_in_place(|| ControlPlane::start_on(dir.path(), datastore, &[]))
                .expect("starts");
        assert!(
            dir.path().join(store_path).exists(),
            "{datastore:?} keeps its data in {store_path}"
        );
        let server = control_plane.server().to_owned();
        let client = control_plane.client().await.expect("client");
        let api: Api<ConfigMap> = Api::namespaced(client, "default");
        api.create(
            &PostParams::default(),
            &config_map("survivor", &[("k", "v")]),
        )
        .await
        .expect("created before the restart");

        tokio::task::block_in_place(|| control_plane.restart()).expect("restarts");
        assert_eq!(
            control_plane.server(),
            server,
            "same address after a restart"
        );

        let client = control_plane.client().await.expect("client after restart");
        let api: Api<ConfigMap> = Api::namespaced(client, "default");
        let survivor = api.get("survivor").await.expect("still there");
        assert_eq!(
            survivor.data,
            Some(BTreeMap::from([("k".into(), "v".into())])),
            "{datastore:?}"
        );
    }
}

/// A Role in `ns` with `rules`, bound to the kubeconfig's `restricted` user.
async fn grant_restricted(ns: &vmop_testenv::TestNamespace, name: &str, rules: Vec<PolicyRule>) {
    let meta = ObjectMeta {
        name: Some(name.into()),
        ..ObjectMeta::default()
    };
    ns.api::<Role>()
        .create(
            &PostParams::default(),
            &Role {
                metadata: meta.clone(),
                rules: Some(rules),
            },
        )
        .await
        .expect("Role");
    ns.api::<RoleBinding>()
        .create(
            &PostParams::default(),
            &RoleBinding {
                metadata: meta,
                role_ref: RoleRef {
                    api_group: Some("rbac.authorization.k8s.io".into()),
                    kind: "Role".into(),
                    name: name.into(),
                },
                subjects: Some(vec![Subject {
                    kind: "User".into(),
                    name: "restricted".into(),
                    ..Subject::default()
                }]),
            },
        )
        .await
        .expect("RoleBinding");
}

fn rule(resources: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec!["cdi.kubevirt.io".into()]),
        resources: Some(resources.iter().map(|r| (*r).to_owned()).collect()),
        verbs: vec!["create".into()],
        ..PolicyRule::default()
    }
}

/// A DataVolume named `name` with the source fields `source`, on a class nothing serves.
fn cloning(name: &str, source: serde_json::Value) -> DataVolume {
    let mut spec = serde_json::json!({"storage": {"storageClassName": "vmop-testenv-none",
        "resources": {"requests": {"storage": "1Gi"}}}});
    if let (Some(spec), Some(source)) = (spec.as_object_mut(), source.as_object()) {
        spec.extend(source.clone());
    }
    serde_json::from_value(serde_json::json!({
        "apiVersion": "cdi.kubevirt.io/v1beta1",
        "kind": "DataVolume",
        "metadata": {"name": name},
        "spec": spec,
    }))
    .expect("DataVolume")
}

#[tokio::test]
async fn a_clone_from_another_namespace_needs_create_on_datavolumes_source_there() {
    let env = TestEnv::shared();
    let source = env.namespace("clone-src").await;
    let target = env.namespace("clone-dst").await;
    grant_restricted(&target, "datavolume-writer", vec![rule(&["datavolumes"])]).await;
    let restricted = vmop_testenv::client_for(env.kubeconfig(), Some("restricted"))
        .await
        .expect("restricted client");
    let dvs: Api<DataVolume> = Api::namespaced(restricted, &target.name);

    // From its own namespace a clone needs nothing more (and RBAC has caught up).
    let own = serde_json::json!({"source": {"pvc": {"namespace": target.name, "name": "golden"}}});
    wait::until(
        "RBAC to let restricted create DataVolumes",
        WAIT,
        || async {
            dvs.create(&PostParams::default(), &cloning("own", own.clone()))
                .await
                .ok()
        },
    )
    .await
    .expect("a same-namespace clone");

    let other =
        serde_json::json!({"source": {"pvc": {"namespace": source.name, "name": "golden"}}});
    let by_ref = serde_json::json!({"sourceRef": {"kind": "DataSource", "namespace": source.name, "name": "fedora"}});
    // A policy takes effect shortly after it is created (the bootstrap probes only the
    // first): a dry run tells when, writing nothing.
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    wait::until(
        "the clone authorization policy to be active",
        WAIT,
        || async {
            let refused = dvs.create(&dry_run, &cloning("probe", other.clone())).await;
            matches!(refused, Err(kube::Error::Api(status)) if status.code == 422).then_some(())
        },
    )
    .await
    .expect("the policy refuses an unauthorized clone");
    for (name, fields) in [("from-claim", &other), ("from-data-source", &by_ref)] {
        let error = dvs
            .create(&PostParams::default(), &cloning(name, fields.clone()))
            .await
            .expect_err("no create on datavolumes/source in the source namespace");
        let kube::Error::Api(status) = &error else {
            panic!("expected an API error, got {error}");
        };
        assert_eq!(status.code, 422, "{status:?}");
        let expected = format!(
            "User restricted has insufficient permissions in clone source namespace {}",
            source.name
        );
        assert!(status.message.contains(&expected), "{}", status.message);
    }

    // Upstream reads the DataSource at admission: it exists, as CDI would require.
    let fedora: vmop_testenv::sim::kinds::cdi::DataSource = serde_json::from_value(
        serde_json::json!({"apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataSource",
            "metadata": {"name": "fedora"},
            "spec": {"source": {"pvc": {"namespace": source.name, "name": "golden"}}}}),
    )
    .expect("DataSource");
    source
        .api::<vmop_testenv::sim::kinds::cdi::DataSource>()
        .create(&PostParams::default(), &fedora)
        .await
        .expect("DataSource");
    grant_restricted(&source, "clone-source", vec![rule(&["datavolumes/source"])]).await;
    for (name, fields) in [("from-claim", &other), ("from-data-source", &by_ref)] {
        wait::until("the clone to be authorized", WAIT, || async {
            dvs.create(&PostParams::default(), &cloning(name, fields.clone()))
                .await
                .ok()
        })
        .await
        .expect("authorized by datavolumes/source in the source namespace");
    }
}
