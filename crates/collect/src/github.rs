//! The GitHub source, through octocrab: code search for Dockerfiles (queries per stack, size
//! filter, pagination), the contents API for each file and its context, the repository's
//! licence (SPDX id) and stars.
//!
//! octocrab's own retry layer is off; this client decides: it reads the rate-limit headers and
//! waits for the reset when the budget is spent, waits on 403/429 for `Retry-After` or the reset
//! time, backs off exponentially on 5xx, and stops (resumably) rather than wait longer than
//! `max_wait`. It never sends two requests at once.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use codi_core::analysis::Stack;
use codi_dataset::pipeline::Shard;
use octocrab::Octocrab;
use octocrab::service::middleware::retry::RetryConfig;
use serde::Deserialize;

use crate::context::{ContextSource, Fetched, MAX_RELATED_BYTES};

#[derive(Debug, Clone)]
pub struct GithubOptions {
    /// The API's base URL (`https://api.github.com`; tests point it at a local server).
    pub api: String,
    /// From `GITHUB_TOKEN`; unauthenticated requests get a much smaller budget.
    pub token: Option<String>,
    pub stacks: Vec<Stack>,
    /// Stop after this many Dockerfiles collected.
    pub max_files: usize,
    /// Skip repositories with fewer stars.
    pub min_stars: u64,
    /// Search only files smaller than this (bytes).
    pub max_size: u64,
    /// Search result pages per query (GitHub serves at most 1000 results).
    pub pages: u32,
    /// Results per page (at most 100).
    pub per_page: u32,
    /// The longest single wait for a rate limit before the run stops (it can be resumed).
    pub max_wait: Duration,
    /// The first 5xx back-off; it doubles on each retry.
    pub backoff: Duration,
    /// Retries of a request that failed with a 5xx or a transport error.
    pub retries: u32,
    /// The queries of the plan this run makes (query `i` belongs to shard `i mod N`).
    pub shard: Shard,
}

impl Default for GithubOptions {
    fn default() -> Self {
        Self {
            api: "https://api.github.com".into(),
            token: std::env::var("GITHUB_TOKEN").ok().filter(|t| !t.is_empty()),
            stacks: Stack::ALL.to_vec(),
            max_files: 1000,
            min_stars: 0,
            max_size: 64 * 1024,
            pages: 10,
            per_page: 100,
            max_wait: Duration::from_mins(15),
            backoff: Duration::from_secs(1),
            retries: 4,
            shard: Shard::ALL,
        }
    }
}

/// One code-search query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub stack: Stack,
    pub q: String,
}

/// Base images whose Dockerfiles each stack's queries look for.
fn images(stack: Stack) -> &'static [&'static str] {
    match stack {
        Stack::Node => &["node"],
        Stack::Python => &["python"],
        Stack::Java => &["maven", "eclipse-temurin", "openjdk", "gradle"],
        Stack::Go => &["golang"],
        Stack::Rust => &["rust"],
        Stack::Ruby => &["ruby"],
        Stack::Php => &["php", "composer"],
        Stack::Dotnet => &["mcr.microsoft.com/dotnet/sdk"],
        Stack::Static => &["nginx", "httpd"],
    }
}

/// The searches a run makes, in order.
pub fn plan(options: &GithubOptions) -> Vec<Query> {
    let max = options.max_size;
    options
        .stacks
        .iter()
        .flat_map(|&stack| {
            images(stack)
                .iter()
                .map(move |image| Query { stack, q: format!("\"FROM {image}\" filename:Dockerfile size:<{max}") })
        })
        .collect()
}

/// Why a request gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    NotFound,
    /// The rate limit would need a longer wait than allowed; resume after this time (unix s).
    RateLimited {
        until: u64,
    },
    /// Still failing after the retries (status, message).
    Failed {
        status: u16,
        message: String,
    },
    /// The body is not the JSON expected.
    Malformed(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotFound => write!(f, "not found"),
            Self::RateLimited { until } => write!(f, "rate limited until {until} (unix time)"),
            Self::Failed { status, message } => write!(f, "HTTP {status}: {message}"),
            Self::Malformed(why) => write!(f, "malformed response: {why}"),
        }
    }
}

/// What the client did, for the stats.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Traffic {
    pub requests: u64,
    pub rate_limit_waits: u64,
    pub server_error_retries: u64,
    pub waited_seconds: u64,
}

/// A blocking GitHub client: one request at a time, rate limits honoured.
#[derive(Debug)]
pub struct Client {
    octocrab: Octocrab,
    runtime: tokio::runtime::Runtime,
    api: String,
    options: GithubOptions,
    /// When the budget was last seen exhausted: no request before this (unix s).
    resume_at: Option<u64>,
    repos: HashMap<String, Result<Repo, FetchError>>,
    pub traffic: Traffic,
}

/// What the collection keeps of a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    pub license: String,
    pub stars: u64,
    pub fork: bool,
}

