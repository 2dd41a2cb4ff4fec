//! The answers, as typed JSON. Field order is the order the model writes them in: the decision
//! first (`rule_id`, `order`, `rule_ids`), so a scorer can compare options on a short shared
//! prefix before any free text.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::task::Task;

/// Rewrite: the rule to apply and the parameters to render it with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewriteAnswer {
    pub rule_id: String,
    #[serde(default)]
    pub parameters: Map<String, Value>,
}

/// Rank: the candidates' labels, best first, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RankAnswer {
    pub order: Vec<String>,
    #[serde(default)]
    pub rationale: String,
}

/// Explain: the codes cited, why each matters, and the rule's rationale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplainAnswer {
    pub rule_ids: Vec<String>,
    #[serde(default)]
    pub fixes: Vec<Fix>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
}

/// One lint code an explanation cites, and the first sentence of why it matters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fix {
    pub code: String,
    #[serde(default)]
    pub why: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Rewrite(RewriteAnswer),
    Rank(RankAnswer),
    Explain(ExplainAnswer),
}

impl Answer {
    /// The answer as the model writes it: compact JSON.
    pub fn to_json(&self) -> String {
        let json = match self {
            Self::Rewrite(answer) => serde_json::to_string(answer),
            Self::Rank(answer) => serde_json::to_string(answer),
            Self::Explain(answer) => serde_json::to_string(answer),
        };
        json.unwrap_or_default()
    }

    /// Reads an answer to `task` from its JSON value.
    pub fn from_value(task: Task, value: Value) -> serde_json::Result<Self> {
        Ok(match task {
            Task::Rewrite => Self::Rewrite(serde_json::from_value(value)?),
            Task::Rank => Self::Rank(serde_json::from_value(value)?),
            Task::Explain => Self::Explain(serde_json::from_value(value)?),
        })
    }
}
