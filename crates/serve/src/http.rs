//! The HTTP surface: routes, limits and error bodies. Every limit answers with a status and a
//! JSON body naming what was wrong; nothing a client sends can panic the server (a panicking
//! request is a 500, and the server keeps serving).

use std::future::Future;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use utoipa::OpenApi;

use crate::api::{
    AdapterInfo, Adapters, ErrorBody, ExplainRequest, ExplainResponse, Health, LoadAdapter, RankRequest, RankResponse,
};
use crate::config::ServeConfig;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::openai;
use crate::service::Service;

/// What every handler shares.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    /// Set once the model (or the rules) is ready; `/healthz` is 503 until then.
    pub(crate) service: OnceLock<Arc<Service>>,
    pub(crate) metrics: Metrics,
    pub(crate) permits: Arc<Semaphore>,
    pub(crate) config: ServeConfig,
}

/// An error response: a status and `{"error": …, "field": …}`.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) status: StatusCode,
    pub(crate) body: ErrorBody,
    retry_after: Option<u64>,
}

impl Failure {
    pub(crate) fn new(status: StatusCode, error: impl Into<String>) -> Self {
        Self { status, body: ErrorBody { error: error.into(), field: None }, retry_after: None }
    }

    fn field(status: StatusCode, field: impl Into<String>, error: impl Into<String>) -> Self {
        Self { status, body: ErrorBody { error: error.into(), field: Some(field.into()) }, retry_after: None }
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        match error {
            Error::Request { field, message } => Self::field(StatusCode::BAD_REQUEST, field, message),
            Error::Adapter { .. } => Self::field(StatusCode::UNPROCESSABLE_ENTITY, "path", error.to_string()),
            other => Self::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// The body as `T`, or a 400 naming the field that does not read.
pub(crate) fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, Failure> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let field = error.path().to_string();
        let message = error.into_inner().to_string();
        if field == "." {
            Failure::new(StatusCode::BAD_REQUEST, message)
        } else {
            Failure::field(StatusCode::BAD_REQUEST, field, message)
        }
    })
}

impl AppState {
    pub(crate) fn service(&self) -> Result<Arc<Service>, Failure> {
        self.inner.service.get().cloned().ok_or_else(|| {
            let mut failure = Failure::new(StatusCode::SERVICE_UNAVAILABLE, "the model is loading");
            failure.retry_after = Some(1);
            failure
        })
    }

    /// A place in the bounded queue, or 503 with Retry-After when it is full.
    pub(crate) fn admit(&self) -> Result<OwnedSemaphorePermit, Failure> {
        Arc::clone(&self.inner.permits).try_acquire_owned().map_err(|_| {
            let limit = self.inner.config.limits.queue;
            let mut failure =
                Failure::new(StatusCode::SERVICE_UNAVAILABLE, format!("the queue is full ({limit} requests admitted)"));
            failure.retry_after = Some(1);
            failure
        })
    }

    /// Runs `work` on a blocking thread with the queue place held to its end, answering 504 past
    /// the request timeout (the work still finishes, holding its place, so the queue stays true).
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Service) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Failure> {
        let service = self.service()?;
        let permit = self.admit()?;
        let timeout = Duration::from_secs_f64(self.inner.config.timeout_seconds);
        let task = tokio::task::spawn_blocking(move || {
            let result = work(&service);
            drop(permit);
            result
        });
        match tokio::time::timeout(timeout, task).await {
            Err(_) => Err(Failure::new(
                StatusCode::GATEWAY_TIMEOUT,
                format!("no answer within {} s (LLM_TIMEOUT_SECONDS)", timeout.as_secs_f64()),
            )),
            Ok(Err(join)) => {
                Err(Failure::new(StatusCode::INTERNAL_SERVER_ERROR, format!("the request failed: {join}")))
            }
            Ok(Ok(result)) => result.map_err(Failure::from),
        }
    }

    fn queue_depth(&self) -> usize {
        self.inner.config.limits.queue - self.inner.permits.available_permits()
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "codi",
        description = "The codi model server: ranks, chooses and explains rules-rendered Dockerfile candidates."
    ),
    paths(
        healthz,
        rank,
        explain,
        adapters,
        load_adapter,
        metrics,
        openai::models,
        openai::completions,
        openai::chat_completions
    )
)]
struct ApiDoc;

/// The OpenAPI document of every endpoint, generated from the types.
pub fn openapi_json() -> String {
    ApiDoc::openapi().to_pretty_json().expect("the document serializes")
}

/// The application: every route and limit.
pub(crate) fn router(state: AppState) -> Router {
    let limit = state.inner.config.limits.max_body_bytes;
    Router::new()
        .route("/healthz", get(healthz))
        .route("/llm/rank", post(rank))
        .route("/llm/explain", post(explain))
        .route("/adapters", get(adapters).post(load_adapter))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(|| async { ([(header::CONTENT_TYPE, "application/json")], openapi_json()) }))
        .merge(openai::routes())
        .layer(middleware::from_fn_with_state(state.clone(), authorize))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// 401 without the configured API key (`/healthz` stays open for probes).
