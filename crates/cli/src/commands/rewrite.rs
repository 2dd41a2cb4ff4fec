//! `codi rewrite`: the rules-first candidates for a project, each with its rendered Dockerfile,
//! rationale, estimates and diff, written to an output directory with a Markdown report.

mod docker;
mod report;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use codi_core::catalog::Catalog;
use codi_core::project::Project;
use codi_core::rewrite::{Rewrite, Templates, rewrite};
use codi_core::syntax::ParseOptions;
use owo_colors::OwoColorize;

use super::{Format, emit, write_atomically};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Project directories, or Dockerfiles (their directory is then the build context).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Keep at most this many candidates per project, best first.
    #[arg(short = 'n', long, default_value_t = 3)]
    limit: usize,
    /// Where to write candidates, diffs and the report: one directory per project.
    #[arg(short, long, default_value = "out/rewrite")]
    out: PathBuf,
    /// The rules catalog.
    #[arg(long, default_value = "patterns/rules.yml")]
    catalog: PathBuf,
    /// The templates directory (default: `templates/` beside the catalog).
    #[arg(long)]
    templates: Option<PathBuf>,
    /// Build the original and each candidate with Docker and measure them, where an engine is
    /// reachable; estimates otherwise.
    #[arg(long)]
    real_builds: bool,
    #[arg(short, long, value_enum, default_value_t = Format::Tty)]
    format: Format,
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let templates_dir =
        args.templates.clone().unwrap_or_else(|| args.catalog.parent().unwrap_or(Path::new(".")).join("templates"));
    let catalog = Catalog::load(&args.catalog, Some(&templates_dir))?;
    let templates = Templates::load(&templates_dir, &catalog)?;
    let engine = if args.real_builds { docker::Engine::connect() } else { Err("not asked for (--real-builds)".into()) };
    match (&engine, args.real_builds) {
        (Ok(engine), _) => anstream::eprintln!("codi: measuring builds with Docker {}", engine.version),
        (Err(why), true) => {
            anstream::eprintln!(
                "codi: no Docker engine reachable ({why}); reporting estimates instead of measurements"
            );
        }
        (Err(_), false) => {}
    }
    let mut results = Vec::new();
    let mut defective = false;
    for path in &args.paths {
        let project = Project::load(path, &ParseOptions::default())?;
        let mut result = rewrite(&project, &catalog, &templates);
        result.candidates.truncate(args.limit);
        if let Ok(engine) = &engine {
            engine.measure(&project, &mut result, &catalog)?;
        }
        defective |= !result.rejected.is_empty();
        let dir = args.out.join(&result.project);
        write_outputs(&dir, &result)?;
        results.push((result, dir));
    }
    let text = match args.format {
        Format::Json => {
            let all: Vec<&Rewrite> = results.iter().map(|(r, _)| r).collect();
            serde_json::to_string_pretty(&all)? + "\n"
        }
        Format::Tty => results.iter().map(|(r, dir)| summary(r, dir)).collect(),
    };
    emit(None, &text)?;
    // A rejected candidate is a defect in a rule's template, not in the project.
    Ok(if defective { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// `candidates/<rank>-<rule>.Dockerfile` and `.diff`, `report.md`, `rewrite.json`.
fn write_outputs(dir: &Path, result: &Rewrite) -> Result<()> {
    let candidates = dir.join("candidates");
    if candidates.is_dir() {
        std::fs::remove_dir_all(&candidates).with_context(|| format!("clearing {}", candidates.display()))?;
    }
    for (rank, candidate) in result.candidates.iter().enumerate() {
        let stem = format!("{}-{}", rank + 1, candidate.rule_id);
        write_atomically(&candidates.join(format!("{stem}.Dockerfile")), candidate.dockerfile.as_bytes())?;
        write_atomically(&candidates.join(format!("{stem}.diff")), candidate.diff.as_bytes())?;
    }
    write_atomically(&dir.join("report.md"), report::markdown(result).as_bytes())?;
    write_atomically(&dir.join("rewrite.json"), (serde_json::to_string_pretty(result)? + "\n").as_bytes())
}

fn summary(result: &Rewrite, dir: &Path) -> String {
    let mut out = String::new();
    let stack = result.facts.stack.map_or_else(|| "unknown".to_owned(), |s| s.to_string());
    let o = &result.original;
    let _ = writeln!(
        out,
        "{} ({stack}): original {:.0} MB, {} layers, {} policy violation(s), {} finding(s)",
        result.project.bold(),
        o.image_mb,
        o.layers,
        result.original_violations.len(),
        result.original_findings.len()
    );
    for (rank, c) in result.candidates.iter().enumerate() {
        let e = &c.estimate;
        let _ = writeln!(
            out,
            "  {}. {:<26} score {:+.3}  {:>6.0} MB ({:+.0}%)  {:>2} layers  rebuild {:>5.1}s  fixes {}",
            rank + 1,
            c.rule_id,
            c.deltas.score,
            e.image_mb,
            -100.0 * c.deltas.size_reduction,
            e.layers,
            e.rebuild_seconds,
            if c.fixes.is_empty() { "-".to_owned() } else { c.fixes.join(",") }
        );
    }
    if result.candidates.is_empty() {
        let _ = writeln!(out, "  no rule applies ({} checked)", result.not_applicable.len());
    }
    for rejected in &result.rejected {
        let _ = writeln!(out, "  {} {}: {}", "rejected".red(), rejected.rule_id, rejected.reasons.join("; "));
    }
    let _ = writeln!(out, "  → {}", dir.join("report.md").display());
    out
}
