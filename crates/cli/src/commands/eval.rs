//! `codi eval`: the rules-only system, the base model and each adapter on the held-out pairs,
//! stored as a run with the HTML report; `--nightly` re-evaluates the promoted adapter.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args as ClapArgs;
use codi_eval::{EvalConfig, Progress, Split, Summary};
use codi_tasks::Task;
use indicatif::{ProgressBar, ProgressStyle};

use super::Format;

#[derive(Debug, ClapArgs)]
pub(crate) struct Args {
    /// The suite's configuration.
    #[arg(long, default_value = "configs/eval.yaml")]
    config: PathBuf,
    /// A splits directory (train/val/test.parquet).
    #[arg(long)]
    data: Option<PathBuf>,
    #[arg(long)]
    split: Option<Split>,
    /// The tasks to evaluate, comma-separated.
    #[arg(long, value_delimiter = ',')]
    tasks: Vec<Task>,
    /// At most this many pairs.
    #[arg(long)]
    limit: Option<usize>,
    /// The run store's root.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The base model (a GGUF file, a Hugging Face directory or a hub id).
    #[arg(long)]
    base: Option<String>,
    /// The rules catalog (its templates beside it).
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// An adapter directory to evaluate (repeatable; replaces the configured ones).
    #[arg(long = "adapter")]
    adapters: Vec<PathBuf>,
    /// Evaluate the promoted adapter again and compare it with the run that promoted it;
    /// exit 1 on a regression beyond the configured margin.
    #[arg(long)]
    nightly: bool,
    #[arg(short, long, value_enum, default_value_t = Format::Tty)]
    format: Format,
}

impl Args {
    fn config(&self) -> Result<EvalConfig> {
        let mut config = EvalConfig::load(&self.config)?;
        if let Some(data) = &self.data {
            config.data.clone_from(data);
        }
        if let Some(split) = self.split {
            config.split = split;
        }
        if !self.tasks.is_empty() {
            config.tasks.clone_from(&self.tasks);
        }
        if let Some(limit) = self.limit {
            config.limit = limit;
        }
        if let Some(out) = &self.out {
            config.out.clone_from(out);
        }
        if let Some(base) = &self.base {
            config.base.clone_from(base);
        }
        if let Some(catalog) = &self.catalog {
            config.catalog.clone_from(catalog);
        }
        if !self.adapters.is_empty() {
            config.adapters.clone_from(&self.adapters);
        }
        Ok(config)
    }
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let config = args.config()?;
    let mut bar = Bar::default();
    if args.nightly {
        let nightly = codi_eval::nightly::nightly(&config, |p| bar.update(p)).context("the nightly eval")?;
        bar.finish();
        anstream::println!("{}", nightly.summary);
        anstream::println!("summary: {}", nightly.summary_path.display());
        return Ok(if nightly.regressed() { ExitCode::FAILURE } else { ExitCode::SUCCESS });
    }
    let run = codi_eval::evaluate(&config, |p| bar.update(p)).context("the eval run")?;
    bar.finish();
    match args.format {
        Format::Json => {
            anstream::println!("{}", serde_json::to_string_pretty(&Summary::of(&run.results, run.dir.clone()))?);
        }
        Format::Tty => {
            anstream::print!("{}", run.results.to_text());
            let report = codi_eval::Store::new(&config.out).report_path();
            anstream::println!("run {} in {}; report {}#{}", run.id, run.dir.display(), report.display(), run.id);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Where `promote` and `lineage` find the run store (the suite's `out`) and the catalog.
#[derive(Debug, ClapArgs)]
pub(crate) struct StoreArgs {
    /// The suite's configuration (its `out`, the run store, and its `gate`).
    #[arg(long, default_value = "configs/eval.yaml")]
    pub(crate) config: PathBuf,
    /// The rules catalog (default: the configuration's).
    #[arg(long)]
    pub(crate) catalog: Option<PathBuf>,
}

/// One progress bar per system.
#[derive(Default)]
struct Bar {
    current: Option<(String, ProgressBar)>,
}

impl Bar {
    fn update(&mut self, progress: Progress<'_>) {
        if self.current.as_ref().is_none_or(|(system, _)| system != progress.system) {
            self.finish();
            let bar = ProgressBar::new(progress.total as u64);
            let style = ProgressStyle::with_template("{prefix:>28} {bar:30} {pos}/{len} examples {elapsed_precise}")
                .expect("a valid template");
            bar.set_style(style);
            bar.set_prefix(progress.system.to_owned());
            self.current = Some((progress.system.to_owned(), bar));
        }
        if let Some((_, bar)) = &self.current {
            bar.set_position(progress.done as u64);
        }
    }

    fn finish(&mut self) {
        if let Some((_, bar)) = self.current.take() {
            bar.finish();
        }
    }
}
