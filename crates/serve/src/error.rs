use std::path::PathBuf;

use codi_yaml::Problem;

/// Everything that can stop the server from starting or a request from being answered. Errors
/// about a file name it; errors about a request name the field.
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
    /// An environment variable that does not read.
    #[error("{name}={value}: {message}")]
    Environment { name: &'static str, value: String, message: String },
    /// An adapter that does not verify against the base: refused, never served.
    #[error("adapter {path} refused: {source}")]
    Adapter {
        path: PathBuf,
        #[source]
        source: codi_model::Error,
    },
    /// A request the server cannot answer as sent (400), with the field to blame.
    #[error("{field}: {message}")]
    Request { field: String, message: String },
    #[error(transparent)]
    Model(#[from] codi_model::Error),
    #[error(transparent)]
    Assist(#[from] codi_assist::Error),
    #[error(transparent)]
    Core(#[from] codi_core::Error),
    #[error(transparent)]
    Telemetry(#[from] crate::telemetry::TelemetryError),
    #[error(transparent)]
    Client(#[from] crate::client::ClientError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    pub(crate) fn request(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Request { field: field.into(), message: message.into() }
    }
}
