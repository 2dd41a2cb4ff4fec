use std::path::PathBuf;

use codi_yaml::Problem;

/// Everything that can stop a training run or an adapter operation. Errors about a file name it,
/// and the line, row or tensor where that makes sense.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Every problem found in a configuration file and the command-line overrides.
    #[error("{}", codi_yaml::describe(path, problems))]
    Config { path: PathBuf, problems: Vec<Problem> },
    /// A split that cannot be trained on (missing columns, no usable rows …).
    #[error("{path}: {message}")]
    Data { path: PathBuf, message: String },
    /// A checkpoint that is incomplete, corrupt, or from a different run.
    #[error("{path}: {message}")]
    Checkpoint { path: PathBuf, message: String },
    #[error("{path}: invalid JSON: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    Model(#[from] codi_model::Error),
    #[error(transparent)]
    Table(#[from] codi_dataset::Error),
    #[error(transparent)]
    Catalog(#[from] codi_core::Error),
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    pub(crate) fn checkpoint(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::Checkpoint { path: path.into(), message: message.into() }
    }
}
