//! A profile's name, size (cpu, memory, topology, instancetype), live update and isolation
//! rules.

use crate::{
    messages as msg,
    profile::VirtualMachineProfileSpec,
    quantity,
    validate::{
        Errors,
        formats::{
            MI, is_cidr, is_dns_label, is_dns_subdomain, is_plugin_name, is_whole_bytes_at_least,
        },
    },
};

/// The profile's name, and how its size is given.
pub(super) fn check_name_and_size(e: &mut Errors, name: &str, spec: &VirtualMachineProfileSpec) {
    e.check(
        name.len() <= msg::MAX_PROFILE_NAME,
        || "metadata.name".into(),
        msg::PROFILE_NAME_TOO_LONG,
    );
    e.check(
        is_dns_label(name, usize::MAX),
        || "metadata.name".into(),
        msg::PROFILE_NAME_LABEL,
    );
    if let Some(cpu) = spec.cpu {
        e.check(
            (1..=msg::MAX_CORES).contains(&cpu),
            || "spec.cpu".into(),
            msg::CPU_RANGE,
        );
    }
    e.check(
        spec.instancetype.is_none()
            || (spec.cpu.is_none() && spec.memory.is_none() && spec.cpu_topology.is_none()),
        || "spec.instancetype".into(),
        msg::INSTANCETYPE_EXCLUSIVE,
    );
    e.check(
        spec.instancetype.is_some() || (spec.cpu.is_some() && spec.memory.is_some()),
        || "spec".into(),
        msg::SIZE_REQUIRED,
    );
    if let Some(instancetype) = &spec.instancetype {
        e.check(
            is_dns_subdomain(&instancetype.name),
            || "spec.instancetype.name".into(),
            msg::KUBEVIRT_OBJECT_NAME,
        );
    }
    if let Some(preference) = &spec.preference {
        e.check(
            is_dns_subdomain(&preference.name),
            || "spec.preference.name".into(),
            msg::KUBEVIRT_OBJECT_NAME,
        );
    }
    if let Some(topology) = &spec.cpu_topology {
        if let Some(sockets) = topology.sockets {
            e.check(
                (1..=msg::MAX_SOCKETS).contains(&sockets),
                || "spec.cpuTopology.sockets".into(),
                msg::SOCKETS_RANGE,
            );
        }
        if let Some(threads) = topology.threads {
            e.check(
                (1..=msg::MAX_THREADS).contains(&threads),
                || "spec.cpuTopology.threads".into(),
                msg::THREADS_RANGE,
            );
        }
    }
}

/// CPU and memory hotplug: room to grow, never below what the VM has.
pub(super) fn check_live_update(e: &mut Errors, spec: &VirtualMachineProfileSpec) {
    if let Some(live) = &spec.live_update {
        e.check(
            spec.instancetype.is_none(),
            || "spec.liveUpdate".into(),
            msg::LIVE_UPDATE_NEEDS_SIZE,
        );
        e.check(
            (1..=64).contains(&live.max_sockets),
            || "spec.liveUpdate.maxSockets".into(),
            msg::LIVE_UPDATE_SOCKETS_RANGE,
        );
        let sockets = spec
            .cpu_topology
            .as_ref()
            .and_then(|t| t.sockets)
            .unwrap_or(1);
        e.check(
            sockets <= live.max_sockets,
            || "spec.liveUpdate.maxSockets".into(),
            msg::LIVE_UPDATE_SOCKETS_BELOW,
        );
        e.check(
            is_whole_bytes_at_least(&live.max_memory, 64.0 * MI),
            || "spec.liveUpdate.maxMemory".into(),
            msg::MEMORY_QUANTITY,
        );
        let below = spec
            .memory
            .as_deref()
            .and_then(|m| quantity::parse(m).ok())
            .zip(quantity::parse(&live.max_memory).ok())
            .is_some_and(|(memory, max)| max < memory);
        e.check(
            !below,
            || "spec.liveUpdate.maxMemory".into(),
            msg::LIVE_UPDATE_MEMORY_BELOW,
        );
    }
}

/// The isolation's ports and CIDRs, in and out.
pub(super) fn check_isolation(e: &mut Errors, spec: &VirtualMachineProfileSpec) {
    if let Some(isolation) = &spec.isolation {
        for (i, port) in isolation.ports.iter().enumerate() {
            e.check(
                (1..=65535).contains(&port.port),
                || format!("spec.isolation.ports[{i}].port"),
                msg::ISOLATION_PORT,
            );
        }
        e.check(
            isolation.cidrs.iter().all(|x| is_cidr(x)),
            || "spec.isolation.cidrs".into(),
            msg::ISOLATION_CIDR,
        );
        for (i, rule) in isolation
            .egress
            .iter()
            .flat_map(|e| e.to.iter())
            .enumerate()
        {
            e.check(
                is_cidr(&rule.cidr),
                || format!("spec.isolation.egress.to[{i}].cidr"),
                msg::EGRESS_CIDR,
            );
            for (j, port) in rule.ports.iter().enumerate() {
                e.check(
                    (1..=65535).contains(&port.port),
                    || format!("spec.isolation.egress.to[{i}].ports[{j}].port"),
                    msg::ISOLATION_PORT,
                );
            }
        }
    }
}

/// Memory, the vCPU total, and the template's name.
pub(super) fn check_memory_and_vcpus(e: &mut Errors, spec: &VirtualMachineProfileSpec) {
    if let Some(memory) = &spec.memory {
        e.check(
            is_whole_bytes_at_least(memory, 64.0 * MI),
            || "spec.memory".into(),
            msg::MEMORY_QUANTITY,
        );
    }
    // Only when cpu is in range itself, as the CRD rule: one mistake, one error.
    let sockets = spec
        .cpu_topology
        .as_ref()
        .and_then(|t| t.sockets)
        .unwrap_or(1);
    let threads = spec
        .cpu_topology
        .as_ref()
        .and_then(|t| t.threads)
        .unwrap_or(1);
    let cpu = spec.cpu.unwrap_or(1);
    e.check(
        cpu > msg::MAX_CORES
            || i64::from(cpu) * i64::from(sockets) * i64::from(threads)
                <= i64::from(msg::MAX_VCPUS),
        || "spec.cpuTopology".into(),
        msg::VCPUS_RANGE,
    );
    if let Some(template) = &spec.template {
        e.check(
            is_plugin_name(template),
            || "spec.template".into(),
            msg::PLUGIN_NAME,
        );
    }
}
