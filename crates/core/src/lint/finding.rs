//! A lint finding.

use std::borrow::Cow;

use serde::Serialize;

use super::Severity;
use crate::syntax::Span;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub code: &'static str,
    pub severity: Severity,
    pub message: Cow<'static, str>,
    pub span: Span,
}

impl Finding {
    pub fn line(&self) -> u32 {
        self.span.start.line
    }

    pub fn column(&self) -> u32 {
        self.span.start.column
    }
}
