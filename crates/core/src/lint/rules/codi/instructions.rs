//! codi's rules on instructions written in a form the builder reads otherwise than it looks.

use std::borrow::Cow;

use crate::lint::rules::{Check, Sink};
use crate::lint::{Context, Item, declare_rule};
use crate::syntax::{Diagnostic, DiagnosticKind, InstructionKind};

declare_rule! {
    /// ## What it does
    /// Flags shell operators (`&&`, `||`, `|`, `;`) in the arguments of instructions that do not
    /// run a shell: COPY, ADD, WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL.
    ///
    /// ## Why it matters
    /// Those instructions take their words literally: `COPY app.conf /etc/ || true` tries to copy
    /// files named `/etc/` and `||` into a directory called `true`, and the build fails or
    /// copies the wrong thing.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// COPY config.yml /etc/app/ || true
    /// # after: make the file part of the context, or use a bind mount in a RUN that may fail
    /// COPY config.yml /etc/app/
    /// ```
    pub(crate) struct ShellOperatorInInstruction {
        code: "CD008",
        name: "shell-operator-in-instruction",
        hadolint: false,
        severity: Error,
        category: Correctness,
        message: "Shell operator in an instruction that does not run a shell",
    }
}

impl Check for ShellOperatorInInstruction {
    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        const OPERATORS: &[&str] = &["&&", "||", "|", ";"];
        let is_operator = |w: &str| OPERATORS.contains(&w) || (w.len() > 1 && w.ends_with(';') && !w.ends_with("\\;"));
        for item in items {
            let words: Vec<&str> = match &item.instruction.kind {
                InstructionKind::Copy(list) | InstructionKind::Add(list) | InstructionKind::Volume(list)
                    if !list.json =>
                {
                    list.words.iter().map(|w| w.raw.as_str()).collect()
                }
                InstructionKind::Expose(words) => words.iter().map(|w| w.raw.as_str()).collect(),
                InstructionKind::Workdir(w) | InstructionKind::User(w) | InstructionKind::StopSignal(w) => {
                    w.raw.split_whitespace().collect()
                }
                _ => continue,
            };
            if let Some(operator) = words.iter().find(|w| is_operator(w)) {
                let message = format!(
                    "`{operator}` is shell syntax, but {} does not run a shell: the builder takes it literally",
                    item.instruction.keyword()
                );
                sink.report_with(item.span, Cow::Owned(message));
            }
        }
    }
}

declare_rule! {
    /// ## What it does
    /// Flags `ENV` and `LABEL` in the legacy space-separated form (`ENV KEY value`).
    ///
    /// ## Why it matters
    /// The legacy form takes the whole rest of the line as one value, so `ENV A 1 B 2` sets A to
    /// `1 B 2`; BuildKit warns about it (LegacyKeyValueFormat). `KEY=value` is unambiguous and
    /// sets several variables in one layer.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// ENV JAVA_HOME /opt/java
    /// # after
    /// ENV JAVA_HOME=/opt/java
    /// ```
    pub(crate) struct LegacyKeyValue {
        code: "CD013",
        name: "legacy-key-value",
        hadolint: false,
        severity: Info,
        category: Style,
        message: "Use the `KEY=value` form instead of the legacy `KEY value` form",
    }
}

impl Check for LegacyKeyValue {
    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        for item in items {
            if let InstructionKind::Env(kv) | InstructionKind::Label(kv) = &item.instruction.kind
                && kv.legacy
            {
                sink.report(item.span);
            }
        }
    }
}

declare_rule! {
    /// ## What it does
    /// Flags an instruction continued across an empty line: a line of nothing but blanks after
    /// a line that ends in the escape character.
    ///
    /// ## Why it matters
    /// BuildKit joins the instruction across the empty line but warns (NoEmptyContinuation), and
    /// says such lines will become errors in a future release: a Dockerfile that builds today
    /// stops building. The blank line also hides where the instruction really ends.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// RUN apt-get update && \
    ///
    ///     apt-get install -y --no-install-recommends curl=7.88.1-10+deb12u8
    /// # after
    /// RUN apt-get update && \
    ///     apt-get install -y --no-install-recommends curl=7.88.1-10+deb12u8
    /// ```
    pub(crate) struct EmptyContinuation {
        code: "CD014",
        name: "empty-continuation",
        hadolint: false,
        severity: Info,
        category: Correctness,
        message: "Empty continuation line: BuildKit warns, and will refuse it in a future release",
    }
}

impl Check for EmptyContinuation {
    fn check(&self, cx: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        let warnings = || cx.file.warnings.iter().filter(|w| w.kind == DiagnosticKind::EmptyContinuation);
        for item in items {
            let inside =
                |w: &&Diagnostic| (item.span.start.offset..item.span.end.offset).contains(&w.span.start.offset);
            if warnings().any(|w| inside(&w)) {
                sink.report(item.span);
            }
        }
    }
}
