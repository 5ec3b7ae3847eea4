//! A hostile tenant against the `vm-operator` binary, under the shipped RBAC, on the real
//! control plane. Table-driven, three parts:
//!
//! 1. **Admission**: every profile of the shared invalid table is refused by the API server
//!    naming the field (the same table the Rust validator is checked against).
//! 2. **Refused by the operator**: what the object alone cannot decide (the administrator's
//!    policy, missing classes, plugins' and the template's rules, user data, objects that are
//!    not ours) gets `Ready=False` with a specific reason naming the field or the object, and
//!    nothing is created for it; objects of the user's stay as they were.
//! 3. **Conflicts between profiles**: the later of two profiles asking for one address, MAC or
//!    node interface gets `Conflict` naming the earlier one, which stays untouched; profiles
//!    sharing one node policy share it, and deleting both at once removes it.
//!
//! Everything is deleted at the end, and nothing of it may be left behind.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{OperatorProcess, WAIT, publish_policy};
use k8s_openapi::{
    ByteString,
    api::core::v1::{PersistentVolumeClaim, Secret},
};
use kube::{
    Api, Resource, ResourceExt,
    api::{DeleteParams, ListParams, PostParams},
};
use serde::de::DeserializeOwned;
use vmop_api::{
    CloudInitSpec, DiskSource, DiskSpec, NetworkSpec, Phase, SecretReference, SourceReference,
    SriovSpec, VirtualMachineProfile,
    external::{
        cdi::DataVolume,
        kubevirt::VirtualMachine,
        multus::{NetworkAttachmentDefinition, NetworkAttachmentDefinitionSpec},
        nmstate::NodeNetworkConfigurationPolicy,
    },
    fixtures::{invalid_cases, semantic_cases},
};
use vmop_testenv::{TestEnv, TestNamespace, profiles::blank_disk_profile, wait};

const POLICY: &str = "hostile-test-policy";
const PROFILE_LABEL: &str = "vmoperator.io/profile";

/// Node-level names only the refusal test uses (policies are cluster-scoped and other tests
/// run alongside), so that anything written for them can be told apart.
const REFUSAL_MARKERS: &[&str] = &["hx0", "hx1", "hbr-1", "hbr-2", "hbr-evil", "hpf0", "hpf9"];
/// The same for the conflict test.
const CONFLICT_MARKERS: &[&str] = &[
    "hy1", "hy2", "hy3", "hy4", "hy5", "hbr-4", "hbr-5", "hbr-6", "hbr-7", "hbr-8", "hpf1",
];

fn policy_yaml(namespace: &str, interfaces: &str, bridges: &str, pfs: &str) -> String {
    format!(
        "nodeNetworks:\n  - namespaces: [{namespace}]\n    nodeInterfaces: [{interfaces}]\n    bridges: [{bridges}]\n    vlans: [\"100-199\"]\n    sriovPhysicalFunctions: [{pfs}]\n"
    )
}

fn with_network(name: &str, network: NetworkSpec) -> VirtualMachineProfile {
    let mut p = blank_disk_profile(name, "data", "longhorn");
    p.spec.networks = vec![network];
    p
}

fn bridge(bridge: &str, vlan: i32) -> NetworkSpec {
    NetworkSpec {
        name: "lan".into(),
        bridge: Some(bridge.into()),
        vlan: Some(vlan),
        ..NetworkSpec::default()
    }
}

fn node_bridge(name: &str, port: &str, vlan: i32) -> NetworkSpec {
    NetworkSpec {
        node_interface: Some(port.into()),
        ..bridge(name, vlan)
    }
}

fn sriov(pf: Option<&str>, vfs: Option<i32>) -> NetworkSpec {
    NetworkSpec {
        name: "fast".into(),
        type_: Some("sriov".into()),
        vlan: Some(120),
        sriov: Some(SriovSpec {
            resource_name: Some("example.com/hostile_vf".into()),
            physical_function: pf.map(Into::into),
            num_vfs: vfs,
            ..SriovSpec::default()
        }),
        ..NetworkSpec::default()
    }
}

fn static_ip(mut network: NetworkSpec, address: &str) -> NetworkSpec {
    network.ip_address = Some(address.into());
    network
}

fn mac(mut network: NetworkSpec, mac: &str) -> NetworkSpec {
    network.mac_address = Some(mac.into());
    network
}

