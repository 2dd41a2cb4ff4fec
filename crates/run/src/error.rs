//! The error type of codi-run. A project that cannot be ranked or explained is not one: it is
//! recorded in the run (and its report) and the run goes on.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    Core(#[from] codi_core::Error),
    #[error(transparent)]
    Dataset(#[from] codi_dataset::Error),
    #[error(transparent)]
    Serve(#[from] codi_serve::Error),
    #[error(transparent)]
    Client(#[from] codi_serve::client::ClientError),
    #[error(transparent)]
    Telemetry(#[from] codi_serve::telemetry::TelemetryError),
    /// `codi run` without a project.
    #[error("no project to run on: give one or more project directories or Dockerfiles")]
    NoProjects,
    /// A run id or directory that is not a run.
    #[error("no run `{run}` in {} (runs: {known})", runs.display())]
    NoRun { run: String, runs: PathBuf, known: String },
    /// `--apply` found the Dockerfile changed since the run read it.
    #[error("{}: changed since it was ranked; not applying (the patch is in the run)", path.display())]
    Changed { path: PathBuf },
    /// A feedback decision about a candidate the run does not have (or names ambiguously).
    #[error("run {run} ({}): {message}; its candidates: {known}", dir.display())]
    Candidate { run: String, dir: PathBuf, message: String, known: String },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    pub(crate) fn json(path: impl Into<PathBuf>, source: serde_json::Error) -> Self {
        Self::Json { path: path.into(), source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
