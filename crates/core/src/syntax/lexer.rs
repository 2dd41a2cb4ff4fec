//! Physical lines to logical lines, with BuildKit's rules: parser directives only at the top,
//! whole-line comments, `\` continuations that skip comment and blank lines (a blank one is
//! warned about), heredoc bodies read after the line that opens them, and no line over 65535
//! bytes.

use super::ast::{Comment, Diagnostic, DiagnosticKind, Directive, Heredoc};
use super::position::{LineMap, Position, Span, to_u32};

/// BuildKit reads lines with a `bufio.Scanner` of 64 KiB: a line that does not fit with its
/// `\n` ends the parse with "dockerfile line greater than max allowed size of 65535".
const MAX_LINE_BYTES: usize = 65535;

/// One physical line without its line ending.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PhysicalLine<'a> {
    pub(crate) text: &'a str,
    pub(crate) start: Position,
    /// Its length in the file: `\r` included, `\n` not.
    bytes: usize,
}

impl PhysicalLine<'_> {
    fn end(&self) -> Position {
        Position {
            line: self.start.line,
            column: self.start.column + to_u32(self.text.chars().count()),
            offset: self.start.offset + to_u32(self.text.len()),
        }
    }

    /// The position of byte `at` of this line.
    fn position(&self, at: usize) -> Position {
        Position {
            line: self.start.line,
            column: self.start.column + to_u32(self.text[..at].chars().count()),
            offset: self.start.offset + to_u32(at),
        }
    }
}

/// Splits on `\n`, drops one trailing `\r` per line, tracks positions.
#[derive(Debug)]
pub(crate) struct Lines<'a> {
    src: &'a str,
    at: usize,
    line: u32,
}

impl<'a> Lines<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Self { src, at: 0, line: 0 }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = PhysicalLine<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.src.len() {
            return None;
        }
        let rest = &self.src[self.at..];
        let (raw, advance) = match rest.find('\n') {
            Some(i) => (&rest[..i], i + 1),
            None => (rest, rest.len()),
        };
        let text = raw.strip_suffix('\r').unwrap_or(raw);
        self.line += 1;
        let start = Position { line: self.line, column: 1, offset: to_u32(self.at) };
        self.at += advance;
        Some(PhysicalLine { text, start, bytes: raw.len() })
    }
}

/// What the lexer hands the parser.
#[derive(Debug)]
pub(crate) enum Item {
    Instruction(LogicalLine),
    Comment(Comment),
}

/// An instruction's text with continuations joined, the map back to the file, and its heredocs.
#[derive(Debug)]
pub(crate) struct LogicalLine {
    pub(crate) text: String,
    pub(crate) map: LineMap,
    pub(crate) heredocs: Vec<Heredoc>,
    pub(crate) span: Span,
}

/// Reads the whole source. `heredoc_markers` tells which heredocs a logical line opens.
pub(crate) struct Lexer<'a, F> {
    lines: Lines<'a>,
    /// The byte-order mark's length: BuildKit counts it in the first line's length.
    bom: usize,
    pub(crate) escape: char,
    pub(crate) directives: Vec<Directive>,
    pub(crate) diagnostics: Vec<Diagnostic>,
    pub(crate) warnings: Vec<Diagnostic>,
    in_directives: bool,
    heredoc_markers: F,
}

/// A heredoc opened on an instruction line: delimiter, file descriptor, `<<-`, and whether the
/// body expands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeredocMarker {
    pub(crate) name: String,
    pub(crate) file_descriptor: u64,
    pub(crate) chomp: bool,
    pub(crate) expand: bool,
}

impl<'a, F: Fn(&str) -> Vec<HeredocMarker>> Lexer<'a, F> {
    pub(crate) fn new(src: &'a str, heredoc_markers: F) -> Self {
        let text = src.strip_prefix('\u{feff}').unwrap_or(src);
        Self {
            lines: Lines::new(text),
            bom: src.len() - text.len(),
            escape: '\\',
            directives: Vec::new(),
            diagnostics: Vec::new(),
            warnings: Vec::new(),
            in_directives: true,
            heredoc_markers,
        }
    }

    pub(crate) fn next_item(&mut self) -> Option<Item> {
        loop {
            let line = self.next_line()?;
            if self.in_directives {
                if self.read_directive(line) {
                    continue;
                }
                self.in_directives = false;
            }
            let content = line.text.trim_start();
            if content.is_empty() {
                continue;
            }
            let indent = line.text.len() - content.len();
            if let Some(text) = content.strip_prefix('#') {
                let span = Span::new(line.position(indent), line.end());
                return Some(Item::Comment(Comment { text: text.trim().to_owned(), span }));
            }
            return Some(Item::Instruction(self.read_instruction(line, indent)));
        }
    }

    /// `# name=value` at the top of the file. Returns false when the line is not a directive.
    fn read_directive(&mut self, line: PhysicalLine<'_>) -> bool {
        let Some((name, value)) = parse_directive(line.text) else { return false };
        let name = name.to_ascii_lowercase();
        if !matches!(name.as_str(), "syntax" | "escape" | "check") {
            return false;
        }
        let span = Span::new(line.start, line.end());
        if self.directives.iter().any(|d| d.name == name) {
            self.diagnose(
                DiagnosticKind::InvalidDirective,
                format!("only one {name} parser directive can be used"),
                span,
            );
        } else if name == "escape" {
            match value {
                "\\" => self.escape = '\\',
                "`" => self.escape = '`',
                other => self.diagnose(
                    DiagnosticKind::InvalidDirective,
                    format!("invalid escape token {other:?}: it must be ` or \\"),
                    span,
                ),
            }
        }
        self.directives.push(Directive { name, value: value.to_owned(), span });
        true
    }

