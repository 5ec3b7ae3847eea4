//! Each simulator's happy and failure path, observed only through the API server.

use std::{collections::BTreeMap, fmt::Debug, time::Duration};

use futures::TryStreamExt;
use k8s_openapi::{
    ByteString,
    api::core::v1::{
        PersistentVolume, PersistentVolumeClaim, PersistentVolumeClaimSpec, Secret,
        VolumeResourceRequirements,
    },
    apimachinery::pkg::{api::resource::Quantity, apis::meta::v1::ObjectMeta},
};
use kube::{
    Api, Resource, ResourceExt,
    api::{DeleteParams, Patch, PatchParams, PostParams},
    runtime::{WatchStreamExt, watcher},
};
use serde::de::DeserializeOwned;
use serde_json::json;
use vmop_api::external::{
    cdi::{
        DataVolume, DataVolumeSource, DataVolumeSourceRef, DataVolumeSpec, RegistrySource,
        S3Source, StorageSpec,
    },
    find_condition,
    kubevirt::{
        ClaimVolumeSource, CloudInitNoCloud, Devices, DomainSpec, Interface, LocalObjectReference,
        MultusNetwork, Network, VirtualMachine, VirtualMachineInstance, VirtualMachineInstanceSpec,
        VirtualMachineInstanceTemplateSpec, VirtualMachineSpec, Volume,
    },
    nmstate::{
        NodeNetworkConfigurationEnactment, NodeNetworkConfigurationPolicy,
        NodeNetworkConfigurationPolicySpec,
    },
};
use vmop_testenv::{TestEnv, TestNamespace, wait};

const WAIT: Duration = Duration::from_secs(60);

/// Waits until the object exists and satisfies `ready`, then returns it.
async fn wait_for<K>(api: &Api<K>, name: &str, what: &str, ready: impl Fn(&K) -> bool) -> K
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let last_seen = std::sync::Mutex::new(None);
    let found = wait::until(what, WAIT, || async {
        let current = api.get_opt(name).await.ok().flatten();
        *last_seen.lock().expect("not poisoned") = current.clone();
        current.filter(|o| ready(o))
    })
    .await;
    found.unwrap_or_else(|e| {
        panic!(
            "{e}; last seen: {:?}",
            last_seen.lock().expect("not poisoned")
        )
    })
}

fn claim(name: &str, class: &str) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            storage_class_name: Some(class.into()),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([("storage".into(), Quantity("1Gi".into()))])),
                ..VolumeResourceRequirements::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        status: None,
    }
}

fn claim_phase(c: &PersistentVolumeClaim) -> Option<&str> {
    c.status.as_ref().and_then(|s| s.phase.as_deref())
}

#[tokio::test]
async fn csi_provisions_a_volume_the_binder_binds_and_deletes_it_after_release() {
    let ns = TestEnv::shared().namespace("csi").await;
    let claims: Api<PersistentVolumeClaim> = ns.api();
    claims
        .create(&PostParams::default(), &claim("data", "huamei-sc-ssd"))
        .await
        .expect("claim");
    let bound = wait_for(&claims, "data", "the claim to bind", |c| {
        claim_phase(c) == Some("Bound")
    })
    .await;
    let volume_name = bound
        .spec
        .and_then(|s| s.volume_name)
        .expect("bound to a volume");
    let volumes: Api<PersistentVolume> = Api::all(ns.client.clone());
    let volume = volumes.get(&volume_name).await.expect("the volume exists");
    let csi = volume.spec.and_then(|s| s.csi).expect("a CSI volume");
    assert_eq!(csi.driver, "csi.huamei.com");

    claims
        .delete("data", &DeleteParams::default())
        .await
        .expect("claim deleted");
    wait::until("the released volume to be deleted", WAIT, || async {
        volumes
            .get_opt(&volume_name)
            .await
            .ok()
            .and_then(|v| v.is_none().then_some(()))
    })
    .await
    .expect("volume deleted");
}