/// An object of the user's that exists before the profile.
#[derive(Debug, Clone)]
enum UserObject {
    Claim(String),
    Nad(String),
    Secret(String, String),
    Vm(String),
}

/// A profile the API server accepts and the operator must refuse.
struct Refusal {
    profile: VirtualMachineProfile,
    reason: &'static str,
    /// Text the Ready message must contain: the field, or the object not ours.
    names: String,
    before: Vec<UserObject>,
}

fn refusal(profile: VirtualMachineProfile, reason: &'static str, names: &str) -> Refusal {
    Refusal {
        profile,
        reason,
        names: names.to_owned(),
        before: Vec::new(),
    }
}

fn user_data(profile: &mut VirtualMachineProfile, secret: &str) {
    profile.spec.cloud_init = Some(CloudInitSpec {
        user_data_secret_ref: Some(SecretReference {
            name: secret.into(),
        }),
        ..CloudInitSpec::default()
    });
}

fn alias_bomb() -> String {
    let mut bomb = String::from("#cloud-config\na0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    for level in 1..16 {
        let refs = vec![format!("*a{}", level - 1); 8].join(",");
        bomb.push_str(&format!("a{level}: &a{level} [{refs}]\n"));
    }
    bomb
}

/// Everything the operator (not the API server) must refuse.
fn refusals() -> Vec<Refusal> {
    let mut cases = vec![
        // The administrator's policy.
        refusal(
            with_network("na-port", node_bridge("hbr-1", "hx0", 110)),
            "NotAllowed",
            "spec.networks[0].nodeInterface",
        ),
        refusal(
            with_network("na-bridge", node_bridge("hbr-evil", "hx1", 110)),
            "NotAllowed",
            "spec.networks[0].bridge",
        ),
        refusal(
            with_network("na-vlan", node_bridge("hbr-1", "hx1", 300)),
            "NotAllowed",
            "spec.networks[0].vlan",
        ),
        refusal(
            with_network("na-vlan-top", node_bridge("hbr-1", "hx1", 4094)),
            "NotAllowed",
            "spec.networks[0].vlan",
        ),
        refusal(
            with_network("na-pf", sriov(Some("hpf9"), Some(4))),
            "NotAllowed",
            "spec.networks[0].sriov.physicalFunction",
        ),
        refusal(
            {
                let mut p = with_network("na-second", bridge("hbr-1", 110));
                p.spec.networks.push(NetworkSpec {
                    name: "uplink".into(),
                    ..node_bridge("hbr-2", "hx0", 120)
                });
                p
            },
            "NotAllowed",
            "spec.networks[1].nodeInterface",
        ),
        // Storage classes that do not exist.
        refusal(
            {
                let mut p = blank_disk_profile("no-class", "data", "longhorn");
                p.spec.disks[0].storage_class_name = Some("gold-nvme".into());
                p
            },
            "StorageClassNotFound",
            "spec.disks[0].storageClassName: StorageClass gold-nvme does not exist",
        ),
        refusal(
            {
                let mut p = blank_disk_profile("no-class-2", "data", "longhorn");
                p.spec.disks.push(DiskSpec {
                    name: "logs".into(),
                    size: "1Gi".into(),
                    storage_class_name: Some("tape".into()),
                    ..DiskSpec::default()
                });
                p
            },
            "StorageClassNotFound",
            "spec.disks[1].storageClassName",
        ),
        // Plugins' and the template's rules.
        refusal(
            with_network(
                "unknown-plugin",
                NetworkSpec {
                    type_: Some("macvlan".into()),
                    ..bridge("hbr-1", 110)
                },
            ),
            "InvalidSpec",
            "spec.networks[0].type",
        ),
        refusal(
            {
                let mut p = blank_disk_profile("unknown-backend", "data", "longhorn");
                p.spec.disks[0].backend = Some("zfs".into());
                p
            },
            "InvalidSpec",
            "spec.disks[0].backend",
        ),
        refusal(
            {
                let mut p = blank_disk_profile("unknown-template", "data", "longhorn");
                p.spec.template = Some("ignition".into());
                p
            },
            "InvalidSpec",
            "spec.template",
        ),
        refusal(
            with_network(
                "bridge-without-bridge",
                NetworkSpec {
                    name: "lan".into(),
                    vlan: Some(110),
                    ..NetworkSpec::default()
                },
            ),
            "InvalidSpec",
            "spec.networks[0].bridge",
        ),
        refusal(
            with_network(
                "selector-without-port",
                NetworkSpec {
                    node_selector: Some(BTreeMap::from([("zone".into(), "a".into())])),
                    ..bridge("hbr-1", 110)
                },
            ),
            "InvalidSpec",
            "spec.networks[0].nodeSelector",
        ),
        refusal(
            with_network(
                "sriov-on-bridge",
                NetworkSpec {
                    sriov: Some(SriovSpec::default()),
                    ..bridge("hbr-1", 110)
                },
            ),
            "InvalidSpec",
            "spec.networks[0].sriov",
        ),
        refusal(
            with_network(
                "sriov-without-resource",
                NetworkSpec {
                    name: "fast".into(),
                    type_: Some("sriov".into()),
                    ..NetworkSpec::default()
                },
            ),
            "InvalidSpec",
            "spec.networks[0].sriov",
        ),
        refusal(
            with_network("sriov-pf-without-vfs", sriov(Some("hpf0"), None)),
            "InvalidSpec",
            "spec.networks[0].sriov.numVfs",
        ),
        refusal(
            with_network(
                "sriov-with-port",
                NetworkSpec {
                    node_interface: Some("hx1".into()),
                    ..sriov(None, None)
                },
            ),
            "InvalidSpec",
            "spec.networks[0].nodeInterface",
        ),
        refusal(
            with_network(
                "sriov-with-mtu",
                NetworkSpec {
                    mtu: Some(9000),
                    ..sriov(None, None)
                },
            ),
            "InvalidSpec",
            "spec.networks[0].mtu",
        ),
        refusal(
            with_network(
                "sriov-with-bridge",
                NetworkSpec {
                    bridge: Some("hbr-1".into()),
                    ..sriov(None, None)
                },
            ),
            "InvalidSpec",
            "spec.networks[0].bridge",
        ),
        refusal(
            {
                let mut p = blank_disk_profile("cloudinit-disk", "data", "longhorn");
                p.spec.disks[0].name = "cloudinitdisk".into();
                p
            },
            "InvalidSpec",
            "spec.disks[0].name",
        ),
        refusal(
            {
                let mut p = blank_disk_profile("huamei-elsewhere", "data", "longhorn");
                p.spec.disks[0].backend = Some("huamei-csi".into());
                p
            },
            "InvalidSpec",
            "spec.disks[0]",
        ),
        // User data the operator will not parse.
        refusal(
            {
                let mut p = blank_disk_profile("bomb", "data", "longhorn");
                user_data(&mut p, "bomb-data");
                p
            },
            "InvalidSpec",
            "spec.cloudInit.userDataSecretRef",
        ),
        refusal(
            {
                let mut p = blank_disk_profile("broken-yaml", "data", "longhorn");
                user_data(&mut p, "broken-data");
                p
            },
            "InvalidSpec",
            "spec.cloudInit.userDataSecretRef",
        ),
        refusal(
            {
                let mut p = blank_disk_profile("huge-data", "data", "longhorn");
                user_data(&mut p, "huge-data");
                p
            },
            "InvalidSpec",
            "spec.cloudInit.userDataSecretRef",
        ),
        refusal(
            {
                let mut p = blank_disk_profile("deep-data", "data", "longhorn");
                user_data(&mut p, "deep-data");
                p
            },
            "InvalidSpec",
            "spec.cloudInit.userDataSecretRef",
        ),
    ];
    // Cross-namespace clones the administrator did not allow.
    for (name, field, source) in [
        (
            "clone-pvc",
            "spec.disks[0].source.pvc.namespace",
            DiskSource {
                pvc: Some(SourceReference {
                    name: "golden".into(),
                    namespace: Some("kube-system".into()),
                }),
                ..DiskSource::default()
            },
        ),
        (
            "clone-datasource",
            "spec.disks[0].source.dataSource.namespace",
            DiskSource {
                data_source: Some(SourceReference {
                    name: "fedora".into(),
                    namespace: Some("other-team".into()),
                }),
                ..DiskSource::default()
            },
        ),
    ] {
        let mut p = blank_disk_profile(name, "data", "longhorn");
        p.spec.disks[0].source = Some(source);
        cases.push(refusal(p, "NotAllowed", field));
    }
    // Objects of the user's under the names the operator would derive.
    let owned = [
        (
            "takes-claim",
            UserObject::Claim("takes-claim--data".into()),
            "PersistentVolumeClaim takes-claim--data exists and is not this profile's",
        ),
        (
            "takes-secret",
            UserObject::Secret("takes-secret--cloudinit".into(), "#cloud-config\n".into()),
            "Secret takes-secret--cloudinit exists and is not this profile's",
        ),
        (
            "takes-vm",
            UserObject::Vm("takes-vm".into()),
            "VirtualMachine takes-vm exists and is not this profile's",
        ),
    ];
    for (name, object, message) in owned {
        let mut case = refusal(
            blank_disk_profile(name, "data", "longhorn"),
            "Conflict",
            message,
        );
        case.before.push(object);
        cases.push(case);
    }
    let mut nad_case = refusal(
        with_network("takes-nad", bridge("hbr-1", 110)),
        "Conflict",
        "NetworkAttachmentDefinition takes-nad--lan exists and is not this profile's",
    );
    nad_case
        .before
        .push(UserObject::Nad("takes-nad--lan".into()));
    cases.push(nad_case);
    // The semantic rules only the controller checks, from the shared table.
    for (i, case) in semantic_cases().into_iter().enumerate() {
        let mut p = case.profile;
        p.metadata.name = Some(format!("semantic-{i}"));
        p.spec.disks = blank_disk_profile("x", "data", "longhorn").spec.disks;
        cases.push(Refusal {
            profile: p,
            reason: "InvalidSpec",
            names: format!("{}: {}", case.path, case.message),
            before: Vec::new(),
        });
    }
    cases
}

