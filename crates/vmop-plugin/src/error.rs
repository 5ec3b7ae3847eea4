use thiserror::Error;

/// Why a plugin refused or failed a spec entry.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PluginError {
    /// The entry asks for something this plugin cannot do; the user must change the field.
    #[error("{path}: {message}")]
    InvalidField {
        /// Path of the field, such as `spec.networks[1].sriov.resourceName`.
        path: String,
        /// What is wrong and, where it helps, what would be right.
        message: String,
    },
    /// The plugin could not build its objects for a reason other than the spec.
    #[error("{0}")]
    Build(String),
}

impl PluginError {
    /// An invalid field at `path`.
    pub fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        PluginError::InvalidField {
            path: path.into(),
            message: message.into(),
        }
    }

    /// A stable, low-cardinality category for Event reasons and metric labels.
    pub fn category(&self) -> &'static str {
        match self {
            PluginError::InvalidField { .. } => "InvalidSpec",
            PluginError::Build(_) => "PluginFailed",
        }
    }
}