#[tokio::test]
async fn a_local_path_claim_binds_only_once_a_consumer_is_scheduled_on_that_node() {
    let ns = TestEnv::shared().namespace("csi-wffc").await;
    let claims: Api<PersistentVolumeClaim> = ns.api();
    claims
        .create(&PostParams::default(), &claim("local", "local-path"))
        .await
        .expect("claim");
    // The real PV controller says why it waits: nothing has consumed the claim yet.
    let events: Api<k8s_openapi::api::core::v1::Event> = ns.api();
    wait::until("the PV controller to wait for a consumer", WAIT, || async {
        let list = events.list(&Default::default()).await.ok()?;
        list.items
            .iter()
            .any(|e| {
                e.involved_object.name.as_deref() == Some("local")
                    && e.reason.as_deref() == Some("WaitForFirstConsumer")
            })
            .then_some(())
    })
    .await
    .expect("WaitForFirstConsumer event");
    let waiting = claims.get("local").await.expect("claim");
    assert_eq!(claim_phase(&waiting), Some("Pending"));

    // What kube-scheduler does when it places a pod that uses the claim.
    claims
        .patch(
            "local",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"volume.kubernetes.io/selected-node": "node-2"}}})),
        )
        .await
        .expect("select node");
    let bound = wait_for(&claims, "local", "the claim to bind", |c| {
        claim_phase(c) == Some("Bound")
    })
    .await;
    let volume_name = bound.spec.and_then(|s| s.volume_name).expect("a volume");
    let volume = Api::<PersistentVolume>::all(ns.client.clone())
        .get(&volume_name)
        .await
        .expect("volume");
    let spec = volume.spec.expect("spec");
    assert!(
        spec.host_path.is_some(),
        "local-path volumes are directories"
    );
    let term = &spec
        .node_affinity
        .and_then(|a| a.required)
        .expect("pinned to the node")
        .node_selector_terms[0];
    assert_eq!(
        term.match_expressions.as_ref().expect("expressions")[0].values,
        Some(vec!["node-2".to_owned()])
    );
}

#[tokio::test]
async fn csi_leaves_claims_of_other_provisioners_alone() {
    let ns = TestEnv::shared().namespace("csi-other").await;
    let unserved = k8s_openapi::api::storage::v1::StorageClass {
        metadata: ObjectMeta {
            name: Some("unserved".into()),
            ..ObjectMeta::default()
        },
        provisioner: "example.com/nobody".into(),
        ..Default::default()
    };
    Api::<k8s_openapi::api::storage::v1::StorageClass>::all(ns.client.clone())
        .patch(
            "unserved",
            &PatchParams::apply("simulator-tests"),
            &Patch::Apply(&unserved),
        )
        .await
        .expect("class");
    let claims: Api<PersistentVolumeClaim> = ns.api();
    claims
        .create(&PostParams::default(), &claim("elsewhere", "unserved"))
        .await
        .expect("claim");
    // Handed to its external provisioner by the PV controller ...
    wait_for(&claims, "elsewhere", "the claim to be handed over", |c| {
        c.annotations()
            .get("volume.kubernetes.io/storage-provisioner")
            == Some(&"example.com/nobody".to_owned())
    })
    .await;
    // ... and a served claim created after it is bound first: the simulator has seen both.
    claims
        .create(&PostParams::default(), &claim("served", "huamei-sc-ssd"))
        .await
        .expect("claim");
    wait_for(&claims, "served", "the served claim to bind", |c| {
        claim_phase(c) == Some("Bound")
    })
    .await;
    let claim = claims.get("elsewhere").await.expect("claim");
    assert_eq!(claim_phase(&claim), Some("Pending"));
    assert!(claim.spec.and_then(|s| s.volume_name).is_none());
}

