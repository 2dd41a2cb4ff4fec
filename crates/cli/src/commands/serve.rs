//! `codi serve`: the model server on loopback (configs/serve.yaml, then the environment, then
//! these flags), until SIGTERM or Ctrl-C, after which in-flight requests finish.

use std::path::PathBuf;
use std::process::ExitCode;

use std::fmt::Write as _;

use anyhow::{Context, Result};
use codi_serve::{ServeConfig, Service};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The configuration (default: configs/serve.yaml when present).
    #[arg(long)]
    config: Option<PathBuf>,
    #[arg(long)]
    host: Option<String>,
    #[arg(long)]
    port: Option<u16>,
    /// A GGUF file, a Hugging Face model directory, or a hub id (CODE_MODEL).
    #[arg(long)]
    model: Option<String>,
    /// A PEFT adapter directory, verified before it is served (ADAPTER_PATH).
    #[arg(long)]
    adapter: Option<PathBuf>,
    /// Rank with the rules alone (LLM_ENABLED=false).
    #[arg(long)]
    heuristic: bool,
    /// Model threads (LLAMA_CPP_THREADS; 0: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// Do not serve: ask the server this configuration describes, on this machine, for /healthz
    /// and exit 0 when it is ready (the container's HEALTHCHECK).
    #[arg(long)]
    check: bool,
}

impl Args {
    /// The configuration with the flags applied.
    pub(crate) fn config(&self) -> Result<ServeConfig> {
        let mut config = ServeConfig::load(self.config.as_deref())?;
        if let Some(host) = &self.host {
            config.host.clone_from(host);
        }
        config.port = self.port.unwrap_or(config.port);
        if let Some(model) = &self.model {
            config.model.clone_from(model);
        }
        if let Some(adapter) = &self.adapter {
            config.adapter = Some(adapter.clone());
        }
        config.enabled &= !self.heuristic;
        config.threads = self.threads.unwrap_or(config.threads);
        Ok(config)
    }
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let config = args.config()?;
    if args.check {
        // Docker's HEALTHCHECK reads 1 as unhealthy (2 is reserved).
        return Ok(match codi_serve::client::probe(&config) {
            Ok(health) => {
                let mode = health.mode.map_or("?", |m| m.as_str());
                let model = health.model_id.unwrap_or_default();
                anstream::println!("{} {}: {model}, mode {mode}", config.local_url(), health.status);
                ExitCode::SUCCESS
            }
            Err(error) => {
                anstream::eprintln!("codi serve --check: unhealthy: {error}");
                ExitCode::FAILURE
            }
        });
    }
    use_model_threads(&config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting tokio")?;
    runtime.block_on(async {
        let address = config.address();
        let listener =
            tokio::net::TcpListener::bind(&address).await.with_context(|| format!("listening on {address}"))?;
        anstream::eprintln!("codi serve: listening on http://{} (loading the model)", listener.local_addr()?);
        codi_serve::serve(config, listener, shutdown_signal(), announce).await?;
        anstream::eprintln!("codi serve: stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// Sizes the pool the model's kernels run on (rayon's global pool) to the configuration's
/// `threads` (LLAMA_CPP_THREADS), when set: every command that loads the served model calls it
/// first.
pub(crate) fn use_model_threads(config: &ServeConfig) -> Result<()> {
    if config.threads > 0 {
        rayon::ThreadPoolBuilder::new()
            .num_threads(config.threads)
            .build_global()
            .context("setting the model threads")?;
    }
    Ok(())
}

/// `codi bench serve`: the load, as a table.
pub(crate) fn bench(args: &Args, samples: &std::path::Path, levels: &[usize], requests: usize) -> Result<()> {
    let config = args.config()?;
    use_model_threads(&config)?;
    let report = codi_serve::bench::run(config, samples, levels, requests)?;
    let single = report.levels.iter().find(|l| l.clients == 1).map(codi_serve::bench::Level::throughput);
    let mut out = format!(
        "rank requests over {} sample projects (queue limit {}):\n{:>8} {:>9} {:>5} {:>5} {:>6} {:>10} {:>9} {:>9} {:>9} {:>8}\n",
        report.projects,
        report.queue_limit,
        "clients",
        "requests",
        "ok",
        "503",
        "errors",
        "req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "×single"
    );
    for level in &report.levels {
        let ratio = single.map_or(String::from("-"), |s| format!("{:.2}", level.throughput() / s));
        let _ = writeln!(
            out,
            "{:>8} {:>9} {:>5} {:>5} {:>6} {:>10.2} {:>9.0} {:>9.0} {:>9.0} {:>8}",
            level.clients,
            level.requests,
            level.ok,
            level.rejected,
            level.errors,
            level.throughput(),
            level.p50_ms,
            level.p95_ms,
            level.p99_ms,
            ratio
        );
    }
    let (name, cold, warm, rules) = &report.largest;
    let (steps, batched, tokens, cached, busy) = report.engine;
    let wall: f64 = report.levels.iter().map(|l| l.seconds).sum();
    let _ = writeln!(
        out,
        "largest project {name}: cold rank {cold:.0} ms (rules alone {rules:.1} ms; the rest is the model), same prompt again {warm:.0} ms (prompt cached)\n\
         engine: {steps} steps, {batched} run batched with other requests' steps; {tokens} token positions decoded, {cached} prompt tokens from the cache; decoder busy {busy:.1} s (the load took {wall:.1} s)"
    );
    super::emit(None, &out)
}

/// What the server answers with, once it is ready.
fn announce(service: &Service) {
    let generation = service.generation();
    anstream::eprintln!("codi serve: ready, mode {}, model {}", generation.mode.as_str(), generation.model_id);
    if let Some(reason) = &generation.heuristic_reason {
        anstream::eprintln!("codi serve: heuristic ranking: {reason}");
    }
    if let Some(adapter) = &generation.adapter {
        anstream::eprintln!(
            "codi serve: adapter {} version {} (sha256 {}), base {}, rules {}, created {}",
            adapter.path,
            adapter.version,
            adapter.checksum,
            adapter.base_model.as_deref().unwrap_or("?"),
            adapter.rules_version.as_deref().unwrap_or("?"),
            adapter.created_at.as_deref().unwrap_or("?")
        );
    }
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    anstream::eprintln!("codi serve: shutting down; finishing requests in flight");
}
