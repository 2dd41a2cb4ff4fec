//! codi-serve: the model server (DESIGN §7) and the client `codi run` uses.
//!
//! - [`Service`]: the work without HTTP — a project's rules-first candidates ranked by the
//!   model (scored through codi-assist, the layer the eval suite uses), explanations generated
//!   and cleaned, every ranking recorded in the [`telemetry`]; heuristic mode (the rules alone)
//!   when the model is disabled or does not load. Adapters are verified before they are served
//!   and swapped in atomically between requests.
//! - The engine: one model in memory on its own thread, running the decoder steps of concurrent
//!   requests together (continuous batching) with a prompt cache owned by one model and adapter.
//! - [`serve`]: axum on tokio — `/healthz`, `/llm/rank`, `/llm/explain`, `/adapters`,
//!   `/metrics`, `/openapi.json` and the OpenAI-compatible `/v1/*` — with every limit answered
//!   by a status and a JSON body naming the field.
//! - [`client`]: the air-gapped HTTP client (loopback and AIRGAP_ALLOWLIST only).

pub mod api;
pub mod bench;
pub mod client;
mod config;
mod engine;
mod error;
mod http;
mod metrics;
pub mod openai;
mod service;
pub mod telemetry;

pub use config::{Limits, ServeConfig};
pub use engine::EngineStats;
pub use error::{Error, Result};
pub use http::{openapi_json, serve};
pub use service::{Generation, Service};
