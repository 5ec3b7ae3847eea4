//! The VM's size: from `cpu`, `cpuTopology` and `memory`, or from a KubeVirt instancetype
//! read from the watch caches. A referenced instancetype or preference that does not exist
//! stops the profile before anything is created, naming it.

use vmop_api::{
    InstancetypeKind, PreferenceKind, Resources, VirtualMachineProfileSpec,
    external::instancetype::InstancetypeSpec,
};

/// Reason of a profile whose instancetype does not exist.
pub(crate) use vmop_api::reasons::INSTANCETYPE_NOT_FOUND;
/// Reason of a profile whose preference does not exist.
pub(crate) use vmop_api::reasons::PREFERENCE_NOT_FOUND;

/// Why a profile cannot be sized yet: a condition reason and its messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved {
    /// The condition's reason.
    pub reason: &'static str,
    /// What is missing, one message each.
    pub messages: Vec<String>,
}

fn describe_instancetype(kind: InstancetypeKind, name: &str) -> String {
    match kind {
        InstancetypeKind::VirtualMachineClusterInstancetype => {
            format!("VirtualMachineClusterInstancetype {name}")
        }
        InstancetypeKind::VirtualMachineInstancetype => {
            format!("VirtualMachineInstancetype {name} (in the profile's namespace)")
        }
    }
}

fn describe_preference(kind: PreferenceKind, name: &str) -> String {
    match kind {
        PreferenceKind::VirtualMachineClusterPreference => {
            format!("VirtualMachineClusterPreference {name}")
        }
        PreferenceKind::VirtualMachinePreference => {
            format!("VirtualMachinePreference {name} (in the profile's namespace)")
        }
    }
}

/// Resolves the size of a valid spec. `instancetype` looks one up by kind and name,
/// `preference_exists` says whether a preference exists.
pub fn resolve(
    spec: &VirtualMachineProfileSpec,
    instancetype: impl Fn(InstancetypeKind, &str) -> Option<InstancetypeSpec>,
    preference_exists: impl Fn(PreferenceKind, &str) -> bool,
) -> Result<Resources, Unresolved> {
    if let Some(preference) = &spec.preference {
        let kind = preference.kind.unwrap_or_default();
        if !preference_exists(kind, &preference.name) {
            return Err(Unresolved {
                reason: PREFERENCE_NOT_FOUND,
                messages: vec![format!(
                    "spec.preference: {} does not exist",
                    describe_preference(kind, &preference.name)
                )],
            });
        }
    }
    match &spec.instancetype {
        Some(reference) => {
            let kind = reference.kind.unwrap_or_default();
            let found = instancetype(kind, &reference.name).ok_or_else(|| Unresolved {
                reason: INSTANCETYPE_NOT_FOUND,
                messages: vec![format!(
                    "spec.instancetype: {} does not exist",
                    describe_instancetype(kind, &reference.name)
                )],
            })?;
            Ok(Resources {
                vcpus: i64::from(found.cpu.guest),
                memory: found.memory.guest,
                instancetype: Some(format!("{kind:?}/{}", reference.name)),
            })
        }
        None => {
            let topology = spec.cpu_topology.clone().unwrap_or_default();
            let vcpus = i64::from(spec.cpu.unwrap_or(1))
                * i64::from(topology.sockets.unwrap_or(1))
                * i64::from(topology.threads.unwrap_or(1));
            Ok(Resources {
                vcpus,
                memory: spec.memory.clone().unwrap_or_default(),
                instancetype: None,
            })
        }
    }
}

/// [`resolve`] with the instancetypes and preferences of the watch caches.
pub(crate) fn from_caches(
    stores: &crate::context::Stores,
    profile: &vmop_api::VirtualMachineProfile,
) -> Result<Resources, Unresolved> {
    use kube::{ResourceExt, runtime::reflector::ObjectRef};
    let namespace = profile.namespace().unwrap_or_default();
    resolve(
        &profile.spec,
        |kind, name| match kind {
            InstancetypeKind::VirtualMachineClusterInstancetype => stores
                .cluster_instancetypes
                .get(&ObjectRef::new(name))
                .map(|i| i.spec.spec.clone()),
            InstancetypeKind::VirtualMachineInstancetype => stores
                .instancetypes
                .get(&ObjectRef::new(name).within(&namespace))
                .map(|i| i.spec.spec.clone()),
        },
        |kind, name| match kind {
            PreferenceKind::VirtualMachineClusterPreference => stores
                .cluster_preferences
                .get(&ObjectRef::new(name))
                .is_some(),
            PreferenceKind::VirtualMachinePreference => stores
                .preferences
                .get(&ObjectRef::new(name).within(&namespace))
                .is_some(),
        },
    )
}

#[cfg(test)]
mod tests {
    use vmop_api::{
        CpuTopology, PreferenceRef,
        external::instancetype::{GuestCpu, GuestMemory},
        fixtures::{instancetype, valid_profile},
    };

    use super::*;

    fn catalogue(kind: InstancetypeKind, name: &str) -> Option<InstancetypeSpec> {
        (kind == InstancetypeKind::VirtualMachineClusterInstancetype && name == "u1.medium").then(
            || InstancetypeSpec {
                cpu: GuestCpu {
                    guest: 1,
                    ..GuestCpu::default()
                },
                memory: GuestMemory {
                    guest: "4Gi".into(),
                    ..GuestMemory::default()
                },
                ..InstancetypeSpec::default()
            },
        )
    }

    fn sized_by(name: &str) -> VirtualMachineProfileSpec {
        let mut spec = valid_profile("vm").spec;
        spec.cpu = None;
        spec.memory = None;
        spec.instancetype = Some(instancetype(name));
        spec
    }

    #[test]
    fn cpu_topology_and_memory_give_the_vcpus_and_memory() {
        let mut spec = valid_profile("vm").spec;
        spec.cpu_topology = Some(CpuTopology {
            sockets: Some(2),
            threads: Some(2),
        });
        let resources = resolve(&spec, catalogue, |_, _| true).expect("sized");
        assert_eq!(resources.vcpus, 16);
        assert_eq!(resources.memory, "8Gi");
        assert_eq!(resources.instancetype, None);
    }

    #[test]
    fn an_instancetype_gives_its_guest_cpus_and_memory() {
        let resources = resolve(&sized_by("u1.medium"), catalogue, |_, _| true).expect("sized");
        assert_eq!(
            resources,
            Resources {
                vcpus: 1,
                memory: "4Gi".into(),
                instancetype: Some("VirtualMachineClusterInstancetype/u1.medium".into()),
            }
        );
    }

    #[test]
    fn a_missing_instancetype_or_preference_is_named() {
        let missing = resolve(&sized_by("u1.huge"), catalogue, |_, _| true).expect_err("missing");
        assert_eq!(missing.reason, INSTANCETYPE_NOT_FOUND);
        assert_eq!(
            missing.messages,
            vec!["spec.instancetype: VirtualMachineClusterInstancetype u1.huge does not exist"]
        );
        let mut spec = sized_by("u1.medium");
        spec.preference = Some(PreferenceRef {
            name: "fedora".into(),
            kind: Some(PreferenceKind::VirtualMachinePreference),
        });
        let missing = resolve(&spec, catalogue, |_, _| false).expect_err("missing");
        assert_eq!(missing.reason, PREFERENCE_NOT_FOUND);
        assert!(missing.messages[0].contains("VirtualMachinePreference fedora"));
    }
}
