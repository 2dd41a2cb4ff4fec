//! Logical lines to instructions, following BuildKit's per-instruction argument rules.

use super::ast::{
    ArgDecl, Arguments, Diagnostic, DiagnosticKind, Flag, FromArgs, Healthcheck, Heredoc, Instruction, InstructionKind,
    KeyValue, KeyValues, Word, WordList,
};
use super::expand;
use super::lexer::{HeredocMarker, LogicalLine};
use super::position::{LineMap, Span};
use super::words::{RawWord, extract_flags, heredoc_words, split_blanks, split_quoted};

/// Parses one logical line. `None` when the line holds no instruction at all.
pub(crate) fn parse_instruction(
    line: LogicalLine,
    escape: char,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Instruction> {
    let ctx = Ctx { text: &line.text, map: &line.map, escape };
    let mut instruction = ctx.instruction(0, line.text.len(), diagnostics)?;
    instruction.span = line.span;
    attach_heredocs(&mut instruction, line.heredocs);
    Some(instruction)
}

/// Heredocs belong to the instruction that reads them (the trigger, for ONBUILD).
fn attach_heredocs(instruction: &mut Instruction, heredocs: Vec<Heredoc>) {
    match &mut instruction.kind {
        InstructionKind::Onbuild(inner) => attach_heredocs(inner, heredocs),
        _ => instruction.heredocs = heredocs,
    }
}

/// The heredocs a logical line opens: RUN, COPY and ADD (also as ONBUILD triggers), shell form.
/// BuildKit reads these words with `\` as the escape whatever `# escape=` says.
pub(crate) fn heredoc_markers(text: &str) -> Vec<HeredocMarker> {
    // The instruction itself is read from the trimmed line; so are its markers.
    let text = text.trim_end();
    if !text.contains("<<") {
        return Vec::new();
    }
    let first = split_keyword(text, 0);
    let mut keyword = first.word(text).to_ascii_lowercase();
    let mut args_at = first.rest;
    if keyword == "onbuild" {
        // The trigger is read as the parser reads it: after any flags (and a `--` fence).
        let (_, flags_len) = extract_flags(&text[first.rest..]);
        let trigger = split_keyword(text, first.rest + flags_len);
        keyword = trigger.word(text).to_ascii_lowercase();
        args_at = trigger.rest;
    }
    if !matches!(keyword.as_str(), "run" | "copy" | "add") {
        return Vec::new();
    }
    let (_, flags_len) = extract_flags(&text[args_at..]);
    if parse_json_array(&text[args_at + flags_len..]).is_some() {
        return Vec::new();
    }
    // Like BuildKit, a line whose quotes do not close opens no heredoc.
    let Some(quoted_words) = heredoc_words(&text[args_at..]) else { return Vec::new() };
    // RUN keeps its text verbatim and reads markers as BuildKit does, quote-aware. COPY and
    // ADD keep blank-separated words: markers are read from those same words, so that printing
    // them again cannot change which heredocs the line opens.
    if keyword == "run" {
        return quoted_words.into_iter().filter_map(heredoc_marker).collect();
    }
    let words = split_blanks(&text[args_at + flags_len..], 0);
    let mut words = words.iter().map(|w| w.text.as_str());
    let mut markers = Vec::new();
    while let Some(word) = words.next() {
        // `<< EOF`: BuildKit's lexer keeps the blanks after `<<`, and the word after them, in
        // the word of `<<`.
        let marker = if word.trim_start_matches(|c: char| c.is_ascii_digit()) == "<<" {
            words.next().and_then(|name| heredoc_marker(&format!("{word} {name}")))
        } else {
            heredoc_marker(word)
        };
        markers.extend(marker);
    }
    markers
}

/// BuildKit's `^(\d*)<<(-?)\s*([^<]*)$`: `[fd]<<[-]WORD`, where WORD may be quoted (then the
/// body is not expanded) and, since BuildKit 0.22, come after blanks (`<< EOF`; `<< -EOF` names
/// `-EOF`).
fn heredoc_marker(word: &str) -> Option<HeredocMarker> {
    let rest = word.trim_start_matches(|c: char| c.is_ascii_digit());
    let digits = &word[..word.len() - rest.len()];
    let rest = rest.strip_prefix("<<")?;
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    // Go's `\s`.
    let rest = rest.trim_start_matches([' ', '\t', '\n', '\u{c}', '\r']);
    if rest.is_empty() || rest.contains('<') {
        return None;
    }
    let name = expand::unquote(rest, '\\');
    if name.is_empty() {
        return None;
    }
    // BuildKit's `strconv.ParseUint`, its error ignored: 0 when absent, the maximum on overflow.
    let file_descriptor = if digits.is_empty() { 0 } else { digits.parse().unwrap_or(u64::MAX) };
    Some(HeredocMarker { name, file_descriptor, chomp, expand: !quotes_part_of(rest) })
}

/// True when a quote delimits part of a heredoc name. BuildKit compares the quotes left in the
/// name read with and without its quotes kept: an escaped quote (`eo\'f`) is in both and
/// quotes nothing.
fn quotes_part_of(name: &str) -> bool {
    let mut chars = name.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '\'' | '"' => return true,
            _ => {}
        }
    }
    false
}