#[tokio::test]
async fn cdi_refuses_a_change_of_a_data_volumes_spec_as_its_webhook_does() {
    let ns = TestEnv::shared().namespace("cdi-immutable").await;
    let dvs: Api<DataVolume> = ns.api();
    dvs.create(
        &PostParams::default(),
        &data_volume("fixed", "docker://registry.example.com/a:1"),
    )
    .await
    .expect("dv");
    let error = dvs
        .patch(
            "fixed",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"source": {"registry": {"url": "docker://registry.example.com/a:2"}}}})),
        )
        .await
        .expect_err("the spec is immutable");
    assert!(
        error.to_string().contains("Cannot update DataVolume Spec"),
        "{error}"
    );
    dvs.patch(
        "fixed",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"team": "a"}}})),
    )
    .await
    .expect("metadata may change");
}

fn data_volume(name: &str, url: &str) -> DataVolume {
    DataVolume::new(
        name,
        DataVolumeSpec {
            source: Some(DataVolumeSource {
                registry: Some(RegistrySource {
                    url: Some(url.into()),
                    pull_method: Some("node".into()),
                    ..RegistrySource::default()
                }),
                ..DataVolumeSource::default()
            }),
            storage: Some(StorageSpec {
                storage_class_name: Some("huamei-sc-ssd".into()),
                resources: Some(VolumeResourceRequirements {
                    requests: Some(BTreeMap::from([(
                        "storage".into(),
                        Quantity("10Gi".into()),
                    )])),
                    ..VolumeResourceRequirements::default()
                }),
                ..StorageSpec::default()
            }),
            ..DataVolumeSpec::default()
        },
    )
}

/// Phases a DataVolume goes through, in order, until `last` (deduplicated).
async fn phases_until(ns: &TestNamespace, name: &str, last: &str) -> Vec<String> {
    let api: Api<DataVolume> = ns.api();
    let stream = watcher(
        api,
        watcher::Config::default().fields(&format!("metadata.name={name}")),
    )
    .applied_objects();
    let mut phases: Vec<String> = Vec::new();
    let collect = async {
        futures::pin_mut!(stream);
        while let Some(dv) = stream.try_next().await.expect("watch") {
            let phase = dv.status.and_then(|s| s.phase).unwrap_or_default();
            if phases.last() != Some(&phase) {
                phases.push(phase.clone());
            }
            if phase == last {
                break;
            }
        }
    };
    tokio::time::timeout(WAIT, collect)
        .await
        .unwrap_or_else(|_| panic!("{name} never reached {last}: {phases:?}"));
    phases
}

#[tokio::test]
async fn cdi_imports_an_image_through_the_upstream_phases_into_an_owned_claim() {
    let ns = TestEnv::shared().namespace("cdi").await;
    let dvs: Api<DataVolume> = ns.api();
    let watch = {
        let ns = ns.clone();
        tokio::spawn(async move { phases_until(&ns, "system", "Succeeded").await })
    };
    dvs.create(
        &PostParams::default(),
        &data_volume("system", "docker://registry.example.com/centos-stream:8"),
    )
    .await
    .expect("DataVolume");
    let phases = watch.await.expect("watch task");
    let seen: Vec<&str> = phases
        .iter()
        .map(String::as_str)
        .filter(|p| !p.is_empty())
        .collect();
    for expected in ["ImportScheduled", "ImportInProgress", "Succeeded"] {
        assert!(seen.contains(&expected), "{expected} not in {seen:?}");
    }
    let position = |p: &str| seen.iter().position(|s| *s == p);
    assert!(
        position("ImportInProgress") < position("Succeeded"),
        "{seen:?}"
    );

    let dv = dvs.get("system").await.expect("DataVolume");
    let status = dv.status.expect("status");
    assert_eq!(status.progress.as_deref(), Some("100.0%"));
    assert_eq!(status.claim_name.as_deref(), Some("system"));
    assert!(find_condition(&status.conditions, "Ready").is_some_and(|c| c.is_true()));
    let claim = ns
        .api::<PersistentVolumeClaim>()
        .get("system")
        .await
        .expect("claim");
    assert_eq!(claim.owner_references()[0].kind, "DataVolume");
    assert_eq!(claim_phase(&claim), Some("Bound"));
}

