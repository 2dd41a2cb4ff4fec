//! A GitHub collection run: the plan's searches page by page, each result's repository, file
//! and context, with a journal that makes the run resumable.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::Path;

use codi_dataset::pipeline::{Progress, Stats};
use codi_dataset::records::RawRecord;

use crate::context::{Fetched, manifests};
use crate::github::{self, GithubOptions, Query, plan};
use crate::run::{Run, timestamp};
use crate::{Error, RawStore, Result};

/// The lines of the journal that makes a GitHub collection resumable.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
enum Journal {
    /// A search page whose items were all handled.
    Page { q: String, page: u32 },
    /// A file handled (collected or rejected): `owner/repo@commit:path`.
    File { key: String },
    /// A query whose every page was handled.
    Query { q: String },
}

fn read_journal(path: &Path) -> Vec<Journal> {
    let Ok(text) = std::fs::read_to_string(path) else { return Vec::new() };
    // A line cut short by a crash is ignored: its work is redone.
    text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

fn append_journal(path: &Path, entry: &Journal) -> Result<()> {
    use std::io::Write as _;
    let line =
        serde_json::to_string(entry).map_err(|e| Error::Store { path: path.to_owned(), message: e.to_string() })?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| codi_dataset::Error::Io { path: path.to_owned(), source })?;
    writeln!(file, "{line}")
        .and_then(|()| file.sync_data())
        .map_err(|source| codi_dataset::Error::Io { path: path.to_owned(), source })?;
    Ok(())
}

/// The plan of a GitHub collection, as text (`--dry-run`).
pub fn describe_plan(options: &GithubOptions) -> String {
    let mut out = format!(
        "GitHub code search at {} ({}), up to {} files, {} page(s) of {} per query, repositories with at least {} stars:\n",
        options.api,
        if options.token.is_some() { "authenticated with GITHUB_TOKEN" } else { "unauthenticated: set GITHUB_TOKEN" },
        options.max_files,
        options.pages,
        options.per_page,
        options.min_stars
    );
    for query in plan(options) {
        let _ = writeln!(out, "  [{}] {}", query.stack, query.q);
    }
    out.push_str(
        "Each result: the file and its context's manifests through the contents API, the repository's licence.\n",
    );
    out
}

/// Collects Dockerfiles from GitHub into `raw`; resumes where an interrupted run stopped.
pub fn collect_github(options: &GithubOptions, raw: &Path, progress: &dyn Progress) -> Result<Stats> {
    let mut client = github::Client::new(options)?;
    let store = RawStore::open(raw)?;
    let journal_path = store.journal();
    let mut run = Run::new(store, "collect", options.shard);
    std::fs::create_dir_all(raw).map_err(|source| codi_dataset::Error::Io { path: raw.to_owned(), source })?;
    let journal = read_journal(&journal_path);
    let mut done_queries = HashSet::new();
    let mut done_pages = HashSet::new();
    let mut done_files = HashSet::new();
    for entry in journal {
        match entry {
            Journal::Query { q } => done_queries.insert(q),
            Journal::Page { q, page } => done_pages.insert((q, page)),
            Journal::File { key } => done_files.insert(key),
        };
    }
    run.stats.add("resume", "pages_done_before", done_pages.len() as u64);
    run.stats.add("resume", "files_done_before", done_files.len() as u64);
    progress.phase("collect: github", Some(options.max_files as u64));
    let mut collected = 0usize;
    let mut stopped = None;
    let queries = plan(options)
        .into_iter()
        .enumerate()
        .filter(|(i, _)| options.shard.count <= 1 || *i as u32 % options.shard.count == options.shard.index);
    'queries: for (_, query) in queries {
        if done_queries.contains(&query.q) {
            continue;
        }
        for page in 1..=options.pages {
            if done_pages.contains(&(query.q.clone(), page)) {
                continue;
            }
            let origin = format!("search `{}` page {page}", query.q);
            let results = match client.search(&query.q, page) {
                Ok(results) => results,
                Err(e) => match failure(&e, "search-failed") {
                    Failure::Stop(why) => {
                        stopped = Some(why);
                        break 'queries;
                    }
                    Failure::Reject(reason) => {
                        run.reject("", &origin, reason, e.to_string());
                        continue;
                    }
                },
            };
            for item in &results.items {
                let key = format!("{}@{}:{}", item.repository.full_name, item.commit(), item.path);
                if done_files.contains(&key) {
                    continue;
                }
                if collected >= options.max_files {
                    break 'queries;
                }
                match fetch_item(&mut client, &mut run, options, &query, item) {
                    Ok(admitted) => collected += usize::from(admitted),
                    Err(e) => match failure(&e, "fetch-failed") {
                        Failure::Stop(why) => {
                            stopped = Some(why);
                            break 'queries;
                        }
                        Failure::Reject(reason) => run.reject("", &key, reason, e.to_string()),
                    },
                }
                append_journal(&journal_path, &Journal::File { key })?;
                progress.advance(1);
            }
            append_journal(&journal_path, &Journal::Page { q: query.q.clone(), page })?;
            let last = results.items.len() < options.per_page as usize
                || u64::from(page * options.per_page) >= results.total_count;
            if last || page == options.pages {
                append_journal(&journal_path, &Journal::Query { q: query.q.clone() })?;
                break;
            }
        }
    }
    let traffic = client.traffic.clone();
    for (name, value) in [
        ("requests", traffic.requests),
        ("rate_limit_waits", traffic.rate_limit_waits),
        ("server_error_retries", traffic.server_error_retries),
        ("waited_seconds", traffic.waited_seconds),
    ] {
        run.stats.add("github", name, value);
    }
    if let Some(why) = stopped {
        run.stats.add("stopped", &why, 1);
    }
    run.finish()
}

