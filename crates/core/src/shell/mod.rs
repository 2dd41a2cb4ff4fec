//! A shell-word tokenizer for RUN, CMD and ENTRYPOINT bodies, so that rules reason about
//! commands and their arguments, not substrings.
//!
//! It finds every simple command the way ShellCheck's AST does for hadolint: in pipelines and
//! `&&`/`||` lists, inside `$(…)`, backticks, subshells, `{ …; }`, `if`/`while`/`for`/`case`
//! bodies. Redirections are not arguments; heredoc bodies inside the script are skipped.

mod lexer;

use serde::Serialize;

pub use lexer::Operator;
use lexer::{Lexer, Token};

/// The commands and control operators of a shell script.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Script {
    /// Every simple command; those in a command substitution come before the command holding it.
    pub commands: Vec<Command>,
    /// Control operators in order, those of command substitutions included.
    pub operators: Vec<Operator>,
}

impl Script {
    pub fn has_pipe(&self) -> bool {
        self.operators.contains(&Operator::Pipe)
    }

    /// Commands whose name is exactly `name` (as hadolint compares them).
    pub fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Command> + 'a {
        self.commands.iter().filter(move |c| c.name == name)
    }

    /// The index of the first command satisfying `f`.
    pub fn position(&self, f: impl Fn(&Command) -> bool) -> Option<usize> {
        self.commands.iter().position(f)
    }

    /// Whether a command satisfying `first` runs and none satisfying `then` comes after it. As
    /// in hadolint, the first of each is compared: an install between two clean-ups counts as
    /// not cleaned.
    pub fn not_followed_by(&self, first: impl Fn(&Command) -> bool, then: impl Fn(&Command) -> bool) -> bool {
        let Some(first) = self.position(first) else { return false };
        self.position(then).is_none_or(|then| then <= first)
    }

    /// The commands of each pipeline with more than one command, in order of first command.
    pub fn pipelines(&self) -> impl Iterator<Item = Vec<&Command>> {
        let mut groups: Vec<Vec<&Command>> = Vec::new();
        let mut index: std::collections::HashMap<u32, usize> = std::collections::HashMap::new();
        for command in &self.commands {
            let at = *index.entry(command.pipeline).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            groups[at].push(command);
        }
        groups.into_iter().filter(|g| g.len() > 1)
    }
}

/// A simple command: its name and arguments with quotes removed (`$…` expansions kept as written).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Command {
    pub name: String,
    pub args: Vec<String>,
    /// `NAME=value` words before the name.
    pub assignments: Vec<String>,
    /// Byte offset of the command's first word in the script (in its substitution, if nested).
    pub offset: usize,
    /// Commands joined by `|` share this number; it is unique within the script.
    pub pipeline: u32,
}

impl Command {
    /// The name without its directory: `pip` for `/usr/bin/pip`.
    pub fn basename(&self) -> &str {
        self.name.rsplit('/').next().unwrap_or(&self.name)
    }

    /// `name` with `sub` among its arguments (hadolint's `cmdHasArgs name [sub]`).
    pub fn is(&self, name: &str, sub: &str) -> bool {
        self.name == name && self.has_arg(sub)
    }

    pub fn has_arg(&self, arg: &str) -> bool {
        self.args.iter().any(|a| a == arg)
    }

    pub fn has_any_arg(&self, args: &[&str]) -> bool {
        self.args.iter().any(|a| args.contains(&a.as_str()))
    }

    /// The flags of argument `arg`, hadolint style: `--name=v` is `name`, `-abc` is `a`, `b`, `c`.
    fn flags_of(arg: &str) -> impl Iterator<Item = &str> {
        let (long, short) = match arg {
            "-" | "--" => (None, ""),
            a if a.starts_with("--") => (Some(a[2..].split('=').next().unwrap_or("")), ""),
            a if a.starts_with('-') => (None, &a[1..]),
            _ => (None, ""),
        };
        long.into_iter().chain(short.char_indices().map(move |(i, c)| &short[i..i + c.len_utf8()]))
    }

    fn is_flag(arg: &str) -> bool {
        arg.starts_with('-') && arg != "-" && arg != "--"
    }

    /// Every flag name given to the command.
    pub fn flags(&self) -> impl Iterator<Item = &str> {
        self.args.iter().flat_map(|a| Self::flags_of(a))
    }

    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags().any(|f| f == flag)
    }

    pub fn has_any_flag(&self, flags: &[&str]) -> bool {
        self.flags().any(|f| flags.contains(&f))
    }

    /// Arguments that are not flags.
    pub fn operands(&self) -> impl Iterator<Item = &str> {
        self.args.iter().map(String::as_str).filter(|a| !Self::is_flag(a))
    }

    /// Arguments that are neither flags nor the value given to one of `value_flags`
    /// (`-t`, `--target-release` …) as the next word.
    pub fn operands_skipping(&self, value_flags: &[&str]) -> Vec<&str> {
        let mut operands = Vec::new();
        let mut skip_next = false;
        for arg in &self.args {
            if std::mem::take(&mut skip_next) {
                continue;
            }
            if Self::is_flag(arg) {
                skip_next = !arg.contains('=') && Self::flags_of(arg).any(|f| value_flags.contains(&f));
                continue;
            }
            operands.push(arg.as_str());
        }
        operands
    }
}

