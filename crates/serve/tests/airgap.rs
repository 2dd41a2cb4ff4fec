//! The air-gapped client: hosts outside AIRGAP_ALLOWLIST are refused before any connection,
//! AIRGAP_ALLOWLIST's forms parse, https is refused, and real round trips against a hand-rolled
//! HTTP/1.1 responder (answers, error bodies, timeouts).

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use codi_serve::api::{
    ErrorBody, ExplainRequest, ExplainResponse, Health, Mode, ProjectInput, RankRequest, RankResponse, Ranked, Reason,
};
use codi_serve::client::{Allowlist, BlockingClient, Client, ClientError};
use http::StatusCode;

const TIMEOUT: Duration = Duration::from_secs(10);

/// What the responder read: the request head (lower-cased) and body.
#[derive(Debug)]
struct Exchange {
    head: String,
    body: Vec<u8>,
}

/// Waits up to `within` for a connection, without blocking past it.
fn accept_within(listener: &TcpListener, within: Duration) -> Option<TcpStream> {
    listener.set_nonblocking(true).expect("a non-blocking listener");
    let deadline = Instant::now() + within;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).expect("a blocking stream");
                stream.set_read_timeout(Some(TIMEOUT)).expect("a read timeout");
                return Some(stream);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return None,
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// Serves one request with `status` and `body` from a thread. With `close` the connection is
/// closed after the answer; without, it is held open until the client drops it, as a keep-alive
/// server would. None: no connection came within the timeout.
fn serve_once(listener: TcpListener, status: &'static str, body: String, close: bool) -> JoinHandle<Option<Exchange>> {
    std::thread::spawn(move || {
        let mut stream = accept_within(&listener, TIMEOUT)?;
        let mut read = Vec::new();
        let mut block = [0; 4096];
        let head_end = loop {
            if let Some(at) = read.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let n = stream.read(&mut block).expect("the request");
            assert!(n > 0, "the client closed before a whole request head");
            read.extend_from_slice(&block[..n]);
        };
        let head = String::from_utf8_lossy(&read[..head_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .map_or(0, |n| n.trim().parse().expect("a content length"));
        while read.len() < head_end + length {
            let n = stream.read(&mut block).expect("the request body");
            assert!(n > 0, "the client closed before the whole body");
            read.extend_from_slice(&block[..n]);
        }
        let connection = if close { "close" } else { "keep-alive" };
        write!(
            stream,
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: {connection}\r\n\r\n{body}",
            body.len()
        )
        .expect("the answer");
        if !close {
            // Held open until the client, done with the answer, drops the connection.
            while stream.read(&mut block).is_ok_and(|n| n > 0) {}
        }
        Some(Exchange { head, body: read[head_end..].to_vec() })
    })
}

fn loopback_listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback listener");
    let addr = listener.local_addr().expect("its address");
    (listener, addr)
}

fn loopback_only() -> Allowlist {
    Allowlist::parse("").expect("the empty allowlist")
}

fn rank_request() -> RankRequest {
    RankRequest {
        project: ProjectInput {
            dockerfile: "FROM node:20\nCOPY . .\nRUN npm install\n".to_owned(),
            files: [("package.json".to_owned(), "{}".to_owned())].into(),
            name: Some("demo".to_owned()),
            context_bytes: None,
        },
        candidates: None,
        explain: false,
    }
}

fn rank_response() -> RankResponse {
    RankResponse {
        ranking: vec![Ranked {
            candidate_id: "node-multistage".to_owned(),
            rule_id: "node-multistage".to_owned(),
            score: -0.5,
            confidence: 1.0,
            rank: 1,
            dockerfile: Some("FROM node:20 AS build\n".to_owned()),
        }],
        selected: "node-multistage".to_owned(),
        rationale: None,
        adapter_version: None,
        base_model: "HuggingFaceTB/SmolLM2-135M-Instruct".to_owned(),
        mode: Mode::Heuristic,
        latency_ms: 3.0,
    }
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("JSON")
}

fn refused(endpoint: &str, allowlist: &Allowlist) -> String {
    match Client::new(endpoint, allowlist, TIMEOUT) {
        Err(error @ ClientError::AirGap { .. }) => error.to_string(),
        other => panic!("{endpoint}: expected an air-gap refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_host_not_allowed_is_refused_before_any_connection() {
    // Linux routes all of 127/8 to lo: a second loopback address to listen on.
    let listener = TcpListener::bind("127.0.0.2:0").expect("a listener on 127.0.0.2");
    let endpoint = format!("http://{}", listener.local_addr().expect("its address"));

    let message = refused(&endpoint, &Allowlist::strict("127.0.0.1").expect("an allowlist"));
    assert!(message.contains("AIRGAP_ALLOWLIST") && message.contains("127.0.0.2"), "{message}");
    assert!(accept_within(&listener, Duration::from_millis(300)).is_none(), "no connection was attempted");

    // The same call with 127.0.0.2 listed reaches the listener: the check above can fail.
    let client = Client::new(&endpoint, &Allowlist::strict("127.0.0.1, 127.0.0.2").expect("an allowlist"), TIMEOUT)
        .expect("an allowed host");
    let server = serve_once(listener, "200 OK", json(&rank_response()), true);
    assert_eq!(client.rank(&rank_request()).await.expect("an answer"), rank_response());
    assert!(server.join().expect("the responder").is_some(), "the listener saw the connection");
}

#[test]
fn the_refusal_names_the_host_and_the_setting() {
    assert_eq!(
        refused("http://10.1.2.3:8081", &loopback_only()),
        "http://10.1.2.3:8081: air-gap: 10.1.2.3 is not loopback and not in AIRGAP_ALLOWLIST (set \
         AIRGAP_ALLOWLIST=10.1.2.3 to allow it)"
    );
    let message = refused("http://10.1.2.3:8081", &Allowlist::parse("10.9.9.9").expect("an allowlist"));
    assert!(message.contains("add 10.1.2.3 to it"), "{message}");
    // A name must be listed by name; its address being loopback-like does not matter.
    let message = refused("http://llm.lan:8081/", &loopback_only());
    assert!(message.contains("llm.lan is not loopback and not in AIRGAP_ALLOWLIST"), "{message}");
    // Listed, but resolving to nothing (.invalid never resolves, RFC 6761).
    let message = refused("http://nothing.invalid:8081", &Allowlist::parse("nothing.invalid").expect("an allowlist"));
    assert!(message.contains("nothing.invalid is allowed but"), "{message}");
    // Strict: loopback too must be listed.
    let message = refused("http://localhost:8081", &Allowlist::strict("").expect("an allowlist"));
    assert!(message.contains("strict"), "{message}");
}

#[test]
fn loopback_is_always_allowed_and_listed_hosts_by_port() {
    let open = loopback_only();
    for endpoint in ["http://127.0.0.1:8081", "http://127.9.9.9", "http://[::1]:8081", "http://localhost:8081/"] {
        Client::new(endpoint, &open, TIMEOUT).unwrap_or_else(|e| panic!("{endpoint}: {e}"));
    }
    let listed = Allowlist::parse("10.0.0.5:8081, fd00::7").expect("an allowlist");
    Client::new("http://10.0.0.5:8081", &listed, TIMEOUT).expect("the listed port");
    refused("http://10.0.0.5:9000", &listed);
    Client::new("http://[fd00::7]:1234", &listed, TIMEOUT).expect("any port of a host listed without one");
    Client::new("http://127.0.0.1:8081", &listed, TIMEOUT).expect("loopback besides the list");
}

#[test]
fn allowlist_forms_parse() {
    let parse = |spec: &str| Allowlist::parse(spec).unwrap_or_else(|e| panic!("{spec:?}: {e}"));
    assert_eq!(parse("a.lan,10.0.0.1"), parse(" a.lan \n 10.0.0.1 "));
    assert_eq!(parse("a.lan,10.0.0.1"), parse("A.LAN.,,10.0.0.1,"));
    assert_eq!(parse(""), parse(" , "));
    assert_ne!(parse("a.lan"), parse("a.lan:80"));
    assert_ne!(parse(""), Allowlist::strict("").expect("strict"));
    let all = parse("gpu-box.lan:8081\t192.168.1.20 [fe80::1]:8081 fe80::2 [fe80::3] llm_1");
    for endpoint in ["http://192.168.1.20:1", "http://[fe80::1]:8081", "http://[fe80::2]", "http://[fe80::3]:9"] {
        Client::new(endpoint, &all, TIMEOUT).unwrap_or_else(|e| panic!("{endpoint}: {e}"));
    }
    // A listed name passes the list and is looked up (and, here, found nowhere).
    let message = refused("http://gpu-box.lan:8081", &all);
    assert!(message.contains("gpu-box.lan is allowed but"), "{message}");
    refused("http://[fe80::1]:9", &all);
    for bad in ["http://10.0.0.1", "10.0.0.0/8", "host:port", "[::1", "[zz]:1", "[::1]8081", ":8081", "bad!host"] {
        match Allowlist::parse(bad) {
            Err(error @ ClientError::Allowlist { .. }) => {
                let message = error.to_string();
                assert!(message.starts_with("AIRGAP_ALLOWLIST entry"), "{message}");
                assert!(message.contains(bad), "{message}");
            }
            other => panic!("{bad:?} should not parse: {other:?}"),
        }
    }
}

#[test]
fn only_plain_http_endpoints() {
    let endpoint_error = |endpoint: &str| match Client::new(endpoint, &loopback_only(), TIMEOUT) {
        Err(error @ ClientError::Endpoint { .. }) => error.to_string(),
        other => panic!("{endpoint}: expected an endpoint error, got {other:?}"),
    };
    let message = endpoint_error("https://127.0.0.1:8081");
    assert!(message.contains("https is not supported") && message.contains("http://"), "{message}");
    assert!(message.starts_with("LLM_ENDPOINT https://127.0.0.1:8081"), "{message}");
    for endpoint in ["ftp://127.0.0.1", "127.0.0.1:8081", "http://user:pw@127.0.0.1/", "http://127.0.0.1/?a=b", ""] {
        endpoint_error(endpoint);
    }
}

#[tokio::test]
async fn post_round_trip_with_base_path_and_api_key() {
    let (listener, addr) = loopback_listener();
    let server = serve_once(listener, "200 OK", json(&rank_response()), false);
    let client = Client::new(&format!("http://{addr}/v1/"), &loopback_only(), TIMEOUT)
        .expect("a loopback endpoint")
        .with_api_key("secret-key");
    assert!(!format!("{client:?}").contains("secret-key"), "the key stays out of Debug");
    assert_eq!(client.rank(&rank_request()).await.expect("an answer"), rank_response());
    let exchange = server.join().expect("the responder").expect("a connection");
    assert!(exchange.head.starts_with("post /v1/llm/rank http/1.1\r\n"), "{}", exchange.head);
    for header in
        [&format!("host: {addr}") as &str, "authorization: bearer secret-key", "content-type: application/json"]
    {
        assert!(exchange.head.contains(header), "{header} in {}", exchange.head);
    }
    let sent: RankRequest = serde_json::from_slice(&exchange.body).expect("a JSON request");
    assert_eq!(sent, rank_request());
}

#[tokio::test]
async fn get_and_explain_round_trips() {
    let health = Health {
        status: "ok".to_owned(),
        model_id: Some("smollm2-135m".to_owned()),
        adapter_version: None,
        mode: Some(Mode::Model),
    };
    let (listener, addr) = loopback_listener();
    let server = serve_once(listener, "200 OK", json(&health), true);
    let client = Client::new(&format!("http://{addr}"), &loopback_only(), TIMEOUT).expect("a loopback endpoint");
    assert_eq!(client.health().await.expect("health"), health);
    let exchange = server.join().expect("the responder").expect("a connection");
    assert!(exchange.head.starts_with("get /healthz http/1.1\r\n"), "{}", exchange.head);
    assert!(!exchange.head.contains("authorization"), "no key, no header: {}", exchange.head);

    let explained = ExplainResponse {
        summary: "Two stages keep the build tools out of the image.".to_owned(),
        rationale: vec![Reason { code: "DL3059".to_owned(), why: "fewer layers".to_owned() }],
        rule_ids: vec!["node-multistage".to_owned()],
        filtered: false,
        adapter_version: None,
        mode: Mode::Model,
        latency_ms: 40.0,
    };
    let (listener, addr) = loopback_listener();
    let server = serve_once(listener, "200 OK", json(&explained), false);
    let client = Client::new(&format!("http://localhost:{}", addr.port()), &loopback_only(), TIMEOUT)
        .expect("localhost is loopback");
    let request = ExplainRequest { project: rank_request().project, rule_id: Some("node-multistage".to_owned()) };
    assert_eq!(client.explain(&request).await.expect("an explanation"), explained);
    let exchange = server.join().expect("the responder").expect("a connection");
    assert!(exchange.head.starts_with("post /llm/explain http/1.1\r\n"), "{}", exchange.head);

    // A server still loading answers 503 with its health: an answer, not an error.
    let loading = Health { status: "loading".to_owned(), model_id: None, adapter_version: None, mode: None };
    let (listener, addr) = loopback_listener();
    let server = serve_once(listener, "503 Service Unavailable", json(&loading), true);
    let client = Client::new(&format!("http://{addr}"), &loopback_only(), TIMEOUT).expect("a loopback endpoint");
    assert_eq!(client.health().await.expect("a loading server's health"), loading);
    server.join().expect("the responder").expect("a connection");
}

#[tokio::test]
async fn error_statuses_carry_the_error_body() {
    let (listener, addr) = loopback_listener();
    let body = ErrorBody { error: "no candidate re-parses".to_owned(), field: Some("candidates".to_owned()) };
    let server = serve_once(listener, "422 Unprocessable Entity", json(&body), true);
    let client = Client::new(&format!("http://{addr}"), &loopback_only(), TIMEOUT).expect("a loopback endpoint");
    let error = client.rank(&rank_request()).await.expect_err("a 422");
    let message = error.to_string();
    match error {
        ClientError::Status { status, body: Some(parsed), .. } => {
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
            assert_eq!(parsed, body);
        }
        other => panic!("expected a status error with its body, got {other:?}"),
    }
    assert_eq!(
        message,
        format!("http://{addr}/llm/rank: HTTP 422 Unprocessable Entity: no candidate re-parses (field `candidates`)")
    );
    server.join().expect("the responder").expect("a connection");

    // A body that is not an ErrorBody is kept as text.
    let (listener, addr) = loopback_listener();
    let server = serve_once(listener, "500 Internal Server Error", "upstream exploded".to_owned(), false);
    let client = Client::new(&format!("http://{addr}"), &loopback_only(), TIMEOUT).expect("a loopback endpoint");
    match client.get::<Health>("healthz").await {
        Err(ClientError::Status { status, body: None, text, .. }) => {
            assert_eq!((status, text.as_str()), (StatusCode::INTERNAL_SERVER_ERROR, "upstream exploded"));
        }
        other => panic!("expected a status error without a body, got {other:?}"),
    }
    server.join().expect("the responder").expect("a connection");
}

#[tokio::test]
async fn the_timeout_fires_against_a_server_that_never_answers() {
    // Connections complete in the kernel's backlog; nothing ever reads or answers them.
    let (_listener, addr) = loopback_listener();
    let timeout = Duration::from_millis(300);
    let client = Client::new(&format!("http://{addr}"), &loopback_only(), timeout).expect("a loopback endpoint");
    let started = Instant::now();
    let error = client.rank(&rank_request()).await.expect_err("no answer");
    let elapsed = started.elapsed();
    assert!(matches!(error, ClientError::Timeout { .. }), "{error:?}");
    assert!(elapsed >= timeout && elapsed < Duration::from_secs(5), "{elapsed:?}");
    let message = error.to_string();
    assert!(message.contains(&format!("http://{addr}/llm/rank")) && message.contains("300ms"), "{message}");
}

#[tokio::test]
async fn a_closed_port_is_a_connect_error() {
    let (listener, addr) = loopback_listener();
    drop(listener);
    let client = Client::new(&format!("http://{addr}"), &loopback_only(), TIMEOUT).expect("a loopback endpoint");
    let error = client.health().await.expect_err("nothing listens");
    assert!(matches!(error, ClientError::Connect { .. }), "{error:?}");
    assert!(error.to_string().starts_with(&format!("http://{addr}/healthz: cannot connect")), "{error}");
}

#[test]
fn the_blocking_client_round_trips() {
    let (listener, addr) = loopback_listener();
    let server = serve_once(listener, "200 OK", json(&rank_response()), false);
    let client = Client::new(&format!("http://{addr}"), &loopback_only(), TIMEOUT).expect("a loopback endpoint");
    let blocking = BlockingClient::new(client).expect("a runtime");
    assert_eq!(blocking.rank(&rank_request()).expect("an answer"), rank_response());
    server.join().expect("the responder").expect("a connection");
}