    fn read_instruction(&mut self, first: PhysicalLine<'_>, indent: usize) -> LogicalLine {
        let mut text = String::new();
        let mut map = LineMap::default();
        let (body, mut continues) = trim_continuation(&first.text[indent..], self.escape);
        map.push(0, first.position(indent));
        text.push_str(body);
        let mut end = first.end();
        let mut blank = None;
        while continues {
            let Some(line) = self.next_line() else { break };
            end = line.end();
            let trimmed = line.text.trim_start();
            // BuildKit drops comment lines and blank lines inside a continuation, and warns
            // (once per instruction) about blank ones.
            if trimmed.is_empty() {
                blank.get_or_insert(Span::new(line.start, end));
                continue;
            }
            if trimmed.starts_with('#') {
                continue;
            }
            let (body, more) = trim_continuation(line.text, self.escape);
            map.push(text.len(), line.start);
            text.push_str(body);
            continues = more;
        }
        if let Some(span) = blank {
            self.warnings.push(Diagnostic {
                kind: DiagnosticKind::EmptyContinuation,
                message: "empty continuation line (BuildKit's NoEmptyContinuation: empty continuation lines will \
                          become errors in a future release)"
                    .into(),
                span,
            });
        }
        let start = first.position(indent);
        let mut heredocs = Vec::new();
        for marker in (self.heredoc_markers)(&text) {
            let heredoc = self.read_heredoc(marker, end);
            end = heredoc.span.end;
            heredocs.push(heredoc);
        }
        LogicalLine { text, map, heredocs, span: Span::new(start, end) }
    }

    fn read_heredoc(&mut self, marker: HeredocMarker, opened_at: Position) -> Heredoc {
        let mut content = String::new();
        let mut span = Span::new(opened_at, opened_at);
        let mut first = true;
        while let Some(line) = self.next_line() {
            if first {
                span.start = line.start;
                first = false;
            }
            span.end = line.end();
            let candidate = if marker.chomp { line.text.trim_start_matches('\t') } else { line.text };
            if candidate == marker.name {
                return marker.heredoc(content, span);
            }
            content.push_str(line.text);
            content.push('\n');
        }
        self.diagnose(
            DiagnosticKind::UnterminatedHeredoc,
            format!("unterminated heredoc: no line {:?} closes <<{}", marker.name, marker.name),
            Span::new(opened_at, span.end),
        );
        marker.heredoc(content, span)
    }

    /// The next physical line; one longer than BuildKit reads is diagnosed (and still read).
    fn next_line(&mut self) -> Option<PhysicalLine<'a>> {
        let line = self.lines.next()?;
        let bytes = if line.start.line == 1 { line.bytes + self.bom } else { line.bytes };
        if bytes > MAX_LINE_BYTES {
            self.diagnose(
                DiagnosticKind::LineTooLong,
                format!(
                    "dockerfile line greater than max allowed size of {MAX_LINE_BYTES} bytes: this one has {bytes}"
                ),
                Span::new(line.start, line.end()),
            );
        }
        Some(line)
    }

    pub(crate) fn diagnose(&mut self, kind: DiagnosticKind, message: String, span: Span) {
        self.diagnostics.push(Diagnostic { kind, message, span });
    }
}

/// `#\s*name\s*=\s*value` (BuildKit's directive pattern, leading blanks allowed).
fn parse_directive(line: &str) -> Option<(&str, &str)> {
    let rest = line.trim_start().strip_prefix('#')?.trim_start();
    let name_len = rest.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(rest.len());
    let name = &rest[..name_len];
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let value = rest[name_len..].trim_start().strip_prefix('=')?.trim();
    (!value.is_empty()).then_some((name, value))
}

impl HeredocMarker {
    fn heredoc(self, content: String, span: Span) -> Heredoc {
        let Self { name, file_descriptor, chomp, expand } = self;
        Heredoc { name, file_descriptor, chomp, expand, content, span }
    }
}

/// Strips a trailing escape character (and blanks after it). True when the line continues.
/// BuildKit's pattern is `([^E])E[ \t]*$|^E[ \t]*$`: an escape right after another one does not
/// continue the line (`C:\\`), whatever comes before them (`a \\\` does not continue either).
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    match trimmed.strip_suffix(escape) {
        Some(body) if !body.ends_with(escape) => (body, true),
        _ => (line, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directive_pattern() {
        assert_eq!(parse_directive("# syntax=docker/dockerfile:1"), Some(("syntax", "docker/dockerfile:1")));
        assert_eq!(parse_directive("  #escape = `  "), Some(("escape", "`")));
        assert_eq!(parse_directive("# not a directive"), None);
        assert_eq!(parse_directive("# 1x=y"), None);
    }

    #[test]
    fn continuation_only_at_line_end() {
        assert_eq!(trim_continuation("a \\  ", '\\'), ("a ", true));
        assert_eq!(trim_continuation("C:\\", '`'), ("C:\\", false));
        assert_eq!(trim_continuation("a`", '`'), ("a", true));
        assert_eq!(trim_continuation("\\ ", '\\'), ("", true));
    }

    #[test]
    fn an_escaped_escape_does_not_continue() {
        assert_eq!(trim_continuation(r"C:\\", '\\'), (r"C:\\", false));
        assert_eq!(trim_continuation("a \\\\\\\t", '\\'), ("a \\\\\\\t", false));
        assert_eq!(trim_continuation("a``", '`'), ("a``", false));
        assert_eq!(trim_continuation(r"C:\`", '`'), (r"C:\", true));
    }
}