/// Reserved words that may precede a command without being one.
const KEYWORDS: &[&str] =
    &["if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}", "time", "esac"];

/// Parses a shell script. Never fails: unbalanced quotes and brackets end at the end of input.
pub fn parse_script(text: &str) -> Script {
    let mut builder = Builder::default();
    let tokens = Lexer::new(text).tokens();
    let mut tokens = tokens.into_iter().peekable();
    while let Some(token) = tokens.next() {
        match token {
            Token::Arithmetic => builder.finish(),
            Token::Op(Operator::OpenParen, _)
                if builder.current.as_ref().is_some_and(|c| c.args.is_empty())
                    && matches!(tokens.peek(), Some(Token::Op(Operator::CloseParen, _))) =>
            {
                // `name () { … }` defines a function: `name` is not a command.
                builder.current = None;
                tokens.next();
            }
            Token::Op(op, _) => builder.operator(op),
            Token::Word(word) => builder.word(word),
        }
    }
    builder.finish();
    builder.script
}

#[derive(Debug, Default, PartialEq, Eq)]
enum Mode {
    #[default]
    Commands,
    /// After `for`/`select`: the loop variable and word list, up to `;`, newline or `do`.
    LoopHeader,
    /// After `case`: the subject, up to `in`.
    CaseHeader,
    /// In a `case` body: a pattern, up to `)`, or `esac`.
    CasePattern,
    /// Inside `[[ … ]]`.
    Condition,
}

#[derive(Debug, Default)]
struct Builder {
    script: Script,
    current: Option<Command>,
    assignments: Vec<String>,
    /// Commands of substitutions inside the current command's words, emitted before it.
    nested: Vec<Script>,
    mode: Mode,
    skip_function_name: bool,
    /// The pipeline the next command belongs to.
    pipeline: u32,
    /// The next unused pipeline number.
    next_pipeline: u32,
}

impl Builder {
    fn finish(&mut self) {
        for nested in std::mem::take(&mut self.nested) {
            // Give the substitution's pipelines numbers of their own.
            let base = self.next_pipeline.max(self.pipeline + 1);
            for mut command in nested.commands {
                command.pipeline += base;
                self.next_pipeline = self.next_pipeline.max(command.pipeline + 1);
                self.script.commands.push(command);
            }
            self.script.operators.extend(nested.operators);
        }
        self.script.commands.extend(self.current.take());
        self.assignments.clear();
    }

    fn operator(&mut self, op: Operator) {
        if self.mode == Mode::CasePattern {
            if op == Operator::CloseParen {
                self.mode = Mode::Commands;
            }
            return;
        }
        self.finish();
        if op != Operator::Pipe {
            self.pipeline = self.next_pipeline.max(self.pipeline + 1);
            self.next_pipeline = self.pipeline + 1;
        }
        match op {
            Operator::Sequence if self.mode == Mode::LoopHeader => self.mode = Mode::Commands,
            Operator::CaseBreak => self.mode = Mode::CasePattern,
            _ => {}
        }
        if !matches!(op, Operator::OpenParen | Operator::CloseParen) {
            self.script.operators.push(op);
        }
    }

    fn word(&mut self, word: lexer::LexWord) {
        self.nested.extend(word.nested);
        let plain = !word.quoted && !word.expands;
        let keyword = |k: &str| plain && word.value == k;
        let next_mode = match self.mode {
            Mode::LoopHeader if keyword("do") => Some(Mode::Commands),
            Mode::CaseHeader if keyword("in") => Some(Mode::CasePattern),
            Mode::CasePattern if keyword("esac") => Some(Mode::Commands),
            Mode::Condition if keyword("]]") => Some(Mode::Commands),
            Mode::Commands => None,
            _ => {
                self.finish();
                return;
            }
        };
        if let Some(mode) = next_mode {
            self.mode = mode;
            self.finish();
            return;
        }
        if let Some(current) = &mut self.current {
            current.args.push(word.value);
            return;
        }
        if plain {
            match word.value.as_str() {
                k if KEYWORDS.contains(&k) => return,
                "for" | "select" => return self.mode = Mode::LoopHeader,
                "case" => return self.mode = Mode::CaseHeader,
                "[[" => return self.mode = Mode::Condition,
                "function" => return self.skip_function_name = true,
                _ => {}
            }
        }
        if std::mem::take(&mut self.skip_function_name) {
            return;
        }
        if is_assignment(&word.value) {
            self.assignments.push(word.value);
            return;
        }
        self.current = Some(Command {
            name: word.value,
            args: Vec::new(),
            assignments: std::mem::take(&mut self.assignments),
            offset: word.start,
            pipeline: self.pipeline,
        });
    }
}

/// `NAME=…`, `NAME+=…`, `NAME[i]=…`.
fn is_assignment(word: &str) -> bool {
    let Some(eq) = word.find('=') else { return false };
    let name = word[..eq].trim_end_matches('+');
    let name = name.split('[').next().unwrap_or(name);
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}
