//! The server over real loopback HTTP: every limit, heuristic mode, and with the default model
//! the batching (a request's scores alone = batched with others), adapter hot-swap and refusal,
//! explanations and the OpenAI-compatible endpoints.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use codi_serve::api::{ExplainRequest, ExplainResponse, Health, Mode, ProjectInput, RankRequest, RankResponse};
use codi_serve::client::{Allowlist, BlockingClient, Client};
use codi_serve::{ServeConfig, serve};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn default_model() -> Option<PathBuf> {
    let path = root().join(codi_model::DEFAULT_MODEL);
    if path.is_file() {
        return Some(path);
    }
    assert!(std::env::var_os("CODI_REQUIRE_ORACLES").is_none(), "the default model is missing (make model)");
    eprintln!("skipped: no default model (make model)");
    None
}

/// A sample project as a client sends it: the Dockerfile and every small file beside it.
fn project(name: &str) -> ProjectInput {
    let dir = root().join("data/samples").join(name);
    let mut files = BTreeMap::new();
    for entry in walk(&dir) {
        let relative = entry.strip_prefix(&dir).expect("inside").to_string_lossy().replace('\\', "/");
        if relative != "Dockerfile"
            && let Ok(text) = std::fs::read_to_string(&entry)
        {
            files.insert(relative, text);
        }
    }
    let dockerfile = std::fs::read_to_string(dir.join("Dockerfile")).expect("a sample Dockerfile");
    ProjectInput { dockerfile, files, name: Some(name.into()), context_bytes: None }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("a sample directory").flatten() {
        let path = entry.path();
        if path.is_dir() { out.extend(walk(&path)) } else { out.push(path) }
    }
    out
}

/// A server on an ephemeral loopback port, stopped when dropped.
struct Running {
    address: SocketAddr,
    runtime: tokio::runtime::Runtime,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _telemetry: tempfile::TempDir,
}

impl Running {
    fn start(configure: impl FnOnce(&mut ServeConfig)) -> Self {
        let telemetry = tempfile::tempdir().expect("a temporary directory");
        let mut config = ServeConfig {
            catalog: root().join("patterns/rules.yml"),
            telemetry: telemetry.path().join("llm_metrics.json"),
            adapters_dir: root().join("models/adapters"),
            ..ServeConfig::default()
        };
        configure(&mut config);
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio");
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("a port");
        let address = listener.local_addr().expect("bound");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        runtime.spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(error) = serve(config, listener, shutdown, |_| {}).await {
                eprintln!("server ended: {error}");
            }
        });
        let running = Self { address, runtime, stop: Some(stop), _telemetry: telemetry };
        for _ in 0..600 {
            if matches!(running.get("/healthz").0, 200) {
                return running;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the server never became ready");
    }

    fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    fn client(&self) -> BlockingClient {
        let client = Client::new(&self.url(), &Allowlist::default(), Duration::from_mins(2)).expect("loopback");
        BlockingClient::new(client).expect("a client runtime")
    }

    /// A raw request: (status, headers, body).
    fn raw(&self, request: &str) -> (u16, String, String) {
        let mut stream = TcpStream::connect(self.address).expect("connects");
        stream.set_read_timeout(Some(Duration::from_mins(2))).expect("timeout");
        stream.write_all(request.as_bytes()).expect("sends");
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        (status, head.to_owned(), body.to_owned())
    }

    fn get(&self, path: &str) -> (u16, String, String) {
        self.raw(&format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
    }

    fn post(&self, path: &str, body: &str, extra: &str) -> (u16, String, String) {
        self.raw(&format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
            body.len()
        ))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        std::thread::sleep(Duration::from_millis(50));
        let _ = &self.runtime;
    }
}

fn rank_body(name: &str) -> String {
    serde_json::to_string(&RankRequest { project: project(name), candidates: None, explain: false }).expect("json")
}

