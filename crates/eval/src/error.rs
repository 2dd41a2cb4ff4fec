use std::path::PathBuf;

use codi_yaml::Problem;

/// Everything that can stop an evaluation, a promotion or a lineage check. Errors about a file
/// name it, and the line or row where that makes sense.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", codi_yaml::describe(path, problems))]
    Config { path: PathBuf, problems: Vec<Problem> },
    /// A split that cannot be evaluated (missing, empty, or a row that does not read).
    #[error("{path}: {message}")]
    Data { path: PathBuf, message: String },
    #[error("{path}: invalid JSON: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// An adapter that does not verify against the base: refused, never evaluated.
    #[error("adapter {path} refused: {source}")]
    Adapter {
        path: PathBuf,
        #[source]
        source: codi_model::Error,
    },
    /// A run id, promotion id or adapter that the store does not hold.
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Model(#[from] codi_model::Error),
    #[error(transparent)]
    Assist(#[from] codi_assist::Error),
    #[error(transparent)]
    Core(#[from] codi_core::Error),
    #[error(transparent)]
    Table(#[from] codi_dataset::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    pub(crate) fn data(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::Data { path: path.into(), message: message.into() }
    }
}
