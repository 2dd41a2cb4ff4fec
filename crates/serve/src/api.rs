//! The wire types of every endpoint, defined once: the server reads and writes them, the client
//! and `codi run` use the same structs, and `/openapi.json` is generated from them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Whether an answer came from the model or from the rules alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The base model, with the adapter when one is loaded.
    Model,
    /// The rules-only ranker and explanations (LLM_ENABLED=false, no model, or a failed load).
    Heuristic,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Model => "model",
            Self::Heuristic => "heuristic",
        }
    }
}

/// A project as a client sends it: its Dockerfile and the files the rules look at (manifests,
/// lock files), by path relative to the build context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectInput {
    pub dockerfile: String,
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// A name for reports and telemetry (default `project`).
    #[serde(default)]
    pub name: Option<String>,
    /// Bytes in the build context once `.dockerignore` applies (default: the files' text), which
    /// the size estimates use.
    #[serde(default)]
    pub context_bytes: Option<u64>,
}

impl ProjectInput {
    /// A loaded project as a client sends it: the Dockerfile, and every file of the build
    /// context by path, with the manifests' text (the rules read no other file's content).
    pub fn from_project(project: &codi_core::project::Project, name: &str) -> Self {
        let files = project
            .files
            .paths
            .iter()
            .map(|path| (path.clone(), project.manifest(path).unwrap_or_default().to_owned()))
            .collect();
        Self {
            dockerfile: project.source.clone(),
            files,
            name: Some(name.to_owned()),
            context_bytes: Some(project.context_bytes),
        }
    }
}

/// A candidate Dockerfile the client rendered itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CandidateInput {
    /// The client's id for it (default: its rule id).
    #[serde(default)]
    pub id: Option<String>,
    /// The catalog rule that rendered it.
    pub rule_id: String,
    pub dockerfile: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RankRequest {
    /// The project; `context` is accepted as its other name.
    #[serde(alias = "context")]
    pub project: ProjectInput,
    /// The candidates to rank; without them the server renders the rules-first candidates.
    #[serde(default)]
    pub candidates: Option<Vec<CandidateInput>>,
    /// Also explain the selected candidate (a generated rationale).
    #[serde(default)]
    pub explain: bool,
}

/// One candidate's place in the ranking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Ranked {
    pub candidate_id: String,
    pub rule_id: String,
    /// The model's log-probability of this candidate coming first (nats); the rules' weighted
    /// score in heuristic mode.
    pub score: f64,
    /// The probability of this candidate coming first (the scores' softmax).
    pub confidence: f64,
    /// 1 is best.
    pub rank: usize,
    /// The rendered Dockerfile (rules-first candidates only: the client has its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RankResponse {
    /// Best first.
    pub ranking: Vec<Ranked>,
    /// The id of the first candidate.
    pub selected: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rationale: Option<String>,
    pub adapter_version: Option<String>,
    pub base_model: String,
    pub mode: Mode,
    pub latency_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplainRequest {
    #[serde(alias = "context")]
    pub project: ProjectInput,
    /// The rule whose rewrite to explain (default: the best rules-first candidate; with no rule
    /// that applies, the Dockerfile's own findings are explained).
    #[serde(default)]
    pub rule_id: Option<String>,
}

/// One lint code an explanation cites, and why it matters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Reason {
    pub code: String,
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExplainResponse {
    pub summary: String,
    pub rationale: Vec<Reason>,
    pub rule_ids: Vec<String>,
    /// Text was removed because it held a Dockerfile instruction or an unknown code, after one
    /// retry with that continuation blocked.
    #[serde(default)]
    pub filtered: bool,
    pub adapter_version: Option<String>,
    pub mode: Mode,
    pub latency_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok`, or `loading` (with status 503) until the model is ready.
    pub status: String,
    pub model_id: Option<String>,
    pub adapter_version: Option<String>,
    pub mode: Option<Mode>,
}

/// An adapter as loaded and verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AdapterInfo {
    pub path: String,
    /// The adapter's version, as its metadata names it.
    pub version: String,
    /// The sha256 of its weights file: what every cache is keyed by.
    pub checksum: String,
    pub base_model: Option<String>,
    pub rules_version: Option<String>,
    pub created_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Adapters {
    /// The adapter answering now (none: the base model, or heuristic mode).
    pub active: Option<AdapterInfo>,
    /// Adapters found under the server's adapters directory.
    pub available: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadAdapter {
    pub path: String,
}

/// Every error body: what went wrong, and the request field when one is to blame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}
