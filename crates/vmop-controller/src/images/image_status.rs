//! An image's status from what CDI reports, as a pure function: the version new disks clone
//! is the claim the image's DataSource points at once CDI calls it Ready; the newest import
//! gives the phase and progress.

use k8s_openapi::{
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
    jiff::Timestamp,
};
use vmop_api::{
    external::{
        cdi::{DataVolume, phase as dv_phase},
        cdi_catalog::{DataImportCron, DataSource},
    },
    image::{VirtualMachineImage, VirtualMachineImageStatus, image_phase},
    reasons::IMPORT_FAILED,
};

/// What the image controller found of an image's CDI objects.
#[derive(Debug, Default, Clone)]
pub(crate) struct ObservedImage {
    /// The DataSource named after the image, if it is the image's.
    pub data_source: Option<DataSource>,
    /// The image's DataImportCron (scheduled images).
    pub cron: Option<DataImportCron>,
    /// The newest import: the cron's current import, or the one import.
    pub import: Option<DataVolume>,
    /// Why nothing can be created (reason, message), when the spec or a Secret is wrong.
    pub problem: Option<(String, String)>,
}

/// Reason of a Ready image.
const READY: &str = "Ready";
/// Reason of an image whose first import is under way.
const IMPORTING: &str = "Importing";
/// Reason of an image with nothing imported or importing yet.
const PENDING: &str = "Pending";

/// The claim a Ready DataSource points at.
fn ready_version(source: &DataSource) -> Option<String> {
    let ready = source
        .status
        .as_ref()?
        .conditions
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    ready
        .then(|| source.spec.source.pvc.as_ref().map(|p| p.name.clone()))
        .flatten()
}

