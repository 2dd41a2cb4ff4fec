//! The GitHub source against a local HTTP server on 127.0.0.1 that answers like GitHub's API:
//! code search with pagination, repositories, contents (base64), directory listings — and a
//! 403 rate limit with a reset time, a 429 with Retry-After, a 500 and a malformed body. No test
//! touches the internet.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use codi_collect::{GithubOptions, collect_github};
use codi_core::analysis::Stack;
use codi_dataset::pipeline::Quiet;
use codi_dataset::records::{RawRecord, Reject};
use codi_dataset::table::read_all;

/// A response: status, extra headers, body.
type Reply = (u16, Vec<(String, String)>, String);

/// A scripted GitHub: `route(path_and_query, nth call of that route)` answers each request.
struct MockGithub {
    url: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl MockGithub {
    fn start(route: impl Fn(&str, usize) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local port");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let log = Arc::new(Mutex::new(Vec::new()));
        let calls: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let route = Arc::new(route);
        let server_log = Arc::clone(&log);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (log, calls, route) = (Arc::clone(&server_log), Arc::clone(&calls), Arc::clone(&route));
                std::thread::spawn(move || serve(&stream, &log, &calls, route.as_ref()));
            }
        });
        Self { url, log }
    }

    fn requests(&self) -> Vec<String> {
        self.log.lock().expect("log").clone()
    }
}

fn serve(
    stream: &TcpStream,
    log: &Mutex<Vec<String>>,
    calls: &Mutex<HashMap<String, usize>>,
    route: &dyn Fn(&str, usize) -> Reply,
) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut content_length = 0;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                content_length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; content_length];
        let _ = reader.read_exact(&mut body);
        let path = request_line.split_whitespace().nth(1).unwrap_or_default().to_owned();
        log.lock().expect("log").push(path.clone());
        let nth = {
            let mut calls = calls.lock().expect("calls");
            let count = calls.entry(path.clone()).or_default();
            *count += 1;
            *count
        };
        let (status, headers, body) = route(&path, nth);
        let mut response =
            format!("HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n", body.len());
        for (name, value) in headers {
            let _ = write!(response, "{name}: {value}\r\n");
        }
        response.push_str("\r\n");
        response.push_str(&body);
        let mut writer = stream;
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs()
}

fn ok(body: &serde_json::Value) -> Reply {
    (200, vec![("x-ratelimit-remaining".into(), "29".into())], body.to_string())
}

