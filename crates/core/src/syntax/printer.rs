//! The canonical printer: one line per instruction (continuations joined), keywords upper-case,
//! exec form as compact JSON, heredoc bodies verbatim. Parsing the output gives the same tree
//! up to positions.

use std::fmt::{self, Display, Formatter, Write};

use super::ast::{Arguments, Dockerfile, Flag, Healthcheck, Heredoc, Instruction, InstructionKind, Word, WordList};
use super::parser::parse_json_array;

impl Display for Dockerfile {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for directive in &self.directives {
            writeln!(f, "# {}={}", directive.name, directive.value)?;
        }
        let mut comments = self.comments.iter().peekable();
        let mut first = true;
        for instruction in &self.instructions {
            while let Some(comment) = comments.next_if(|c| c.span.start.offset < instruction.span.start.offset) {
                write_comment(f, &comment.text, &mut first)?;
            }
            let line = instruction.to_string();
            // At the very start of the output a U+FEFF would be read back as a byte-order mark.
            if first && self.directives.is_empty() && line.starts_with('\u{feff}') {
                writeln!(f)?;
            }
            first = false;
            let e = self.escape;
            // A line must not end in the escape character, which would continue it. BuildKit's
            // continuation test only skips spaces and tabs, but the line is then trimmed of all
            // blanks: a form feed protects the ending and disappears. A word that ends in an
            // escaped blank needs the escape after it that kept it.
            if line.ends_with(char::is_whitespace) {
                writeln!(f, "{line}{e}\u{c}")?;
            } else if line.ends_with(e) {
                writeln!(f, "{line}\u{c}")?;
            } else {
                writeln!(f, "{line}")?;
            }
            write_heredocs(f, instruction)?;
        }
        for comment in comments {
            write_comment(f, &comment.text, &mut first)?;
        }
        Ok(())
    }
}

/// A comment before any instruction is preceded by a blank line, so that it cannot be read
/// back as a parser directive.
fn write_comment(f: &mut Formatter<'_>, text: &str, first: &mut bool) -> fmt::Result {
    if std::mem::take(first) {
        writeln!(f)?;
    }
    if text.is_empty() { writeln!(f, "#") } else { writeln!(f, "# {text}") }
}

fn write_heredocs(f: &mut Formatter<'_>, instruction: &Instruction) -> fmt::Result {
    if let InstructionKind::Onbuild(trigger) = &instruction.kind {
        return write_heredocs(f, trigger);
    }
    for Heredoc { name, content, .. } in &instruction.heredocs {
        // Reading drops one `\r` before each line end: a body line ending in `\r` gets another.
        writeln!(f, "{}{name}", content.replace("\r\n", "\r\r\n"))?;
    }
    Ok(())
}

impl Display for Instruction {
    /// The instruction line itself, without heredoc bodies.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())?;
        for flag in &self.flags {
            write!(f, " {flag}")?;
        }
        let mut args = String::new();
        write_args(&mut args, &self.kind)?;
        if !args.is_empty() {
            // A first argument that looks like a flag must be fenced off with `--`.
            let fence = if args.starts_with("--") && !matches!(self.kind, InstructionKind::Invalid { .. }) {
                "-- "
            } else {
                ""
            };
            write!(f, " {fence}{args}")?;
        }
        Ok(())
    }
}

impl Display for Flag {
    /// `--name=value`; the whole body is quoted when it holds blanks, quotes or backslashes, as
    /// the flag reader removes quotes before splitting name from value.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let body = match &self.value {
            Some(value) => format!("{}={value}", self.name),
            None => self.name.clone(),
        };
        if !body.contains(|c: char| c.is_whitespace() || "\"'\\".contains(c)) {
            return write!(f, "--{body}");
        }
        f.write_str("--\"")?;
        for c in body.chars() {
            if c == '"' || c == '\\' {
                f.write_char('\\')?;
            }
            f.write_char(c)?;
        }
        f.write_char('"')
    }
}

fn write_args(out: &mut String, kind: &InstructionKind) -> fmt::Result {
    match kind {
        InstructionKind::From(from) => {
            out.push_str(&from.image.raw);
            if let Some(alias) = &from.alias {
                write!(out, " AS {}", alias.raw)?;
            }
        }
        InstructionKind::Run(a)
        | InstructionKind::Cmd(a)
        | InstructionKind::Entrypoint(a)
        | InstructionKind::Shell(a) => {
            write_arguments(out, a);
        }
        InstructionKind::Copy(list) | InstructionKind::Add(list) | InstructionKind::Volume(list) => {
            write_list(out, list);
        }
        InstructionKind::Env(kv) | InstructionKind::Label(kv) => {
            let pairs = kv.pairs.iter().map(|p| {
                // The legacy form splits at the first run of blanks, escapes or not; after a key
                // that ends in an escape character, one blank would be read as escaped.
                let separator = match (kv.legacy, p.key.raw.ends_with(['\\', '`'])) {
                    (false, _) => "=",
                    (true, false) => " ",
                    (true, true) => "  ",
                };
                format!("{}{separator}{}", p.key.raw, p.value.raw)
            });
            out.push_str(&pairs.collect::<Vec<_>>().join(" "));
        }
        InstructionKind::Arg(decls) => {
            let decls = decls.iter().map(|d| match &d.default {
                Some(default) => format!("{}={}", d.name.raw, default.raw),
                None => d.name.raw.clone(),
            });
            out.push_str(&decls.collect::<Vec<_>>().join(" "));
        }
        InstructionKind::Expose(words) => out.push_str(&join_raw(words, " ")),
        InstructionKind::User(w)
        | InstructionKind::Workdir(w)
        | InstructionKind::StopSignal(w)
        | InstructionKind::Maintainer(w) => out.push_str(&w.raw),
        InstructionKind::Healthcheck(Healthcheck::None) => out.push_str("NONE"),
        InstructionKind::Healthcheck(Healthcheck::Cmd(a)) => {
            out.push_str("CMD ");
            write_arguments(out, a);
        }
        InstructionKind::Onbuild(trigger) => write!(out, "{trigger}")?,
        InstructionKind::Invalid { text, .. } => out.push_str(text),
    }
    Ok(())
}

fn write_arguments(out: &mut String, arguments: &Arguments) {
    match arguments {
        Arguments::Exec { args, .. } => out.push_str(&json_array(args.iter().map(String::as_str))),
        Arguments::Shell { text, .. } => out.push_str(text),
    }
}

fn write_list(out: &mut String, list: &WordList) {
    if list.json {
        out.push_str(&json_array(list.words.iter().map(|w| w.raw.as_str())));
        return;
    }
    let joined = join_raw(&list.words, " ");
    if parse_json_array(&joined).is_none() {
        out.push_str(&joined);
    } else {
        // The words were not JSON as written, but would read as JSON joined by spaces. A
        // vertical tab separates words for BuildKit and is not JSON whitespace.
        out.push_str(&join_raw(&list.words, "\u{b}"));
    }
}

fn join_raw(words: &[Word], separator: &str) -> String {
    words.iter().map(|w| w.raw.as_str()).collect::<Vec<_>>().join(separator)
}

fn json_array<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let items: Vec<&str> = items.collect();
    serde_json::to_string(&items).unwrap_or_else(|_| "[]".into())
}
