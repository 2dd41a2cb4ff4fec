//! codi-collect: Dockerfiles and their project context into `data/raw` (DESIGN §4), from GitHub
//! (octocrab: code search, contents, licences, rate limits honoured, resumable) or from local
//! directory trees; and `extract`, which adds the scripts each Dockerfile copies and runs.

mod context;
mod crawl;
mod extract;
pub mod github;
mod local;
mod run;
mod store;

use std::path::PathBuf;

pub use context::{
    ContextSource, Fetched, LOCKFILES, MANIFESTS, MAX_RELATED_BYTES, manifests, script_references, scripts,
};
pub use crawl::{collect_github, describe_plan};
pub use extract::extract;
pub use github::{GithubOptions, Query, plan};
pub use local::{LocalOptions, Provenance, collect_local, detect_license, read_provenance};
pub use run::{Run, timestamp};
pub use store::RawStore;

/// Bumped when collection changes what it records.
pub const VERSION: &str = "collect-1";

/// Dockerfiles larger than this are rejected (`too-large`): real ones are a few kilobytes.
pub const MAX_DOCKERFILE_BYTES: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Dataset(#[from] codi_dataset::Error),
    #[error("raw store: {}: {message}", path.display())]
    Store { path: PathBuf, message: String },
    #[error("{}:{line}: {message}", path.display())]
    Provenance { path: PathBuf, line: usize, message: String },
    #[error("github ({api}): {message}")]
    Github { api: String, message: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
