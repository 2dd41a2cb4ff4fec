//! codi-assist: the model's job over a model, shared by the eval suite and the server (DESIGN §4,
//! §6, §7). The prompts, answer formats and checks are [`codi_tasks`]'s — the same code that
//! writes the training pairs — so what is asked here is what was trained, byte for byte.
//!
//! - [`Assistant`]: a model (with or without an adapter) answering the three tasks. Decisions
//!   among known options — the ranking of the candidates, the rule to choose — are made by
//!   **scoring** each option as a continuation of the trained answer format from one shared KV
//!   cache, so they are valid by construction and work on a base model that never saw the
//!   format; the rule's parameters and the explanations are generated greedily and then parsed
//!   and checked.
//! - [`RulesOnly`]: the rules' own answers from what the prompt shows (the ranking weights over
//!   the estimates, the first applicable rule, the lint rules' documentation): the baseline, and
//!   the fallback when no model is loaded.
//! - [`Response`]: an answer with its text, its problems, the scores behind the decision
//!   ([`Choice`]) and what it cost ([`Usage`]).
//!
//! Why a crate of its own rather than a module of codi-eval: the server needs exactly this layer
//! and nothing of the suite (no Parquet, no statistics, no report).

mod choice;
mod error;
mod model;
mod rules;

pub use choice::{Choice, Scoring, softmax};
pub use error::{Error, Result};
pub use model::{AssistOptions, Assistant, chat_prompt};
pub use rules::RulesOnly;

use codi_tasks::{Answer, Problem};

/// A system's answer to one prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The answer as read from `text` (`None` when it could not be read).
    pub answer: Option<Answer>,
    /// The answer as written: scored options and generated text together.
    pub text: String,
    /// What [`codi_tasks::check`] found wrong with it.
    pub problems: Vec<Problem>,
    /// The scores of the first decision (rank: which candidate comes first; rewrite: which rule).
    pub choice: Option<Choice>,
    pub usage: Usage,
}

/// What answering cost.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    pub prompt_tokens: usize,
    /// Tokens of the options scored.
    pub scored_tokens: usize,
    pub generated_tokens: usize,
    pub seconds: f64,
}

impl Usage {
    /// Tokens the model processed per second (prompt, options and generation).
    pub fn tokens_per_second(&self) -> f64 {
        let tokens = self.prompt_tokens + self.scored_tokens + self.generated_tokens;
        if self.seconds > 0.0 { tokens as f64 / self.seconds } else { 0.0 }
    }
}