#[test]
fn heuristic_mode_answers_every_endpoint_and_every_limit_with_a_status() {
    let server = Running::start(|c| {
        c.enabled = false;
        c.api_key = Some("secret".into());
        c.limits.max_body_bytes = 64 * 1024;
    });
    let auth = "Authorization: Bearer secret\r\n";
    let (status, _, body) = server.get("/healthz");
    assert_eq!(status, 200, "{body}");
    let health: Health = serde_json::from_str(&body).expect("health");
    assert_eq!(health.mode, Some(Mode::Heuristic));

    // 401 without the key, 200 with it.
    assert_eq!(server.post("/llm/rank", &rank_body("python-fastapi-pip"), "").0, 401);
    let (status, _, body) = server.post("/llm/rank", &rank_body("python-fastapi-pip"), auth);
    assert_eq!(status, 200, "{body}");
    let ranked: RankResponse = serde_json::from_str(&body).expect("a ranking");
    assert_eq!(ranked.mode, Mode::Heuristic);
    assert!(ranked.ranking.len() >= 2 && ranked.selected == ranked.ranking[0].candidate_id);
    assert!(ranked.ranking.iter().all(|r| r.dockerfile.is_some()), "server-rendered candidates come back");
    let total: f64 = ranked.ranking.iter().map(|r| r.confidence).sum();
    assert!((total - 1.0).abs() < 1e-9, "{total}");

    // Asked to explain, a ranking carries the rationale; a rule with nothing to explain still ranks.
    for name in ["python-fastapi-pip", "go-http-cmd"] {
        let body = serde_json::to_string(&RankRequest { project: project(name), candidates: None, explain: true })
            .expect("json");
        let (status, _, text) = server.post("/llm/rank", &body, auth);
        assert_eq!(status, 200, "{name}: {text}");
    }

    // 413, 400 for malformed JSON, 400 naming the field.
    let huge = format!("{{\"project\":{{\"dockerfile\":\"{}\"}}}}", "x".repeat(100 * 1024));
    assert_eq!(server.post("/llm/rank", &huge, auth).0, 413);
    let (status, _, body) = server.post("/llm/rank", "{\"project\": ", auth);
    assert_eq!(status, 400, "{body}");
    let (status, _, body) = server.post("/llm/rank", r#"{"project":{"dockerfile":5}}"#, auth);
    assert_eq!(status, 400);
    assert!(body.contains("\"field\":\"project.dockerfile\""), "{body}");
    let (status, _, body) = server.post("/llm/rank", r#"{"project":{"dockerfile":"FROM scratch\n"}}"#, auth);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("\"field\":\"candidates\""), "{body}");
    let bad_candidate = serde_json::json!({
        "project": project("node-express-npm"),
        "candidates": [{"rule_id": "no-such-rule", "dockerfile": "FROM node:20\n"}]
    });
    let (status, _, body) = server.post("/llm/rank", &bad_candidate.to_string(), auth);
    assert_eq!(status, 400);
    assert!(body.contains("candidates[0].rule_id"), "{body}");

    // Explain in heuristic mode: the rules' own reasons, no Dockerfile text.
    let explain =
        serde_json::to_string(&ExplainRequest { project: project("node-express-npm"), rule_id: None }).expect("json");
    let (status, _, body) = server.post("/llm/explain", &explain, auth);
    assert_eq!(status, 200, "{body}");
    let explained: ExplainResponse = serde_json::from_str(&body).expect("an explanation");
    assert!(!explained.rule_ids.is_empty() && !codi_tasks::contains_instruction(&explained.summary));

    // The OpenAI endpoints need a model: a clear 503, not a crash.
    let (status, _, body) = server.post("/v1/completions", r#"{"prompt":"hi"}"#, auth);
    assert_eq!(status, 503, "{body}");

    let (status, _, metrics) =
        server.raw(&format!("GET /metrics HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"));
    assert_eq!(status, 200);
    assert!(metrics.contains("codi_requests_total{endpoint=\"/llm/rank\",status=\"200\"} 3"), "{metrics}");
    assert!(metrics.contains("codi_requests_total{endpoint=\"/llm/rank\",status=\"400\"}"), "{metrics}");
    assert!(metrics.contains("mode=\"heuristic\""), "{metrics}");
    let (_, _, openapi) =
        server.raw(&format!("GET /openapi.json HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"));
    for path in [
        "/healthz",
        "/llm/rank",
        "/llm/explain",
        "/adapters",
        "/metrics",
        "/v1/completions",
        "/v1/chat/completions",
        "/v1/models",
    ] {
        assert!(openapi.contains(&format!("\"{path}\"")), "{path} in /openapi.json");
    }
}

#[test]
fn a_missing_or_tampered_adapter_is_refused_and_the_old_one_keeps_serving() {
    let Some(model) = default_model() else { return };
    let adapter = root().join("models/adapters/smollm2-135m-codi");
    if !adapter.join("adapter_model.safetensors").is_file() {
        eprintln!("skipped: no trained adapter (make train)");
        return;
    }
    // An adapter that fails verify at start is an error, never a silent base-model answer.
    let tampered = tempfile::tempdir().expect("a directory");
    for entry in std::fs::read_dir(&adapter).expect("the adapter").flatten() {
        std::fs::copy(entry.path(), tampered.path().join(entry.file_name())).expect("copies");
    }
    let weights = tampered.path().join("adapter_model.safetensors");
    let mut bytes = std::fs::read(&weights).expect("weights");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&weights, bytes).expect("tampered");
    let config = ServeConfig {
        model: model.display().to_string(),
        adapter: Some(tampered.path().to_owned()),
        catalog: root().join("patterns/rules.yml"),
        ..ServeConfig::default()
    };
    let error = codi_serve::Service::start(&config).expect_err("a tampered adapter is refused at start");
    assert!(error.to_string().contains("refused"), "{error}");

    let server = Running::start(|c| c.model = model.display().to_string());
    let client = server.client();
    assert_eq!(client.health().expect("health").adapter_version, None);
    let body =
        |path: &Path| format!("{{\"path\":{}}}", serde_json::to_string(&path.display().to_string()).expect("json"));
    let (status, _, text) = server.post("/adapters", &body(Path::new("/no/such/adapter")), "");
    assert_eq!(status, 404, "{text}");
    let (status, _, text) = server.post("/adapters", &body(tampered.path()), "");
    assert_eq!(status, 422, "{text}");
    assert!(text.contains("checksum") || text.contains("sha256"), "the verify message: {text}");
    assert_eq!(client.health().expect("health").adapter_version, None, "the old (base) model keeps serving");
    let before = client.rank(&RankRequest { project: project("python-fastapi-pip"), candidates: None, explain: false });
    let before = before.expect("ranks");
    let (status, _, text) = server.post("/adapters", &body(&adapter), "");
    assert_eq!(status, 200, "{text}");
    let health = client.health().expect("health");
    assert!(health.adapter_version.is_some(), "the adapter answers now");
    let after = client.rank(&RankRequest { project: project("python-fastapi-pip"), candidates: None, explain: false });
    let after = after.expect("ranks");
    assert_eq!(after.adapter_version, health.adapter_version);
    assert_ne!(
        before.ranking.iter().map(|r| r.score).collect::<Vec<_>>(),
        after.ranking.iter().map(|r| r.score).collect::<Vec<_>>(),
        "no score cached under the base answers for the adapter"
    );
}

#[test]
fn scores_are_the_same_alone_and_batched_and_the_model_endpoints_answer() {
    let Some(model) = default_model() else { return };
    let server = Running::start(|c| c.model = model.display().to_string());
    let client = server.client();
    let names = ["python-fastapi-pip", "go-http-cmd", "python-django-gunicorn", "dotnet-webapi"];
    let request = |name: &str| RankRequest { project: project(name), candidates: None, explain: false };
    let concurrently = |work: &(dyn Fn(usize) -> String + Sync)| -> Vec<String> {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..names.len()).map(|i| scope.spawn(move || work(i))).collect();
            handles.into_iter().map(|h| h.join().expect("a client thread")).collect()
        })
    };
    // Rankings: alone, then all at once.
    let alone: Vec<RankResponse> = names.iter().map(|n| client.rank(&request(n)).expect("ranks alone")).collect();
    let batched: Vec<RankResponse> = concurrently(&|i| {
        serde_json::to_string(&server.client().rank(&request(names[i])).expect("ranks batched")).expect("json")
    })
    .iter()
    .map(|text| serde_json::from_str(text).expect("a ranking"))
    .collect();
    for (a, b) in alone.iter().zip(&batched) {
        assert_eq!(a.mode, Mode::Model);
        assert_eq!(a.ranking.len(), 2);
        for (x, y) in a.ranking.iter().zip(&b.ranking) {
            assert_eq!(x.candidate_id, y.candidate_id);
            assert!((x.score - y.score).abs() < 1e-4, "{} alone {} batched {}", x.candidate_id, x.score, y.score);
        }
    }
    // Generation: every token's log-probability alone and batched with the other requests'
    // steps (prompts of different lengths, so the caches are padded).
    let prompts = ["A Dockerfile", "Multi-stage builds keep", "Pin base images because", "USER"];
    let completion = |i: usize| {
        let body = format!(r#"{{"prompt":"{}","max_tokens":8,"temperature":0,"logprobs":1}}"#, prompts[i]);
        let (status, _, text) = server.post("/v1/completions", &body, "");
        assert_eq!(status, 200, "{text}");
        text
    };
    let logprobs = |text: &str| -> Vec<f64> {
        let value: serde_json::Value = serde_json::from_str(text).expect("json");
        value["choices"][0]["logprobs"]
            .as_array()
            .expect("logprobs")
            .iter()
            .map(|t| t["logprob"].as_f64().expect("a number"))
            .collect()
    };
    let alone: Vec<Vec<f64>> = (0..prompts.len()).map(|i| logprobs(&completion(i))).collect();
    let batched_steps = |text: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix("codi_engine_batched_steps_total "))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // Whether concurrent requests' steps meet in one forward depends on the scheduler: every
    // round must give the scores of the requests alone, and within a few rounds the steps must
    // have met (one round is usually enough).
    let mut shared = false;
    for _round in 0..5 {
        let (_, _, before) = server.get("/metrics");
        let together: Vec<Vec<f64>> = concurrently(&completion).iter().map(|t| logprobs(t)).collect();
        let (_, _, after) = server.get("/metrics");
        for (a, b) in alone.iter().zip(&together) {
            assert_eq!(a.len(), b.len());
            for (x, y) in a.iter().zip(b) {
                assert!((x - y).abs() < 1e-4, "alone {x} batched {y}");
            }
        }
        if batched_steps(&after) > batched_steps(&before) {
            shared = true;
            break;
        }
    }
    assert!(shared, "concurrent requests shared forwards");

    // Explanations never carry Dockerfile text.
    let explained =
        client.explain(&ExplainRequest { project: project("node-express-npm"), rule_id: None }).expect("explains");
    assert!(!codi_tasks::contains_instruction(&explained.summary), "{}", explained.summary);

    // OpenAI-compatible: completions with logprobs, chat, streaming.
    let (status, _, body) = server.post(
        "/v1/completions",
        r#"{"prompt":"A Dockerfile is","max_tokens":4,"temperature":0,"logprobs":2}"#,
        "",
    );
    assert_eq!(status, 200, "{body}");
    let value: serde_json::Value = serde_json::from_str(&body).expect("json");
    let logprobs = value["choices"][0]["logprobs"].as_array().expect("logprobs");
    assert_eq!(logprobs.len(), value["usage"]["completion_tokens"].as_u64().expect("usage") as usize);
    assert!(logprobs.iter().all(|t| t["logprob"].as_f64().is_some_and(|l| l <= 0.0)
        && t["top_logprobs"].as_array().is_some_and(|a| a.len() == 2)));
    let chat = r#"{"messages":[{"role":"user","content":"Say hi"}],"max_tokens":4,"temperature":0,"stream":true}"#;
    let (status, head, body) = server.post("/v1/chat/completions", chat, "");
    assert_eq!(status, 200);
    assert!(head.to_ascii_lowercase().contains("text/event-stream"), "{head}");
    assert!(body.contains("chat.completion.chunk") && body.contains("data: [DONE]"), "{body}");
    let (status, _, body) = server.post("/v1/completions", &format!("{{\"prompt\":\"{}\"}}", "word ".repeat(3000)), "");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("over the limit of 2048"), "names the count and the limit: {body}");
}

#[test]
fn a_full_queue_is_503_with_retry_after_and_a_slow_request_504() {
    let Some(model) = default_model() else { return };
    let server = Running::start(|c| {
        c.model = model.display().to_string();
        c.limits.queue = 1;
        c.timeout_seconds = 0.05;
    });
    let body = rank_body("python-django-gunicorn");
    let statuses: Vec<(u16, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..3)
            .map(|_| {
                scope.spawn(|| {
                    let (status, head, _) = server.post("/llm/rank", &body, "");
                    (status, head)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("a client")).collect()
    });
    assert!(statuses.iter().any(|(s, _)| *s == 504), "{statuses:?}");
    let full: Vec<&String> = statuses.iter().filter(|(s, _)| *s == 503).map(|(_, h)| h).collect();
    assert!(!full.is_empty(), "{statuses:?}");
    assert!(full.iter().all(|h| h.to_ascii_lowercase().contains("retry-after: 1")), "{full:?}");
    // The server is still up.
    assert_eq!(server.get("/healthz").0, 200);
}