#[tokio::test]
async fn cdi_fails_an_import_of_a_bad_image_with_the_upstream_message() {
    let ns = TestEnv::shared().namespace("cdi-fail").await;
    let dvs: Api<DataVolume> = ns.api();
    dvs.create(
        &PostParams::default(),
        &data_volume("broken", "docker://registry.example.com/invalid-image:1"),
    )
    .await
    .expect("DataVolume");
    let failed = wait_for(&dvs, "broken", "the import to fail", |dv| {
        dv.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed")
    })
    .await;
    let status = failed.status.expect("status");
    let running = find_condition(&status.conditions, "Running").expect("Running condition");
    assert_eq!(running.reason.as_deref(), Some("ImportFailed"));
    assert!(
        running
            .message
            .as_deref()
            .is_some_and(|m| m.contains("404 Not Found")),
        "{running:?}"
    );
}

#[tokio::test]
async fn cdi_starts_an_s3_importer_only_once_its_credentials_secret_has_both_keys() {
    let ns = TestEnv::shared().namespace("cdi-s3").await;
    let dvs: Api<DataVolume> = ns.api();
    let mut dv = data_volume("bucket-disk", "unused");
    dv.spec.source = Some(DataVolumeSource {
        s3: Some(S3Source {
            url: "s3://s3.example.com/images/centos.qcow2".into(),
            secret_ref: Some("s3-login".into()),
            ..S3Source::default()
        }),
        ..DataVolumeSource::default()
    });
    dvs.create(&PostParams::default(), &dv)
        .await
        .expect("DataVolume");
    let running_reason = |dv: &DataVolume| {
        let status = dv.status.as_ref()?;
        let c = find_condition(&status.conditions, "Running")?;
        Some((c.reason.clone()?, c.message.clone()?))
    };
    let waiting = wait_for(
        &dvs,
        "bucket-disk",
        "the importer to wait for its Secret",
        |dv| running_reason(dv).is_some_and(|(r, _)| r == "CreateContainerConfigError"),
    )
    .await;
    assert_eq!(
        running_reason(&waiting).map(|(_, m)| m).as_deref(),
        Some("secret \"s3-login\" not found")
    );
    let claim = ns
        .api::<PersistentVolumeClaim>()
        .get("bucket-disk")
        .await
        .expect("claim");
    let annotations = claim.annotations();
    assert_eq!(
        annotations
            .get("cdi.kubevirt.io/storage.import.source")
            .map(String::as_str),
        Some("s3")
    );
    assert_eq!(
        annotations
            .get("cdi.kubevirt.io/storage.import.secretName")
            .map(String::as_str),
        Some("s3-login")
    );

    let secrets: Api<Secret> = ns.api();
    let mut secret = Secret {
        metadata: ObjectMeta {
            name: Some("s3-login".into()),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([(
            "accessKeyId".into(),
            ByteString(b"AKIA".to_vec()),
        )])),
        ..Secret::default()
    };
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("Secret");
    wait_for(
        &dvs,
        "bucket-disk",
        "the importer to miss secretKey",
        |dv| running_reason(dv).is_some_and(|(_, m)| m.contains("couldn't find key secretKey")),
    )
    .await;
    secret
        .data
        .as_mut()
        .expect("data")
        .insert("secretKey".into(), ByteString(b"hunter2".to_vec()));
    secrets
        .replace("s3-login", &PostParams::default(), &secret)
        .await
        .expect("Secret with both keys");
    wait_for(&dvs, "bucket-disk", "the import to succeed", |dv| {
        dv.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Succeeded")
    })
    .await;
}

