//! The Dockerfile parser: BuildKit semantics, positions on every node, diagnostics as values.

mod ast;
pub mod expand;
mod image;
mod lexer;
mod mount;
mod parser;
mod position;
mod printer;
mod words;

use std::collections::HashMap;

pub use ast::{
    ArgDecl, Arguments, Comment, Diagnostic, DiagnosticKind, Directive, Dockerfile, Flag, FromArgs, Healthcheck,
    Heredoc, Instruction, InstructionKind, KeyValue, KeyValues, Word, WordList,
};
pub use image::ImageRef;
pub use mount::Mount;
pub use position::{Position, Span};

use lexer::{Item, Lexer};

/// Limits applied to untrusted input before parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// Larger inputs are refused with a diagnostic instead of parsed.
    pub max_bytes: usize,
}

impl Default for ParseOptions {
    /// 16 MiB: far above any real Dockerfile (the largest in our corpus is 10 KB).
    fn default() -> Self {
        Self { max_bytes: 16 << 20 }
    }
}

/// Parses Dockerfile text. Never fails and never panics; problems are in `diagnostics`, what
/// BuildKit only warns about in `warnings`.
pub fn parse(src: &str) -> Dockerfile {
    let mut lexer = Lexer::new(src, parser::heredoc_markers);
    let mut instructions = Vec::new();
    let mut comments = Vec::new();
    let mut diagnostics = Vec::new();
    while let Some(item) = lexer.next_item() {
        match item {
            Item::Comment(comment) => comments.push(comment),
            Item::Instruction(line) => {
                if let Some(instruction) = parser::parse_instruction(line, lexer.escape, &mut diagnostics) {
                    instructions.push(instruction);
                }
            }
        }
    }
    diagnostics.append(&mut lexer.diagnostics);
    let mut dockerfile = Dockerfile {
        directives: std::mem::take(&mut lexer.directives),
        escape: lexer.escape,
        instructions,
        comments,
        diagnostics,
        warnings: std::mem::take(&mut lexer.warnings),
    };
    check_base_images(&mut dockerfile);
    if dockerfile.instructions.is_empty() {
        let end = Position { line: 1, column: 1, offset: 0 };
        dockerfile.diagnostics.push(Diagnostic {
            kind: DiagnosticKind::NoInstructions,
            message: "the file has no instructions (BuildKit refuses an empty Dockerfile)".into(),
            span: Span::new(end, end),
        });
    }
    dockerfile.diagnostics.sort_by_key(|d| d.span.start);
    dockerfile
}

/// Parses raw bytes, refusing (with a diagnostic that says why) input that is too large,
/// binary or not UTF-8.
pub fn parse_bytes(bytes: &[u8], options: &ParseOptions) -> Dockerfile {
    if bytes.len() > options.max_bytes {
        let reason =
            format!("input is {} bytes, over the {} byte limit for a Dockerfile", bytes.len(), options.max_bytes);
        return refused(&reason, Position { line: 1, column: 1, offset: 0 });
    }
    if let Some(at) = bytes.iter().position(|&b| b == 0) {
        return refused("binary input: NUL byte", position_of(bytes, at));
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => parse(text),
        Err(e) => refused("input is not valid UTF-8", position_of(bytes, e.valid_up_to())),
    }
}

fn refused(reason: &str, at: Position) -> Dockerfile {
    Dockerfile {
        directives: Vec::new(),
        escape: '\\',
        instructions: Vec::new(),
        comments: Vec::new(),
        diagnostics: vec![Diagnostic {
            kind: DiagnosticKind::UnreadableInput,
            message: format!("{reason} at line {} column {}", at.line, at.column),
            span: Span::new(at, at),
        }],
        warnings: Vec::new(),
    }
}

/// Line and column of byte `at`, counting columns in bytes past the last valid character.
fn position_of(bytes: &[u8], at: usize) -> Position {
    let before = &bytes[..at];
    let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let line = before.split(|&b| b == b'\n').count();
    let column = String::from_utf8_lossy(&before[line_start..]).chars().count() + 1;
    Position { line: position::to_u32(line), column: position::to_u32(column), offset: position::to_u32(at) }
}

/// BuildKit refuses a `FROM` whose expanded image is not a valid reference. Only the global
/// ARGs (declared before the first FROM) are visible there; references to unknown variables
/// or to earlier stages are not checked.
fn check_base_images(dockerfile: &mut Dockerfile) {
    let escape = dockerfile.escape;
    let mut global_args: HashMap<String, String> = HashMap::new();
    let mut stages: Vec<String> = Vec::new();
    let mut seen_from = false;
    for instruction in &dockerfile.instructions {
        match &instruction.kind {
            InstructionKind::Arg(decls) if !seen_from => {
                // `ARG NAME` (or `ARG NAME=`) is meant to be given at build time: its value is unknown.
                for decl in decls {
                    if let Some(default) = decl.default.as_ref().filter(|d| !d.raw.is_empty()) {
                        let value = default.expand(escape, &global_args);
                        global_args.insert(decl.name.value(escape), value);
                    }
                }
            }
            InstructionKind::From(from) => {
                seen_from = true;
                let expanded = expand::expand(&from.image.raw, escape, &global_args);
                if expanded.missing.is_empty()
                    && !stages.contains(&expanded.value.to_ascii_lowercase())
                    && let Err(reason) = ImageRef::parse(&expanded.value)
                {
                    dockerfile.diagnostics.push(Diagnostic {
                        kind: DiagnosticKind::InvalidImageReference,
                        message: format!("invalid image reference {:?}: {reason}", expanded.value),
                        span: from.image.span,
                    });
                }
                if let Some(alias) = &from.alias {
                    stages.push(alias.raw.to_ascii_lowercase());
                }
            }
            _ => {}
        }
    }
}