#[derive(Debug, Deserialize)]
struct RepoJson {
    #[serde(default)]
    stargazers_count: u64,
    #[serde(default)]
    fork: bool,
    license: Option<LicenseJson>,
}

#[derive(Debug, Deserialize)]
struct LicenseJson {
    spdx_id: Option<String>,
}

/// One page of code search results.
#[derive(Debug, Deserialize)]
pub struct SearchPage {
    pub total_count: u64,
    pub items: Vec<SearchItem>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SearchItem {
    pub path: String,
    pub html_url: String,
    pub repository: SearchRepo,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SearchRepo {
    pub full_name: String,
}

impl SearchItem {
    /// The commit the result is at, from `…/blob/<commit>/<path>`.
    pub fn commit(&self) -> String {
        self.html_url.split("/blob/").nth(1).and_then(|rest| rest.split('/').next()).unwrap_or_default().to_owned()
    }
}

#[derive(Debug, Deserialize)]
struct ContentJson {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    encoding: String,
    #[serde(default)]
    content: String,
    #[serde(default)]
    size: u64,
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn header<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Percent-encodes a path or query component.
fn encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(char::from(byte)),
            b'/' if keep_slash => out.push('/'),
            _ => {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
    out
}

impl Client {
    pub fn new(options: &GithubOptions) -> crate::Result<Self> {
        let failed = |message: String| crate::Error::Github { api: options.api.clone(), message };
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| failed(e.to_string()))?;
        let octocrab = runtime.block_on(async {
            let mut builder = Octocrab::builder().add_retry_config(RetryConfig::None);
            if let Some(token) = &options.token {
                builder = builder.personal_token(token.clone());
            }
            builder = builder.base_uri(options.api.as_str()).map_err(|e| failed(e.to_string()))?;
            builder.build().map_err(|e| failed(e.to_string()))
        })?;
        Ok(Self {
            octocrab,
            runtime,
            api: options.api.trim_end_matches('/').to_owned(),
            options: options.clone(),
            resume_at: None,
            repos: HashMap::new(),
            traffic: Traffic::default(),
        })
    }

    fn sleep(&mut self, seconds: u64) {
        self.traffic.waited_seconds += seconds;
        std::thread::sleep(Duration::from_secs(seconds));
    }

    /// GET `path_and_query`: the body of a 200, after waiting out rate limits and retrying 5xx.
    fn get(&mut self, path_and_query: &str) -> Result<String, FetchError> {
        let url = format!("{}{path_and_query}", self.api);
        let mut server_errors = 0;
        let mut rate_limited = 0;
        loop {
            if let Some(at) = self.resume_at.take() {
                let wait = at.saturating_sub(now());
                if wait > self.options.max_wait.as_secs() {
                    return Err(FetchError::RateLimited { until: at });
                }
                self.sleep(wait);
            }
            self.traffic.requests += 1;
            let response = self.runtime.block_on(self.octocrab._get(url.as_str()));
            let (status, headers, body) = match response {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let headers = response.headers().clone();
                    match self.runtime.block_on(self.octocrab.body_to_string(response)) {
                        Ok(body) => (status, headers, body),
                        Err(e) => (599, headers, e.to_string()),
                    }
                }
                // Transport errors are retried like server errors.
                Err(e) => (599, http::HeaderMap::new(), e.to_string()),
            };
            let remaining = header(&headers, "x-ratelimit-remaining").and_then(|v| v.parse::<u64>().ok());
            let reset = header(&headers, "x-ratelimit-reset").and_then(|v| v.parse::<u64>().ok());
            if remaining == Some(0) {
                self.resume_at = reset.map(|r| r + 1);
            }
            match status {
                200..=299 => return Ok(body),
                404 => return Err(FetchError::NotFound),
                403 | 429
                    if remaining == Some(0) || headers.contains_key("retry-after") || body.contains("rate limit") =>
                {
                    rate_limited += 1;
                    self.traffic.rate_limit_waits += 1;
                    let retry_after = header(&headers, "retry-after").and_then(|v| v.parse::<u64>().ok());
                    // Secondary limits without headers: a minute, then longer.
                    let wait =
                        retry_after.or_else(|| reset.map(|r| r.saturating_sub(now()) + 1)).unwrap_or(60 * rate_limited);
                    if wait > self.options.max_wait.as_secs() {
                        return Err(FetchError::RateLimited { until: now() + wait });
                    }
                    self.resume_at = None;
                    self.sleep(wait);
                }
                500..=599 if server_errors < self.options.retries => {
                    self.traffic.server_error_retries += 1;
                    let backoff = self.options.backoff * 2u32.pow(server_errors);
                    server_errors += 1;
                    std::thread::sleep(backoff);
                }
                _ => {
                    let message = serde_json::from_str::<serde_json::Value>(&body)
                        .ok()
                        .and_then(|v| v["message"].as_str().map(str::to_owned))
                        .unwrap_or_else(|| body.chars().take(200).collect());
                    return Err(FetchError::Failed { status, message });
                }
            }
        }
    }

    fn get_json<T: serde::de::DeserializeOwned>(&mut self, path_and_query: &str) -> Result<T, FetchError> {
        let body = self.get(path_and_query)?;
        serde_json::from_str(&body).map_err(|e| FetchError::Malformed(format!("{path_and_query}: {e}")))
    }

    /// One page (1-based) of code search results.
    pub fn search(&mut self, q: &str, page: u32) -> Result<SearchPage, FetchError> {
        let per_page = self.options.per_page;
        self.get_json(&format!("/search/code?q={}&per_page={per_page}&page={page}", encode(q, false)))
    }

    /// A repository's licence and stars (asked once per repository).
    pub fn repo(&mut self, full_name: &str) -> Result<Repo, FetchError> {
        if let Some(known) = self.repos.get(full_name) {
            return known.clone();
        }
        let result = self.get_json::<RepoJson>(&format!("/repos/{}", encode(full_name, true))).map(|r| Repo {
            license: r
                .license
                .and_then(|l| l.spdx_id)
                .filter(|id| !id.is_empty())
                .unwrap_or_else(|| "NOASSERTION".into()),
            stars: r.stargazers_count,
            fork: r.fork,
        });
        if !matches!(result, Err(FetchError::RateLimited { .. })) {
            self.repos.insert(full_name.to_owned(), result.clone());
        }
        result
    }

    /// A file of a repository at a commit, through the contents API.
    pub fn file(&mut self, full_name: &str, path: &str, commit: &str) -> Result<Fetched, FetchError> {
        let route =
            format!("/repos/{}/contents/{}?ref={}", encode(full_name, true), encode(path, true), encode(commit, false));
        let content: ContentJson = match self.get_json(&route) {
            Ok(content) => content,
            Err(FetchError::NotFound) => return Ok(Fetched::Missing),
            // A directory listing is an array: not a file.
            Err(FetchError::Malformed(why)) if why.contains("invalid type: sequence") => return Ok(Fetched::Missing),
            Err(e) => return Err(e),
        };
        if content.kind != "file" {
            return Ok(Fetched::Missing);
        }
        if content.size as usize > MAX_RELATED_BYTES.max(self.options.max_size as usize) {
            return Ok(Fetched::TooLarge);
        }
        if content.encoding != "base64" {
            return Err(FetchError::Malformed(format!("{route}: encoding `{}`", content.encoding)));
        }
        let compact: String = content.content.split_whitespace().collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|e| FetchError::Malformed(format!("{route}: {e}")))?;
        Ok(String::from_utf8(bytes).map_or(Fetched::NotText, Fetched::Text))
    }
}