async fn authorize(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Some(key) = &state.inner.config.api_key {
        let given = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let expected = format!("Bearer {key}");
        if request.uri().path() != "/healthz" && given != Some(expected.as_str()) {
            return Failure::new(StatusCode::UNAUTHORIZED, "missing or wrong API key (Authorization: Bearer …)")
                .into_response();
        }
    }
    next.run(request).await
}

/// Counts every request by endpoint and status, with its latency.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let endpoint =
        request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    state.inner.metrics.observe(&endpoint, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}

#[utoipa::path(get, path = "/healthz", responses(
    (status = 200, description = "Ready", body = Health),
    (status = 503, description = "Still loading", body = Health)))]
async fn healthz(State(state): State<AppState>) -> Response {
    if let Some(service) = state.inner.service.get() {
        Json(service.health()).into_response()
    } else {
        let loading = Health { status: "loading".into(), model_id: None, adapter_version: None, mode: None };
        (StatusCode::SERVICE_UNAVAILABLE, Json(loading)).into_response()
    }
}

#[utoipa::path(post, path = "/llm/rank", request_body = RankRequest, responses(
    (status = 200, body = RankResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 413, description = "Body over limits.max_body_bytes"), (status = 503, body = ErrorBody),
    (status = 504, body = ErrorBody)))]
async fn rank(State(state): State<AppState>, body: Bytes) -> Result<Json<RankResponse>, Failure> {
    let request: RankRequest = parse(&body)?;
    Ok(Json(state.blocking(move |service| service.rank(&request)).await?))
}

#[utoipa::path(post, path = "/llm/explain", request_body = ExplainRequest, responses(
    (status = 200, body = ExplainResponse), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody),
    (status = 504, body = ErrorBody)))]
async fn explain(State(state): State<AppState>, body: Bytes) -> Result<Json<ExplainResponse>, Failure> {
    let request: ExplainRequest = parse(&body)?;
    Ok(Json(state.blocking(move |service| service.explain(&request)).await?))
}

#[utoipa::path(get, path = "/adapters", responses((status = 200, body = Adapters)))]
async fn adapters(State(state): State<AppState>) -> Result<Json<Adapters>, Failure> {
    Ok(Json(state.service()?.adapters()))
}

#[utoipa::path(post, path = "/adapters", request_body = LoadAdapter, responses(
    (status = 200, description = "Verified and swapped in", body = AdapterInfo),
    (status = 404, description = "No adapter at that path", body = ErrorBody),
    (status = 422, description = "Refused by verify; the old adapter keeps serving", body = ErrorBody)))]
async fn load_adapter(State(state): State<AppState>, body: Bytes) -> Result<Json<AdapterInfo>, Failure> {
    let request: LoadAdapter = parse(&body)?;
    let service = state.service()?;
    if !Path::new(&request.path).join("adapter_config.json").is_file() {
        return Err(Failure::field(StatusCode::NOT_FOUND, "path", format!("no adapter at {}", request.path)));
    }
    let loaded = tokio::task::spawn_blocking(move || service.load_adapter(Path::new(&request.path)))
        .await
        .map_err(|join| Failure::new(StatusCode::INTERNAL_SERVER_ERROR, format!("loading failed: {join}")))?;
    Ok(Json(loaded?))
}

#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
async fn metrics(State(state): State<AppState>) -> Response {
    let service = state.inner.service.get();
    let generation = service.map(|s| s.generation());
    let failures = service.map_or(0, |s| s.telemetry_failures());
    let limit = state.inner.config.limits.queue;
    let text = state.inner.metrics.render(generation.as_deref(), state.queue_depth(), limit, failures);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// Serves on `listener` until `shutdown` resolves (then in-flight requests finish), answering
/// `/healthz` with 503 while the model loads. A model or adapter that fails at start ends the
/// server with that error; `on_ready` hears when the model is ready.
pub async fn serve(
    config: ServeConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce(&Service) + Send + 'static,
) -> Result<(), Error> {
    let state = AppState {
        inner: Arc::new(Inner {
            service: OnceLock::new(),
            metrics: Metrics::default(),
            permits: Arc::new(Semaphore::new(config.limits.queue)),
            config: config.clone(),
        }),
    };
    let (failed, on_failure) = tokio::sync::oneshot::channel::<Error>();
    let loading = {
        let state = state.clone();
        tokio::task::spawn_blocking(move || match Service::start(&config) {
            Ok(service) => {
                on_ready(&service);
                let _ = state.inner.service.set(Arc::new(service));
            }
            Err(error) => {
                let _ = failed.send(error);
            }
        })
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<Option<Error>>();
    tokio::spawn(async move {
        tokio::select! {
            () = shutdown => { let _ = stop.send(None); }
            Ok(error) = on_failure => { let _ = stop.send(Some(error)); }
        }
    });
    let (error_out, error_in) = tokio::sync::oneshot::channel::<Option<Error>>();
    let signal = async move {
        let error = stopped.await.unwrap_or(None);
        let _ = error_out.send(error);
    };
    let address = listener.local_addr().ok();
    axum::serve(listener, router(state))
        .with_graceful_shutdown(signal)
        .await
        .map_err(|e| Error::io(address.map_or_else(|| "listener".into(), |a| a.to_string()), e))?;
    let _ = loading.await;
    match error_in.await {
        Ok(Some(error)) => Err(error),
        _ => Ok(()),
    }
}
