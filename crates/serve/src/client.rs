//! The client `codi run` uses to reach LLM_ENDPOINT, air-gapped: plain HTTP/1.1 to loopback or to
//! hosts the operator listed in AIRGAP_ALLOWLIST, and nothing else. The endpoint's host is checked
//! when the client is built, before any connection or name lookup, and the addresses it resolved
//! to are the only ones it ever connects to (no second lookup a changed DNS answer could redirect).

use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs as _};
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST, USER_AGENT};
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::{ErrorBody, ExplainRequest, ExplainResponse, Health, RankRequest, RankResponse};

/// The environment variable that lists the hosts besides loopback the client may reach.
const ALLOWLIST_VAR: &str = "AIRGAP_ALLOWLIST";

/// The hosts the client may reach: AIRGAP_ALLOWLIST's entries, and loopback unless strict.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Allowlist {
    entries: Vec<Entry>,
    /// Loopback must be listed like any other host.
    strict: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    host: Host,
    /// Only this port; any port when none.
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Host {
    Ip(IpAddr),
    /// Lower-case, without a trailing dot.
    Name(String),
}

impl Host {
    fn parse(host: &str) -> Self {
        let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        host.parse().map_or_else(|_| Self::Name(host.trim_end_matches('.').to_ascii_lowercase()), Self::Ip)
    }

    fn is_loopback(&self) -> bool {
        match self {
            Self::Ip(ip) => is_loopback(*ip),
            Self::Name(name) => name == "localhost",
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(ip) => write!(f, "{ip}"),
            Self::Name(name) => f.write_str(name),
        }
    }
}

/// 127.0.0.0/8, ::1, and IPv4 loopback written as IPv6 (::ffff:127.x.y.z).
fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

impl Allowlist {
    /// Parses AIRGAP_ALLOWLIST's value: host names, IPv4 or IPv6 addresses, each optionally with
    /// a port (`host:port`, `[v6]:port`), separated by commas or whitespace. Empty: loopback only.
    pub fn parse(spec: &str) -> Result<Self, ClientError> {
        let entries = spec.split(|c: char| c == ',' || c.is_whitespace()).filter(|e| !e.is_empty());
        Ok(Self { entries: entries.map(parse_entry).collect::<Result<_, _>>()?, strict: false })
    }

    /// As [`Allowlist::parse`], but loopback is not allowed unless listed: the policy for
    /// operators who want every host the client talks to written down, loopback included.
    pub fn strict(spec: &str) -> Result<Self, ClientError> {
        Ok(Self { strict: true, ..Self::parse(spec)? })
    }

    /// AIRGAP_ALLOWLIST from the environment (unset: loopback only).
    pub fn from_env() -> Result<Self, ClientError> {
        Self::parse(&std::env::var(ALLOWLIST_VAR).unwrap_or_default())
    }

    fn allows(&self, host: &Host, port: u16) -> bool {
        (!self.strict && host.is_loopback())
            || self.entries.iter().any(|e| e.host == *host && e.port.is_none_or(|p| p == port))
    }
}

fn parse_entry(entry: &str) -> Result<Entry, ClientError> {
    let bad = |message: &str| ClientError::Allowlist { entry: entry.to_owned(), message: message.to_owned() };
    if entry.contains("://") {
        return Err(bad("list a host or host:port, not a URL"));
    }
    if entry.contains('/') {
        return Err(bad("address ranges are not supported; list each host"));
    }
    // A bare IPv6 address has colons of its own and no port.
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Ok(Entry { host: Host::Ip(ip), port: None });
    }
    let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
        let (v6, after) = rest.split_once(']').ok_or_else(|| bad("`[` without `]`"))?;
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(bad("not an IPv6 address inside [ ]"));
        }
        match after {
            "" => (v6, None),
            _ => (v6, Some(after.strip_prefix(':').ok_or_else(|| bad("expected `:port` after `]`"))?)),
        }
    } else {
        match entry.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (entry, None),
        }
    };
    let port =
        port.map(|p| p.parse::<u16>().map_err(|_| bad("the port is not a number from 0 to 65535"))).transpose()?;
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let host = Host::parse(host);
    if let Host::Name(name) = &host
        && !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    {
        return Err(bad("not a host name or IP address"));
    }
    Ok(Entry { host, port })
}