/// Where the first word of `text[from..]` starts and ends, and where the text after it resumes.
struct KeywordSplit {
    start: usize,
    end: usize,
    rest: usize,
}

impl KeywordSplit {
    fn word<'t>(&self, text: &'t str) -> &'t str {
        &text[self.start..self.end]
    }
}

fn split_keyword(text: &str, from: usize) -> KeywordSplit {
    let s = &text[from..];
    let start = from + (s.len() - s.trim_start().len());
    let end = start + text[start..].find(char::is_whitespace).unwrap_or(text.len() - start);
    let after = &text[end..];
    KeywordSplit { start, end, rest: end + (after.len() - after.trim_start().len()) }
}

/// `[…]` that is a JSON array: `Some(Ok(strings))`, `Some(Err(()))` when it holds non-strings.
pub(super) fn parse_json_array(text: &str) -> Option<Result<Vec<String>, ()>> {
    let text = text.trim_start();
    if !text.starts_with('[') {
        return None;
    }
    let values: Vec<serde_json::Value> = serde_json::from_str(text).ok()?;
    Some(
        values
            .into_iter()
            .map(|v| match v {
                serde_json::Value::String(s) => Ok(s),
                _ => Err(()),
            })
            .collect(),
    )
}

struct Ctx<'a> {
    text: &'a str,
    map: &'a LineMap,
    escape: char,
}

