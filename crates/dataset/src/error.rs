//! The error type of codi-dataset: reaching a stage's files, and tables or stats that cannot be
//! read as their schema.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}:{line}: {message}", path.display())]
    Json { path: PathBuf, line: usize, message: String },
    #[error("{}: {message}", path.display())]
    Table { path: PathBuf, message: String },
    /// A `--shard i/N` that is not one.
    #[error("`{text}`: {message}")]
    Shard { text: String, message: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
