//! The error type of codi-core. Parsing itself never fails (problems are diagnostics); errors
//! are about reaching the input.

use std::path::{Path, PathBuf};

use codi_yaml::Problem;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: file is {size} bytes, over the {limit} byte limit for a Dockerfile", path.display())]
    TooLarge { path: PathBuf, size: u64, limit: u64 },
    #[error("{}:{line}: {message}", path.display())]
    Json { path: PathBuf, line: usize, message: String },
    #[error("{}: {} problem(s):\n{}", path.display(), problems.len(), list(path, problems))]
    Catalog { path: PathBuf, problems: Vec<Problem> },
    #[error("{}: {message}", path.display())]
    Project { path: PathBuf, message: String },
    #[error("template {template}: {message}")]
    Template { template: String, message: String },
    #[error("{}: {message}", context.display())]
    Docker { context: PathBuf, message: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One problem per line, each prefixed with the file it is in.
fn list(path: &Path, problems: &[Problem]) -> String {
    problems.iter().map(|p| format!("  {}:{p}", path.display())).collect::<Vec<_>>().join("\n")
}