fn not_found() -> Reply {
    (404, vec![], r#"{"message":"Not Found"}"#.into())
}

fn file(text: &str) -> Reply {
    let encoded = base64::engine::general_purpose::STANDARD.encode(text);
    // GitHub wraps base64 at 60 columns.
    let wrapped: Vec<String> = encoded.as_bytes().chunks(60).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
    ok(&serde_json::json!({"type": "file", "encoding": "base64", "size": text.len(), "content": wrapped.join("\n")}))
}

fn item(repo: &str, path: &str) -> serde_json::Value {
    serde_json::json!({"path": path, "html_url": format!("https://github.com/{repo}/blob/c0ffee/{path}"), "repository": {"full_name": repo}})
}

const NODE: &str =
    "FROM node:20\nCOPY package.json package-lock.json ./\nRUN npm ci\nCOPY . .\nCMD [\"node\", \"server.js\"]\n";
const API: &str = "FROM node:20-alpine\nWORKDIR /app\nCOPY . .\nRUN npm install\nCMD npm start\n";

/// The scripted API: three results over two pages, one of them in a fork and one malformed.
fn github(path: &str, nth: usize) -> Reply {
    let query = "?q=%22FROM%20node%22%20filename%3ADockerfile%20size%3A%3C65536&per_page=2";
    match path {
        p if p == format!("/search/code{query}&page=1") => match nth {
            // The budget is spent: wait until the reset, then go on.
            1 => (
                403,
                vec![
                    ("x-ratelimit-remaining".into(), "0".into()),
                    ("x-ratelimit-reset".into(), (now() + 1).to_string()),
                ],
                r#"{"message":"API rate limit exceeded"}"#.into(),
            ),
            _ => ok(
                &serde_json::json!({"total_count": 4, "items": [item("acme/web", "Dockerfile"), item("acme/web", "api/Dockerfile")]}),
            ),
        },
        p if p == format!("/search/code{query}&page=2") => match nth {
            1 => (500, vec![], "upstream error".into()),
            _ => ok(
                &serde_json::json!({"total_count": 4, "items": [item("acme/fork", "Dockerfile"), item("acme/broken", "Dockerfile")]}),
            ),
        },
        "/repos/acme/web" => {
            ok(&serde_json::json!({"stargazers_count": 12, "fork": false, "license": {"spdx_id": "MIT"}}))
        }
        "/repos/acme/fork" => ok(&serde_json::json!({"stargazers_count": 3, "fork": true, "license": null})),
        "/repos/acme/broken" => {
            ok(&serde_json::json!({"stargazers_count": 40, "fork": false, "license": {"spdx_id": "Apache-2.0"}}))
        }
        "/repos/acme/web/contents/Dockerfile?ref=c0ffee" => file(NODE),
        "/repos/acme/web/contents/api/Dockerfile?ref=c0ffee" => match nth {
            // A secondary rate limit: wait as told.
            1 => (429, vec![("retry-after".into(), "1".into())], r#"{"message":"secondary rate limit"}"#.into()),
            _ => file(API),
        },
        "/repos/acme/web/contents/package.json?ref=c0ffee" => {
            file(r#"{"name":"web","scripts":{"start":"node server.js"}}"#)
        }
        "/repos/acme/web/contents/package-lock.json?ref=c0ffee" => file("{}"),
        "/repos/acme/web/contents/?ref=c0ffee" => ok(&serde_json::json!([
            {"path": "Dockerfile", "type": "file"}, {"path": "server.js", "type": "file"}, {"path": "api", "type": "dir"}
        ])),
        "/repos/acme/broken/contents/Dockerfile?ref=c0ffee" => {
            (200, vec![], "{\"type\": \"file\", \"content\": ".into())
        }
        _ => not_found(),
    }
}

fn options(api: &str) -> GithubOptions {
    GithubOptions {
        api: api.to_owned(),
        token: Some("test-token".into()),
        stacks: vec![Stack::Node],
        per_page: 2,
        pages: 3,
        max_wait: Duration::from_secs(10),
        backoff: Duration::from_millis(10),
        ..GithubOptions::default()
    }
}

#[test]
fn collects_through_rate_limits_errors_and_pagination_then_resumes() {
    let server = MockGithub::start(github);
    let raw = tempfile::tempdir().expect("tempdir");
    let stats = collect_github(&options(&server.url), raw.path(), &Quiet).expect("collect");

    assert_eq!((stats.input, stats.output, stats.rejected), (4, 2, 2), "{stats:#?}");
    assert_eq!(stats.rejected_by_reason.get("fork"), Some(&1));
    assert_eq!(stats.rejected_by_reason.get("malformed-response"), Some(&1));
    assert_eq!(stats.counts["github"]["rate_limit_waits"], 2, "the 403 and the 429");
    assert_eq!(stats.counts["github"]["server_error_retries"], 1, "the 500");
    assert!(stats.counts["github"]["waited_seconds"] >= 1);

    let records: Vec<RawRecord> = read_all(&raw.path().join("manifest.parquet")).expect("manifest");
    assert_eq!(records.len(), 2);
    let node = records.iter().find(|r| r.path == "Dockerfile").expect("the root Dockerfile");
    assert_eq!((node.repo.as_str(), node.git_ref.as_str(), node.license.as_str()), ("acme/web", "c0ffee", "MIT"));
    assert_eq!(node.content, NODE);
    assert_eq!(node.stack_hint.as_deref(), Some("node"));
    let related: Vec<(&str, &str)> = node.related.iter().map(|r| (r.path.as_str(), r.status.as_str())).collect();
    assert!(related.contains(&("package.json", "found")), "{related:?}");
    assert!(related.contains(&("package-lock.json", "found")), "{related:?}");
    assert!(related.contains(&("server.js", "found")), "from the listing: {related:?}");
    let rejects: Vec<Reject> = read_all(&raw.path().join("__meta__/rejects.parquet")).expect("rejects");
    assert_eq!(rejects.len(), 2);
    assert!(raw.path().join("__meta__/stats.json").is_file());

    // A second run resumes from the journal: no search page is asked for again.
    let before = server.requests().len();
    let again = collect_github(&options(&server.url), raw.path(), &Quiet).expect("resume");
    let searches = server.requests()[before..].iter().filter(|p| p.starts_with("/search/")).count();
    assert_eq!(searches, 0, "{:?}", &server.requests()[before..]);
    assert_eq!(again.input, 0);
    assert_eq!(read_all::<RawRecord>(&raw.path().join("manifest.parquet")).expect("manifest").len(), 2);
}

#[test]
fn a_rate_limit_longer_than_allowed_stops_the_run_resumably() {
    let server = MockGithub::start(|_, _| {
        (
            403,
            vec![
                ("x-ratelimit-remaining".into(), "0".into()),
                ("x-ratelimit-reset".into(), (now() + 3600).to_string()),
            ],
            "{}".into(),
        )
    });
    let raw = tempfile::tempdir().expect("tempdir");
    let started = std::time::Instant::now();
    let stats =
        collect_github(&GithubOptions { max_wait: Duration::from_secs(1), ..options(&server.url) }, raw.path(), &Quiet)
            .expect("a stop is not an error");
    assert!(started.elapsed() < Duration::from_secs(5), "did not wait an hour");
    assert!(stats.counts["stopped"].keys().next().is_some_and(|why| why.starts_with("rate limited until")));
    assert_eq!(server.requests().len(), 1, "never hammers");
}

#[test]
fn dry_run_plan_lists_the_queries() {
    let plan = codi_collect::describe_plan(&GithubOptions {
        stacks: vec![Stack::Java],
        token: None,
        ..GithubOptions::default()
    });
    assert!(plan.contains("unauthenticated"), "{plan}");
    assert_eq!(plan.matches("[java]").count(), 4, "{plan}");
}