/// The build context of a Dockerfile in a repository: its directory at the search's commit.
#[derive(Debug)]
pub struct RepoContext<'c> {
    pub client: &'c mut Client,
    pub repo: String,
    pub commit: String,
    pub dir: String,
}

#[derive(Debug, Deserialize)]
struct ListedJson {
    path: String,
    #[serde(rename = "type")]
    kind: String,
}

impl ContextSource for RepoContext<'_> {
    /// The context directory's own files (one request; subdirectories are not walked).
    fn list(&mut self) -> Vec<String> {
        let route = format!(
            "/repos/{}/contents/{}?ref={}",
            encode(&self.repo, true),
            encode(&self.dir, true),
            encode(&self.commit, false)
        );
        let prefix = if self.dir.is_empty() { String::new() } else { format!("{}/", self.dir) };
        self.client.get_json::<Vec<ListedJson>>(&route).map_or_else(
            |_| Vec::new(),
            |entries| {
                entries
                    .into_iter()
                    .filter(|e| e.kind == "file")
                    .filter_map(|e| e.path.strip_prefix(&prefix).map(str::to_owned))
                    .collect()
            },
        )
    }

    fn read(&mut self, relative: &str) -> Fetched {
        if relative.starts_with('/') || relative.split('/').any(|c| c == "..") {
            return Fetched::Missing;
        }
        let path = if self.dir.is_empty() { relative.to_owned() } else { format!("{}/{relative}", self.dir) };
        match self.client.file(&self.repo, &path, &self.commit) {
            Ok(fetched) => fetched,
            Err(e) => Fetched::Failed(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_and_encoding() {
        let options =
            GithubOptions { stacks: vec![Stack::Go, Stack::Static], max_size: 1000, ..GithubOptions::default() };
        let queries = plan(&options);
        assert_eq!(queries.len(), 3);
        assert_eq!(queries[0].q, "\"FROM golang\" filename:Dockerfile size:<1000");
        assert_eq!(encode("\"FROM a\" b:<1", false), "%22FROM%20a%22%20b%3A%3C1");
        assert_eq!(encode("a b/c.txt", true), "a%20b/c.txt");
        let item = SearchItem {
            path: "Dockerfile".into(),
            html_url: "https://github.com/o/r/blob/0123abc/app/Dockerfile".into(),
            repository: SearchRepo { full_name: "o/r".into() },
        };
        assert_eq!(item.commit(), "0123abc");
    }
}