impl Ctx<'_> {
    fn span(&self, start: usize, end: usize) -> Span {
        self.map.span(self.text, start, end)
    }

    fn word(&self, raw: RawWord) -> Word {
        Word { span: self.span(raw.start, raw.end), raw: raw.text }
    }

    fn instruction(&self, start: usize, end: usize, diags: &mut Vec<Diagnostic>) -> Option<Instruction> {
        // BuildKit trims the line before it reads the keyword and the flags.
        let end = start + self.text[start..end].trim_end().len();
        let split = split_keyword(&self.text[..end], start);
        let keyword = split.word(self.text);
        if keyword.is_empty() {
            return None;
        }
        let (keyword_start, rest) = (split.start, split.rest);
        let span = self.span(keyword_start, end);
        let (raw_flags, flags_len) = extract_flags(&self.text[rest..end]);
        let after_flags = &self.text[rest + flags_len..end];
        let args_start = rest + flags_len + (after_flags.len() - after_flags.trim_start().len());
        let args_end = args_start + self.text[args_start..end].trim_end().len();
        let flags: Vec<Flag> = raw_flags
            .into_iter()
            .map(|w| {
                let body = w.text.strip_prefix("--").unwrap_or(&w.text);
                let (name, value) = match body.split_once('=') {
                    Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
                    None => (body.to_owned(), None),
                };
                Flag { name, value, span: self.span(rest + w.start, rest + w.end) }
            })
            .collect();
        let upper = keyword.to_ascii_uppercase();
        let args = Args { ctx: self, raw_start: rest, start: args_start, end: args_end, keyword: &upper, span };
        let kind = match upper.as_str() {
            "FROM" => args.from(diags),
            "RUN" => {
                args.required(diags).map_or_else(|| args.invalid(), |()| InstructionKind::Run(args.maybe_json(diags)))
            }
            "CMD" => InstructionKind::Cmd(args.maybe_json(diags)),
            "ENTRYPOINT" => InstructionKind::Entrypoint(args.maybe_json(diags)),
            "SHELL" => args.shell(diags),
            "COPY" => args.copy(diags).map_or_else(|| args.invalid(), InstructionKind::Copy),
            "ADD" => args.copy(diags).map_or_else(|| args.invalid(), InstructionKind::Add),
            "ENV" => args.key_values(diags).map_or_else(|| args.invalid(), InstructionKind::Env),
            "LABEL" => args.key_values(diags).map_or_else(|| args.invalid(), InstructionKind::Label),
            "ARG" => args.arg(diags),
            "EXPOSE" => {
                args.required(diags).map_or_else(|| args.invalid(), |()| InstructionKind::Expose(args.blanks()))
            }
            "VOLUME" => {
                args.required(diags).map_or_else(|| args.invalid(), |()| InstructionKind::Volume(args.list(diags)))
            }
            "USER" => args.single(diags).map_or_else(|| args.invalid(), InstructionKind::User),
            "WORKDIR" => args.single(diags).map_or_else(|| args.invalid(), InstructionKind::Workdir),
            "STOPSIGNAL" => args.single(diags).map_or_else(|| args.invalid(), InstructionKind::StopSignal),
            "MAINTAINER" => args.single(diags).map_or_else(|| args.invalid(), InstructionKind::Maintainer),
            "HEALTHCHECK" => args.healthcheck(diags),
            "ONBUILD" => args.onbuild(diags),
            _ => {
                diags.push(Diagnostic {
                    kind: DiagnosticKind::UnknownInstruction,
                    message: format!("unknown instruction: {keyword}"),
                    span: self.span(keyword_start, keyword_start + keyword.len()),
                });
                InstructionKind::Invalid { keyword: keyword.to_owned(), text: self.text[rest..args_end].to_owned() }
            }
        };
        let flags = if let InstructionKind::Invalid { .. } = kind {
            Vec::new()
        } else {
            check_flags(&upper, &flags, diags);
            flags
        };
        Some(Instruction { kind, flags, heredocs: Vec::new(), span })
    }
}

fn check_flags(keyword: &str, flags: &[Flag], diags: &mut Vec<Diagnostic>) {
    let known: &[&str] = match keyword {
        "FROM" => &["platform"],
        "RUN" => &["mount", "network", "security", "device"],
        "COPY" => &["from", "chown", "chmod", "link", "parents", "exclude"],
        "ADD" => &["chown", "chmod", "link", "checksum", "keep-git-dir", "exclude", "unpack"],
        "HEALTHCHECK" => &["interval", "timeout", "start-period", "start-interval", "retries"],
        _ => &[],
    };
    for flag in flags.iter().filter(|f| !known.contains(&f.name.as_str())) {
        diags.push(Diagnostic {
            kind: DiagnosticKind::UnknownFlag,
            message: format!("unknown flag --{} for {keyword}", flag.name),
            span: flag.span,
        });
    }
}

/// The argument part of one instruction.
struct Args<'c, 'a> {
    ctx: &'c Ctx<'a>,
    /// Where the text after the keyword starts (flags included).
    raw_start: usize,
    start: usize,
    end: usize,
    keyword: &'c str,
    span: Span,
}

impl Args<'_, '_> {
    fn text(&self) -> &str {
        &self.ctx.text[self.start..self.end]
    }

    fn arg_span(&self) -> Span {
        self.ctx.span(self.start, self.end)
    }

    fn diagnose(&self, diags: &mut Vec<Diagnostic>, kind: DiagnosticKind, message: String) {
        let span = if self.start == self.end { self.span } else { self.arg_span() };
        diags.push(Diagnostic { kind, message, span });
    }