#[tokio::test]
async fn cdi_clones_the_claim_a_data_source_resolves_to_through_one_more_data_source() {
    let ns = TestEnv::shared().namespace("cdi-datasource").await;
    let data_source = |name: &str, source: serde_json::Value| -> serde_json::Value {
        json!({
            "apiVersion": "cdi.kubevirt.io/v1beta1",
            "kind": "DataSource",
            "metadata": {"name": name, "namespace": ns.name},
            "spec": {"source": source},
        })
    };
    let sources: Api<vmop_testenv::sim::kinds::cdi::DataSource> = ns.api();
    for (name, source) in [
        (
            "fedora-40",
            json!({"pvc": {"namespace": ns.name, "name": "fedora-40-golden"}}),
        ),
        (
            "fedora",
            json!({"dataSource": {"namespace": ns.name, "name": "fedora-40"}}),
        ),
        (
            "missing-claim",
            json!({"pvc": {"namespace": ns.name, "name": "not-there"}}),
        ),
    ] {
        let object = serde_json::from_value(data_source(name, source)).expect("DataSource");
        sources
            .create(&PostParams::default(), &object)
            .await
            .expect("DataSource accepted by the upstream schema");
    }
    ns.api::<PersistentVolumeClaim>()
        .create(
            &PostParams::default(),
            &claim("fedora-40-golden", "huamei-sc-ssd"),
        )
        .await
        .expect("golden claim");
    let dvs: Api<DataVolume> = ns.api();
    for (dv, source) in [("vm-root", "fedora"), ("orphan", "missing-claim")] {
        let mut volume = data_volume(dv, "unused");
        volume.spec.source = None;
        volume.spec.source_ref = Some(DataVolumeSourceRef {
            kind: "DataSource".into(),
            name: source.into(),
            namespace: Some(ns.name.clone()),
            ..DataVolumeSourceRef::default()
        });
        dvs.create(&PostParams::default(), &volume)
            .await
            .expect("DataVolume");
    }
    wait_for(
        &dvs,
        "vm-root",
        "the clone through fedora to succeed",
        |dv| dv.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Succeeded"),
    )
    .await;
    let orphan = wait_for(&dvs, "orphan", "the clone to wait for its claim", |dv| {
        dv.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("CloneScheduled")
    })
    .await;
    let status = orphan.status.expect("status");
    let running = find_condition(&status.conditions, "Running").expect("Running");
    assert_eq!(running.reason.as_deref(), Some("CloneWithoutSource"));
    assert!(
        running
            .message
            .as_deref()
            .is_some_and(|m| m.contains("not-there")),
        "{running:?}"
    );
}

fn bridge_policy(
    name: &str,
    port: &str,
    selector: &[(&str, &str)],
) -> NodeNetworkConfigurationPolicy {
    NodeNetworkConfigurationPolicy::new(
        name,
        NodeNetworkConfigurationPolicySpec {
            node_selector: Some(
                selector
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            desired_state: Some(json!({
                "interfaces": [{
                    "name": "br-test",
                    "type": "linux-bridge",
                    "state": "up",
                    "bridge": {"port": [{"name": port}]},
                }]
            })),
            ..NodeNetworkConfigurationPolicySpec::default()
        },
    )
}

fn policy_condition<'a>(
    p: &'a NodeNetworkConfigurationPolicy,
    type_: &str,
) -> Option<&'a vmop_api::external::UpstreamCondition> {
    p.status
        .as_ref()
        .and_then(|s| find_condition(&s.conditions, type_))
}