async fn create_user_object(ns: &TestNamespace, object: &UserObject) -> String {
    let params = PostParams::default();
    match object {
        UserObject::Claim(name) => {
            let claim: PersistentVolumeClaim = serde_json::from_value(serde_json::json!({
                "metadata": {"name": name},
                "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "longhorn",
                         "resources": {"requests": {"storage": "1Gi"}}},
            }))
            .expect("claim");
            ns.api::<PersistentVolumeClaim>()
                .create(&params, &claim)
                .await
                .expect("user's claim")
                .resource_version()
                .unwrap_or_default()
        }
        UserObject::Nad(name) => ns
            .api::<NetworkAttachmentDefinition>()
            .create(
                &params,
                &NetworkAttachmentDefinition::new(name, NetworkAttachmentDefinitionSpec::default()),
            )
            .await
            .expect("user's NAD")
            .resource_version()
            .unwrap_or_default(),
        UserObject::Secret(name, data) => ns
            .api::<Secret>()
            .create(&params, &secret(name, data))
            .await
            .expect("user's secret")
            .resource_version()
            .unwrap_or_default(),
        UserObject::Vm(name) => {
            let vm: VirtualMachine = serde_json::from_value(serde_json::json!({
                "apiVersion": "kubevirt.io/v1",
                "kind": "VirtualMachine",
                "metadata": {"name": name},
                "spec": {"runStrategy": "Halted", "template": {"spec": {"domain": {"devices": {}}}}},
            }))
            .expect("vm");
            ns.api::<VirtualMachine>()
                .create(&params, &vm)
                .await
                .expect("user's VM")
                .resource_version()
                .unwrap_or_default()
        }
    }
}

