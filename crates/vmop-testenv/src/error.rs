use std::path::{Path, PathBuf};

use thiserror::Error;

/// Why the test environment could not be provided.
#[derive(Debug, Error)]
pub enum TestEnvError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{command}` failed: {detail}")]
    Tool { command: String, detail: String },
    #[error("the control plane did not start: {detail} (log: {})", log.display())]
    Start { detail: String, log: PathBuf },
    #[error("kubeconfig: {detail}")]
    Client { detail: String },
    #[error("bootstrap: {detail}")]
    Bootstrap { detail: String },
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error("timed out after {seconds}s waiting for {what}")]
    Timeout { what: String, seconds: u64 },
}

impl TestEnvError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        TestEnvError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