/// What a failed request means for the run.
enum Failure {
    /// The rate limit needs a longer wait than allowed: stop, to be resumed.
    Stop(String),
    /// Reject what was being fetched, with this reason.
    Reject(&'static str),
}

fn failure(error: &github::FetchError, otherwise: &'static str) -> Failure {
    match error {
        github::FetchError::RateLimited { until } => Failure::Stop(format!("rate limited until {until}")),
        github::FetchError::Malformed(_) => Failure::Reject("malformed-response"),
        _ => Failure::Reject(otherwise),
    }
}

/// One search result: its repository's licence and stars, the file, its context's manifests.
/// Whether a Dockerfile was admitted.
fn fetch_item(
    client: &mut github::Client,
    run: &mut Run,
    options: &GithubOptions,
    query: &Query,
    item: &github::SearchItem,
) -> Result<bool, github::FetchError> {
    let repo_name = item.repository.full_name.clone();
    let origin = item.html_url.clone();
    let repo = client.repo(&repo_name)?;
    if repo.stars < options.min_stars {
        run.reject("", &origin, "below-min-stars", format!("{} stars", repo.stars));
        return Ok(false);
    }
    if repo.fork {
        run.reject("", &origin, "fork", String::new());
        return Ok(false);
    }
    let commit = item.commit();
    let bytes = match client.file(&repo_name, &item.path, &commit)? {
        Fetched::Text(text) => text.into_bytes(),
        Fetched::Missing => {
            run.reject("", &origin, "missing", "the search result is gone".into());
            return Ok(false);
        }
        Fetched::TooLarge => {
            run.reject("", &origin, "too-large", String::new());
            return Ok(false);
        }
        Fetched::NotText => {
            run.reject("", &origin, "not-utf8", String::new());
            return Ok(false);
        }
        Fetched::Failed(why) => return Err(github::FetchError::Failed { status: 0, message: why }),
    };
    let before = run.stats.output;
    let dir = item.path.rsplit_once('/').map_or("", |(dir, _)| dir).to_owned();
    let record = |id: String, content: String| RawRecord {
        id,
        source: "github".into(),
        repo: repo_name.clone(),
        path: item.path.clone(),
        git_ref: commit.clone(),
        url: item.html_url.clone(),
        license: repo.license.clone(),
        fetched_at: timestamp(),
        bytes: content.len() as u64,
        content,
        stack_hint: Some(query.stack.to_string()),
        related: Vec::new(),
        group: None,
    };
    let mut context = github::RepoContext { client, repo: repo_name.clone(), commit: commit.clone(), dir };
    run.admit(&origin, &bytes, record, |_| manifests(&mut context))
        .map_err(|e| github::FetchError::Failed { status: 0, message: e.to_string() })?;
    Ok(run.stats.output > before)
}
