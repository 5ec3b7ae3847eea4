//! ResourceQuotas: whether what a profile is about to create fits what its namespace has left,
//! decided before anything is written, so a profile over its quota creates nothing.
//!
//! What is counted is what the children will ask of the API server's quota admission, as a
//! lower bound (so the check never refuses what would have fitted): each new claim its size
//! (CDI may add filesystem overhead), the new VM one `count/virtualmachines.kubevirt.io`, and a
//! VM that starts at once its virt-launcher pod: one pod, 100m CPU per vCPU (KubeVirt's
//! default `cpuAllocationRatio` of 10) and the guest memory (KubeVirt adds its overhead).
//! Quotas with scopes are left to the API server, whose own refusal is shown the same way.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceQuota;
use kube::ResourceExt;
use vmop_api::{Resources, RunStrategy, quantity};

use crate::desired::plan::Plan;

/// One resource a profile's new children ask for, summed over them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ask {
    /// How much, in the resource's base unit.
    pub amount: f64,
    /// What asks for it, for the message ("2 new disks", "the VM's pod").
    pub by: String,
}

/// CPU of a virt-launcher pod per vCPU when the VM sets no request: 1 / cpuAllocationRatio.
const CPU_PER_VCPU: f64 = 0.1;

/// What creating the profile's missing children asks of quotas, by quota resource name.
/// `claim_exists` says whether a disk's claim (by name) is already there; `vm_exists`
/// whether the VM is.
pub(crate) fn asks(
    plan: &Plan,
    resources: &Resources,
    run_strategy: RunStrategy,
    vm_exists: bool,
    claim_exists: impl Fn(&str) -> bool,
) -> BTreeMap<String, Ask> {
    let mut asks: BTreeMap<String, Ask> = BTreeMap::new();
    let mut add = |resource: String, amount: f64, by: &str| {
        let ask = asks.entry(resource).or_insert_with(|| Ask {
            amount: 0.0,
            by: String::new(),
        });
        ask.amount += amount;
        ask.by = if ask.by.is_empty() {
            by.to_owned()
        } else {
            format!("{}, {by}", ask.by)
        };
    };
    for disk in &plan.disks {
        if claim_exists(disk.desired.attachment.source.name()) {
            continue;
        }
        let size = quantity::parse(&disk.config.disk.size).unwrap_or(0.0);
        let by = format!("disk {}", disk.config.disk.name);
        add("requests.storage".into(), size, &by);
        add("persistentvolumeclaims".into(), 1.0, &by);
        add("count/persistentvolumeclaims".into(), 1.0, &by);
        if let Some(class) = &disk.config.storage_class {
            let prefix = format!("{}.storageclass.storage.k8s.io", class.name);
            add(format!("{prefix}/requests.storage"), size, &by);
            add(format!("{prefix}/persistentvolumeclaims"), 1.0, &by);
        }
    }
    if !vm_exists {
        add("count/virtualmachines.kubevirt.io".into(), 1.0, "the VM");
        let starts = matches!(
            run_strategy,
            RunStrategy::Always | RunStrategy::RerunOnFailure | RunStrategy::Once
        );
        if starts {
            let by = "the VM's virt-launcher pod";
            let cpu = resources.vcpus as f64 * CPU_PER_VCPU;
            let memory = quantity::parse(&resources.memory).unwrap_or(0.0);
            for (resource, amount) in [
                ("pods", 1.0),
                ("count/pods", 1.0),
                ("requests.cpu", cpu),
                ("cpu", cpu),
                ("requests.memory", memory),
                ("memory", memory),
            ] {
                add(resource.into(), amount, by);
            }
        }
    }
    asks
}

/// Every quota of `namespace` (without scopes) that `asks` would exceed, one message each
/// naming the quota, the resource, what asks and what is left.
pub(crate) fn exceeded<'a>(
    quotas: impl Iterator<Item = &'a ResourceQuota>,
    namespace: &str,
    asks: &BTreeMap<String, Ask>,
) -> Vec<String> {
    let mut refused = Vec::new();
    for quota in quotas.filter(|q| q.namespace().as_deref() == Some(namespace)) {
        let Some(spec) = &quota.spec else { continue };
        let scoped =
            spec.scopes.as_ref().is_some_and(|s| !s.is_empty()) || spec.scope_selector.is_some();
        if scoped {
            continue;
        }
        let used = quota.status.as_ref().and_then(|s| s.used.as_ref());
        for (resource, hard) in spec.hard.iter().flatten() {
            let Some(ask) = asks.get(resource) else {
                continue;
            };
            let Ok(limit) = quantity::parse(&hard.0) else {
                continue;
            };
            let in_use = used
                .and_then(|u| u.get(resource))
                .and_then(|q| quantity::parse(&q.0).ok())
                .unwrap_or(0.0);
            if in_use + ask.amount > limit {
                refused.push(format!(
                    "ResourceQuota {}: {resource}: {} ask for {}, and {} of {} is in use",
                    quota.name_any(),
                    ask.by,
                    shown(resource, ask.amount),
                    shown(resource, in_use),
                    hard.0,
                ));
            }
        }
    }
    refused
}