fn secret(name: &str, user_data: &str) -> Secret {
    Secret {
        metadata: kube::core::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some(
            [(
                "userdata".to_owned(),
                ByteString(user_data.as_bytes().to_vec()),
            )]
            .into(),
        ),
        ..Secret::default()
    }
}

/// What the operator would have left on a user's object had it written to it: its field
/// manager, its label, an owner reference. (Controllers of the object's own kind, such as the
/// PV binder, may still change its status.)
async fn user_object_marks(ns: &TestNamespace, object: &UserObject) -> Option<String> {
    let meta = match object {
        UserObject::Claim(n) => meta(&ns.api::<PersistentVolumeClaim>(), n).await,
        UserObject::Nad(n) => meta(&ns.api::<NetworkAttachmentDefinition>(), n).await,
        UserObject::Secret(n, _) => meta(&ns.api::<Secret>(), n).await,
        UserObject::Vm(n) => meta(&ns.api::<VirtualMachine>(), n).await,
    }?;
    let managers: BTreeSet<String> = meta
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|f| f.manager.clone())
        .filter(|m| m.contains("vm-operator"))
        .collect();
    Some(format!(
        "managers {managers:?}, profile label {:?}, owners {}",
        meta.labels.as_ref().and_then(|l| l.get(PROFILE_LABEL)),
        meta.owner_references.as_ref().map_or(0, Vec::len)
    ))
}