/// A JSON client for one codi server.
#[derive(Clone)]
pub struct Client {
    /// As given, without a trailing slash: what every message names.
    endpoint: String,
    /// `host[:port]` for the Host header.
    authority: String,
    /// The path the server is mounted under (empty, or `/prefix`).
    base_path: String,
    /// Checked against the allowlist when the client was built; the only addresses used.
    addrs: Vec<SocketAddr>,
    timeout: Duration,
    api_key: Option<String>,
}

/// The API key stays out of logs.
impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint)
            .field("addrs", &self.addrs)
            .field("timeout", &self.timeout)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for `endpoint` (`http://host[:port][/path]`), refused unless `allowlist` allows
    /// its host. Host names are looked up here, only once allowed, with the system resolver.
    /// `timeout` bounds each request whole: connect, request and response body.
    pub fn new(endpoint: &str, allowlist: &Allowlist, timeout: Duration) -> Result<Self, ClientError> {
        let endpoint = endpoint.trim().trim_end_matches('/').to_owned();
        let bad = |message: &str| ClientError::Endpoint { endpoint: endpoint.clone(), message: message.to_owned() };
        let uri: Uri = endpoint.parse().map_err(|_| bad("not a URL; expected http://host[:port][/path]"))?;
        match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
            Some("http") => {}
            Some("https") => {
                return Err(bad(
                    "https is not supported: the client speaks plain http to loopback or to LAN hosts listed in \
                     AIRGAP_ALLOWLIST; use http://",
                ));
            }
            _ => return Err(bad("expected http://host[:port][/path]")),
        }
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("user names and passwords in the URL are not supported; use an API key"));
        }
        if uri.query().is_some() {
            return Err(bad("a query string is not supported in the endpoint"));
        }
        let host = Host::parse(authority.host());
        let port = authority.port_u16().unwrap_or(80);
        if !allowlist.allows(&host, port) {
            let why = if host.is_loopback() {
                format!("is loopback, but AIRGAP_ALLOWLIST is strict and does not list it (add {host} to it)")
            } else if allowlist.entries.is_empty() {
                format!("is not loopback and not in AIRGAP_ALLOWLIST (set AIRGAP_ALLOWLIST={host} to allow it)")
            } else {
                format!("is not loopback and not in AIRGAP_ALLOWLIST (add {host} to it to allow it)")
            };
            return Err(ClientError::AirGap { endpoint, host: host.to_string(), why });
        }
        let addrs = match &host {
            Host::Ip(ip) => vec![SocketAddr::new(*ip, port)],
            Host::Name(name) => resolve(&endpoint, name, port)?,
        };
        Ok(Self {
            authority: authority.as_str().to_owned(),
            base_path: uri.path().trim_end_matches('/').to_owned(),
            endpoint,
            addrs,
            timeout,
            api_key: None,
        })
    }

    /// Sends `Authorization: Bearer <key>` with every request.
    #[must_use]
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// POST /llm/rank.
    pub async fn rank(&self, request: &RankRequest) -> Result<RankResponse, ClientError> {
        self.post("/llm/rank", request).await
    }

    /// POST /llm/explain.
    pub async fn explain(&self, request: &ExplainRequest) -> Result<ExplainResponse, ClientError> {
        self.post("/llm/explain", request).await
    }

    /// GET /healthz. A server still loading answers 503 with its health; that is an answer, not
    /// an error (`status` says `loading`).
    pub async fn health(&self) -> Result<Health, ClientError> {
        let (url, status, body) = self.exchange(Method::GET, "/healthz", None).await?;
        if status == StatusCode::SERVICE_UNAVAILABLE
            && let Ok(health) = serde_json::from_slice::<Health>(&body)
        {
            return Ok(health);
        }
        decode(url, status, &body)
    }

    /// POSTs `request` as JSON to `path` (under the endpoint's path) and reads the JSON answer.
    pub async fn post<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        path: &str,
        request: &Req,
    ) -> Result<Resp, ClientError> {
        let body = serde_json::to_vec(request).map_err(|source| ClientError::Json {
            url: self.url(path),
            what: "request",
            source,
        })?;
        let (url, status, body) = self.exchange(Method::POST, path, Some(body)).await?;
        decode(url, status, &body)
    }

    /// GETs `path` (under the endpoint's path) and reads the JSON answer.
    pub async fn get<Resp: DeserializeOwned>(&self, path: &str) -> Result<Resp, ClientError> {
        let (url, status, body) = self.exchange(Method::GET, path, None).await?;
        decode(url, status, &body)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.endpoint, path_under("", path))
    }

    /// One request on a fresh connection, within the timeout: the status and the whole body.
    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(String, StatusCode, Bytes), ClientError> {
        let url = self.url(path);
        let mut request = Request::builder()
            .method(method)
            .uri(path_under(&self.base_path, path))
            .header(HOST, &self.authority)
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, concat!("codi/", env!("CARGO_PKG_VERSION")));
        if body.is_some() {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        if let Some(key) = &self.api_key {
            request = request.header(AUTHORIZATION, format!("Bearer {key}"));
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| ClientError::Request { url: url.clone(), message: e.to_string() })?;
        match tokio::time::timeout(self.timeout, self.send(&url, request)).await {
            Ok(answer) => answer.map(|(status, body)| (url, status, body)),
            Err(_) => Err(ClientError::Timeout { url, timeout: self.timeout }),
        }
    }

    async fn send(&self, url: &str, request: Request<Full<Bytes>>) -> Result<(StatusCode, Bytes), ClientError> {
        let http = |source| ClientError::Http { url: url.to_owned(), source };
        let stream = tokio::net::TcpStream::connect(self.addrs.as_slice())
            .await
            .map_err(|source| ClientError::Connect { url: url.to_owned(), source })?;
        stream.set_nodelay(true).map_err(|source| ClientError::Connect { url: url.to_owned(), source })?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(http)?;
        let response = async {
            let response = sender.send_request(request).await.map_err(http)?;
            let status = response.status();
            let body = response.into_body().collect().await.map_err(http)?.to_bytes();
            Ok((status, body))
        };
        // The connection does the I/O while the response is awaited; it may finish first (the
        // server closed after answering), and the buffered answer is still read.
        let mut connection = std::pin::pin!(connection);
        let mut response = std::pin::pin!(response);
        let mut connection_done = false;
        loop {
            tokio::select! {
                answer = &mut response => return answer,
                done = &mut connection, if !connection_done => {
                    done.map_err(http)?;
                    connection_done = true;
                }
            }
        }
    }
}

