//! `codi data …`: the data pipeline's stages, collect → extract → label → standardize → pairs →
//! split, each reading the previous stage's Parquet and writing its own, with its stats and
//! rejects under `__meta__/`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use codi_core::analysis::Stack;
use codi_dataset::Layout;
use codi_dataset::pipeline::{Progress, Quiet, Shard, Stats};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Data {
    /// Collect Dockerfiles and their context into data/raw, from a local tree or GitHub.
    Collect(CollectArgs),
    /// Add the scripts each collected Dockerfile copies and runs (missing ones as missing).
    Extract {
        #[arg(long, default_value_os_t = Layout::default().raw())]
        raw: PathBuf,
        /// Also fetch the scripts of GitHub records (needs network, GITHUB_TOKEN).
        #[arg(long)]
        github: bool,
    },
    /// Many distinct, realistic variants of each sample project → data/raw, grouped by seed.
    Synthesize {
        /// The sample projects: each subdirectory with a Dockerfile is a seed.
        #[arg(long, default_value = "data/samples")]
        samples: PathBuf,
        #[arg(long, default_value_os_t = Layout::default().raw())]
        raw: PathBuf,
        /// Variants per seed, besides the seed itself.
        #[arg(long, default_value_t = 40)]
        variants: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// The analyzer over every raw Dockerfile → data/labeled.
    Label {
        #[arg(long, default_value_os_t = Layout::default().raw())]
        raw: PathBuf,
        #[arg(long, default_value_os_t = Layout::default().labeled())]
        out: PathBuf,
        #[command(flatten)]
        run: RunArgs,
        /// Also record hadolint's codes (its binary must be on the PATH).
        #[arg(long)]
        hadolint: bool,
    },
    /// Normalize, redact, filter, deduplicate and cluster → data/curated.
    Standardize {
        #[arg(long, default_value_os_t = Layout::default().labeled())]
        labeled: PathBuf,
        #[arg(long, default_value_os_t = Layout::default().curated())]
        out: PathBuf,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Rewrite/rank/explain training pairs from the rules → data/pairs.
    Pairs {
        #[arg(long, default_value_os_t = Layout::default().curated())]
        curated: PathBuf,
        #[arg(long, default_value_os_t = Layout::default().pairs())]
        out: PathBuf,
        #[arg(long, default_value = "patterns/rules.yml")]
        catalog: PathBuf,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Train/val/test split, stratified by stack, grouped by near-duplicate cluster → data/splits.
    Split(SplitArgs),
    /// Rank pairs from the decisions on `codi run`'s candidates (`codi feedback`) →
    /// data/pairs/pairs-feedback.parquet, which the split reads beside the pairs.
    Feedback {
        #[arg(long, default_value = "runs")]
        runs: PathBuf,
        #[arg(long, default_value_os_t = Layout::default().root)]
        data: PathBuf,
        #[arg(long, default_value = "patterns/rules.yml")]
        catalog: PathBuf,
    },
    /// standardize → pairs → feedback → split, incremental (what `make data-prepare` runs).
    Prepare {
        #[arg(long, default_value_os_t = Layout::default().root)]
        data: PathBuf,
        #[arg(long, default_value = "patterns/rules.yml")]
        catalog: PathBuf,
        /// The `codi run` runs whose feedback becomes pairs.
        #[arg(long, default_value = "runs")]
        runs: PathBuf,
        /// Recompute everything.
        #[arg(long)]
        full: bool,
        /// Also write the splits as JSONL.
        #[arg(long)]
        jsonl: bool,
    },
    /// The data tree to or from S3-compatible storage (AWS S3, Cloudflare R2), behind a
    /// manifest written last (docs/data.md, "Sync").
    #[command(subcommand)]
    Sync(Sync),
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Sync {
    /// Upload the stage outputs the remote lacks (large files in resumable parts), then the manifest.
    Push(SyncArgs),
    /// Download the remote's dataset, verify every sha256, then replace the stage directories.
    Pull(SyncArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct SyncArgs {
    /// Where the dataset lives. Credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY.
    #[arg(long, value_name = "s3://BUCKET/PREFIX")]
    remote: codi_sync::Remote,
    /// The S3 endpoint, e.g. https://<account>.r2.cloudflarestorage.com [default: AWS_ENDPOINT_URL, else AWS]
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// [default: AWS_REGION, else us-east-1; R2 takes `auto`]
    #[arg(long)]
    region: Option<String>,
    /// The data directory (its stage directories are synced).
    #[arg(long, default_value_os_t = Layout::default().root)]
    data: PathBuf,
    /// Print what would be transferred; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// At most this many bytes per second, all transfers together (`10M`, `500K`).
    #[arg(long, value_name = "BYTES", value_parser = parse_rate)]
    limit_rate: Option<u64>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    jobs: usize,
    /// Files larger than this many MiB go up in parts of this size.
    #[arg(long, value_name = "MIB", default_value_t = 8, value_parser = clap::value_parser!(u64).range(5..=5120))]
    part_size: u64,
}

/// `codi bench sync`'s arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct SyncBenchArgs {
    /// The data tree pushed and pulled.
    #[arg(long, default_value_os_t = Layout::default().root)]
    data: PathBuf,
    /// Also push and pull one file of this many MiB (multipart); 0: none.
    #[arg(long, value_name = "MIB", default_value_t = 256)]
    large: u64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    jobs: usize,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// Handle only shard i of N (`--shard 3/8`), for a job array; merge with a run without it.
    #[arg(long, value_name = "i/N")]
    shard: Option<Shard>,
    /// Recompute everything instead of reusing the outputs of unchanged inputs.
    #[arg(long)]
    full: bool,
}

impl RunArgs {
    fn shard(&self) -> Shard {
        self.shard.unwrap_or(Shard::ALL)
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct CollectArgs {
    /// A local directory tree to collect Dockerfiles from.
    #[arg(long, conflicts_with = "github")]
    local: Option<PathBuf>,
    /// With --local: a CSV (file,repo,path,commit,license) naming exactly the files to collect.
    #[arg(long, requires = "local")]
    provenance: Option<PathBuf>,
    /// Search GitHub's code (token from GITHUB_TOKEN).
    #[arg(long)]
    github: bool,
    /// With --github: the stacks to search for (all by default); repeatable.
    #[arg(long = "stack", value_name = "STACK")]
    stacks: Vec<String>,
    #[arg(long, default_value_t = 1000)]
    max_files: usize,
    #[arg(long, default_value_t = 0)]
    min_stars: u64,
    /// Only files smaller than this many bytes.
    #[arg(long, default_value_t = 65536)]
    max_size: u64,
    /// Result pages (of 100) per query, at most 10.
    #[arg(long, default_value_t = 10)]
    pages: u32,
    /// The longest rate-limit wait before stopping (seconds); the run can be resumed.
    #[arg(long, default_value_t = 900)]
    max_wait: u64,
    /// The API's base URL.
    #[arg(long, default_value = "https://api.github.com")]
    api: String,
    /// Print what would be fetched, fetch nothing.
    #[arg(long)]
    dry_run: bool,
    /// Handle only shard i of N (local files by path, GitHub queries by index); `extract` or a
    /// run without it rebuilds the manifest.
    #[arg(long, value_name = "i/N")]
    shard: Option<Shard>,
    #[arg(long, default_value_os_t = Layout::default().raw())]
    out: PathBuf,
}

#[derive(Debug, clap::Args)]
pub(crate) struct SplitArgs {
    #[arg(long, default_value_os_t = Layout::default().pairs())]
    pairs: PathBuf,
    #[arg(long, default_value_os_t = Layout::default().splits())]
    out: PathBuf,
    /// Shares of train, val, test.
    #[arg(long, value_delimiter = ',', default_values_t = [0.70, 0.15, 0.15])]
    ratios: Vec<f64>,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Also write `<split>.jsonl`.
    #[arg(long)]
    jsonl: bool,
    /// Forget previous assignments.
    #[arg(long)]
    full: bool,
}

/// A progress bar on standard error (hidden when it is not a terminal).
#[derive(Debug)]
pub(crate) struct Bar(ProgressBar);

impl Bar {
    pub(crate) fn new() -> Self {
        Self(ProgressBar::new(0))
    }
}

impl Progress for Bar {
    fn phase(&self, name: &str, total: Option<u64>) {
        let template = if total.is_some() {
            "{msg:40} [{bar:30}] {pos}/{len} {per_sec} eta {eta}"
        } else {
            "{msg:40} {spinner} {pos} {elapsed}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            self.0.set_style(style.progress_chars("=> "));
        }
        self.0.reset();
        self.0.set_length(total.unwrap_or(0));
        self.0.set_message(name.to_owned());
    }

    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

fn report(stats: &Stats, out: &Path) {
    let reasons: Vec<String> = stats.rejected_by_reason.iter().map(|(r, n)| format!("{r} {n}")).collect();
    anstream::eprintln!(
        "{}: {} in, {} out, {} rejected{} (reused {}, computed {}) in {:.1}s → {}",
        stats.stage,
        stats.input,
        stats.output,
        stats.rejected,
        if reasons.is_empty() { String::new() } else { format!(" ({})", reasons.join(", ")) },
        stats.reused,
        stats.computed,
        stats.seconds,
        out.display()
    );
}

fn stacks(names: &[String]) -> Result<Vec<Stack>> {
    if names.is_empty() {
        return Ok(Stack::ALL.to_vec());
    }
    names
        .iter()
        .map(|name| {
            Stack::ALL.iter().copied().find(|s| s.as_str() == name).with_context(|| {
                let known: Vec<&str> = Stack::ALL.iter().map(|s| s.as_str()).collect();
                format!("unknown stack `{name}` (one of {})", known.join(", "))
            })
        })
        .collect()
}

fn collect(args: &CollectArgs) -> Result<ExitCode> {
    let bar = Bar::new();
    if let Some(root) = &args.local {
        let options = codi_collect::LocalOptions {
            root: root.clone(),
            provenance: args.provenance.clone(),
            shard: args.shard.unwrap_or(Shard::ALL),
        };
        let stats = codi_collect::collect_local(&options, &args.out, &bar)?;
        report(&stats, &args.out);
        return Ok(ExitCode::SUCCESS);
    }
    if !args.github {
        bail!("say where to collect from: --local DIR or --github");
    }
    let options = codi_collect::GithubOptions {
        api: args.api.clone(),
        stacks: stacks(&args.stacks)?,
        max_files: args.max_files,
        min_stars: args.min_stars,
        max_size: args.max_size,
        pages: args.pages.clamp(1, 10),
        max_wait: Duration::from_secs(args.max_wait),
        shard: args.shard.unwrap_or(Shard::ALL),
        ..codi_collect::GithubOptions::default()
    };
    if args.dry_run {
        anstream::print!("{}", codi_collect::describe_plan(&options));
        return Ok(ExitCode::SUCCESS);
    }
    let stats = codi_collect::collect_github(&options, &args.out, &bar)?;
    report(&stats, &args.out);
    if let Some(why) = stats.counts.get("stopped").and_then(|c| c.keys().next()) {
        anstream::eprintln!("collect: stopped early ({why}); run the same command again to continue");
    }
    Ok(ExitCode::SUCCESS)
}

fn prepare(data: &Path, catalog: &Path, runs: &Path, full: bool, jsonl: bool) -> Result<ExitCode> {
    let bar = Bar::new();
    let layout = Layout::new(data);
    let standardize = codi_standardize::Options { full, ..codi_standardize::Options::in_layout(&layout) };
    report(&codi_standardize::run(&standardize, &bar)?, &standardize.out);
    let pairs = codi_pairs::Options { full, ..codi_pairs::Options::in_layout(&layout, catalog) };
    report(&codi_pairs::run(&pairs, &bar)?, &pairs.out);
    let feedback = codi_run::FeedbackOptions::in_layout(&layout, runs, catalog);
    report(&codi_run::feedback_pairs(&feedback)?, &feedback.table());
    let split = codi_pairs::SplitOptions { full, jsonl, ..codi_pairs::SplitOptions::in_layout(&layout) };
    report(&codi_pairs::split(&split, &bar)?, &split.out);
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn run(data: &Data) -> Result<ExitCode> {
    let bar = Bar::new();
    match data {
        Data::Collect(args) => collect(args),
        Data::Extract { raw, github } => {
            let mut client = if *github {
                Some(codi_collect::github::Client::new(&codi_collect::GithubOptions::default())?)
            } else {
                None
            };
            let stats = codi_collect::extract(raw, client.as_mut(), &bar)?;
            report(&stats, raw);
            Ok(ExitCode::SUCCESS)
        }
        Data::Synthesize { samples, raw, variants, seed } => {
            let options = codi_synthesize::Options {
                samples: samples.clone(),
                raw: raw.clone(),
                variants: *variants,
                seed: *seed,
            };
            report(&codi_synthesize::run(&options, &bar)?, raw);
            Ok(ExitCode::SUCCESS)
        }
        Data::Label { raw, out, run, hadolint } => {
            let options = codi_label::Options {
                raw: raw.clone(),
                out: out.clone(),
                shard: run.shard(),
                full: run.full,
                hadolint: *hadolint,
            };
            report(&codi_label::run(&options, &bar)?, out);
            Ok(ExitCode::SUCCESS)
        }
        Data::Standardize { labeled, out, run } => {
            let options = codi_standardize::Options {
                labeled: labeled.clone(),
                out: out.clone(),
                shard: run.shard(),
                full: run.full,
            };
            report(&codi_standardize::run(&options, &bar)?, out);
            Ok(ExitCode::SUCCESS)
        }
        Data::Pairs { curated, out, catalog, run } => {
            let options = codi_pairs::Options {
                curated: curated.clone(),
                out: out.clone(),
                catalog: catalog.clone(),
                shard: run.shard(),
                full: run.full,
            };
            report(&codi_pairs::run(&options, &bar)?, out);
            Ok(ExitCode::SUCCESS)
        }
        Data::Split(args) => {
            let ratios: [f64; 3] =
                args.ratios.as_slice().try_into().map_err(|_| anyhow::anyhow!("--ratios takes three numbers"))?;
            let options = codi_pairs::SplitOptions {
                pairs: args.pairs.clone(),
                out: args.out.clone(),
                ratios,
                seed: args.seed,
                jsonl: args.jsonl,
                full: args.full,
            };
            report(&codi_pairs::split(&options, &bar)?, &args.out);
            Ok(ExitCode::SUCCESS)
        }
        Data::Feedback { runs, data, catalog } => {
            let options = codi_run::FeedbackOptions::in_layout(&Layout::new(data), runs, catalog);
            report(&codi_run::feedback_pairs(&options)?, &options.table());
            Ok(ExitCode::SUCCESS)
        }
        Data::Prepare { data, catalog, runs, full, jsonl } => prepare(data, catalog, runs, *full, *jsonl),
        Data::Sync(sync_command) => sync(sync_command),
    }
}

/// `10M`, `500K`, `1G`, `1000`: bytes per second (powers of 1024).
fn parse_rate(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        _ => return Err(format!("`{text}`: expected a number of bytes, with K, M or G (10M)")),
    };
    match digits.parse::<u64>().ok().and_then(|n| n.checked_mul(1 << shift)) {
        Some(rate) if rate > 0 => Ok(rate),
        _ => Err(format!("`{text}` is not a positive rate such as 10M")),
    }
}

fn sync_options(args: &SyncArgs) -> codi_sync::Options {
    let mut remote = args.remote.clone();
    remote.endpoint.clone_from(&args.endpoint);
    remote.region.clone_from(&args.region);
    codi_sync::Options {
        dry_run: args.dry_run,
        limit_rate: args.limit_rate,
        jobs: args.jobs.max(1),
        part_size: args.part_size << 20,
        ..codi_sync::Options::new(remote)
    }
}

fn sync(command: &Sync) -> Result<ExitCode> {
    let bar = Bar::new();
    let (verb, report) = match command {
        Sync::Push(args) => ("push", codi_sync::push(&Layout::new(&args.data), &sync_options(args), &bar)?),
        Sync::Pull(args) => ("pull", codi_sync::pull(&Layout::new(&args.data), &sync_options(args), &bar)?),
    };
    drop(bar);
    if report.dry_run {
        for entry in &report.transferred {
            anstream::println!("would {verb} {} ({})", entry.path, megabytes(entry.size));
        }
        for path in &report.removed {
            anstream::println!("would remove {path}");
        }
    }
    let (sent, direction) = if verb == "push" { ("sent", "→") } else { ("received", "←") };
    anstream::eprintln!(
        "sync {verb}{}: {} files ({}), {} {} ({}), {} unchanged{}{} in {:.1}s ({:.1} MB/s) {direction} {}",
        if report.dry_run { " (dry run)" } else { "" },
        report.files,
        megabytes(report.bytes),
        report.transferred.len(),
        sent,
        megabytes(report.transferred_bytes),
        report.unchanged,
        if report.resumed_parts > 0 { format!(", resumed {} parts", report.resumed_parts) } else { String::new() },
        if report.removed.is_empty() { String::new() } else { format!(", {} removed", report.removed.len()) },
        report.seconds,
        report.transferred_bytes as f64 / 1e6 / report.seconds.max(1e-9),
        report.remote,
    );
    Ok(ExitCode::SUCCESS)
}

/// `codi bench sync`: the data tree pushed to and pulled from a local S3 server (s3s-fs on
/// loopback), then one large file; MB/s of each.
pub(crate) fn sync_bench(args: &SyncBenchArgs) -> Result<ExitCode> {
    use codi_sync::server::LocalServer;
    let binary = LocalServer::find().with_context(|| {
        format!(
            "s3s-fs is not installed (cargo install --locked s3s-fs --version 0.14.1 --features binary), or set {}",
            codi_sync::server::SERVER_ENV
        )
    })?;
    let dir = tempfile::tempdir().context("a temporary directory")?;
    let server = LocalServer::start(&binary, &dir.path().join("s3"), &["bench"])?;
    let options = |prefix: &str| codi_sync::Options {
        jobs: args.jobs.max(1),
        ..codi_sync::Options::new(server.remote("bench", prefix))
    };
    let row = |label: &str, report: &codi_sync::Report| {
        anstream::println!(
            "{label:<34} {:>6} files {:>9.1} MB moved in {:>6.2}s  {:>8.1} MB/s",
            report.transferred.len(),
            report.transferred_bytes as f64 / 1e6,
            report.seconds,
            report.transferred_bytes as f64 / 1e6 / report.seconds.max(1e-9)
        );
    };
    let source = Layout::new(&args.data);
    let pushed = codi_sync::push(&source, &options("tree"), &Quiet)?;
    if pushed.files == 0 {
        bail!("{}: no stage outputs to push (make data-prepare)", args.data.display());
    }
    anstream::println!(
        "{}: {} files, {:.1} MB, to s3s-fs on {} ({} requests in flight)",
        args.data.display(),
        pushed.files,
        pushed.bytes as f64 / 1e6,
        server.endpoint(),
        args.jobs
    );
    row("push (empty remote)", &pushed);
    row("push again (nothing changed)", &codi_sync::push(&source, &options("tree"), &Quiet)?);
    let target = Layout::new(dir.path().join("pulled"));
    row("pull (empty tree)", &codi_sync::pull(&target, &options("tree"), &Quiet)?);
    row("pull again (all local, hashed)", &codi_sync::pull(&target, &options("tree"), &Quiet)?);
    if args.large > 0 {
        let large = Layout::new(dir.path().join("large"));
        std::fs::create_dir_all(large.pairs())?;
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let bytes: Vec<u8> = (0..args.large << 17)
            .flat_map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state.to_le_bytes()
            })
            .collect();
        std::fs::write(large.pairs().join("pairs.parquet"), bytes)?;
        let label = format!("push one {} MiB file (multipart)", args.large);
        row(&label, &codi_sync::push(&large, &options("large"), &Quiet)?);
        let label = format!("pull one {} MiB file", args.large);
        row(&label, &codi_sync::pull(&Layout::new(dir.path().join("large-pulled")), &options("large"), &Quiet)?);
    }
    Ok(ExitCode::SUCCESS)
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}
