//! Events on profiles, written as `events.k8s.io/v1` Events with no cache.
//!
//! kube-runtime's `Recorder` keeps every Event of the last six minutes to aggregate repeats
//! into series, and sweeps that whole cache on each publish: with thousands of profiles
//! converging at once, that is memory and work per Event that grow with the number of other
//! profiles. The controller sends at most one Event per settled phase, failure or request
//! step, so repeats are rare and need no aggregation.

use k8s_openapi::{
    api::{core::v1::ObjectReference, events::v1::Event as K8sEvent},
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
    jiff::Timestamp,
};
use kube::{
    Api, Client,
    api::PostParams,
    runtime::events::{Event, EventType, Reporter},
};

/// Writes Events as the given reporter.
#[derive(Clone)]
pub struct EventPublisher {
    client: Client,
    reporter: Reporter,
}

impl std::fmt::Debug for EventPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventPublisher")
            .field("reporter", &self.reporter)
            .finish_non_exhaustive()
    }
}

impl EventPublisher {
    /// A publisher writing with `client` as `reporter`.
    pub fn new(client: Client, reporter: Reporter) -> Self {
        EventPublisher { client, reporter }
    }

    /// Writes one Event about `regarding`, in its namespace.
    pub async fn publish(
        &self,
        event: &Event,
        regarding: &ObjectReference,
    ) -> Result<(), kube::Error> {
        let namespace = regarding.namespace.as_deref().unwrap_or("default");
        let events: Api<K8sEvent> = Api::namespaced(self.client.clone(), namespace);
        events
            .create(
                &PostParams::default(),
                &build(&self.reporter, event, regarding, Timestamp::now()),
            )
            .await?;
        Ok(())
    }
}

/// Reason of the Event saying that a child which existed was found missing and created again.
pub(crate) use vmop_api::reasons::RECREATED;

/// Says on the profile that its child `kind` `name`, which existed, was gone (deleted by hand,
/// say) and has been created again. A failure to write the Event is logged, not returned: the
/// child is back either way.
pub(crate) async fn child_recreated(
    ctx: &crate::context::Context,
    profile: &vmop_api::VirtualMachineProfile,
    kind: &str,
    name: &str,
) {
    use kube::Resource;
    tracing::warn!(kind, child = name, "a child was missing: created again");
    let event = Event {
        type_: EventType::Warning,
        reason: RECREATED.into(),
        note: Some(format!(
            "{kind} {name} was missing (deleted by hand?) and has been created again"
        )),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(error) = ctx.recorder.publish(&event, &profile.object_ref(&())).await {
        tracing::warn!(%error, "writing the Event failed");
    }
}

/// The Event object: named `<object>.<nanoseconds>` as kubectl and client-go name theirs.
fn build(
    reporter: &Reporter,
    event: &Event,
    regarding: &ObjectReference,
    now: Timestamp,
) -> K8sEvent {
    let object = regarding.name.as_deref().unwrap_or(&reporter.controller);
    K8sEvent {
        metadata: ObjectMeta {
            name: Some(format!("{object}.{:x}", now.as_nanosecond())),
            namespace: regarding.namespace.clone(),
            ..ObjectMeta::default()
        },
        action: Some(event.action.clone()),
        reason: Some(event.reason.clone()),
        note: event.note.clone(),
        event_time: Some(MicroTime(now)),
        regarding: Some(regarding.clone()),
        related: event.secondary.clone(),
        reporting_controller: Some(reporter.controller.clone()),
        reporting_instance: Some(
            reporter
                .instance
                .clone()
                .unwrap_or_else(|| reporter.controller.clone()),
        ),
        type_: Some(
            match event.type_ {
                EventType::Normal => "Normal",
                EventType::Warning => "Warning",
            }
            .into(),
        ),
        ..K8sEvent::default()
    }
}

/// `text` cut to at most `max` characters (an Event's note has a limit), with an ellipsis.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_names_its_object_reporter_and_type() {
        let reporter = Reporter {
            controller: "vm-operator".into(),
            instance: Some("vm-operator-0".into()),
        };
        let regarding = ObjectReference {
            name: Some("web".into()),
            namespace: Some("team-a".into()),
            kind: Some("VirtualMachineProfile".into()),
            ..ObjectReference::default()
        };
        let event = Event {
            type_: EventType::Warning,
            reason: vmop_api::reasons::CONFLICT.into(),
            note: Some("taken".into()),
            action: "Reconcile".into(),
            secondary: None,
        };
        let now = Timestamp::from_second(1_800_000_000).expect("a time");
        let built = build(&reporter, &event, &regarding, now);
        assert_eq!(
            built.metadata.name.as_deref(),
            Some(format!("web.{:x}", now.as_nanosecond()).as_str())
        );
        assert_eq!(built.metadata.namespace.as_deref(), Some("team-a"));
        assert_eq!(built.type_.as_deref(), Some("Warning"));
        assert_eq!(built.reason.as_deref(), Some("Conflict"));
        assert_eq!(built.reporting_controller.as_deref(), Some("vm-operator"));
        assert_eq!(built.reporting_instance.as_deref(), Some("vm-operator-0"));
        assert_eq!(built.regarding, Some(regarding));
    }
}
