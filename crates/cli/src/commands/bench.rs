//! `codi bench`: commands that print figures. Throughput is compared as ratios measured in one
//! run, since the machines are shared and noisy.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Subcommand, ValueEnum};
use codi_collect::RawStore;
use codi_core::lint::agreement::{self, Agreement};
use codi_core::lint::{LintConfig, lint};
use codi_core::project::Project;
use codi_core::rewrite::{Rewrite, Ruleset};
use codi_core::syntax::{ParseOptions, parse_bytes};
use codi_dataset::Layout;
use codi_dataset::pipeline::{Quiet, Shard, Stats};
use codi_dataset::records::{RawRecord, sha256_hex};
use codi_dataset::table::{TableWriter, read_all};
use codi_label::Hadolint;
use rayon::prelude::*;

use super::{Format, emit};

#[derive(Debug, Subcommand)]
pub(crate) enum Bench {
    /// A bounded loopback load on the server: throughput and p50/p95/p99 of rank requests at
    /// each number of concurrent clients, errors and 503s, and one request's cost on its own.
    Serve {
        #[command(flatten)]
        serve: super::serve::Args,
        #[arg(long, default_value = "data/samples")]
        samples: PathBuf,
        /// Concurrent clients at each level.
        #[arg(long, value_delimiter = ',', default_value = "1,4,16,64")]
        levels: Vec<usize>,
        /// Rank requests at each level.
        #[arg(long, default_value_t = 64)]
        requests: usize,
    },
    /// Precision, recall and F1 of our findings against hadolint's labels, per code.
    Agreement {
        /// A corpus with `dockerfiles/` and `hadolint.jsonl`.
        #[arg(long, env = "CODI_CORPUS", default_value = "../shared/corpus")]
        corpus: PathBuf,
        #[arg(short, long, value_enum, default_value_t = Format::Tty)]
        format: Format,
        /// Also list every disagreement (file, code, line).
        #[arg(long)]
        disagreements: bool,
    },
    /// Files/s and MB/s of parse and parse+lint over a corpus, on one thread and with rayon.
    Lint {
        /// A directory of Dockerfiles, or a corpus with `dockerfiles/`.
        #[arg(long, env = "CODI_CORPUS", default_value = "../shared/corpus")]
        corpus: PathBuf,
        /// Seconds spent on each measurement.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Also time hadolint over the same files (one invocation), for a ratio.
        #[arg(long)]
        compare_hadolint: bool,
    },
    /// Every rule over every sample project: what renders where, the checks' verdicts, and
    /// projects/s of analyze + render + check + estimate.
    Rewrite {
        /// A directory of project directories.
        #[arg(long, default_value = "data/samples")]
        samples: PathBuf,
        #[arg(long, default_value = "patterns/rules.yml")]
        catalog: PathBuf,
        /// Seconds spent on the throughput measurement.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Also run hadolint over every candidate and count its findings by level.
        #[arg(long)]
        hadolint: bool,
    },
    /// The data pipeline at scale: FILES Dockerfiles made by varying the sample projects' and
    /// the corpus's, through label → standardize → pairs → split; files/s and peak RSS per stage.
    Data {
        #[arg(long, default_value_t = 100_000)]
        files: usize,
        #[arg(long, env = "CODI_CORPUS", default_value = "../shared/corpus")]
        corpus: PathBuf,
        #[arg(long, default_value = "data/samples")]
        samples: PathBuf,
        #[arg(long, default_value = "patterns/rules.yml")]
        catalog: PathBuf,
        /// Work here instead of a temporary directory (kept afterwards).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// The model runtime: load time, prompt tokens/s (512), decode tokens/s (128), scoring 5
    /// candidates of 200 tokens after a 300-token prompt, peak RSS.
    Model {
        #[command(flatten)]
        model: super::generate::ModelArgs,
        /// Timed runs per figure (the median is printed), after one warm-up.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Text whose tokens make the prompts and candidates.
        #[arg(long, default_value = super::model_bench::TEXT)]
        text: PathBuf,
    },
    /// Scoring the eval's decisions (rank, rewrite) with one shared prompt cache against scoring
    /// each option from scratch (lm-eval-harness' plain way): seconds, ratio, agreement.
    Eval {
        #[command(flatten)]
        model: super::generate::ModelArgs,
        /// A splits directory.
        #[arg(long, default_value = "data/splits")]
        data: PathBuf,
        #[arg(long, default_value = "all")]
        split: codi_eval::Split,
        #[arg(long, default_value = "patterns/rules.yml")]
        catalog: PathBuf,
        /// Timed runs per figure (the median is printed), after one warm-up.
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// LoRA training on the default model: tokens/s, step time and peak RSS at batch 4 × 256
    /// (every token scored, dropout 0, AdamW), after one warm-up step.
    Train {
        #[command(flatten)]
        model: super::generate::ModelArgs,
        #[arg(long, default_value_t = 4)]
        batch: usize,
        #[arg(long, default_value_t = 256)]
        seq: usize,
        /// Timed steps (the median is printed).
        #[arg(long, default_value_t = 3)]
        steps: usize,
        /// Recompute memory-bound activations in the backward pass.
        #[arg(long)]
        gradient_checkpointing: bool,
        /// The dtype activations are computed in (`auto`: bf16 on a GPU that computes in it).
        #[arg(long, value_enum, default_value_t = ComputeDtypeArg::Auto)]
        compute_dtype: ComputeDtypeArg,
        /// Text whose tokens make the batch.
        #[arg(long, default_value = super::model_bench::TEXT)]
        text: PathBuf,
    },
    /// `codi data sync` against a local S3 server (s3s-fs on loopback): MB/s of push and pull
    /// of a data tree, a no-op push and pull, and one large multipart file.
    Sync(super::data::SyncBenchArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ComputeDtypeArg {
    Auto,
    F32,
    Bf16,
}

pub(crate) fn run(bench: &Bench) -> Result<ExitCode> {
    match bench {
        Bench::Agreement { corpus, format, disagreements } => agreement(corpus, *format, *disagreements),
        Bench::Lint { corpus, seconds, compare_hadolint } => throughput(corpus, *seconds, *compare_hadolint),
        Bench::Rewrite { samples, catalog, seconds, hadolint } => rewrite_bench(samples, catalog, *seconds, *hadolint),
        Bench::Data { files, corpus, samples, catalog, dir } => {
            data_bench(*files, corpus, samples, catalog, dir.as_deref())
        }
        Bench::Model { model, runs, text } => super::model_bench::run(model, (*runs).max(1), text),
        Bench::Sync(args) => super::data::sync_bench(args),
        Bench::Serve { serve, samples, levels, requests } => {
            super::serve::bench(serve, samples, levels, *requests).map(|()| ExitCode::SUCCESS)
        }
        Bench::Eval { model, data, split, catalog, runs } => {
            super::eval_bench::run(model, data, *split, catalog, (*runs).max(1))
        }
        Bench::Train { model, batch, seq, steps, gradient_checkpointing, compute_dtype, text } => {
            let setting = super::train_bench::Setting {
                batch: *batch,
                seq: *seq,
                steps: (*steps).max(1),
                gradient_checkpointing: *gradient_checkpointing,
                compute_dtype: match compute_dtype {
                    ComputeDtypeArg::Auto => codi_train::ComputeDtype::Auto,
                    ComputeDtypeArg::F32 => codi_train::ComputeDtype::F32,
                    ComputeDtypeArg::Bf16 => codi_train::ComputeDtype::Bf16,
                },
                text,
            };
            super::train_bench::run(model, &setting)
        }
    }
}

fn corpus_files(corpus: &Path) -> Result<Vec<PathBuf>> {
    let dir = if corpus.join("dockerfiles").is_dir() { corpus.join("dockerfiles") } else { corpus.to_owned() };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    files.retain(|p| p.is_file());
    files.sort();
    if files.is_empty() {
        bail!("{}: no files to benchmark", dir.display());
    }
    Ok(files)
}

fn agreement(corpus: &Path, format: Format, list: bool) -> Result<ExitCode> {
    let labels = agreement::read_labels(&corpus.join("hadolint.jsonl"))?;
    let dir = corpus.join("dockerfiles");
    let config = LintConfig::default();
    let mut unreadable = Vec::new();
    let result = agreement::compare(&labels, |name| match std::fs::read(dir.join(name)) {
        Ok(bytes) => lint(&parse_bytes(&bytes, &ParseOptions::default()), &config),
        Err(e) => {
            unreadable.push(format!("{name}: {e}"));
            Vec::new()
        }
    });
    if !unreadable.is_empty() {
        bail!("unreadable corpus files: {}", unreadable.join("; "));
    }
    let text = match format {
        Format::Json => serde_json::to_string_pretty(&result)? + "\n",
        Format::Tty => agreement_table(&result, list),
    };
    emit(None, &text)?;
    Ok(ExitCode::SUCCESS)
}

fn agreement_table(result: &Agreement, list: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "hadolint labels: {} files compared, {} left out (hadolint could not parse them: DL1000)\n",
        result.files,
        result.unparsed_by_hadolint.len()
    );
    let _ = writeln!(
        out,
        "{:<8} {:>5} {:>5} {:>5} {:>9} {:>7} {:>6}",
        "code", "tp", "fp", "fn", "precision", "recall", "f1"
    );
    let mut silent = Vec::new();
    for (code, c) in &result.by_code {
        if c.true_positives + c.false_positives + c.false_negatives == 0 {
            silent.push(code.as_str());
            continue;
        }
        let _ = writeln!(
            out,
            "{code:<8} {:>5} {:>5} {:>5} {:>9.3} {:>7.3} {:>6.3}",
            c.true_positives,
            c.false_positives,
            c.false_negatives,
            c.precision(),
            c.recall(),
            c.f1()
        );
    }
    let m = &result.micro;
    let _ = writeln!(
        out,
        "{:<8} {:>5} {:>5} {:>5} {:>9.3} {:>7.3} {:>6.3}",
        "micro",
        m.true_positives,
        m.false_positives,
        m.false_negatives,
        m.precision(),
        m.recall(),
        m.f1()
    );
    let _ =
        writeln!(out, "\nimplemented, not seen on either side in this corpus ({}): {}", silent.len(), silent.join(" "));
    if list {
        let _ = writeln!(out, "\ndisagreements ({}):", result.disagreements.len());
        for d in &result.disagreements {
            let who = if d.only_codi { "only codi" } else { "only hadolint" };
            let _ = writeln!(out, "  {who:<14} {} {}:{}", d.code, d.file, d.line);
        }
    }
    out
}

/// Repeats whole passes over the corpus until `seconds` have passed: (files done, time taken).
fn measure(seconds: f64, mut pass: impl FnMut() -> usize) -> (usize, Duration) {
    pass(); // warm-up
    let start = Instant::now();
    let mut done = 0;
    while start.elapsed().as_secs_f64() < seconds {
        done += pass();
    }
    (done, start.elapsed())
}

fn throughput(corpus: &Path, seconds: f64, compare_hadolint: bool) -> Result<ExitCode> {
    let paths = corpus_files(corpus)?;
    let files: Vec<Vec<u8>> = paths.iter().map(std::fs::read).collect::<std::io::Result<_>>()?;
    let bytes: usize = files.iter().map(Vec::len).sum();
    let options = ParseOptions::default();
    let config = LintConfig::default();
    let lint_one = |b: &Vec<u8>| black_box(lint(&parse_bytes(b, &options), &config).len());
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let mut out = String::new();
    let _ = writeln!(out, "corpus: {} files, {:.1} KiB, {cores} cores available\n", files.len(), bytes as f64 / 1024.0);
    let _ = writeln!(out, "{:<34} {:>12} {:>9} {:>8}", "measurement", "files/s", "MB/s", "scaling");
    let mut row = |name: &str, (done, time): (usize, Duration), base: Option<f64>| {
        let rate = done as f64 / time.as_secs_f64();
        let mb = rate * bytes as f64 / files.len() as f64 / 1e6;
        let scaling = base.map_or_else(String::new, |b| format!("{:.2}x", rate / b));
        let _ = writeln!(out, "{name:<34} {rate:>12.0} {mb:>9.2} {scaling:>8}");
        rate
    };
    let parse_pass = || {
        for bytes in &files {
            black_box(parse_bytes(bytes, &options));
        }
        files.len()
    };
    let lint_pass = || {
        for bytes in &files {
            lint_one(bytes);
        }
        files.len()
    };
    row("parse, 1 thread", measure(seconds, parse_pass), None);
    let single = row("parse + lint, 1 thread", measure(seconds, lint_pass), None);
    for threads in 1..=cores {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
        // Ten copies of the corpus per pass, so that the join at the end of a pass is rare.
        let timing = pool.install(|| {
            measure(seconds, || {
                (0..files.len() * 10).into_par_iter().map(|i| lint_one(&files[i % files.len()])).count()
            })
        });
        row(&format!("parse + lint, rayon {threads} thread(s)"), timing, Some(single));
    }
    if compare_hadolint {
        let hadolint = Hadolint::find()?;
        let start = Instant::now();
        hadolint.lint_files(&paths)?;
        let rate = files.len() as f64 / start.elapsed().as_secs_f64();
        let _ = writeln!(
            out,
            "{:<34} {rate:>12.0} {:>9.2} {:>8}",
            format!("hadolint {} (one invocation)", hadolint.version),
            rate * bytes as f64 / files.len() as f64 / 1e6,
            ""
        );
        let _ = writeln!(out, "\ncodi parse + lint on 1 thread: {:.0}x hadolint's files/s", single / rate);
    }
    emit(None, &out)?;
    Ok(ExitCode::SUCCESS)
}

fn rewrite_bench(samples: &Path, catalog_path: &Path, seconds: f64, run_hadolint: bool) -> Result<ExitCode> {
    let ruleset = Ruleset::load(catalog_path, None)?;
    let catalog = &ruleset.catalog;
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(samples)
        .with_context(|| format!("reading {}", samples.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    dirs.retain(|d| d.is_dir());
    dirs.sort();
    let projects: Vec<Project> =
        dirs.iter().map(|d| Project::load(d, &ParseOptions::default())).collect::<Result<_, _>>()?;
    let results: Vec<Rewrite> = projects.iter().map(|p| ruleset.rewrite(p)).collect();
    let mut out = String::new();
    let stacks: BTreeSet<String> = catalog.rules.iter().map(|r| r.stack.to_string()).collect();
    let _ = writeln!(
        out,
        "catalog: {} rules over {} stacks; {} sample projects\n",
        catalog.rules.len(),
        stacks.len(),
        projects.len()
    );
    let _ = writeln!(out, "{:<26} {:<7} {:>8} {:>9} {:>9}", "rule", "stack", "applies", "rendered", "rejected");
    for rule in &catalog.rules {
        let count = |f: &dyn Fn(&Rewrite) -> bool| results.iter().filter(|r| f(r)).count();
        let rendered = count(&|r| r.candidates.iter().any(|c| c.rule_id == rule.id));
        let rejected = count(&|r| r.rejected.iter().any(|c| c.rule_id == rule.id));
        let _ = writeln!(
            out,
            "{:<26} {:<7} {:>8} {:>9} {:>9}",
            rule.id,
            rule.stack.to_string(),
            rendered + rejected,
            rendered,
            rejected
        );
    }
    let candidates: Vec<&str> =
        results.iter().flat_map(|r| r.candidates.iter().map(|c| c.dockerfile.as_str())).collect();
    let rejected: usize = results.iter().map(|r| r.rejected.len()).sum();
    let unmatched: Vec<&str> = results.iter().filter(|r| r.candidates.is_empty()).map(|r| r.project.as_str()).collect();
    let _ = writeln!(
        out,
        "\n{} candidates rendered, {rejected} rejected by the checks (parse, policy, build validity, lint at warning level)",
        candidates.len()
    );
    let _ = writeln!(out, "projects no rule applies to ({}): {}", unmatched.len(), unmatched.join(" "));
    if run_hadolint {
        let _ = writeln!(out, "{}", hadolint_levels(&candidates)?);
    }
    let timing = measure(seconds, || {
        for project in &projects {
            black_box(ruleset.rewrite(project));
        }
        projects.len()
    });
    let rate = timing.0 as f64 / timing.1.as_secs_f64();
    let per_candidate =
        timing.1.as_secs_f64() * 1e3 / (timing.0 as f64 / projects.len() as f64) / candidates.len().max(1) as f64;
    let _ = writeln!(
        out,
        "\nanalyze + render + check + estimate, 1 thread: {rate:.0} projects/s ({per_candidate:.2} ms per candidate)"
    );
    emit(None, &out)?;
    Ok(if rejected == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// hadolint's findings over `candidates`, counted by level (one invocation).
fn hadolint_levels(candidates: &[&str]) -> Result<String> {
    let findings = Hadolint::find()?.lint_texts(candidates)?;
    let mut levels: BTreeMap<&str, usize> = BTreeMap::new();
    for finding in &findings {
        *levels.entry(finding.level.as_str()).or_default() += 1;
    }
    let at_least_warning = levels.get("error").copied().unwrap_or(0) + levels.get("warning").copied().unwrap_or(0);
    Ok(format!(
        "hadolint over the {} candidates: {at_least_warning} findings at warning or above; all levels {levels:?}",
        candidates.len()
    ))
}

/// Peak resident memory since the last reset, in MiB (Linux; 0 elsewhere).
pub(crate) fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// CPU seconds this process has used on all its threads, user and system (Linux; 0 elsewhere):
/// `/proc/self/stat`'s utime and stime, in the kernel's 100 Hz clock ticks.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Starts a new peak-RSS measurement (Linux: `clear_refs` 5 resets VmHWM).
pub(crate) fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The records the benchmark varies: the sample projects (with their context) and the corpus.
fn bench_pool(samples: &Path, corpus: &Path, scratch: &Path) -> Result<Vec<RawRecord>> {
    let mut sources = vec![(samples.to_owned(), None, scratch.join("pool-samples"))];
    if corpus.join("dockerfiles").is_dir() {
        sources.push((corpus.join("dockerfiles"), Some(corpus.join("MANIFEST.csv")), scratch.join("pool-corpus")));
    }
    let mut pool = Vec::new();
    for (root, provenance, raw) in sources {
        codi_collect::collect_local(&codi_collect::LocalOptions { root, provenance, shard: Shard::ALL }, &raw, &Quiet)?;
        pool.extend(read_all(&RawStore::new(raw).files().data(Shard::ALL))?);
    }
    Ok(pool)
}

fn data_bench(files: usize, corpus: &Path, samples: &Path, catalog: &Path, dir: Option<&Path>) -> Result<ExitCode> {
    let scratch = tempfile::tempdir()?;
    let layout = Layout::new(dir.unwrap_or(scratch.path()));
    let pool = bench_pool(samples, corpus, scratch.path())?;
    if pool.is_empty() {
        bail!("nothing to vary: no sample projects in {}", samples.display());
    }
    // Each file is a pool file with its copy number added as a label after the first line:
    // unique bytes, near duplicates of their original.
    let started = Instant::now();
    let raw = RawStore::new(layout.raw()).files();
    let mut writer = TableWriter::<RawRecord>::create(&raw.data(Shard::ALL))?;
    for i in 0..files {
        let base = &pool[i % pool.len()];
        let (first, rest) = base.content.split_once('\n').unwrap_or((&base.content, ""));
        let content = format!("{first}\nLABEL org.codi.bench.copy=\"{i}\"\n{rest}");
        writer.push(RawRecord {
            id: sha256_hex(content.as_bytes()),
            bytes: content.len() as u64,
            content,
            ..base.clone()
        })?;
    }
    writer.finish()?;
    let mut stats = Stats::new("collect", "bench", Shard::ALL);
    (stats.input, stats.output) = (files as u64, files as u64);
    stats.write(&raw.stats(Shard::ALL))?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{files} files varied from {} pool files in {:.1}s; {} cores\n",
        pool.len(),
        started.elapsed().as_secs_f64(),
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
    );
    let _ = writeln!(
        out,
        "{:<12} {:>10} {:>10} {:>9} {:>10} {:>8} {:>12}",
        "stage", "rows in", "rows out", "seconds", "rows/s", "CPU s", "peak RSS MiB"
    );
    let mut total = 0.0;
    let mut row = |name: &str, run: &dyn Fn() -> Result<Stats>| -> Result<()> {
        reset_peak_rss();
        let (stage, cpu) = (Instant::now(), cpu_seconds());
        let stats = run()?;
        let (seconds, cpu) = (stage.elapsed().as_secs_f64(), cpu_seconds() - cpu);
        total += seconds;
        let _ = writeln!(
            out,
            "{name:<12} {:>10} {:>10} {seconds:>9.1} {:>10.0} {cpu:>8.1} {:>12.0}",
            stats.input,
            stats.output,
            stats.input as f64 / seconds,
            peak_rss_mib()
        );
        Ok(())
    };
    let full = true;
    row("label", &|| {
        Ok(codi_label::run(&codi_label::Options { full, ..codi_label::Options::in_layout(&layout) }, &Quiet)?)
    })?;
    row("standardize", &|| {
        Ok(codi_standardize::run(
            &codi_standardize::Options { full, ..codi_standardize::Options::in_layout(&layout) },
            &Quiet,
        )?)
    })?;
    row("pairs", &|| {
        Ok(codi_pairs::run(&codi_pairs::Options { full, ..codi_pairs::Options::in_layout(&layout, catalog) }, &Quiet)?)
    })?;
    row("split", &|| {
        Ok(codi_pairs::split(
            &codi_pairs::SplitOptions { full, ..codi_pairs::SplitOptions::in_layout(&layout) },
            &Quiet,
        )?)
    })?;
    let _ = writeln!(
        out,
        "\nlabel → standardize → pairs → split: {total:.1}s, {:.0} files/s end to end",
        files as f64 / total
    );
    emit(None, &out)?;
    Ok(ExitCode::SUCCESS)
}