/// A quantity as a person reads it: bytes in the largest binary unit that divides them, CPU
/// in millicores, counts as numbers.
fn shown(resource: &str, amount: f64) -> String {
    if resource.ends_with("storage") || resource.ends_with("memory") {
        for (unit, size) in [
            ("Ti", 1u64 << 40),
            ("Gi", 1 << 30),
            ("Mi", 1 << 20),
            ("Ki", 1 << 10),
        ] {
            let units = amount / size as f64;
            if units >= 1.0 && units.fract() == 0.0 {
                return format!("{units}{unit}");
            }
        }
        format!("{amount}")
    } else if resource.ends_with("cpu") {
        format!("{}m", (amount * 1000.0).round())
    } else {
        format!("{amount}")
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::{
        api::core::v1::{ResourceQuotaSpec, ResourceQuotaStatus},
        apimachinery::pkg::api::resource::Quantity,
    };

    use super::*;

    fn quota(name: &str, hard: &[(&str, &str)], used: &[(&str, &str)]) -> ResourceQuota {
        let map = |pairs: &[(&str, &str)]| {
            Some(
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), Quantity((*v).to_owned())))
                    .collect(),
            )
        };
        let mut quota = ResourceQuota {
            spec: Some(ResourceQuotaSpec {
                hard: map(hard),
                ..ResourceQuotaSpec::default()
            }),
            status: Some(ResourceQuotaStatus {
                hard: map(hard),
                used: map(used),
            }),
            ..ResourceQuota::default()
        };
        quota.metadata.name = Some(name.into());
        quota.metadata.namespace = Some("team-a".into());
        quota
    }

    fn ask(amount: f64, by: &str) -> Ask {
        Ask {
            amount,
            by: by.into(),
        }
    }

    #[test]
    fn a_quota_is_exceeded_when_use_and_ask_pass_the_limit_and_the_message_names_both() {
        let asks = BTreeMap::from([
            (
                "requests.storage".to_owned(),
                ask(200.0 * (1u64 << 30) as f64, "disk data"),
            ),
            (
                "requests.cpu".to_owned(),
                ask(0.4, "the VM's virt-launcher pod"),
            ),
        ]);
        let tight = quota(
            "storage",
            &[("requests.storage", "100Gi"), ("requests.cpu", "2")],
            &[("requests.storage", "10Gi"), ("requests.cpu", "1")],
        );
        let refused = exceeded([&tight].into_iter(), "team-a", &asks);
        assert_eq!(
            refused,
            vec![
                "ResourceQuota storage: requests.storage: disk data ask for 200Gi, and 10Gi of 100Gi is in use"
            ]
        );
        // Exactly at the limit fits; another namespace's quota does not count.
        let exact = quota(
            "exact",
            &[("requests.cpu", "1400m")],
            &[("requests.cpu", "1")],
        );
        assert!(exceeded([&exact].into_iter(), "team-a", &asks).is_empty());
        let mut other = tight.clone();
        other.metadata.namespace = Some("team-b".into());
        assert!(exceeded([&other].into_iter(), "team-a", &asks).is_empty());
    }

    #[test]
    fn scoped_quotas_and_resources_nothing_asks_for_are_left_alone() {
        let asks = BTreeMap::from([("pods".to_owned(), ask(1.0, "the VM's virt-launcher pod"))]);
        let mut scoped = quota("best-effort", &[("pods", "0")], &[]);
        if let Some(spec) = scoped.spec.as_mut() {
            spec.scopes = Some(vec!["BestEffort".into()]);
        }
        assert!(exceeded([&scoped].into_iter(), "team-a", &asks).is_empty());
        let unrelated = quota("secrets", &[("secrets", "0")], &[]);
        assert!(exceeded([&unrelated].into_iter(), "team-a", &asks).is_empty());
        let pods = quota("pods", &[("pods", "0")], &[]);
        assert_eq!(exceeded([&pods].into_iter(), "team-a", &asks).len(), 1);
    }

    #[test]
    fn quantities_are_shown_in_the_units_people_write() {
        assert_eq!(
            shown("requests.storage", 200.0 * (1u64 << 30) as f64),
            "200Gi"
        );
        assert_eq!(
            shown("requests.memory", 1536.0 * (1u64 << 20) as f64),
            "1536Mi"
        );
        assert_eq!(shown("requests.cpu", 0.4), "400m");
        assert_eq!(shown("count/virtualmachines.kubevirt.io", 1.0), "1");
    }
}