async fn meta<K>(api: &Api<K>, name: &str) -> Option<kube::core::ObjectMeta>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    api.get_opt(name)
        .await
        .expect("get")
        .map(|o| o.meta().clone())
}

fn ready(profile: &VirtualMachineProfile) -> Option<(String, String, String)> {
    profile
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// Names of the objects labelled as this profile's children, of every kind it may create.
async fn children(ns: &TestNamespace, profile: &str) -> BTreeSet<String> {
    let params = ListParams::default().labels(&format!("{PROFILE_LABEL}={profile}"));
    let mut names = BTreeSet::new();
    macro_rules! collect {
        ($kind:ty) => {
            for o in ns.api::<$kind>().list(&params).await.expect("list").items {
                names.insert(format!(
                    "{} {}@{}",
                    <$kind>::kind(&()),
                    o.name_any(),
                    o.resource_version().unwrap_or_default()
                ));
            }
        };
    }
    collect!(PersistentVolumeClaim);
    collect!(DataVolume);
    collect!(NetworkAttachmentDefinition);
    collect!(Secret);
    collect!(VirtualMachine);
    names
}

/// Node policies that configure one of these node-level names.
async fn our_policies(markers: &[&str]) -> BTreeMap<String, String> {
    let api: Api<NodeNetworkConfigurationPolicy> = Api::all(TestEnv::shared().client().await);
    api.list(&ListParams::default())
        .await
        .expect("policies")
        .items
        .into_iter()
        .filter(|p| {
            let state = serde_json::to_string(&p.spec.desired_state).unwrap_or_default();
            markers.iter().any(|m| state.contains(&format!("\"{m}\"")))
        })
        .map(|p| (p.name_any(), p.resource_version().unwrap_or_default()))
        .collect()
}

async fn wait_ready_reason(
    profiles: &Api<VirtualMachineProfile>,
    name: &str,
    reason: &str,
    operator: &OperatorProcess,
) -> VirtualMachineProfile {
    wait::until(&format!("{name} to report {reason}"), WAIT, || async {
        let p = profiles.get_opt(name).await.ok().flatten()?;
        let (_, actual, _) = ready(&p)?;
        (actual == reason).then_some(p)
    })
    .await
    .unwrap_or_else(|e| {
        panic!(
            "{e}\nlast status: {:?}\n{}",
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(async {
                    profiles
                        .get_opt(name)
                        .await
                        .ok()
                        .flatten()
                        .and_then(|p| p.status)
                })
            }),
            operator.log()
        )
    })
}

async fn wait_running(
    profiles: &Api<VirtualMachineProfile>,
    name: &str,
    operator: &OperatorProcess,
) -> VirtualMachineProfile {
    wait::wait_for_phase(profiles, name, Phase::Running, WAIT)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", operator.log()))
}