/// `base` + `path`, with exactly one slash between them.
fn path_under(base: &str, path: &str) -> String {
    format!("{base}/{}", path.trim_start_matches('/'))
}

/// Looks up an allowed name; one that resolves to no address is refused like a host not listed.
fn resolve(endpoint: &str, name: &str, port: u16) -> Result<Vec<SocketAddr>, ClientError> {
    let refused = |why: String| ClientError::AirGap { endpoint: endpoint.to_owned(), host: name.to_owned(), why };
    let addrs: Vec<SocketAddr> = (name, port)
        .to_socket_addrs()
        .map_err(|e| refused(format!("is allowed but does not resolve ({e})")))?
        .collect();
    if addrs.is_empty() {
        return Err(refused("is allowed but resolves to no address".to_owned()));
    }
    // `localhost` is allowed as loopback, so it must be loopback whatever the hosts file says.
    if name == "localhost"
        && let Some(addr) = addrs.iter().find(|a| !is_loopback(a.ip()))
    {
        return Err(refused(format!(
            "resolves to {}, which is not loopback (fix the hosts file, or use that address and list it in \
             AIRGAP_ALLOWLIST)",
            addr.ip()
        )));
    }
    Ok(addrs)
}

/// The answer as `Resp` when the status is 2xx; otherwise the status with the server's error.
fn decode<Resp: DeserializeOwned>(url: String, status: StatusCode, body: &[u8]) -> Result<Resp, ClientError> {
    if !status.is_success() {
        let text = String::from_utf8_lossy(body).trim().to_owned();
        let body = serde_json::from_slice::<ErrorBody>(body).ok();
        return Err(ClientError::Status { url, status, body, text });
    }
    serde_json::from_slice(body).map_err(|source| ClientError::Json { url, what: "response", source })
}

