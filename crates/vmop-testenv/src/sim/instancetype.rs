//! KubeVirt's instancetype expansion (pkg/instancetype): before a VM's instance is created,
//! the instancetype and preference it names must exist (else the sync fails with
//! FailedFindInstancetype or FailedFindPreference); the instancetype's guest CPUs become
//! sockets (the default PreferSockets topology, apply/cpu.go) and its guest memory the
//! instance's memory. Objects are read through the API server, by the kind the VM names
//! (the cluster-wide kind when none).

use kube::{
    Api, Client,
    api::DynamicObject,
    core::{ApiResource, GroupVersionKind},
};

use super::{
    SimError,
    kinds::kubevirt::{Cpu, Memory, VirtualMachine, VirtualMachineInstanceSpec},
    upstream::instancetype as it,
};

/// Why the instance cannot be built: (reason, message).
pub type Missing = (&'static str, String);

fn api(client: &Client, kind: &str, cluster_kind: &str, namespace: &str) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "instancetype.kubevirt.io",
        "v1beta1",
        kind,
    ));
    if kind == cluster_kind {
        Api::all_with(client.clone(), &resource)
    } else {
        Api::namespaced_with(client.clone(), namespace, &resource)
    }
}

/// The instance spec of `vm` with its instancetype applied, or why it cannot be.
pub async fn expand(
    client: &Client,
    vm: &VirtualMachine,
    namespace: &str,
    mut spec: VirtualMachineInstanceSpec,
) -> Result<Result<VirtualMachineInstanceSpec, Missing>, SimError> {
    if let Some(preference) = &vm.spec.preference {
        let kind = preference.kind.as_deref().unwrap_or(it::CLUSTER_PREFERENCE);
        let found = api(client, kind, it::CLUSTER_PREFERENCE, namespace)
            .get_opt(&preference.name)
            .await?;
        if found.is_none() {
            return Ok(Err((
                it::FAILED_FIND_PREFERENCE,
                format!(
                    "{kind}.instancetype.kubevirt.io \"{}\" not found",
                    preference.name
                ),
            )));
        }
    }
    let Some(matcher) = &vm.spec.instancetype else {
        return Ok(Ok(spec));
    };
    let kind = matcher.kind.as_deref().unwrap_or(it::CLUSTER_INSTANCETYPE);
    let Some(found) = api(client, kind, it::CLUSTER_INSTANCETYPE, namespace)
        .get_opt(&matcher.name)
        .await?
    else {
        return Ok(Err((
            it::FAILED_FIND_INSTANCETYPE,
            format!(
                "{kind}.instancetype.kubevirt.io \"{}\" not found",
                matcher.name
            ),
        )));
    };
    let guest_cpus = found.data["spec"]["cpu"]["guest"]
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| {
            SimError::Invalid(format!(
                "instancetype {} without spec.cpu.guest",
                matcher.name
            ))
        })?;
    let guest_memory = found.data["spec"]["memory"]["guest"]
        .as_str()
        .ok_or_else(|| {
            SimError::Invalid(format!(
                "instancetype {} without spec.memory.guest",
                matcher.name
            ))
        })?
        .to_owned();
    spec.domain.cpu = Some(Cpu {
        sockets: Some(guest_cpus),
        cores: Some(1),
        threads: Some(1),
        ..Cpu::default()
    });
    spec.domain.memory = Some(Memory {
        guest: Some(guest_memory),
        ..Memory::default()
    });
    Ok(Ok(spec))
}