#[tokio::test(flavor = "multi_thread")]
async fn admission_refuses_every_invalid_profile_naming_the_field() {
    let ns = TestEnv::shared().namespace("hostile-admission").await;
    let profiles: Api<VirtualMachineProfile> = ns.api();
    let mut failures = Vec::new();
    let cases = invalid_cases();
    assert!(cases.len() >= 60, "only {} admission cases", cases.len());
    for case in cases {
        let name = case.profile.name_any();
        let message = match profiles.create(&PostParams::default(), &case.profile).await {
            Ok(_) => {
                failures.push(format!("{}: accepted", case.description));
                let _ = profiles.delete(&name, &DeleteParams::default()).await;
                continue;
            }
            Err(kube::Error::Api(status)) => {
                assert_eq!(status.code, 422, "{}: {}", case.description, status.message);
                status.message
            }
            Err(other) => panic!("{}: {other}", case.description),
        };
        let path = case.api_server_path.unwrap_or(case.path);
        let expected = case.api_server_message.unwrap_or(&case.message);
        if !message.contains(&format!("{path}: ")) || !message.contains(expected) {
            failures.push(format!(
                "{}: expected `{path}: ... {expected}`, got: {message}",
                case.description
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    assert!(
        profiles
            .list(&ListParams::default())
            .await
            .expect("list")
            .items
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_operator_refuses_what_admission_cannot_decide_and_creates_nothing_for_it() {
    let ns = TestEnv::shared().namespace("hostile").await;
    publish_policy(
        POLICY,
        &policy_yaml(&ns.name, "hx1, hx2", "hbr-1, hbr-2", "hpf0"),
    )
    .await;
    let operator = OperatorProcess::start(&ns.name, POLICY).await;
    let profiles: Api<VirtualMachineProfile> = ns.api();

    let secrets = ns.api::<Secret>();
    let deep = format!("#cloud-config\nx: {}1{}\n", "[".repeat(64), "]".repeat(64));
    let huge = format!("#cloud-config\nruncmd:\n{}", "  - echo x\n".repeat(40_000));
    for (name, data) in [
        ("bomb-data", alias_bomb()),
        (
            "broken-data",
            "#cloud-config\nusers: [\n  - name: x\n".to_owned(),
        ),
        ("huge-data", huge),
        ("deep-data", deep),
    ] {
        secrets
            .create(&PostParams::default(), &secret(name, &data))
            .await
            .expect("user data secret");
    }

    let cases = refusals();
    assert!(
        cases.len() >= 30,
        "only {} operator-side cases",
        cases.len()
    );
    let mut user_versions = Vec::new();
    for case in &cases {
        for object in &case.before {
            create_user_object(&ns, object).await;
            let marks = user_object_marks(&ns, object).await.expect("created");
            user_versions.push((object.clone(), marks));
        }
    }
    for case in &cases {
        profiles
            .create(&PostParams::default(), &case.profile)
            .await
            .unwrap_or_else(|e| panic!("{} must pass admission: {e}", case.profile.name_any()));
    }
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.profile.name_any();
        let profile = wait_ready_reason(&profiles, &name, case.reason, &operator).await;
        let (status, _, message) = ready(&profile).unwrap_or_default();
        if status != "False" || !message.contains(&case.names) {
            failures.push(format!(
                "{name}: expected {} naming `{}`, got {status}: {message}",
                case.reason, case.names
            ));
        }
        let phase = profile.status.as_ref().and_then(|s| s.phase);
        if !matches!(phase, Some(Phase::Pending) | Some(Phase::Failed)) {
            failures.push(format!("{name}: phase {phase:?}, not Pending or Failed"));
        }
        // A spec-level refusal creates nothing; a name taken by the user's object stops
        // before the VM (other children may exist, and go with the profile).
        let made = children(&ns, &name).await;
        let partial_allowed = case.reason == "Conflict";
        if made
            .iter()
            .any(|c| !partial_allowed || c.starts_with("VirtualMachine "))
        {
            failures.push(format!("{name}: created {made:?}"));
        }
    }
    for (object, created) in &user_versions {
        let now = user_object_marks(&ns, object).await;
        if now.as_ref() != Some(created) {
            failures.push(format!("{object:?} was written: {created} -> {now:?}"));
        }
    }
    let policies = our_policies(REFUSAL_MARKERS).await;
    if !policies.is_empty() {
        failures.push(format!("node policies were written: {policies:?}"));
    }
    assert!(
        failures.is_empty(),
        "\n{}\n{}",
        failures.join("\n"),
        operator.log()
    );

    // Deleting them all leaves nothing of theirs behind, and the user's objects in place.
    for case in &cases {
        profiles
            .delete(&case.profile.name_any(), &DeleteParams::default())
            .await
            .expect("delete");
    }
    wait::until("every refused profile to go", WAIT, || async {
        profiles
            .list(&ListParams::default())
            .await
            .ok()
            .filter(|l| l.items.is_empty())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", operator.log()));
    for (object, created) in &user_versions {
        assert_eq!(
            user_object_marks(&ns, object).await.as_ref(),
            Some(created),
            "{object:?} survives the profile's deletion untouched"
        );
    }
}

/// Two profiles, the later asking for what the earlier holds.
struct ConflictGroup {
    earlier: VirtualMachineProfile,
    later: VirtualMachineProfile,
    /// The later profile's field named in the conflict.
    field: &'static str,
}

fn group(
    earlier: VirtualMachineProfile,
    later: VirtualMachineProfile,
    field: &'static str,
) -> ConflictGroup {
    ConflictGroup {
        earlier,
        later,
        field,
    }
}

fn conflict_groups() -> Vec<ConflictGroup> {
    let ip = |name: &str, b: &str, vlan: i32, address: &str| {
        with_network(name, static_ip(bridge(b, vlan), address))
    };
    let with_mac =
        |name: &str, vlan: i32, m: &str| with_network(name, mac(bridge("hbr-1", vlan), m));
    let by_nad = |name: &str, address: Option<&str>, m: Option<&str>| {
        with_network(
            name,
            NetworkSpec {
                name: "biz".into(),
                nad_name: Some("business-net".into()),
                ip_address: address.map(Into::into),
                mac_address: m.map(Into::into),
                ..NetworkSpec::default()
            },
        )
    };
    let sriov_ip =
        |name: &str, address: &str| with_network(name, static_ip(sriov(None, None), address));
    let selected = |name: &str, selector: Option<(&str, &str)>| {
        with_network(
            name,
            NetworkSpec {
                node_selector: selector
                    .map(|(k, v)| BTreeMap::from([(k.to_owned(), v.to_owned())])),
                ..node_bridge("hbr-7", "hy4", 130)
            },
        )
    };
    vec![
        group(
            ip("ip-a", "hbr-1", 110, "10.20.0.5/24"),
            ip("ip-b", "hbr-1", 110, "10.20.0.5/24"),
            "spec.networks[0].ipAddress",
        ),
        group(
            ip("ip-prefix-a", "hbr-2", 111, "10.21.0.5/24"),
            ip("ip-prefix-b", "hbr-2", 111, "10.21.0.5/16"),
            "spec.networks[0].ipAddress",
        ),
        group(
            ip("ip6-a", "hbr-2", 112, "fd00:20::5/64"),
            ip("ip6-b", "hbr-2", 112, "FD00:20::5/64"),
            "spec.networks[0].ipAddress",
        ),
        group(
            with_mac("mac-a", 113, "02:00:00:00:20:01"),
            with_mac("mac-b", 113, "02:00:00:00:20:01"),
            "spec.networks[0].macAddress",
        ),
        group(
            with_mac("mac-case-a", 114, "02:00:00:00:20:02"),
            with_mac(
                "mac-case-b",
                114,
                "02:00:00:00:20:02".to_uppercase().as_str(),
            ),
            "spec.networks[0].macAddress",
        ),
        group(
            by_nad("nad-ip-a", Some("10.22.0.5/24"), None),
            by_nad("nad-ip-b", Some("10.22.0.5/24"), None),
            "spec.networks[0].ipAddress",
        ),
        group(
            by_nad("nad-mac-a", None, Some("02:00:00:00:20:03")),
            by_nad("nad-mac-b", None, Some("02:00:00:00:20:03")),
            "spec.networks[0].macAddress",
        ),
        group(
            sriov_ip("vf-ip-a", "10.23.0.5/24"),
            sriov_ip("vf-ip-b", "10.23.0.5/24"),
            "spec.networks[0].ipAddress",
        ),
        group(
            with_network("br-port-a", node_bridge("hbr-4", "hy1", 115)),
            with_network("br-port-b", node_bridge("hbr-4", "hy2", 115)),
            "spec.networks[0].nodeInterface",
        ),
        group(
            with_network("port-br-a", node_bridge("hbr-5", "hy3", 116)),
            with_network("port-br-b", node_bridge("hbr-6", "hy3", 116)),
            "spec.networks[0].nodeInterface",
        ),
        group(
            with_network("vfs-a", sriov(Some("hpf1"), Some(8))),
            with_network("vfs-b", sriov(Some("hpf1"), Some(16))),
            "spec.networks[0].sriov.physicalFunction",
        ),
        group(
            selected("sel-a", None),
            selected("sel-b", Some(("zone", "a"))),
            "spec.networks[0].nodeInterface",
        ),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn the_later_of_two_conflicting_profiles_is_refused_and_the_earlier_untouched() {
    let ns = TestEnv::shared().namespace("conflicts").await;
    let policy = format!("{POLICY}-conflicts");
    publish_policy(
        &policy,
        &policy_yaml(
            &ns.name,
            &CONFLICT_MARKERS[..5].join(", "),
            &CONFLICT_MARKERS[5..10].join(", "),
            "hpf1",
        ),
    )
    .await;
    vmop_testenv::profiles::existing_nad(&ns, "business-net").await;
    let operator = OperatorProcess::start(&ns.name, &policy).await;
    let profiles: Api<VirtualMachineProfile> = ns.api();
    let groups = conflict_groups();
    assert!(groups.len() >= 10);

    // Control: the same node state asked by two profiles is one shared policy, no conflict.
    let shared_a = with_network("shared-a", node_bridge("hbr-8", "hy5", 140));
    let shared_b = with_network("shared-b", node_bridge("hbr-8", "hy5", 141));
    for p in groups
        .iter()
        .map(|g| &g.earlier)
        .chain([&shared_a, &shared_b])
    {
        profiles
            .create(&PostParams::default(), p)
            .await
            .expect("earlier profile");
    }
    let mut before = BTreeMap::new();
    for p in groups.iter().map(|g| &g.earlier) {
        let name = p.name_any();
        let running = wait_running(&profiles, &name, &operator).await;
        before.insert(name.clone(), (ready(&running), children(&ns, &name).await));
    }
    let shared_a = wait_running(&profiles, "shared-a", &operator).await;
    let shared_b = wait_running(&profiles, "shared-b", &operator).await;
    let policy_of = |p: &VirtualMachineProfile| {
        p.status
            .as_ref()
            .map(|s| s.networks[0].policies.clone())
            .unwrap_or_default()
    };
    assert_eq!(policy_of(&shared_a).len(), 1);
    assert_eq!(
        policy_of(&shared_a),
        policy_of(&shared_b),
        "one shared policy"
    );
    let policies_before = our_policies(CONFLICT_MARKERS).await;

    for g in &groups {
        profiles
            .create(&PostParams::default(), &g.later)
            .await
            .expect("later profile");
    }
    let mut failures = Vec::new();
    for g in &groups {
        let later = g.later.name_any();
        let refused = wait_ready_reason(&profiles, &later, "Conflict", &operator).await;
        let (status, _, message) = ready(&refused).unwrap_or_default();
        let holder = format!("held by profile {}/{}", ns.name, g.earlier.name_any());
        if status != "False" || !message.contains(g.field) || !message.contains(&holder) {
            failures.push(format!(
                "{later}: expected Conflict on {} {holder}, got {status}: {message}",
                g.field
            ));
        }
        let made = children(&ns, &later).await;
        if !made.is_empty() {
            failures.push(format!("{later}: created {made:?}"));
        }
    }
    for g in &groups {
        let name = g.earlier.name_any();
        let now = profiles.get(&name).await.expect("earlier");
        let after = (ready(&now), children(&ns, &name).await);
        if before.get(&name) != Some(&after) {
            failures.push(format!(
                "{name} changed: {:?} -> {after:?}",
                before.get(&name)
            ));
        }
    }
    if our_policies(CONFLICT_MARKERS).await != policies_before {
        failures.push(format!(
            "node policies changed: {policies_before:?} -> {:?}",
            our_policies(CONFLICT_MARKERS).await
        ));
    }
    assert!(
        failures.is_empty(),
        "\n{}\n{}",
        failures.join("\n"),
        operator.log()
    );
    // Each refusal is counted by its category.
    let (_, metrics) = common::http_get(operator.port, "/metrics").expect("metrics");
    let conflicts = metrics
        .lines()
        .find_map(|l| l.strip_prefix("vmoperator_reconcile_failures_total{category=\"Conflict\"} "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no Conflict failures counted:\n{metrics}"));
    assert!(
        conflicts >= groups.len() as f64,
        "{conflicts} Conflict failures counted"
    );

    // Deleting every profile at once, both users of the shared policy among them, leaves no
    // node policy and no child behind.
    for p in profiles
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
    {
        profiles
            .delete(&p.name_any(), &DeleteParams::default())
            .await
            .expect("delete");
    }
    wait::until("every profile to go", WAIT, || async {
        profiles
            .list(&ListParams::default())
            .await
            .ok()
            .filter(|l| l.items.is_empty())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", operator.log()));
    wait::until("no node policy of theirs left", WAIT, || async {
        our_policies(CONFLICT_MARKERS)
            .await
            .is_empty()
            .then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: {:?}\n{}", policies_before, operator.log()));
    for g in &groups {
        for name in [g.earlier.name_any(), g.later.name_any()] {
            let left = children(&ns, &name).await;
            assert!(left.is_empty(), "{name} left {left:?}");
        }
    }
}
