//! What a failed reconcile leads to: a Warning Event with the error and a retry with
//! backoff. Invalid specs and refusals never get here (they are conditions).

use std::{sync::Arc, time::Duration};

use crate::{
    cache::profiles::{ProfileMeta, profile_ref},
    context::Context,
    error::Error,
    report::events::truncate,
};
use kube::{
    Resource, ResourceExt,
    runtime::{
        controller::Action,
        events::{Event, EventType},
        finalizer,
    },
};
use tracing::warn;

/// Backs off per failure: transient errors retry soon, then less often (see
/// [`crate::backoff::reconcile`]).
pub fn error_policy(profile: &ProfileMeta, error: &Error, ctx: Arc<Context>) -> Action {
    let category = error.category();
    ctx.metrics.failed(category);
    let attempts = ctx.failures.note(&profile_ref(profile));
    let waiting = matches!(error, Error::Finalizer(inner) if matches!(inner.as_ref(), finalizer::Error::CleanupFailed(Error::Cleanup(_))));
    if waiting {
        // Said in status and an Event already; look again with backoff, not every second.
        return Action::requeue(crate::backoff::reconcile(attempts).min(Duration::from_secs(30)));
    }
    warn!(profile = %profile.name_any(), %error, category, "reconcile failed");
    let recorder = ctx.recorder.clone();
    let reference = profile.object_ref(&());
    let note = truncate(&error.to_string(), 1000);
    tokio::spawn(async move {
        let event = Event {
            type_: EventType::Warning,
            reason: category.into(),
            note: Some(note),
            action: "Reconcile".into(),
            secondary: None,
        };
        let _ = recorder.publish(&event, &reference).await;
    });
    Action::requeue(crate::backoff::reconcile(attempts))
}
