//! codi-tasks: the model's job, defined once. The pairs stage writes its training examples with
//! it, and the eval suite and the server ask the model with it, so a prompt cannot differ by a
//! byte between training and serving.
//!
//! - [`Task`]: rewrite (choose the rule), rank (order the candidates), explain (why, citing
//!   codes). Targets never contain Dockerfile text: the model chooses, orders and explains what
//!   the templates wrote.
//! - [`Prompt`]: what the model is asked, built from what both sides have — the Dockerfile text
//!   and the project's [`Rewrite`](codi_core::rewrite::Rewrite) — with [`Prompt::new`]; compact
//!   text (a numbered Dockerfile excerpt, findings, candidates' estimates) sized for 512-token
//!   training rows.
//! - [`Answer`]: the three answer formats as typed JSON, the gold answers ([`examples`]), and
//!   [`check`], which parses a model's answer and lists what is wrong with it (invalid JSON or
//!   schema, a label or rule that was not offered, Dockerfile instructions, unknown codes).
//! - [`Styles`]: the prompt and answer rendered in the three training styles (raw, instruct,
//!   chat messages).

mod answer;
mod check;
mod prompt;
mod styles;
mod task;

pub use answer::{Answer, ExplainAnswer, Fix, RankAnswer, RewriteAnswer};
pub use check::{Checked, Known, Problem, check, contains_instruction, first_offense};
pub use prompt::{
    CandidateView, Example, FindingView, MAX_DOCKERFILE_CHARS, MAX_EXPLAINED, Measures, ProjectView, Prompt, SYSTEM,
    TaskInput, examples, fixes, label, rationale,
};
pub use styles::{Message, Styles};
pub use task::{Task, UnknownTask};
