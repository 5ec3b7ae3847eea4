use thiserror::Error;
use vmop_plugin::{PluginError, PluginKind};

/// Why a reconcile failed. Invalid specs are not errors: they become conditions.
#[derive(Debug, Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("{0}")]
    Plugin(#[from] PluginError),
    #[error("no {kind} is registered as {name:?}")]
    MissingPlugin { kind: PluginKind, name: String },
    #[error("serializing {what}: {source}")]
    Serialize {
        what: &'static str,
        source: serde_json::Error,
    },
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    #[error("{0}")]
    Cleanup(String),
    /// A child's name is taken by an object the profile does not own; nothing was written.
    #[error("{kind} {name} exists and is not this profile's ({why}); nothing was written to it")]
    NotOurs {
        kind: &'static str,
        name: String,
        why: String,
    },
}

impl Error {
    /// A fixed, low-cardinality name for Event reasons and metric labels (never error text).
    pub fn category(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(status)) if status.code == 409 => "Conflict",
            Error::Kube(_) => "KubeApi",
            Error::Plugin(e) => e.category(),
            Error::MissingPlugin { .. } => "MissingPlugin",
            Error::Serialize { .. } => "Serialize",
            Error::Finalizer(inner) => match inner.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(e)
                | kube::runtime::finalizer::Error::CleanupFailed(e) => e.category(),
                _ => "Finalizer",
            },
            Error::Cleanup(_) => "Cleanup",
            Error::NotOurs { .. } => "Conflict",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