#[tokio::test]
async fn nmstate_enacts_a_policy_on_each_matching_node_and_reports_available() {
    let ns = TestEnv::shared().namespace("nncp").await;
    let name = format!("{}-br", ns.name);
    let policies: Api<NodeNetworkConfigurationPolicy> = Api::all(ns.client.clone());
    policies
        .create(
            &PostParams::default(),
            &bridge_policy(&name, "eth1", &[("network.vmoperator.io/eth1", "true")]),
        )
        .await
        .expect("policy");
    let available = wait_for(&policies, &name, "the policy to be Available", |p| {
        policy_condition(p, "Available").is_some_and(|c| c.is_true())
    })
    .await;
    assert_eq!(
        policy_condition(&available, "Available").and_then(|c| c.message.as_deref()),
        Some("2/2 nodes successfully configured")
    );
    let enactments: Api<NodeNetworkConfigurationEnactment> = Api::all(ns.client.clone());
    let generation = available.metadata.generation;
    for node in ["node-1", "node-2"] {
        let enactment = enactments
            .get(&format!("{node}.{name}"))
            .await
            .expect("an enactment per matching node");
        assert_eq!(
            enactment.status.and_then(|s| s.policy_generation),
            generation
        );
    }
    assert!(
        enactments
            .get_opt(&format!("node-3.{name}"))
            .await
            .expect("get")
            .is_none()
    );
}

#[tokio::test]
async fn nmstate_degrades_a_policy_on_a_bad_interface_with_per_node_messages() {
    let ns = TestEnv::shared().namespace("nncp-bad").await;
    let name = format!("{}-br", ns.name);
    let policies: Api<NodeNetworkConfigurationPolicy> = Api::all(ns.client.clone());
    policies
        .create(
            &PostParams::default(),
            &bridge_policy(&name, "bad0", &[("network.vmoperator.io/eth1", "true")]),
        )
        .await
        .expect("policy");
    let degraded = wait_for(&policies, &name, "the policy to be Degraded", |p| {
        policy_condition(p, "Degraded").is_some_and(|c| c.is_true())
    })
    .await;
    assert_eq!(
        policy_condition(&degraded, "Degraded").and_then(|c| c.reason.as_deref()),
        Some("FailedToConfigure")
    );
    let enactment = Api::<NodeNetworkConfigurationEnactment>::all(ns.client.clone())
        .get(&format!("node-1.{name}"))
        .await
        .expect("enactment");
    let status = enactment.status.expect("status");
    let failing = find_condition(&status.conditions, "Failing").expect("Failing");
    assert!(failing.is_true());
    assert!(
        failing
            .message
            .as_deref()
            .is_some_and(|m| m.contains("node node-1") && m.contains("bad0")),
        "{failing:?}"
    );

    // Fixing the policy recovers it.
    let fixed = bridge_policy(&name, "eth1", &[("network.vmoperator.io/eth1", "true")]);
    policies
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": fixed.spec})),
        )
        .await
        .expect("fixed");
    wait_for(&policies, &name, "the fixed policy to be Available", |p| {
        policy_condition(p, "Available").is_some_and(|c| c.is_true())
    })
    .await;
}

#[tokio::test]
async fn nmstate_ignores_a_policy_that_matches_no_node() {
    let ns = TestEnv::shared().namespace("nncp-none").await;
    let name = format!("{}-br", ns.name);
    let policies: Api<NodeNetworkConfigurationPolicy> = Api::all(ns.client.clone());
    policies
        .create(
            &PostParams::default(),
            &bridge_policy(&name, "eth1", &[("no-such-label", "true")]),
        )
        .await
        .expect("policy");
    let ignored = wait_for(&policies, &name, "the policy to be Ignored", |p| {
        policy_condition(p, "Ignored").is_some_and(|c| c.is_true())
    })
    .await;
    assert_eq!(
        policy_condition(&ignored, "Ignored").and_then(|c| c.reason.as_deref()),
        Some("NoMatchingNode")
    );
}

const STATIC_MAC: &str = "02:aa:bb:cc:dd:01";

