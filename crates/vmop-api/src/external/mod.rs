//! Typed subsets of the upstream kinds vm-operator writes or reads.
//!
//! Two rules make these safe for server-side apply and for reading objects written by newer
//! upstream versions:
//! - only fields that are set serialize (`Option`s and empty lists are skipped), so an apply
//!   never claims or wipes a field the operator does not own;
//! - every struct keeps the fields it does not model in `extra` (`#[serde(flatten)]`), so an
//!   observed object read and written back loses nothing.
//!
//! Field names and values follow the upstream APIs exactly; see the constants next to each
//! kind.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub mod cdi;
pub mod cdi_catalog;
pub mod instancetype;
pub mod kubevirt;
pub mod multinetworkpolicy;
pub mod multus;
pub mod nmstate;

/// Fields of an upstream object that this crate does not model, kept as read.
pub type Extra = BTreeMap<String, Value>;

/// An empty JSON object, for upstream "presence" fields such as `bridge: {}` or `blank: {}`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Empty {
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A condition as KubeVirt, CDI and NMState report it (not the `metav1.Condition` shape: the
/// timestamps differ between projects and are kept in `extra`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UpstreamCondition {
    /// `type` of the upstream `UpstreamCondition`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `status` of the upstream `UpstreamCondition`.
    pub status: String,
    /// `reason` of the upstream `UpstreamCondition`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `message` of the upstream `UpstreamCondition`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Fields not modelled here, kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

impl UpstreamCondition {
    /// Whether this condition's status is `"True"`.
    pub fn is_true(&self) -> bool {
        self.status == "True"
    }
}

/// Finds a condition by type.
pub fn find_condition<'a>(
    conditions: &'a [UpstreamCondition],
    type_: &str,
) -> Option<&'a UpstreamCondition> {
    conditions.iter().find(|c| c.type_ == type_)
}
