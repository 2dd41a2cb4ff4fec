//! `codi parse`: the syntax tree as JSON, or the canonical printed form.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::ValueEnum;
use codi_core::syntax::ParseOptions;

use super::{emit, read_dockerfile};

/// What `codi parse` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ParseFormat {
    /// The syntax tree with positions and diagnostics.
    Json,
    /// The canonical Dockerfile: one line per instruction, keywords upper-case.
    Dockerfile,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A Dockerfile; `-` reads standard input.
    path: PathBuf,
    #[arg(short, long, value_enum, default_value_t = ParseFormat::Json)]
    format: ParseFormat,
    #[arg(long, default_value_t = ParseOptions::default().max_bytes)]
    max_bytes: usize,
}

/// Exits with 1 when the file has diagnostics.
pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let file = read_dockerfile(&args.path, ParseOptions { max_bytes: args.max_bytes })?;
    let text = match args.format {
        ParseFormat::Json => serde_json::to_string_pretty(&file)? + "\n",
        ParseFormat::Dockerfile => file.to_string(),
    };
    emit(None, &text)?;
    for d in &file.diagnostics {
        anstream::eprintln!("{}:{}:{}: {}", args.path.display(), d.span.start.line, d.span.start.column, d.message);
    }
    Ok(if file.is_malformed() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