fn virtual_machine(name: &str, claim: &str, run_strategy: &str) -> VirtualMachine {
    let spec = VirtualMachineInstanceSpec {
        domain: DomainSpec {
            devices: Devices {
                interfaces: vec![
                    Interface {
                        name: "default".into(),
                        masquerade: Some(Default::default()),
                        ..Interface::default()
                    },
                    Interface {
                        name: "mgmt".into(),
                        bridge: Some(Default::default()),
                        mac_address: Some(STATIC_MAC.into()),
                        ..Interface::default()
                    },
                ],
                ..Devices::default()
            },
            ..DomainSpec::default()
        },
        networks: vec![
            Network {
                name: "default".into(),
                pod: Some(Default::default()),
                ..Network::default()
            },
            Network {
                name: "mgmt".into(),
                multus: Some(MultusNetwork {
                    network_name: "mgmt-net".into(),
                    ..MultusNetwork::default()
                }),
                ..Network::default()
            },
        ],
        volumes: vec![
            Volume {
                name: "data".into(),
                persistent_volume_claim: Some(ClaimVolumeSource {
                    claim_name: claim.into(),
                    ..ClaimVolumeSource::default()
                }),
                ..Volume::default()
            },
            Volume {
                name: "cloudinit".into(),
                cloud_init_no_cloud: Some(CloudInitNoCloud {
                    network_data_secret_ref: Some(LocalObjectReference {
                        name: format!("{name}-cloudinit"),
                    }),
                    ..CloudInitNoCloud::default()
                }),
                ..Volume::default()
            },
        ],
        ..VirtualMachineInstanceSpec::default()
    };
    VirtualMachine::new(
        name,
        VirtualMachineSpec {
            run_strategy: Some(run_strategy.into()),
            template: Some(VirtualMachineInstanceTemplateSpec {
                metadata: None,
                spec: Some(spec),
            }),
            ..VirtualMachineSpec::default()
        },
    )
}

async fn network_data_secret(ns: &TestNamespace, vm: &str) {
    let network_data = format!(
        "version: 2\nethernets:\n  mgmt:\n    match: {{macaddress: \"{STATIC_MAC}\"}}\n    set-name: mgmt0\n    addresses: [192.168.100.10/24]\n"
    );
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(format!("{vm}-cloudinit")),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([(
            "networkdata".into(),
            ByteString(network_data.into_bytes()),
        )])),
        ..Secret::default()
    };
    ns.api::<Secret>()
        .create(&PostParams::default(), &secret)
        .await
        .expect("secret");
}

fn printable(vm: &VirtualMachine) -> Option<&str> {
    vm.status
        .as_ref()
        .and_then(|s| s.printable_status.as_deref())
}

#[tokio::test]
async fn kubevirt_boots_a_vm_reports_its_interfaces_and_stops_it_when_halted() {
    let ns = TestEnv::shared().namespace("kubevirt").await;
    ns.api::<PersistentVolumeClaim>()
        .create(&PostParams::default(), &claim("web-data", "huamei-sc-ssd"))
        .await
        .expect("claim");
    network_data_secret(&ns, "web").await;
    let vms: Api<VirtualMachine> = ns.api();
    vms.create(
        &PostParams::default(),
        &virtual_machine("web", "web-data", "Always"),
    )
    .await
    .expect("VM");
    let running = wait_for(&vms, "web", "the VM to run", |vm| {
        printable(vm) == Some("Running")
    })
    .await;
    assert_eq!(running.status.and_then(|s| s.ready), Some(true));

    let vmis: Api<VirtualMachineInstance> = ns.api();
    let vmi = vmis.get("web").await.expect("VMI");
    assert_eq!(vmi.owner_references()[0].kind, "VirtualMachine");
    let status = vmi.status.expect("status");
    assert_eq!(status.phase.as_deref(), Some("Running"));
    assert!(
        status
            .node_name
            .as_deref()
            .is_some_and(|n| n.starts_with("node-")),
        "{status:?}"
    );
    let mgmt = status
        .interfaces
        .iter()
        .find(|i| i.name.as_deref() == Some("mgmt"))
        .expect("mgmt interface");
    assert_eq!(mgmt.mac.as_deref(), Some(STATIC_MAC));
    assert_eq!(mgmt.ip_addresses, vec!["192.168.100.10".to_owned()]);
    assert_eq!(mgmt.interface_name.as_deref(), Some("mgmt0"));
    assert!(
        mgmt.info_source
            .as_deref()
            .is_some_and(|s| s.contains("guest-agent"))
    );
    let pod = status
        .interfaces
        .iter()
        .find(|i| i.name.as_deref() == Some("default"))
        .expect("pod interface");
    assert!(
        pod.ip_address
            .as_deref()
            .is_some_and(|ip| ip.starts_with("10.244."))
    );

    vms.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"runStrategy": "Halted"}})),
    )
    .await
    .expect("halt");
    wait_for(&vms, "web", "the VM to stop", |vm| {
        printable(vm) == Some("Stopped")
    })
    .await;
    assert!(
        vmis.get_opt("web").await.expect("get").is_none(),
        "VMI removed"
    );
}