    /// The instruction kept as text (flags included) because its arguments are unusable
    /// (already diagnosed).
    fn invalid(&self) -> InstructionKind {
        InstructionKind::Invalid {
            keyword: self.keyword.to_owned(),
            text: self.ctx.text[self.raw_start..self.end].to_owned(),
        }
    }

    fn required(&self, diags: &mut Vec<Diagnostic>) -> Option<()> {
        if self.text().is_empty() {
            let message = format!("{} requires at least one argument", self.keyword);
            self.diagnose(diags, DiagnosticKind::MissingArguments, message);
            return None;
        }
        Some(())
    }

    fn blanks(&self) -> Vec<Word> {
        split_blanks(self.text(), self.start).into_iter().map(|w| self.ctx.word(w)).collect()
    }

    fn maybe_json(&self, diags: &mut Vec<Diagnostic>) -> Arguments {
        let span = self.arg_span();
        match parse_json_array(self.text()) {
            Some(Ok(args)) => Arguments::Exec { args, span },
            Some(Err(())) => {
                let message = format!("{} arguments must be a JSON array of strings", self.keyword);
                self.diagnose(diags, DiagnosticKind::InvalidArguments, message);
                Arguments::Shell { text: self.text().to_owned(), span }
            }
            None => Arguments::Shell { text: self.text().to_owned(), span },
        }
    }

    fn list(&self, diags: &mut Vec<Diagnostic>) -> WordList {
        match self.maybe_json(diags) {
            Arguments::Exec { args, span } => {
                WordList { json: true, words: args.into_iter().map(|raw| Word { raw, span }).collect() }
            }
            Arguments::Shell { .. } => WordList { json: false, words: self.blanks() },
        }
    }

    fn single(&self, diags: &mut Vec<Diagnostic>) -> Option<Word> {
        if self.text().is_empty() {
            let message = format!("{} requires exactly one argument", self.keyword);
            self.diagnose(diags, DiagnosticKind::MissingArguments, message);
            return None;
        }
        Some(Word { raw: self.text().to_owned(), span: self.arg_span() })
    }

    fn from(&self, diags: &mut Vec<Diagnostic>) -> InstructionKind {
        let mut words = self.blanks();
        let alias = match words.len() {
            1 => None,
            3 if words[1].raw.eq_ignore_ascii_case("as") => words.pop(),
            0 => {
                self.diagnose(diags, DiagnosticKind::MissingArguments, "FROM requires an image".into());
                return self.invalid();
            }
            _ => {
                let message = "FROM requires either one or three arguments (image [AS name])".into();
                self.diagnose(diags, DiagnosticKind::InvalidArguments, message);
                return self.invalid();
            }
        };
        if let Some(alias) = &alias
            && !alias.raw.contains('$')
            && !is_valid_stage_name(&alias.raw.to_ascii_lowercase())
        {
            diags.push(Diagnostic {
                kind: DiagnosticKind::InvalidStageName,
                message: format!(
                    "invalid name for build stage: {:?}, name can't start with a number or contain symbols",
                    alias.raw
                ),
                span: alias.span,
            });
        }
        let image = words.swap_remove(0);
        InstructionKind::From(FromArgs { image, alias })
    }

    fn shell(&self, diags: &mut Vec<Diagnostic>) -> InstructionKind {
        if self.required(diags).is_none() {
            return self.invalid();
        }
        let arguments = self.maybe_json(diags);
        if !arguments.is_exec() {
            let message = "SHELL requires the arguments to be in JSON form".into();
            self.diagnose(diags, DiagnosticKind::InvalidArguments, message);
        }
        InstructionKind::Shell(arguments)
    }

    fn copy(&self, diags: &mut Vec<Diagnostic>) -> Option<WordList> {
        let list = self.list(diags);
        if list.words.len() < 2 {
            let message = format!("{} requires at least two arguments: source(s) and destination", self.keyword);
            self.diagnose(diags, DiagnosticKind::MissingArguments, message);
            return None;
        }
        Some(list)
    }

