//! Fuzzing, with proptest (cargo-fuzz needs a nightly toolchain this project does not use),
//! of what tenants and the cluster feed the operator. Each case mutates a valid document at
//! random places with hostile values (wrong types, extreme numbers, odd strings, deep or
//! wide values) and runs it through:
//!
//! - spec deserialization, `vmop_api::validate` and `validate_semantics`;
//! - the pure plan: every bundled plugin's `validate` and `build`, and the template;
//! - the template with arbitrary user data (the bounded YAML parser);
//! - every plugin's readiness and the status computation from arbitrary children (claims,
//!   DataVolumes, NADs, node policies and enactments, VMs and VMIs).
//!
//! None may panic, and the heap stays under [`FUZZ_MEMORY`] (measured by a counting
//! allocator, which also refuses anything past [`HEAP_CAP`]). `VMOP_FUZZ_CASES` sets the cases per target: 256 by default (CI), and
//! as many as you like for a long run (`VMOP_FUZZ_CASES=100000`). A crash found becomes a
//! case in `regressions()`.

use std::{alloc::System, collections::BTreeMap};

use cap::Cap;

use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};
use proptest::{prelude::*, test_runner::Config};
use serde_json::{Value, json};
use vmop_api::{
    VirtualMachineProfile, VirtualMachineProfileStatus,
    fixtures::valid_profile,
    validate::{validate_profile, validate_semantics},
};
use vmop_controller::{
    AdminPolicy, DiskOutcome, NetworkOutcome, Observed, Planned, TemplateExtras, VmOutcome,
    compute, plan,
};
use vmop_plugin::{
    ObservedNetwork, ObservedPolicy, ObservedVolume, Registries, StorageClassInfo, TemplateInput,
};

/// The most the whole fuzz run (every target, in parallel) may have on the heap at once: a
/// valid profile plans in a few hundred KiB; an unbounded expansion (a YAML alias bomb, a
/// huge repeat) would take gigabytes.
const FUZZ_MEMORY: usize = 256 << 20;

/// Past this an allocation fails (and the process aborts): a runaway case cannot take the
/// machine with it.
const HEAP_CAP: usize = 1 << 30;

// `cap` counts and limits the heap without unsafe code of ours (the workspace forbids it).
#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, HEAP_CAP);

/// Runs one case, failing it when the heap's peak so far passed [`FUZZ_MEMORY`].
fn bounded<T>(f: impl FnOnce() -> T) -> Result<T, TestCaseError> {
    let out = f();
    let peak = ALLOCATOR.max_allocated();
    prop_assert!(peak <= FUZZ_MEMORY, "the heap peaked at {} MiB", peak >> 20);
    Ok(out)
}