#[tokio::test]
async fn kubevirt_reports_a_missing_claim_and_an_unschedulable_vm() {
    let ns = TestEnv::shared().namespace("kubevirt-fail").await;
    network_data_secret(&ns, "orphan").await;
    let vms: Api<VirtualMachine> = ns.api();
    vms.create(
        &PostParams::default(),
        &virtual_machine("orphan", "no-such-claim", "Always"),
    )
    .await
    .expect("VM");
    wait_for(&vms, "orphan", "ErrorPvcNotFound", |vm| {
        printable(vm) == Some("ErrorPvcNotFound")
    })
    .await;

    let mut pinned = virtual_machine("pinned", "no-such-claim", "Always");
    if let Some(spec) = pinned.spec.template.as_mut().and_then(|t| t.spec.as_mut()) {
        spec.node_selector = Some(BTreeMap::from([("gpu".into(), "h100".into())]));
    }
    vms.create(&PostParams::default(), &pinned)
        .await
        .expect("VM");
    let unschedulable = wait_for(&vms, "pinned", "ErrorUnschedulable", |vm| {
        printable(vm) == Some("ErrorUnschedulable")
    })
    .await;
    // As virt-controller copies it from the Pending launcher pod: PodScheduled=False,
    // reason Unschedulable, and kube-scheduler's count of each node's failing filter.
    let scheduled = unschedulable
        .status
        .as_ref()
        .and_then(|s| find_condition(&s.conditions, "PodScheduled"))
        .expect("PodScheduled condition");
    assert_eq!(scheduled.status, "False");
    assert_eq!(scheduled.reason.as_deref(), Some("Unschedulable"));
    assert_eq!(
        scheduled.message.as_deref(),
        Some("0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.")
    );

    // Too much memory for any node: every node fails NodeResourcesFit.
    let mut huge = virtual_machine("huge", "no-such-claim", "Always");
    if let Some(spec) = huge.spec.template.as_mut().and_then(|t| t.spec.as_mut()) {
        spec.domain.memory = Some(Default::default());
        if let Some(memory) = spec.domain.memory.as_mut() {
            memory.guest = Some("512Gi".into());
        }
    }
    vms.create(&PostParams::default(), &huge).await.expect("VM");
    let huge = wait_for(&vms, "huge", "ErrorUnschedulable", |vm| {
        printable(vm) == Some("ErrorUnschedulable")
    })
    .await;
    let scheduled = huge
        .status
        .as_ref()
        .and_then(|s| find_condition(&s.conditions, "PodScheduled"))
        .expect("PodScheduled condition");
    assert_eq!(
        scheduled.message.as_deref(),
        Some("0/3 nodes are available: 3 Insufficient memory.")
    );
    assert!(
        ns.api::<VirtualMachineInstance>()
            .get_opt("pinned")
            .await
            .expect("get")
            .is_none()
    );
}