/// Asks the server `config` describes, on this machine, whether it is ready (`GET /healthz`,
/// within 5 s): `codi serve --check`, the container's HEALTHCHECK. Loading or unreachable is an
/// error.
pub fn probe(config: &crate::ServeConfig) -> Result<Health, ClientError> {
    let url = config.local_url();
    let client = Client::new(&url, &Allowlist::default(), Duration::from_secs(5))?;
    let health = BlockingClient::new(client)?.health()?;
    if health.status != "ok" {
        return Err(ClientError::Request { url: format!("{url}/healthz"), message: health.status });
    }
    Ok(health)
}

/// [`Client`] for callers without a runtime (the CLI): each call runs on the client's own
/// current-thread runtime. Not for use inside an async context, where it would block the runtime.
#[derive(Debug)]
pub struct BlockingClient {
    client: Client,
    runtime: tokio::runtime::Runtime,
}

impl BlockingClient {
    pub fn new(client: Client) -> Result<Self, ClientError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|source| ClientError::Runtime { endpoint: client.endpoint.clone(), source })?;
        Ok(Self { client, runtime })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn rank(&self, request: &RankRequest) -> Result<RankResponse, ClientError> {
        self.runtime.block_on(self.client.rank(request))
    }

    pub fn explain(&self, request: &ExplainRequest) -> Result<ExplainResponse, ClientError> {
        self.runtime.block_on(self.client.explain(request))
    }

    pub fn health(&self) -> Result<Health, ClientError> {
        self.runtime.block_on(self.client.health())
    }

    pub fn post<Req: Serialize, Resp: DeserializeOwned>(&self, path: &str, request: &Req) -> Result<Resp, ClientError> {
        self.runtime.block_on(self.client.post(path, request))
    }

    pub fn get<Resp: DeserializeOwned>(&self, path: &str) -> Result<Resp, ClientError> {
        self.runtime.block_on(self.client.get(path))
    }
}

/// Everything the client can fail with; each message names the endpoint or the URL asked.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// LLM_ENDPOINT is not an http:// URL the client can use.
    #[error("LLM_ENDPOINT {endpoint}: {message}")]
    Endpoint { endpoint: String, message: String },
    #[error("AIRGAP_ALLOWLIST entry `{entry}`: {message}")]
    Allowlist { entry: String, message: String },
    /// The endpoint's host is not allowed: refused before any connection.
    #[error("{endpoint}: air-gap: {host} {why}")]
    AirGap { endpoint: String, host: String, why: String },
    #[error("{endpoint}: cannot start the client's runtime: {source}")]
    Runtime {
        endpoint: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{url}: cannot connect: {source}")]
    Connect {
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{url}: {message}")]
    Request { url: String, message: String },
    #[error("{url}: {source}")]
    Http {
        url: String,
        #[source]
        source: hyper::Error,
    },
    #[error("{url}: no answer within {timeout:?} (LLM_TIMEOUT_SECONDS)")]
    Timeout { url: String, timeout: Duration },
    /// A non-2xx answer; `body` is the server's [`ErrorBody`] when it sent one.
    #[error("{url}: HTTP {status}: {}", status_detail(body.as_ref(), text))]
    Status { url: String, status: StatusCode, body: Option<ErrorBody>, text: String },
    #[error("{url}: invalid JSON {what}: {source}")]
    Json {
        url: String,
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// The server's error and the field it blames, else the body as text.
fn status_detail(body: Option<&ErrorBody>, text: &str) -> String {
    match body {
        Some(ErrorBody { error, field: Some(field) }) => format!("{error} (field `{field}`)"),
        Some(ErrorBody { error, field: None }) => error.clone(),
        None if text.is_empty() => "(no body)".to_owned(),
        None => text.to_owned(),
    }
}
