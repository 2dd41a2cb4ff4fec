//! The Dockerfile syntax tree. Every node keeps its span; words keep their raw text as written
//! (quotes and escapes included) so that printing and re-parsing gives the same tree.

use serde::Serialize;

use super::expand::{self, Lookup};
use super::mount::Mount;
use super::position::Span;

/// A parsed Dockerfile. Parsing never fails: problems are [`Diagnostic`]s.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dockerfile {
    /// Parser directives (`# syntax=…`, `# escape=…`, `# check=…`) from the top of the file.
    pub directives: Vec<Directive>,
    /// The escape character in effect (`\` unless `# escape=` says otherwise).
    pub escape: char,
    pub instructions: Vec<Instruction>,
    /// Whole-line comments outside instructions, in file order.
    pub comments: Vec<Comment>,
    /// Problems that make the file invalid for BuildKit, each with its position.
    pub diagnostics: Vec<Diagnostic>,
    /// What BuildKit builds but warns about (an empty continuation line), each with its position.
    pub warnings: Vec<Diagnostic>,
}

impl Dockerfile {
    /// True when BuildKit would refuse the file.
    pub fn is_malformed(&self) -> bool {
        !self.diagnostics.is_empty()
    }

    /// The `# syntax=` directive's value, if any.
    pub fn syntax(&self) -> Option<&str> {
        self.directives.iter().find(|d| d.name == "syntax").map(|d| d.value.as_str())
    }

    /// The tree as JSON without positions, diagnostics and warnings: what must survive printing
    /// and parsing again.
    pub fn shape(&self) -> serde_json::Value {
        fn strip(value: &mut serde_json::Value) {
            match value {
                serde_json::Value::Object(map) => {
                    map.remove("span");
                    map.values_mut().for_each(strip);
                }
                serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
                _ => {}
            }
        }
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let Some(map) = value.as_object_mut() {
            map.remove("diagnostics");
            map.remove("warnings");
        }
        strip(&mut value);
        value
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Directive {
    /// Lower-cased name.
    pub name: String,
    pub value: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Comment {
    /// The text after `#`, with surrounding whitespace trimmed.
    pub text: String,
    pub span: Span,
}

/// Why BuildKit would refuse a file, or (for [`Dockerfile::warnings`]) warn about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiagnosticKind {
    /// Refused before parsing: too large, binary, not UTF-8.
    UnreadableInput,
    /// A physical line over 65535 bytes (BuildKit's line scanner stops there).
    LineTooLong,
    /// Nothing but comments and blank lines.
    NoInstructions,
    InvalidDirective,
    UnknownInstruction,
    MissingArguments,
    InvalidArguments,
    UnknownFlag,
    UnterminatedHeredoc,
    InvalidImageReference,
    InvalidStageName,
    /// A warning: a blank line inside a continuation (BuildKit's `NoEmptyContinuation`).
    EmptyContinuation,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub kind: DiagnosticKind,
    pub message: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Instruction {
    pub kind: InstructionKind,
    /// `--name[=value]` flags between the keyword and the arguments, unquoted as BuildKit does.
    pub flags: Vec<Flag>,
    /// Heredoc bodies (RUN, COPY, ADD), in the order their `<<WORD` markers appear.
    pub heredocs: Vec<Heredoc>,
    /// From the keyword to the end of the last physical line the instruction uses.
    pub span: Span,
}

impl Instruction {
    /// The upper-case keyword (`RUN`), or the unknown word as written.
    pub fn keyword(&self) -> &str {
        self.kind.keyword()
    }

    pub fn line(&self) -> u32 {
        self.span.line()
    }

    pub fn flag(&self, name: &str) -> Option<&Flag> {
        self.flags.iter().find(|f| f.name == name)
    }

    /// The value of `--name=value`; `Some("")` for a bare `--name`.
    pub fn flag_value(&self, name: &str) -> Option<&str> {
        self.flag(name).map(|f| f.value.as_deref().unwrap_or(""))
    }

    /// The `--mount` flags of a RUN.
    pub fn mounts(&self) -> impl Iterator<Item = Mount> + '_ {
        self.flags.iter().filter(|f| f.name == "mount").map(|f| Mount::parse(f.value.as_deref().unwrap_or("")))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "keyword", content = "args", rename_all = "UPPERCASE")]
pub enum InstructionKind {
    From(FromArgs),
    Run(Arguments),
    Cmd(Arguments),
    Entrypoint(Arguments),
    Shell(Arguments),
    Copy(WordList),
    Add(WordList),
    Env(KeyValues),
    Label(KeyValues),
    Arg(Vec<ArgDecl>),
    Expose(Vec<Word>),
    Volume(WordList),
    User(Word),
    Workdir(Word),
    #[serde(rename = "STOPSIGNAL")]
    StopSignal(Word),
    Healthcheck(Healthcheck),
    Onbuild(Box<Instruction>),
    Maintainer(Word),
    /// An unknown keyword, or arguments BuildKit cannot make sense of (see the diagnostics).
    Invalid {
        keyword: String,
        text: String,
    },
}

impl InstructionKind {
    pub fn keyword(&self) -> &str {
        match self {
            Self::From(_) => "FROM",
            Self::Run(_) => "RUN",
            Self::Cmd(_) => "CMD",
            Self::Entrypoint(_) => "ENTRYPOINT",
            Self::Shell(_) => "SHELL",
            Self::Copy(_) => "COPY",
            Self::Add(_) => "ADD",
            Self::Env(_) => "ENV",
            Self::Label(_) => "LABEL",
            Self::Arg(_) => "ARG",
            Self::Expose(_) => "EXPOSE",
            Self::Volume(_) => "VOLUME",
            Self::User(_) => "USER",
            Self::Workdir(_) => "WORKDIR",
            Self::StopSignal(_) => "STOPSIGNAL",
            Self::Healthcheck(_) => "HEALTHCHECK",
            Self::Onbuild(_) => "ONBUILD",
            Self::Maintainer(_) => "MAINTAINER",
            Self::Invalid { keyword, .. } => keyword,
        }
    }
}

/// A word as written in the Dockerfile, quotes and escapes included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Word {
    pub raw: String,
    pub span: Span,
}

impl Word {
    /// The word with quotes removed and escapes resolved; variables are left as written.
    pub fn value(&self, escape: char) -> String {
        expand::unquote(&self.raw, escape)
    }

