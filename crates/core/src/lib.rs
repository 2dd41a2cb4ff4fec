//! codi-core: the Dockerfile core of codi.
//!
//! - [`syntax`]: a parser with BuildKit's semantics (directives, continuations, heredocs, exec
//!   and shell forms, flags, variable substitution); every node keeps its position and bad
//!   input becomes a [`syntax::Diagnostic`], never a panic.
//! - [`shell`]: a shell-word tokenizer for RUN, CMD and ENTRYPOINT bodies.
//! - [`analysis`]: stage graph, base images, stack/framework/package-manager detection with
//!   evidence, CMD/ENTRYPOINT analysis, secret patterns.
//! - [`lint`]: hadolint's DL rules (same codes and messages) and codi's own smells, each a
//!   small documented type; inline pragmas; JSON, SARIF 2.1.0 and terminal output.
//! - [`catalog`], [`project`], [`rewrite`]: the rules-first candidates. `patterns/rules.yml` is
//!   validated, its templates rendered for a project, checked (parse, policy, lint) and ranked
//!   by estimated metrics.
//!
//! The data pipeline's records, tables and stage driver are in `codi-dataset`, which this crate
//! never sees: `codi lint` and the fuzz targets compile no Arrow or Parquet.

pub mod analysis;
pub mod catalog;
mod error;
pub mod lint;
pub mod project;
pub mod rewrite;
pub mod shell;
pub mod syntax;

pub use error::{Error, Result};

/// Reads and parses a Dockerfile from disk, refusing files over `options.max_bytes` before
/// reading them into memory.
pub fn read_dockerfile(path: &std::path::Path, options: &syntax::ParseOptions) -> Result<syntax::Dockerfile> {
    let io = |source| Error::Io { path: path.to_owned(), source };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > options.max_bytes as u64 {
        return Err(Error::TooLarge { path: path.to_owned(), size, limit: options.max_bytes as u64 });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    Ok(syntax::parse_bytes(&bytes, options))
}
