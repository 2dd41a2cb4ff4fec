//! The parse-error pseudo-rule.

use std::borrow::Cow;

use super::{Check, Sink};
use crate::lint::{Context, Item, declare_rule};

declare_rule! {
    /// ## What it does
    /// Reports what makes the file invalid for BuildKit: an unknown instruction, missing or
    /// malformed arguments, an unknown flag, an unterminated heredoc, an invalid image reference,
    /// a line over 65535 bytes, or input that is not a text file. Each report says where and why.
    ///
    /// ## Why it matters
    /// `docker build` refuses such a file, usually only after the context has been sent. Other
    /// rules still run on what could be parsed (hadolint stops at the first parse error), and
    /// BuildKit syntax that hadolint cannot read, such as a comment right after a heredoc
    /// terminator, is not an error here.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before: a tag cannot contain ':'
    /// FROM spack/rockylinux8:sha256:c530b10099eeedad9d384ffc7419f355d93289b2e615143256186406ee04e275
    /// # after: a digest follows '@'
    /// FROM spack/rockylinux8@sha256:c530b10099eeedad9d384ffc7419f355d93289b2e615143256186406ee04e275
    /// ```
    pub(crate) struct ParseError {
        code: "DL1000",
        name: "parse-error",
        hadolint: true,
        severity: Error,
        category: Correctness,
        message: "The Dockerfile could not be parsed",
    }
}

impl Check for ParseError {
    fn check(&self, cx: &Context<'_>, _: &[Item<'_>], sink: &mut Sink<'_>) {
        for diagnostic in &cx.file.diagnostics {
            sink.report_with(diagnostic.span, Cow::Owned(diagnostic.message.clone()));
        }
    }
}