    /// The word with variables substituted from `lookup`; unknown variables expand to "".
    pub fn expand(&self, escape: char, lookup: &dyn Lookup) -> String {
        expand::expand(&self.raw, escape, lookup).value
    }
}

/// `FROM [--platform=…] image [AS name]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FromArgs {
    pub image: Word,
    pub alias: Option<Word>,
}

/// The argument of RUN, CMD, ENTRYPOINT and SHELL: exec (JSON array) or shell form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "form", rename_all = "lowercase")]
pub enum Arguments {
    Exec { args: Vec<String>, span: Span },
    Shell { text: String, span: Span },
}

impl Arguments {
    pub fn is_exec(&self) -> bool {
        matches!(self, Self::Exec { .. })
    }

    pub fn span(&self) -> Span {
        match self {
            Self::Exec { span, .. } | Self::Shell { span, .. } => *span,
        }
    }

    /// The command line as one string: shell text as written, exec arguments joined by spaces
    /// (how hadolint hands exec-form RUN to its shell parser).
    pub fn joined(&self) -> String {
        match self {
            Self::Exec { args, .. } => args.join(" "),
            Self::Shell { text, .. } => text.clone(),
        }
    }
}

/// Arguments of COPY, ADD and VOLUME: a JSON array or whitespace-separated words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WordList {
    pub json: bool,
    pub words: Vec<Word>,
}

impl WordList {
    /// For COPY/ADD: every word but the last.
    pub fn sources(&self) -> &[Word] {
        self.words.split_last().map_or(&[], |(_, rest)| rest)
    }

    /// For COPY/ADD: the last word.
    pub fn destination(&self) -> Option<&Word> {
        self.words.last()
    }
}

/// ENV and LABEL pairs. `legacy` is the old `ENV key value with spaces` form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyValues {
    pub legacy: bool,
    pub pairs: Vec<KeyValue>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyValue {
    pub key: Word,
    pub value: Word,
}

/// `ARG name[=default]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArgDecl {
    pub name: Word,
    pub default: Option<Word>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`: disable any inherited check.
    None,
    Cmd(Arguments),
}

/// `--name=value` (or a bare `--name`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flag {
    pub name: String,
    pub value: Option<String>,
    pub span: Span,
}

/// A heredoc body (`<<EOF … EOF`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Heredoc {
    /// The delimiter word, unquoted.
    pub name: String,
    /// The `3` of `3<<EOF`: the file descriptor the body is given on; 0 when none is written
    /// (standard input). As in BuildKit, a number too large for 64 bits gives `u64::MAX`.
    pub file_descriptor: u64,
    /// `<<-`: leading tabs are stripped from the body and terminator.
    pub chomp: bool,
    /// False when a quote delimits part of the name (`<<"EOF"`, `<<E'O'F`): no variable
    /// expansion in the body. An escaped quote (`<<eo\'f`) quotes nothing.
    pub expand: bool,
    /// The body, every line ending in `\n`, terminator excluded.
    pub content: String,
    /// From the first body line to the end of the terminator line.
    pub span: Span,
}

impl Heredoc {
    /// The body as the builder sees it (tabs stripped for `<<-`).
    pub fn text(&self) -> String {
        if !self.chomp {
            return self.content.clone();
        }
        self.content.split_inclusive('\n').map(|l| l.trim_start_matches('\t')).collect()
    }
}
