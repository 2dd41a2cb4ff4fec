//! codi's own rules: smells hadolint does not have, grouped by topic like hadolint's (CD codes).

pub(super) mod instructions;
pub(super) mod performance;
pub(super) mod runtime;
pub(super) mod security;

use crate::lint::Context;

/// The span of the instruction on `line`.
fn line_span(cx: &Context<'_>, line: u32) -> crate::syntax::Span {
    cx.file.instructions.iter().find(|i| i.line() == line).map(|i| i.span).unwrap_or_default()
}
