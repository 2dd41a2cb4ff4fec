//! One module per subcommand, and what they share: reading input, writing output atomically.

pub(crate) mod adapter;
pub(crate) mod analyze;
pub(crate) mod bench;
pub(crate) mod data;
pub(crate) mod eval;
pub(crate) mod eval_bench;
pub(crate) mod feedback;
pub(crate) mod generate;
pub(crate) mod lineage;
pub(crate) mod lint;
pub(crate) mod model;
pub(crate) mod model_bench;
pub(crate) mod parse;
pub(crate) mod promote;
pub(crate) mod rewrite;
pub(crate) mod rules;
pub(crate) mod run;
pub(crate) mod serve;
pub(crate) mod train;
pub(crate) mod train_bench;

use std::io::{Read, Write};
use std::path::Path;

use anyhow::{Context, Result};
use clap::ValueEnum;
use codi_core::syntax::{Dockerfile, ParseOptions, parse_bytes};

/// The output of the commands that print a report: for people, or for programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Tty,
    Json,
}

/// Reads and parses a Dockerfile; `-` is standard input. Input over the limit is refused before
/// it is read into memory.
pub(crate) fn read_dockerfile(path: &Path, options: ParseOptions) -> Result<Dockerfile> {
    if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        let limit = u64::try_from(options.max_bytes).unwrap_or(u64::MAX).saturating_add(1);
        std::io::stdin().take(limit).read_to_end(&mut bytes).context("reading standard input")?;
        return Ok(parse_bytes(&bytes, &options));
    }
    Ok(codi_core::read_dockerfile(path, &options)?)
}

/// Writes `bytes` to `path` through a temporary file in the same directory, so that readers
/// never see a half-written file and a crash leaves the previous version.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(codi_dataset::pipeline::write_atomically(path, bytes)?)
}

/// Prints to stdout, or writes atomically to `output`.
pub(crate) fn emit(output: Option<&Path>, text: &str) -> Result<()> {
    if let Some(path) = output {
        return write_atomically(path, text.as_bytes());
    }
    anstream::stdout().lock().write_all(text.as_bytes()).context("writing to stdout")
}
