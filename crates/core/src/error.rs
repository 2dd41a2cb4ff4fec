//! The error type of codi-core. Parsing itself never fails (problems are diagnostics); errors
//! are about reaching the input.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: file is {size} bytes, over the {limit} byte limit for a Dockerfile", path.display())]
    TooLarge { path: PathBuf, size: u64, limit: u64 },
    #[error("{}:{line}: {message}", path.display())]
    Json { path: PathBuf, line: usize, message: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