fn cases() -> u32 {
    std::env::var("VMOP_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn registries() -> Registries {
    let _ = vmop_bundled::link();
    Registries::from_inventory().expect("plugins register")
}

fn class(name: Option<&str>) -> Option<StorageClassInfo> {
    let (name, provisioner, wffc) = match name.unwrap_or("local-path") {
        "huamei-sc-ssd" => ("huamei-sc-ssd", "csi.huamei.com", false),
        "longhorn" => ("longhorn", "driver.longhorn.io", false),
        "local-path" => ("local-path", "rancher.io/local-path", true),
        _ => return None,
    };
    Some(StorageClassInfo {
        name: name.into(),
        provisioner: provisioner.into(),
        parameters: BTreeMap::new(),
        wait_for_first_consumer: wffc,
        allow_volume_expansion: true,
        is_default: name == "local-path",
    })
}

/// Strings that have broken parsers and validators elsewhere.
fn nasty_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("--".to_owned()),
        Just("a".repeat(5000)),
        Just("999999999999999999999Ei".to_owned()),
        Just("-1".to_owned()),
        Just("1e999".to_owned()),
        Just("0.0.0.0/0".to_owned()),
        Just("::/0".to_owned()),
        Just("255.255.255.255/33".to_owned()),
        Just("fe80::1%eth0/64".to_owned()),
        Just("docker://".to_owned()),
        Just("http://[::1".to_owned()),
        Just("ns/".to_owned()),
        Just("/".to_owned()),
        Just("é\u{0}\u{202e}😀".to_owned()),
        Just("100-".to_owned()),
        Just("#cloud-config\n&a [*a, *a]".to_owned()),
        "[ -~]{0,40}",
        "\\PC{0,20}",
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        prop_oneof![
            Just(0i64),
            Just(-1),
            Just(i64::from(i32::MAX) + 1),
            Just(4095)
        ]
        .prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(Value::from),
        nasty_string().prop_map(Value::from),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{1,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Replaces the node that `seed` picks (walking down from the root) with `with`.
fn mutate(root: &mut Value, mut seed: u64, with: Value) {
    let mut node = root;
    loop {
        let children = match node {
            Value::Object(map) => map.len(),
            Value::Array(items) => items.len(),
            _ => 0,
        };
        // Stop here about one time in four, or at a leaf.
        if children == 0 || seed.is_multiple_of(4) {
            *node = with;
            return;
        }
        let pick = ((seed >> 2) as usize) % children;
        seed = seed.rotate_right(7).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        node = match node {
            Value::Object(map) => map.values_mut().nth(pick).expect("in range"),
            Value::Array(items) => &mut items[pick],
            _ => return,
        };
    }
}

fn mutations() -> impl Strategy<Value = Vec<(u64, Value)>> {
    prop::collection::vec((any::<u64>(), value()), 1..5)
}

fn seed_profile() -> Value {
    let mut p = valid_profile("fuzz");
    p.metadata.namespace = Some("team-a".into());
    p.metadata.uid = Some("0f000000-0000-4000-8000-000000000000".into());
    let mut v = serde_json::to_value(&p).expect("json");
    // More of the spec to reach: SR-IOV, isolation, live update, a clone, a pool member.
    v["metadata"]["labels"] = json!({"vmoperator.io/pool": "web"});
    v["spec"]["networks"]
        .as_array_mut()
        .expect("networks")
        .push(json!({
            "name": "fast", "type": "sriov", "vlan": 200,
            "sriov": {"physicalFunction": "ens1f0", "numVfs": 8, "resourceName": "intel.com/sriov_netdevice"}
        }));
    v["spec"]["isolation"] =
        json!({"allowFrom": "Namespace", "ports": [{"port": 22}], "cidrs": ["10.0.0.0/8"]});
    v["spec"]["liveUpdate"] = json!({"maxSockets": 8, "maxMemory": "32Gi"});
    v["spec"]["disks"].as_array_mut().expect("disks").push(json!({
        "name": "copy", "size": "10Gi", "source": {"pvc": {"name": "golden", "namespace": "images"}}
    }));
    v
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

/// Runs a mutated profile through deserialization, validation and the plan; `Ok` when it
/// planned (every plugin built it), else where it stopped.
fn through_the_plan(
    registries: &Registries,
    document: &Value,
    user_data: Option<String>,
) -> Result<(), String> {
    let profile = serde_json::from_value::<VirtualMachineProfile>(document.clone())
        .map_err(|e| format!("does not deserialize: {e}"))?;
    let _ = validate_profile("fuzz", &profile.spec);
    let _ = validate_semantics(&profile.spec);
    let extras = TemplateExtras {
        macs: BTreeMap::new(),
        user_data,
    };
    let planned = runtime().block_on(plan(
        &profile,
        registries,
        class,
        extras,
        &AdminPolicy::allow_all(),
    ));
    let planned = match planned {
        Planned::Ready(plan) => Ok(plan),
        Planned::Invalid(errors) => Err(format!("invalid: {errors:?}")),
        Planned::Blocked { reason, messages } => Err(format!("{reason}: {messages:?}")),
    };
    if let Ok(plan) = planned {
        let input = TemplateInput {
            profile: profile.clone(),
            networks: plan
                .networks
                .iter()
                .map(|n| n.desired.attachment.clone())
                .collect(),
            volumes: plan
                .disks
                .iter()
                .map(|d| d.desired.attachment.clone())
                .collect(),
            macs: BTreeMap::new(),
            user_data: None,
        };
        let _ = runtime().block_on(plan.template.build(&input));
        return Ok(());
    }
    planned.map(|_| ())
}

/// Children shaped like the real ones, mutated: what readiness and status read.
fn seed_children() -> Value {
    json!({
        "claim": {"metadata": {"name": "fuzz--data"}, "spec": {"accessModes": ["ReadWriteOnce"]},
                  "status": {"phase": "Bound", "capacity": {"storage": "200Gi"},
                             "conditions": [{"type": "Resizing", "status": "True"}]}},
        "dv": {"apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataVolume",
               "metadata": {"name": "fuzz--system"}, "spec": {"source": {"blank": {}}},
               "status": {"phase": "ImportInProgress", "progress": "42.5%", "restartCount": 2,
                          "claimName": "fuzz--system",
                          "conditions": [{"type": "Running", "status": "False", "reason": "Error", "message": "x"}]}},
        "nad": {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
                "metadata": {"name": "fuzz--mgmt", "namespace": "team-a"}, "spec": {"config": "{}"}},
        "policy": {"apiVersion": "nmstate.io/v1", "kind": "NodeNetworkConfigurationPolicy",
                   "metadata": {"name": "vmop-br-mgmt", "generation": 2}, "spec": {"desiredState": {}},
                   "status": {"conditions": [{"type": "Available", "status": "True", "reason": "SuccessfullyConfigured"},
                                             {"type": "Degraded", "status": "False"}],
                              "lastUnavailableNodeCount": 0}},
        "enactment": {"apiVersion": "nmstate.io/v1beta1", "kind": "NodeNetworkConfigurationEnactment",
                      "metadata": {"name": "node-1.vmop-br-mgmt", "labels": {"nmstate.io/policy": "vmop-br-mgmt"}},
                      "status": {"conditions": [{"type": "Failing", "status": "True", "message": "boom"}]}},
        "vm": {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "metadata": {"name": "fuzz", "generation": 3},
               "spec": {"runStrategy": "Always", "template": {"spec": {"domain": {"devices": {}}}}},
               "status": {"printableStatus": "Running", "ready": true, "observedGeneration": 3,
                          "conditions": [{"type": "Ready", "status": "True"}]}},
        "vmi": {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance", "metadata": {"name": "fuzz"},
                "spec": {"domain": {"devices": {}}},
                "status": {"phase": "Running", "nodeName": "node-1",
                           "interfaces": [{"name": "mgmt", "mac": "0e:00:00:00:00:01", "ipAddress": "192.168.100.10",
                                           "ipAddresses": ["192.168.100.10", "fe80::1"]}],
                           "conditions": [{"type": "LiveMigratable", "status": "False", "reason": "DisksNotLiveMigratable"}],
                           "migrationState": {"completed": false}}}
    })
}

fn parsed<T: serde::de::DeserializeOwned>(children: &Value, key: &str) -> Option<T> {
    serde_json::from_value(children.get(key)?.clone()).ok()
}

/// Readiness of every planned network and disk from the mutated children, then the status.
fn through_the_status(registries: &Registries, children: &Value) {
    let profile = valid_profile("fuzz");
    let Planned::Ready(plan) = runtime().block_on(plan(
        &profile,
        registries,
        class,
        TemplateExtras::default(),
        &AdminPolicy::allow_all(),
    )) else {
        panic!("the valid profile plans");
    };
    let networks: Vec<NetworkOutcome> = plan
        .networks
        .iter()
        .map(|n| {
            let observed = ObservedNetwork {
                nad: parsed(children, "nad"),
                policies: n
                    .desired
                    .policies
                    .iter()
                    .map(|p| ObservedPolicy {
                        name: p.metadata.name.clone().unwrap_or_default(),
                        policy: parsed(children, "policy"),
                        enactments: parsed(children, "enactment").into_iter().collect(),
                    })
                    .collect(),
            };
            NetworkOutcome {
                name: n.config.network.name.clone(),
                plugin: n.plugin_name.clone(),
                attachment: n.desired.attachment.clone(),
                policies: Vec::new(),
                readiness: n.plugin.readiness(&n.desired, &observed),
            }
        })
        .collect();
    let disks: Vec<DiskOutcome> = plan
        .disks
        .iter()
        .map(|d| {
            let observed = ObservedVolume {
                claim: parsed(children, "claim"),
                data_volume: parsed(children, "dv"),
                storage_class: d.config.storage_class.clone(),
            };
            DiskOutcome {
                name: d.config.disk.name.clone(),
                backend: d.backend_name.clone(),
                attachment: d.desired.attachment.clone(),
                readiness: d.backend.readiness(&d.desired, &observed),
                refused_change: None,
                image_version: None,
            }
        })
        .collect();
    let vm_outcome = VmOutcome::Applied {
        macs: BTreeMap::new(),
        secrets: Vec::new(),
    };
    let vm = parsed(children, "vm");
    let vmi = parsed(children, "vmi");
    let observed = Observed {
        generation: Some(3),
        run_strategy: profile.spec.run_strategy,
        invalid: None,
        blocked: None,
        networks: &networks,
        disks: &disks,
        vm_outcome: Some(&vm_outcome),
        vm: vm.as_ref(),
        vmi: vmi.as_ref(),
        converged: None,
    };
    let now = Time(Timestamp::from_second(1_800_000_000).expect("a time"));
    let status = compute(
        &VirtualMachineProfileStatus::default(),
        &observed,
        now.clone(),
    );
    // And again from its own output, as the next reconcile does.
    let _ = compute(&status, &observed, now);
}

/// Crashes found, kept as cases (none so far).
fn regressions() -> Vec<Vec<(u64, Value)>> {
    vec![
        vec![(0, json!({}))],
        vec![(5, json!(null)), (13, json!([[], {}]))],
    ]
}

#[test]
fn the_unmutated_documents_reach_every_plugin() {
    // Otherwise the fuzzing would stop at validation and prove little.
    let planned = through_the_plan(&registries(), &seed_profile(), None);
    assert_eq!(planned, Ok(()));
}

#[test]
fn the_memory_bound_catches_an_expansion_and_an_alias_bomb_stays_within_it() {
    let mut too_much: Vec<u8> = Vec::new();
    assert!(
        too_much.try_reserve(HEAP_CAP).is_err(),
        "the allocator refuses what passes the cap"
    );
    let mut bomb = String::from("#cloud-config\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for level in 1..9 {
        let previous = format!("*a{}", level - 1);
        let row = [previous.as_str(); 10].join(", ");
        bomb.push_str(&format!("a{level}: &a{level} [{row}]\n"));
    }
    let registries = registries();
    let planned = bounded(|| through_the_plan(&registries, &seed_profile(), Some(bomb)));
    assert!(
        matches!(planned, Ok(Err(_))),
        "a billion laughs is refused within the bound: {planned:?}"
    );
}

#[test]
fn regressions_stay_fixed() {
    let registries = registries();
    for mutations in regressions() {
        let mut document = seed_profile();
        let mut children = seed_children();
        for (seed, with) in mutations {
            mutate(&mut document, seed, with.clone());
            mutate(&mut children, seed, with);
        }
        let _ = through_the_plan(&registries, &document, None);
        through_the_status(&registries, &children);
    }
}

proptest! {
    #![proptest_config(Config { cases: cases(), failure_persistence: None, ..Config::default() })]

    #[test]
    fn hostile_specs_never_panic_validation_or_the_plugins(mutations in mutations()) {
        let registries = registries();
        let mut document = seed_profile();
        for (seed, with) in mutations {
            mutate(&mut document, seed, with);
        }
        let _ = bounded(|| through_the_plan(&registries, &document, None))?;
    }

    #[test]
    fn hostile_user_data_never_panics_the_template(text in prop_oneof![
        "#cloud-config\n[ -~\n]{0,200}",
        nasty_string(),
        value().prop_map(|v| format!("#cloud-config\n{}", serde_yaml::to_string(&v).unwrap_or_default())),
    ]) {
        let registries = registries();
        let _ = bounded(|| through_the_plan(&registries, &seed_profile(), Some(text)))?;
    }

    #[test]
    fn arbitrary_children_never_panic_readiness_or_status(mutations in mutations()) {
        let registries = registries();
        let mut children = seed_children();
        for (seed, with) in mutations {
            mutate(&mut children, seed, with);
        }
        bounded(|| through_the_status(&registries, &children))?;
    }
}
