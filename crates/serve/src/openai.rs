//! OpenAI-compatible endpoints, so standard tooling can talk to the model: `/v1/models`,
//! `/v1/completions` and `/v1/chat/completions`, non-streaming or as server-sent events, with
//! per-token log-probabilities. Generation runs through the engine like every other request, so
//! it is batched with them.

use std::convert::Infallible;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use codi_model::{Finish, GenerateOptions, Generation, Message, Prefix, Sampling, Tokenizer};
use serde::{Deserialize, Serialize};
use tokio_stream::wrappers::UnboundedReceiverStream;
use utoipa::ToSchema;

use crate::error::Error;
use crate::http::{AppState, Failure, parse};
use crate::service::Service;

/// One string or several (OpenAI's `stop`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

/// What both completion endpoints take besides their prompt.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct Sampled {
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default = "default_max_tokens")]
    pub max_tokens: usize,
    /// 0 is greedy (OpenAI's default of 1 samples).
    #[serde(default = "one")]
    pub temperature: f32,
    #[serde(default = "one")]
    pub top_p: f32,
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub stop: Option<Stop>,
    #[serde(default)]
    pub stream: bool,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CompletionRequest {
    pub prompt: String,
    #[serde(flatten)]
    pub sampled: Sampled,
    /// Log-probabilities of this many most likely tokens at each position (at most 5).
    #[serde(default)]
    pub logprobs: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ChatRequest {
    pub messages: Vec<ChatMessage>,
    #[serde(flatten)]
    pub sampled: Sampled,
    #[serde(default)]
    pub logprobs: bool,
    #[serde(default)]
    pub top_logprobs: usize,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Usage {
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    pub total_tokens: usize,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TopLogprob {
    pub token: String,
    pub logprob: f32,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenLogprobs {
    pub token: String,
    pub logprob: f32,
    pub top_logprobs: Vec<TopLogprob>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CompletionChoice {
    pub index: usize,
    pub text: String,
    pub finish_reason: String,
    pub logprobs: Option<Vec<TokenLogprobs>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CompletionResponse {
    pub id: String,
    pub object: String,
    pub created: i64,
    pub model: String,
    pub choices: Vec<CompletionChoice>,
    pub usage: Usage,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChatLogprobs {
    pub content: Vec<TokenLogprobs>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChatChoice {
    pub index: usize,
    pub message: ChatMessage,
    pub finish_reason: String,
    pub logprobs: Option<ChatLogprobs>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChatResponse {
    pub id: String,
    pub object: String,
    pub created: i64,
    pub model: String,
    pub choices: Vec<ChatChoice>,
    pub usage: Usage,
}

/// A streamed piece: `text` for completions, `delta` for chat.
#[derive(Debug, Clone, Serialize)]
pub struct ChunkChoice {
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta: Option<Delta>,
    pub finish_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Delta {
    pub content: String,
}

/// One server-sent event of a streamed completion.
#[derive(Debug, Clone, Serialize)]
pub struct Chunk {
    pub id: String,
    pub object: String,
    pub created: i64,
    pub model: String,
    pub choices: Vec<ChunkChoice>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ModelCard {
    pub id: String,
    pub object: String,
    pub owned_by: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ModelList {
    pub object: String,
    pub data: Vec<ModelCard>,
}

fn default_max_tokens() -> usize {
    16
}

fn one() -> f32 {
    1.0
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/models", get(models))
        .route("/v1/completions", post(completions))
        .route("/v1/chat/completions", post(chat_completions))
}

#[utoipa::path(get, path = "/v1/models", responses((status = 200, body = ModelList)))]
pub(crate) async fn models(State(state): State<AppState>) -> Result<Json<ModelList>, Failure> {
    let generation = state.service()?.generation();
    let card = |id: String| ModelCard { id, object: "model".into(), owned_by: "codi".into() };
    let mut data = vec![card(generation.model_id.clone())];
    if let Some(adapter) = &generation.adapter {
        data.push(card(format!("{}+{}", generation.model_id, adapter.version)));
    }
    Ok(Json(ModelList { object: "list".into(), data }))
}

#[utoipa::path(post, path = "/v1/completions", request_body = CompletionRequest, responses(
    (status = 200, body = CompletionResponse, description = "Or `text/event-stream` chunks with `stream: true`"),
    (status = 400, body = crate::api::ErrorBody), (status = 503, body = crate::api::ErrorBody)))]
pub(crate) async fn completions(State(state): State<AppState>, body: Bytes) -> Result<Response, Failure> {
    let request: CompletionRequest = parse(&body)?;
    let top = request.logprobs.map(|n| n.min(5));
    let chat = false;
    complete(state, Prompted::Text(request.prompt), request.sampled, top, chat).await
}

#[utoipa::path(post, path = "/v1/chat/completions", request_body = ChatRequest, responses(
    (status = 200, body = ChatResponse, description = "Or `text/event-stream` chunks with `stream: true`"),
    (status = 400, body = crate::api::ErrorBody), (status = 503, body = crate::api::ErrorBody)))]
pub(crate) async fn chat_completions(State(state): State<AppState>, body: Bytes) -> Result<Response, Failure> {
    let request: ChatRequest = parse(&body)?;
    if request.messages.is_empty() {
        return Err(Failure::new(StatusCode::BAD_REQUEST, "messages: at least one message"));
    }
    let top = request.logprobs.then_some(request.top_logprobs.min(5));
    complete(state, Prompted::Chat(request.messages), request.sampled, top, true).await
}

enum Prompted {
    Text(String),
    Chat(Vec<ChatMessage>),
}

/// The prompt's tokens, refused past the prompt limit.
fn encode(service: &Service, tokenizer: &Tokenizer, prompt: &Prompted) -> Result<Vec<u32>, Error> {
    let text = match prompt {
        Prompted::Text(text) => text.clone(),
        Prompted::Chat(messages) => {
            let messages: Vec<Message> = messages.iter().map(|m| Message::new(&m.role, &m.content)).collect();
            tokenizer.apply_chat_template(&messages, true)?
        }
    };
    let ids = tokenizer.encode(&text)?;
    let field = if matches!(prompt, Prompted::Chat(_)) { "messages" } else { "prompt" };
    service.check_prompt_length(ids.len(), field)?;
    if ids.is_empty() {
        return Err(Error::request("prompt", "the prompt is empty"));
    }
    Ok(ids)
}

async fn complete(
    state: AppState,
    prompt: Prompted,
    sampled: Sampled,
    top: Option<usize>,
    chat: bool,
) -> Result<Response, Failure> {
    let options = GenerateOptions {
        max_tokens: sampled.max_tokens,
        sampling: Sampling {
            temperature: sampled.temperature.max(0.0),
            top_k: 0,
            top_p: sampled.top_p.clamp(0.0, 1.0),
            seed: sampled.seed.unwrap_or(0),
        },
        stop: match sampled.stop {
            None => Vec::new(),
            Some(Stop::One(s)) => vec![s],
            Some(Stop::Many(many)) => many,
        },
        logprobs: top,
        ..GenerateOptions::default()
    };
    if state.service()?.generation().assistant().is_none() {
        return Err(Failure::new(StatusCode::SERVICE_UNAVAILABLE, "no model loaded (heuristic mode)"));
    }
    let created = chrono::Utc::now().timestamp();
    let id = format!("cmpl-{created}-{:x}", std::process::id());
    let model = match sampled.model {
        Some(model) => model,
        None => state.service()?.generation().model_id.clone(),
    };
    if sampled.stream {
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel::<Result<Event, Infallible>>();
        let (id_, model_) = (id.clone(), model.clone());
        let chunk = move |text: &str, finish: Option<&str>| {
            let choice = ChunkChoice {
                index: 0,
                text: (!chat).then(|| text.to_owned()),
                delta: chat.then(|| Delta { content: text.to_owned() }),
                finish_reason: finish.map(str::to_owned),
            };
            let object = if chat { "chat.completion.chunk" } else { "text_completion" };
            let chunk =
                Chunk { id: id_.clone(), object: object.into(), created, model: model_.clone(), choices: vec![choice] };
            Event::default().data(serde_json::to_string(&chunk).expect("a chunk serializes"))
        };
        // The admission, the limits and errors before the first token are answered as statuses;
        // once streaming, the stream ends with the finish reason.
        let service = state.service()?;
        let permit = state.admit()?;
        let generation = service.generation();
        let assistant = generation
            .assistant()
            .ok_or_else(|| Failure::new(StatusCode::SERVICE_UNAVAILABLE, "no model loaded (heuristic mode)"))?;
        let ids = encode(&service, assistant.tokenizer(), &prompt).map_err(Failure::from)?;
        tokio::task::spawn_blocking(move || {
            let assistant = generation.assistant().expect("checked above");
            let on_text = |piece: &str| {
                let _ = sender.send(Ok(chunk(piece, None)));
            };
            let finish = Prefix::new(assistant.runner(), &ids)
                .and_then(|prefix| prefix.generate(assistant.tokenizer(), &options, on_text))
                .map_or("error", |g| finish_reason(g.finish));
            let _ = sender.send(Ok(chunk("", Some(finish))));
            let _ = sender.send(Ok(Event::default().data("[DONE]")));
            drop(permit);
        });
        let stream = UnboundedReceiverStream::new(receiver);
        return Ok(Sse::new(stream).keep_alive(KeepAlive::default()).into_response());
    }
    let (generation, prompt_tokens, tokens) = state
        .blocking(move |service| {
            let generation = service.generation();
            // A swap to heuristic mode cannot happen: adapters load only with a model.
            let assistant = generation.assistant().expect("checked before admission");
            let ids = encode(service, assistant.tokenizer(), &prompt)?;
            let output = Prefix::new(assistant.runner(), &ids)?.generate(assistant.tokenizer(), &options, |_| {})?;
            let tokens = logprobs(assistant.tokenizer(), &output)?;
            Ok((output, ids.len(), tokens))
        })
        .await?;
    let usage = Usage {
        prompt_tokens,
        completion_tokens: generation.ids.len(),
        total_tokens: prompt_tokens + generation.ids.len(),
    };
    let finish = finish_reason(generation.finish).to_owned();
    let tokens = top.map(|_| tokens);
    if chat {
        let message = ChatMessage { role: "assistant".into(), content: generation.text };
        let logprobs = tokens.map(|content| ChatLogprobs { content });
        let choices = vec![ChatChoice { index: 0, message, finish_reason: finish, logprobs }];
        Ok(Json(ChatResponse { id, object: "chat.completion".into(), created, model, choices, usage }).into_response())
    } else {
        let choices =
            vec![CompletionChoice { index: 0, text: generation.text, finish_reason: finish, logprobs: tokens }];
        Ok(Json(CompletionResponse { id, object: "text_completion".into(), created, model, choices, usage })
            .into_response())
    }
}

fn finish_reason(finish: Finish) -> &'static str {
    match finish {
        Finish::Eos | Finish::Stop => "stop",
        Finish::Length => "length",
    }
}

/// Each generated token's text and log-probabilities, as OpenAI spells them.
fn logprobs(tokenizer: &Tokenizer, generation: &Generation) -> Result<Vec<TokenLogprobs>, Error> {
    let piece = |id: u32| tokenizer.decode(&[id]);
    generation
        .ids
        .iter()
        .zip(&generation.logprobs)
        .map(|(&id, lp)| {
            let top_logprobs = lp
                .top
                .iter()
                .map(|&(alt, logprob)| Ok(TopLogprob { token: piece(alt)?, logprob }))
                .collect::<Result<_, codi_model::Error>>()?;
            Ok(TokenLogprobs { token: piece(id)?, logprob: lp.logprob, top_logprobs })
        })
        .collect()
}
