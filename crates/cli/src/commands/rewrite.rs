//! `codi rewrite`: the rules-first candidates for a project, each with its rendered Dockerfile,
//! rationale, estimates and diff, written to an output directory with a Markdown report.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use codi_core::project::Project;
use codi_core::rewrite::{CandidateRow, Engine, Rewrite, Ruleset, rows, write_outputs};
use codi_core::syntax::ParseOptions;
use owo_colors::OwoColorize;

use super::{Format, emit};

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
    let rules = Ruleset::load(&args.catalog, args.templates.as_deref())?;
    let engine = if args.real_builds { Engine::connect() } else { Err("not asked for (--real-builds)".into()) };
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
        let mut result = rules.rewrite(&project);
        result.candidates.truncate(args.limit);
        if let Ok(engine) = &engine {
            engine.measure(&project, &mut result, &rules.catalog)?;
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
    for CandidateRow { rank, rule_id, score, image_mb, size_change_percent, layers, rebuild_seconds, fixes, .. } in
        rows(result)
    {
        let fixes = if fixes.is_empty() { "-".to_owned() } else { fixes.join(",") };
        let _ = writeln!(
            out,
            "  {rank}. {rule_id:<26} score {score:+.3}  {image_mb:>6.0} MB ({size_change_percent:+.0}%)  {layers:>2} layers  \
             rebuild {rebuild_seconds:>5.1}s  fixes {fixes}"
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