    fn key_values(&self, diags: &mut Vec<Diagnostic>) -> Option<KeyValues> {
        let words = split_quoted(self.text(), self.start, self.ctx.escape);
        let Some(first) = words.first() else {
            let message = format!("{} requires at least one argument", self.keyword);
            self.diagnose(diags, DiagnosticKind::MissingArguments, message);
            return None;
        };
        if !first.text.contains('=') {
            // Legacy `ENV key value with spaces`: the key, then the rest of the line verbatim.
            let text = self.text();
            let key_end = text.find([' ', '\t']).unwrap_or(text.len());
            let value_start = key_end + (text[key_end..].len() - text[key_end..].trim_start().len());
            if value_start >= text.len() {
                let message = format!("{} must have two arguments (name value) or name=value pairs", self.keyword);
                self.diagnose(diags, DiagnosticKind::MissingArguments, message);
                return None;
            }
            let key = RawWord { text: text[..key_end].to_owned(), start: self.start, end: self.start + key_end };
            let value =
                RawWord { text: text[value_start..].to_owned(), start: self.start + value_start, end: self.end };
            return Some(KeyValues {
                legacy: true,
                pairs: vec![KeyValue { key: self.ctx.word(key), value: self.ctx.word(value) }],
            });
        }
        let mut pairs = Vec::with_capacity(words.len());
        for word in words {
            let Some(eq) = word.text.find('=') else {
                let message =
                    format!("can't find = in {:?}: {} must be of the form name=value", word.text, self.keyword);
                self.diagnose(diags, DiagnosticKind::InvalidArguments, message);
                return None;
            };
            if eq == 0 {
                let message = format!("{} names can not be blank", self.keyword);
                self.diagnose(diags, DiagnosticKind::InvalidArguments, message);
                return None;
            }
            let key = RawWord { text: word.text[..eq].to_owned(), start: word.start, end: word.start + eq };
            let value = RawWord { text: word.text[eq + 1..].to_owned(), start: word.start + eq + 1, end: word.end };
            pairs.push(KeyValue { key: self.ctx.word(key), value: self.ctx.word(value) });
        }
        Some(KeyValues { legacy: false, pairs })
    }

    fn arg(&self, diags: &mut Vec<Diagnostic>) -> InstructionKind {
        if self.required(diags).is_none() {
            return self.invalid();
        }
        let decls = split_quoted(self.text(), self.start, self.ctx.escape)
            .into_iter()
            .map(|word| match word.text.find('=') {
                Some(eq) => ArgDecl {
                    name: self.ctx.word(RawWord {
                        text: word.text[..eq].to_owned(),
                        start: word.start,
                        end: word.start + eq,
                    }),
                    default: Some(self.ctx.word(RawWord {
                        text: word.text[eq + 1..].to_owned(),
                        start: word.start + eq + 1,
                        end: word.end,
                    })),
                },
                None => ArgDecl { name: self.ctx.word(word), default: None },
            })
            .collect::<Vec<_>>();
        if decls.is_empty() {
            self.diagnose(diags, DiagnosticKind::MissingArguments, "ARG requires at least one argument".into());
            return self.invalid();
        }
        if decls.iter().any(|d| d.name.raw.is_empty()) {
            self.diagnose(diags, DiagnosticKind::InvalidArguments, "ARG names can not be blank".into());
            return self.invalid();
        }
        InstructionKind::Arg(decls)
    }

    fn healthcheck(&self, diags: &mut Vec<Diagnostic>) -> InstructionKind {
        if self.required(diags).is_none() {
            return self.invalid();
        }
        let split = split_keyword(&self.ctx.text[..self.end], self.start);
        let rest = split.rest;
        match split.word(self.ctx.text).to_ascii_uppercase().as_str() {
            "NONE" if rest == self.end => InstructionKind::Healthcheck(Healthcheck::None),
            "NONE" => {
                self.diagnose(diags, DiagnosticKind::InvalidArguments, "HEALTHCHECK NONE takes no arguments".into());
                self.invalid()
            }
            "CMD" => {
                let cmd = Args { start: rest, ..*self };
                if cmd.required(diags).is_none() {
                    return self.invalid();
                }
                InstructionKind::Healthcheck(Healthcheck::Cmd(cmd.maybe_json(diags)))
            }
            other => {
                let message = format!("unknown type {other:?} in HEALTHCHECK (try CMD)");
                self.diagnose(diags, DiagnosticKind::InvalidArguments, message);
                self.invalid()
            }
        }
    }

