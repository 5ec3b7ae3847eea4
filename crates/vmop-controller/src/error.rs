use thiserror::Error;
use vmop_plugin::{PluginError, PluginKind};

/// Why a reconcile failed. Invalid specs are not errors: they become conditions.
#[derive(Debug, Error)]
pub enum Error {
    /// A request to the API server failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// A plugin refused or failed.
    #[error("{0}")]
    Plugin(#[from] PluginError),
    /// A spec names a plugin no registry has.
    #[error("no {kind} is registered as {name:?}")]
    MissingPlugin {
        /// Which registry.
        kind: PluginKind,
        /// The name asked for.
        name: String,
    },
    /// An object could not be turned into JSON.
    #[error("serializing {what}: {source}")]
    Serialize {
        /// What was being serialized.
        what: &'static str,
        /// Why it failed.
        source: serde_json::Error,
    },
    /// Adding or removing the finalizer failed, or the cleanup under it did.
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    /// The cleanup of a deleted profile waits for something (said in the message).
    #[error("{0}")]
    Cleanup(String),
    /// The API server refused to write a child.
    #[error("{kind} {name}: {source}")]
    Apply {
        /// Kind of the child.
        kind: &'static str,
        /// Its name.
        name: String,
        /// What the API server said.
        #[source]
        source: kube::Error,
    },
    /// A child's name is taken by an object the profile does not own; nothing was written.
    #[error("{kind} {name} exists and is not this profile's ({why}); nothing was written to it")]
    NotOurs {
        /// Kind of the object.
        kind: &'static str,
        /// Its name.
        name: String,
        /// Whose it is, as far as its metadata says.
        why: String,
    },
}

impl Error {
    /// A write the API server refused for good (invalid, forbidden): retrying the same
    /// request cannot succeed, so the profile says why in status.
    pub fn is_permanent_refusal(&self) -> bool {
        matches!(self, Error::Apply { source: kube::Error::Api(status), .. }
            if matches!(status.code, 400 | 403 | 422))
    }

    /// Whether the API server's ResourceQuota admission refused the write (403, "exceeded
    /// quota: NAME, requested: ..., used: ..., limited: ...").
    pub fn is_quota_refusal(&self) -> bool {
        matches!(self, Error::Apply { source: kube::Error::Api(status), .. }
            if status.code == 403 && status.message.contains("exceeded quota"))
    }

    /// The API server's own words for a refused write, naming the object.
    pub fn refusal_message(&self) -> String {
        match self {
            Error::Apply {
                kind,
                name,
                source: kube::Error::Api(status),
            } => format!(
                "{kind} {name}: the API server refused it: {}",
                status.message
            ),
            other => other.to_string(),
        }
    }

    /// A fixed, low-cardinality name for Event reasons and metric labels (never error text).
    pub fn category(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(status)) if status.code == 409 => "Conflict",
            Error::Kube(kube::Error::Api(status)) if let Some(c) = unavailable(status.code) => c,
            Error::Kube(_) => "KubeApi",
            Error::Plugin(e) => e.category(),
            Error::MissingPlugin { .. } => "MissingPlugin",
            Error::Serialize { .. } => "Serialize",
            Error::Finalizer(inner) => match inner.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(e)
                | kube::runtime::finalizer::Error::CleanupFailed(e) => e.category(),
                kube::runtime::finalizer::Error::AddFinalizer(kube::Error::Api(status))
                | kube::runtime::finalizer::Error::RemoveFinalizer(kube::Error::Api(status))
                    if let Some(c) = unavailable(status.code) =>
                {
                    c
                }
                _ => "Finalizer",
            },
            Error::Cleanup(_) => "Cleanup",
            Error::NotOurs { .. } => "Conflict",
            Error::Apply { source, .. } => match source {
                kube::Error::Api(status) if status.code == 409 => "Conflict",
                kube::Error::Api(status) if status.code == 422 || status.code == 400 => {
                    "ApplyRejected"
                }
                kube::Error::Api(status)
                    if status.code == 403 && status.message.contains("exceeded quota") =>
                {
                    "QuotaExceeded"
                }
                kube::Error::Api(status) if status.code == 403 => "Forbidden",
                kube::Error::Api(status) if let Some(c) = unavailable(status.code) => c,
                _ => "KubeApi",
            },
        }
    }
}

/// The category of an answer that says "not now": 429 (API Priority and Fairness, or a
/// client rate limit) or a server error. Both are retried with backoff.
fn unavailable(code: u16) -> Option<&'static str> {
    match code {
        429 => Some("Throttled"),
        500..=599 => Some("ServerError"),
        _ => None,
    }
}

/// A result whose error is [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(code: u16) -> kube::Error {
        kube::Error::Api(
            kube::core::Status::failure("answer", "Reason")
                .with_code(code)
                .boxed(),
        )
    }

    #[test]
    fn not_now_answers_have_categories_of_their_own() {
        for (code, category) in [
            (429, "Throttled"),
            (500, "ServerError"),
            (503, "ServerError"),
            (409, "Conflict"),
            (404, "KubeApi"),
        ] {
            assert_eq!(Error::Kube(answer(code)).category(), category, "{code}");
            let refused = Error::Apply {
                kind: "NetworkAttachmentDefinition",
                name: "web--lan".into(),
                source: answer(code),
            };
            assert_eq!(refused.category(), category, "apply answered {code}");
            let finalizer = Error::Finalizer(Box::new(
                kube::runtime::finalizer::Error::AddFinalizer(answer(code)),
            ));
            if code != 409 && code != 404 {
                assert_eq!(finalizer.category(), category, "finalizer answered {code}");
            }
        }
    }

    #[test]
    fn a_quota_refusal_is_told_apart_from_other_forbidden_answers() {
        let refused = |message: &str| Error::Apply {
            kind: "PersistentVolumeClaim",
            name: "web--data".into(),
            source: kube::Error::Api(
                kube::core::Status::failure(message, "Forbidden")
                    .with_code(403)
                    .boxed(),
            ),
        };
        let quota = refused(
            "persistentvolumeclaims \"web--data\" is forbidden: exceeded quota: team-quota, requested: requests.storage=20Gi, used: requests.storage=0, limited: requests.storage=5Gi",
        );
        assert!(quota.is_quota_refusal());
        assert_eq!(quota.category(), "QuotaExceeded");
        assert!(
            quota
                .refusal_message()
                .contains("exceeded quota: team-quota")
        );
        let rbac = refused("persistentvolumeclaims is forbidden: User cannot create");
        assert!(!rbac.is_quota_refusal());
        assert_eq!(rbac.category(), "Forbidden");
    }
}
