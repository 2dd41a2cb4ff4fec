//! Rules on pragma comments.

use super::{Check, Sink};
use crate::lint::pragma::is_inline_hadolint_ignore;
use crate::lint::{Context, Item, declare_rule};

declare_rule! {
    /// ## What it does
    /// Flags each inline `# hadolint ignore=…` pragma (the stage-wide `stage ignore=` and the
    /// file-wide `global ignore=` are fine). Off by default, as in hadolint: enable it with
    /// `--enable DL1001` where findings may only be silenced by reviewed configuration.
    ///
    /// ## Why it matters
    /// An inline ignore silences a finding where nobody reviewing the configuration sees it, and
    /// it keeps silencing whatever the next line becomes after later edits.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// # hadolint ignore=DL3008
    /// RUN apt-get install -y --no-install-recommends curl
    /// # after
    /// RUN apt-get install -y --no-install-recommends curl=7.88.1-10+deb12u8
    /// ```
    pub(crate) struct InlineIgnorePragma {
        code: "DL1001",
        name: "inline-ignore-pragma",
        hadolint: true,
        severity: Info,
        category: Style,
        message: "Please refrain from using inline ignore pragmas  `# hadolint ignore=DLxxxx`.",
        default_enabled: false,
    }
}

impl Check for InlineIgnorePragma {
    fn check(&self, cx: &Context<'_>, _: &[Item<'_>], sink: &mut Sink<'_>) {
        for comment in cx.file.comments.iter().filter(|c| is_inline_hadolint_ignore(&c.text)) {
            sink.report(comment.span);
        }
    }
}