    fn onbuild(&self, diags: &mut Vec<Diagnostic>) -> InstructionKind {
        if self.required(diags).is_none() {
            return self.invalid();
        }
        match self.ctx.instruction(self.start, self.end, diags) {
            Some(trigger) => InstructionKind::Onbuild(Box::new(trigger)),
            None => self.invalid(),
        }
    }
}

/// BuildKit: `^[a-z][a-z0-9-_.]*$` after lower-casing.
fn is_valid_stage_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heredoc_marker_forms() {
        let m = |w: &str| heredoc_marker(w).map(|m| (m.name, m.file_descriptor, m.chomp, m.expand));
        assert_eq!(m("<<EOF"), Some(("EOF".into(), 0, false, true)));
        assert_eq!(m("<<-'END'"), Some(("END".into(), 0, true, false)));
        assert_eq!(m("3<<\"x\""), Some(("x".into(), 3, false, false)));
        assert_eq!(m("007<<x"), Some(("x".into(), 7, false, true)));
        assert_eq!(m("99999999999999999999<<x"), Some(("x".into(), u64::MAX, false, true)));
        assert_eq!(m("<<<here"), None);
        assert_eq!(m("cat<<EOF"), None);
        assert_eq!(m("<<"), None);
        assert_eq!(m("<<''"), None);
    }

    #[test]
    fn only_a_delimiting_quote_stops_expansion() {
        let expands = |w: &str| heredoc_marker(w).map(|m| (m.name, m.expand));
        assert_eq!(expands(r"<<eo\'f"), Some(("eo'f".into(), true)));
        assert_eq!(expands(r#"<<eo\"f"#), Some(("eo\"f".into(), true)));
        assert_eq!(expands(r"<<\EOF"), Some(("EOF".into(), true)));
        assert_eq!(expands(r#"<<E"O"F"#), Some(("EOF".into(), false)));
        assert_eq!(expands(r#"<<"eo'f""#), Some(("eo'f".into(), false)));
    }

    #[test]
    fn blanks_may_follow_the_operator() {
        let m = |t: &str| heredoc_markers(t).into_iter().map(|m| (m.name, m.chomp)).collect::<Vec<_>>();
        assert_eq!(m("RUN << EOF"), [("EOF".into(), false)]);
        assert_eq!(m("RUN <<\t EOF > /x"), [("EOF".into(), false)]);
        assert_eq!(m("RUN << -EOF"), [("-EOF".into(), false)]);
        assert_eq!(m("RUN << 'EOF' <<B"), [("EOF".into(), false), ("B".into(), false)]);
        assert_eq!(m("COPY << EOF /x"), [("EOF".into(), false)]);
        // Only right after `<<`: BuildKit reads `<<- EOF` as the words `<<-` and `EOF`.
        assert!(m("RUN <<- EOF").is_empty());
        assert!(m("COPY <<- EOF /x").is_empty());
        assert!(m("RUN cat <<< EOF").is_empty());
        assert!(m("RUN a<< <<EOF").is_empty());
    }

    #[test]
    fn markers_only_for_shell_form_run_copy_add() {
        let names = |t: &str| heredoc_markers(t).into_iter().map(|m| m.name).collect::<Vec<_>>();
        assert_eq!(names("RUN <<A cat - <<-B"), ["A", "B"]);
        assert_eq!(names("onbuild copy <<X /x"), ["X"]);
        assert_eq!(names("RUN --mount=type=cache,target=/x <<EOF"), ["EOF"]);
        assert!(names(r#"RUN ["sh", "<<EOF"]"#).is_empty());
        assert!(names("CMD cat <<EOF").is_empty());
        assert!(names("RUN echo '<<EOF'").is_empty());
    }
}