/// The status of `image` given what was observed, at `now`.
pub(crate) fn image_status(
    image: &VirtualMachineImage,
    observed: &ObservedImage,
    now: Timestamp,
) -> VirtualMachineImageStatus {
    let old = image.status.clone().unwrap_or_default();
    let version = observed.data_source.as_ref().and_then(ready_version);
    let import_status = observed.import.as_ref().and_then(|dv| dv.status.as_ref());
    let import_phase = import_status.and_then(|s| s.phase.clone());
    let progress = import_status
        .filter(|s| s.phase.as_deref() != Some(dv_phase::SUCCEEDED))
        .and_then(|s| s.progress.clone())
        .filter(|p| p != "N/A");
    let import_failure = import_status
        .filter(|s| s.phase.as_deref() == Some(dv_phase::FAILED))
        .map(|s| {
            s.conditions
                .iter()
                .find_map(|c| c.message.clone())
                .unwrap_or_else(|| "the import failed".into())
        });
    let (phase, ok, reason, message) = match (&observed.problem, &version, &import_failure) {
        (Some((reason, message)), _, _) => {
            (image_phase::FAILED, false, reason.clone(), message.clone())
        }
        (None, Some(version), _) => (
            image_phase::READY,
            true,
            READY.to_owned(),
            format!("new disks clone version {version}"),
        ),
        (None, None, Some(failure)) => (
            image_phase::FAILED,
            false,
            IMPORT_FAILED.to_owned(),
            failure.clone(),
        ),
        (None, None, None) if observed.import.is_some() => (
            image_phase::IMPORTING,
            false,
            IMPORTING.to_owned(),
            format!(
                "the first version is being imported ({})",
                import_phase.as_deref().unwrap_or("Pending")
            ),
        ),
        (None, None, None) => (
            image_phase::PENDING,
            false,
            PENDING.to_owned(),
            "waiting for CDI to begin the import".to_owned(),
        ),
    };
    // The cron's own time when it has one; otherwise when this controller saw the version
    // change.
    let last_import_time = observed
        .cron
        .as_ref()
        .and_then(|c| c.status.as_ref()?.last_import_timestamp.clone())
        .or_else(|| match (&version, &old.current_version) {
            (Some(new), Some(before)) if new == before => old.last_import_time.clone(),
            (Some(_), _) => Some(now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()),
            (None, _) => old.last_import_time.clone(),
        });
    let status = if ok { "True" } else { "False" };
    let since = old
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == status)
        .map_or_else(|| Time(now), |c| c.last_transition_time.clone());
    VirtualMachineImageStatus {
        phase: Some(phase.to_owned()),
        current_version: version.or(old.current_version.filter(|_| observed.problem.is_some())),
        last_import_time,
        last_import_phase: import_phase,
        progress,
        observed_generation: image.metadata.generation,
        conditions: vec![Condition {
            type_: "Ready".into(),
            status: status.into(),
            reason,
            message,
            observed_generation: image.metadata.generation,
            last_transition_time: since,
        }],
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use vmop_api::fixtures::valid_image;

    use super::*;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(second).expect("valid")
    }

    fn data_source(version: &str, ready: bool) -> DataSource {
        serde_json::from_value(json!({
            "apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataSource",
            "metadata": {"name": "ubuntu", "namespace": "team"},
            "spec": {"source": {"pvc": {"namespace": "team", "name": version}}},
            "status": {"conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}
        }))
        .expect("a DataSource")
    }

    fn import(phase: &str, progress: &str) -> DataVolume {
        serde_json::from_value(json!({
            "apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataVolume",
            "metadata": {"name": "ubuntu-0123456789ab", "namespace": "team"},
            "spec": {},
            "status": {"phase": phase, "progress": progress,
                       "conditions": [{"type": "Running", "status": "False", "message": "Unable to connect to http data source"}]}
        }))
        .expect("a DataVolume")
    }

    #[test]
    fn an_image_is_ready_when_its_data_source_is_and_names_the_version() {
        let image = valid_image("ubuntu");
        let observed = ObservedImage {
            data_source: Some(data_source("ubuntu-0123456789ab", true)),
            import: Some(import("Succeeded", "100.0%")),
            ..ObservedImage::default()
        };
        let status = image_status(&image, &observed, at(100));
        assert_eq!(status.phase.as_deref(), Some(image_phase::READY));
        assert_eq!(
            status.current_version.as_deref(),
            Some("ubuntu-0123456789ab")
        );
        assert_eq!(status.progress, None);
        assert_eq!(
            status.last_import_time.as_deref(),
            Some("1970-01-01T00:01:40Z")
        );
        assert_eq!(status.conditions[0].status, "True");
    }

    #[test]
    fn a_first_import_shows_its_progress_and_a_failed_one_its_message() {
        let image = valid_image("ubuntu");
        let mut observed = ObservedImage {
            data_source: Some(data_source("ubuntu-0123456789ab", false)),
            import: Some(import("ImportInProgress", "45.00%")),
            ..ObservedImage::default()
        };
        let status = image_status(&image, &observed, at(100));
        assert_eq!(status.phase.as_deref(), Some(image_phase::IMPORTING));
        assert_eq!(status.progress.as_deref(), Some("45.00%"));
        assert_eq!(status.current_version, None);
        observed.import = Some(import("Failed", "N/A"));
        let status = image_status(&image, &observed, at(100));
        assert_eq!(status.phase.as_deref(), Some(image_phase::FAILED));
        assert_eq!(status.conditions[0].reason, IMPORT_FAILED);
        assert!(status.conditions[0].message.contains("Unable to connect"));
    }

    #[test]
    fn a_problem_fails_the_image_and_names_the_field() {
        let image = valid_image("ubuntu");
        let observed = ObservedImage {
            problem: Some((
                "InvalidSpec".into(),
                "spec.schedule: 61 * * * * is not a schedule".into(),
            )),
            ..ObservedImage::default()
        };
        let status = image_status(&image, &observed, at(100));
        assert_eq!(status.phase.as_deref(), Some(image_phase::FAILED));
        assert!(status.conditions[0].message.starts_with("spec.schedule: "));
    }
}
