//! `codi bench serve`: a bounded loopback load on a server started in process (real HTTP, the
//! air-gapped client): at each level of concurrent clients, a fixed number of rank requests over
//! the sample projects, with throughput, latency quantiles, errors and 503s.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::api::{ProjectInput, RankRequest};
use crate::client::{Allowlist, Client, ClientError};
use crate::config::ServeConfig;
use crate::error::{Error, Result};

/// One concurrency level's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    pub clients: usize,
    pub requests: usize,
    pub ok: usize,
    /// Explicit 503s (queue full).
    pub rejected: usize,
    pub errors: usize,
    pub seconds: f64,
    /// Of the admitted requests, in milliseconds.
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

impl Level {
    pub fn throughput(&self) -> f64 {
        self.ok as f64 / self.seconds
    }
}

/// The whole load, and one request's cost on its own.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub levels: Vec<Level>,
    pub projects: usize,
    pub queue_limit: usize,
    /// The largest project: its name, a cold (uncached) rank's latency, the same request again
    /// (its prompt cached), and the rules alone (parse, render, check, estimate) in ms.
    pub largest: (String, f64, f64, f64),
    /// The engine's counters after the load: (steps, steps batched with others' steps, token
    /// positions run, prompt tokens answered from the cache, seconds the decoder was busy).
    pub engine: (u64, u64, u64, u64, f64),
}

/// Runs the load at each of `levels` with `requests` rank requests each, against a server with
/// `config` (its port is chosen here).
pub fn run(config: ServeConfig, samples: &Path, levels: &[usize], requests: usize) -> Result<Report> {
    let projects = sample_projects(samples)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("the benchmark's runtime", e))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| Error::io("127.0.0.1:0", e))?;
        let address = listener.local_addr().map_err(|e| Error::io("127.0.0.1:0", e))?;
        let queue_limit = config.limits.queue;
        let heuristic = ServeConfig { enabled: false, ..config.clone() };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (generation_out, generation_in) = std::sync::mpsc::channel();
        let on_ready = move |service: &crate::service::Service| {
            let _ = generation_out.send(service.generation());
        };
        let server = tokio::spawn(crate::http::serve(
            config,
            listener,
            async {
                let _ = stopped.await;
            },
            on_ready,
        ));
        let client = Arc::new(ready(address).await?);
        // Only projects with two candidates or more ask the model anything.
        let mut ranked = Vec::new();
        let mut largest: Option<(String, usize, RankRequest)> = None;
        for (name, project) in projects {
            let size = project.dockerfile.len();
            let request = RankRequest { project, candidates: None, explain: false };
            let Ok(response) = client.rank(&request).await else { continue };
            if response.ranking.len() >= 2 {
                if largest.as_ref().is_none_or(|(_, s, _)| size > *s) {
                    largest = Some((name.clone(), size, request.clone()));
                }
                ranked.push(request);
            }
        }
        let Some((name, _, big)) = largest else {
            return Err(Error::request("samples", "no sample project has two candidates to rank"));
        };
        let largest = cost_of(&client, &big, &name, heuristic).await?;
        let mut out = Vec::new();
        for &clients in levels {
            out.push(level(&client, &ranked, clients, requests).await);
        }
        let engine = generation_in.try_recv().ok().and_then(|g| g.engine.clone()).map_or((0, 0, 0, 0, 0.0), |stats| {
            let load = |n: &std::sync::atomic::AtomicU64| n.load(std::sync::atomic::Ordering::Relaxed);
            let busy = load(&stats.busy_micros) as f64 / 1e6;
            (load(&stats.steps), load(&stats.batched_steps), load(&stats.tokens), load(&stats.cached_tokens), busy)
        });
        let _ = stop.send(());
        let _ = server.await;
        Ok(Report { levels: out, projects: ranked.len(), queue_limit, largest, engine })
    })
}

/// A cold and a warm rank of `request`, and the rules alone on it.
async fn cost_of(
    client: &Client,
    request: &RankRequest,
    name: &str,
    heuristic: ServeConfig,
) -> Result<(String, f64, f64, f64)> {
    // A project the cache has not seen: the same Dockerfile with a comment of its own.
    let mut cold = request.clone();
    cold.project.dockerfile = format!("# cold {}\n{}", std::process::id(), cold.project.dockerfile);
    let started = Instant::now();
    client.rank(&cold).await?;
    let cold_ms = started.elapsed().as_secs_f64() * 1e3;
    let started = Instant::now();
    client.rank(&cold).await?;
    let warm_ms = started.elapsed().as_secs_f64() * 1e3;
    let request = request.clone();
    let rules_ms = tokio::task::spawn_blocking(move || -> Result<f64> {
        let service = crate::service::Service::start(&heuristic)?;
        let started = Instant::now();
        service.rank(&request)?;
        Ok(started.elapsed().as_secs_f64() * 1e3)
    })
    .await
    .map_err(|e| Error::request("bench", e.to_string()))??;
    Ok((name.to_owned(), cold_ms, warm_ms, rules_ms))
}

async fn ready(address: SocketAddr) -> Result<Client> {
    let client = Client::new(&format!("http://{address}"), &Allowlist::default(), Duration::from_mins(10))?;
    for _ in 0..1200 {
        if client.health().await.is_ok_and(|h| h.status == "ok") {
            return Ok(client);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(Error::request("model", "the server did not become ready in 120 s"))
}

async fn level(client: &Arc<Client>, requests: &[RankRequest], clients: usize, total: usize) -> Level {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let requests = Arc::new(requests.to_vec());
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (client, next, requests) = (Arc::clone(client), Arc::clone(&next), Arc::clone(&requests));
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if n >= total {
                        break outcomes;
                    }
                    let begun = Instant::now();
                    let result = client.rank(&requests[n % requests.len()]).await;
                    outcomes.push((result, begun.elapsed().as_secs_f64() * 1e3));
                }
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let (mut rejected, mut errors) = (0, 0);
    for task in tasks {
        for (result, ms) in task.await.unwrap_or_default() {
            match result {
                Ok(_) => latencies.push(ms),
                Err(ClientError::Status { status, .. }) if status.as_u16() == 503 => rejected += 1,
                Err(_) => errors += 1,
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    // The nearest-rank quantile at `percent`.
    let quantile = |percent: usize| {
        if latencies.is_empty() { 0.0 } else { latencies[((latencies.len() - 1) * percent).div_ceil(100)] }
    };
    Level {
        clients,
        requests: total,
        ok: latencies.len(),
        rejected,
        errors,
        seconds,
        p50_ms: quantile(50),
        p95_ms: quantile(95),
        p99_ms: quantile(99),
    }
}

/// Every project directory under `samples`, as a client sends it.
fn sample_projects(samples: &Path) -> Result<Vec<(String, ProjectInput)>> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(samples).map_err(|e| Error::io(samples, e))?;
    let mut dirs: Vec<_> = entries.flatten().map(|e| e.path()).filter(|p| p.join("Dockerfile").is_file()).collect();
    dirs.sort();
    for dir in dirs {
        let project = codi_core::project::Project::load(&dir, &codi_core::syntax::ParseOptions::default())?;
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let input = ProjectInput::from_project(&project, &name);
        out.push((name, input));
    }
    Ok(out)
}
