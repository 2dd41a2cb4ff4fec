//! `codi run PATH…`: the main job — analyze, render the rules-first candidates, rank them (in
//! this process, or through the server at `--endpoint`/LLM_ENDPOINT), explain the recommendation
//! — into `runs/<id>/` with `run.json`, `report.md`, `report.html` and `llm_metrics.json`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use codi_run::{RunOptions, Status};
use codi_serve::ServeConfig;
use owo_colors::OwoColorize;

use super::data::Bar;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Project directories, or Dockerfiles (their directory is then the build context).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Rank with the rules alone: no model is loaded.
    #[arg(long, conflicts_with = "endpoint")]
    skip_llm: bool,
    /// Rank through the server at this URL (default: LLM_ENDPOINT when set, else in this process).
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// Where the run's directory is made.
    #[arg(short, long, default_value = "runs")]
    out: PathBuf,
    /// The serving configuration (default: configs/serve.yaml when present); the environment
    /// (LLM_ENABLED, CODE_MODEL, ADAPTER_PATH …) overrides it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Write each recommendation as a git-format patch against the project's Dockerfile and a
    /// suggested commit message, into the run (`<project>/recommended.patch`, `commit-message.txt`).
    #[arg(long)]
    patch: bool,
    /// Also write the recommended candidate into each project's Dockerfile (implies --patch).
    #[arg(long)]
    apply: bool,
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let options = RunOptions {
        paths: args.paths.clone(),
        out: args.out.clone(),
        skip_llm: args.skip_llm,
        endpoint: args.endpoint.clone(),
        serve: ServeConfig::load(args.config.as_deref())?,
        patch: args.patch,
        apply: args.apply,
    };
    if !options.skip_llm {
        super::serve::use_model_threads(&options.serve)?;
    }
    let outcome = codi_run::run(&options, &Bar::new())?;
    let run = &outcome.record;
    for p in &run.projects {
        let recommended = match (p.status, p.selected_candidate()) {
            (Status::Ranked, Some(c)) => format!(
                "{} ({:.0}%, {})",
                c.id.bold(),
                100.0 * c.confidence.unwrap_or_default(),
                p.ranking.as_ref().map_or("", |r| r.mode.as_str())
            ),
            (_, Some(c)) => format!("{} (the only candidate)", c.id.bold()),
            (status, None) => status.as_str().to_owned(),
        };
        anstream::println!("{}: {recommended}", p.name);
        if let Some(patch) = &p.patch {
            let file = outcome.dir.join(&p.name).join(codi_run::PATCH_FILE);
            let applied = if patch.applied { format!("applied to {}; ", patch.path) } else { String::new() };
            anstream::println!("  {applied}patch: git -C {} apply {}", patch.root.display(), file.display());
        }
        for problem in &p.problems {
            anstream::println!("  {} {}: {}", "failed".red(), problem.step.as_str(), problem.message);
        }
    }
    anstream::println!(
        "run {}: {} project(s), {} with problems → {}",
        run.id,
        run.projects.len(),
        run.failed(),
        outcome.dir.join(codi_run::REPORT_HTML).display()
    );
    Ok(if run.failed() > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
