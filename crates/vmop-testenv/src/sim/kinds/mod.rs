//! The simulators' own view of the kinds they drive, written from the upstream Go types
//! (KubeVirt v1.9.0 `staging/src/kubevirt.io/api/core/v1/types.go`, CDI v1.66.0
//! `containerized-data-importer-api/pkg/apis/core/v1beta1/types.go`, kubernetes-nmstate
//! v0.85 `api/shared/`), never from vm-operator's crates: only the fields the simulated
//! controllers read, and everything else kept as it came (`rest`) so that a template copied
//! into an instance loses nothing.

pub mod cdi;
pub mod kubevirt;
pub mod nmstate;
pub mod snapshot;

use serde::{Deserialize, Serialize};

/// Fields a simulator does not read, kept as they came.
pub type Rest = serde_json::Map<String, serde_json::Value>;

/// A condition as every upstream kind spells it (`type`, `status`, `reason`, `message`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(flatten)]
    pub rest: Rest,
}

/// Quantity in bytes (`Ki`, `Mi`, `Gi`, `Ti`, `k`, `M`, `G`, `T` or none), as the resource
/// package parses memory; `None` for anything else.
pub fn bytes(quantity: &str) -> Option<f64> {
    const SUFFIXES: [(&str, f64); 8] = [
        ("Ki", 1024.0),
        ("Mi", 1_048_576.0),
        ("Gi", 1_073_741_824.0),
        ("Ti", 1_099_511_627_776.0),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
    ];
    let (number, factor) = SUFFIXES
        .iter()
        .find_map(|(suffix, factor)| Some((quantity.strip_suffix(suffix)?, *factor)))
        .unwrap_or((quantity, 1.0));
    number.parse::<f64>().ok().map(|n| n * factor)
}

#[cfg(test)]
mod tests {
    use super::bytes;

    #[test]
    fn memory_quantities_in_bytes() {
        assert_eq!(bytes("2Gi"), Some(2_147_483_648.0));
        assert_eq!(bytes("512Mi"), Some(536_870_912.0));
        assert_eq!(bytes("1G"), Some(1e9));
        assert_eq!(bytes("1024"), Some(1024.0));
        assert_eq!(bytes("two"), None);
    }
}
