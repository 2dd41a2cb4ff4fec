//! Inline pragmas: `# hadolint ignore=DL3008,DL3015` (the next line only, as hadolint does),
//! `# codi ignore=CD001,apt-get-pin-versions` (the next instruction), hadolint's stage-wide
//! `# hadolint stage ignore=…`, and the file-wide `# hadolint global ignore=…` /
//! `# codi global ignore=…`.

use std::collections::BTreeMap;

use super::Finding;
use crate::syntax::{Dockerfile, InstructionKind};

#[derive(Debug, Default)]
pub(crate) struct Pragmas {
    /// (line the ignore applies to, codes or names)
    lines: Vec<(u32, Vec<String>)>,
    /// hadolint's stage ignores: from each key (the line after a stage pragma, or a FROM line
    /// with none there) the codes ignored on the lines after it, up to the next key.
    stages: BTreeMap<u32, Vec<String>>,
    global: Vec<String>,
}

impl Pragmas {
    pub(crate) fn new(file: &Dockerfile) -> Self {
        let mut pragmas = Self::default();
        for comment in &file.comments {
            let Some(pragma) = parse(&comment.text) else { continue };
            let after = comment.span.start.line + 1;
            match (pragma.scope, pragma.tool) {
                (Scope::Global, _) => pragmas.global.extend(pragma.codes),
                (Scope::Stage, _) => {
                    pragmas.stages.insert(after, pragma.codes);
                }
                (Scope::Line, Tool::Hadolint) => pragmas.lines.push((after, pragma.codes)),
                (Scope::Line, Tool::Codi) => {
                    let line = comment.span.start.line;
                    if let Some(next) = file.instructions.iter().find(|i| i.span.start.line > line) {
                        pragmas.lines.push((next.span.start.line, pragma.codes));
                    }
                }
            }
        }
        // A FROM line starts a new stage unless a stage pragma is keyed to it.
        for instruction in file.instructions.iter().filter(|i| matches!(i.kind, InstructionKind::From(_))) {
            pragmas.stages.entry(instruction.span.start.line).or_default();
        }
        pragmas
    }

    /// True when a pragma silences `finding` of the rule with `code` and `name`.
    pub(crate) fn suppresses(&self, finding: &Finding, name: &str) -> bool {
        let named = |codes: &[String]| codes.iter().any(|c| c.eq_ignore_ascii_case(finding.code) || c == name);
        let line = finding.line();
        // hadolint looks up the last key strictly before the line: a stage pragma right before
        // a FROM does not cover that FROM line, but does cover the next one.
        let stage = self.stages.range(..line).next_back().map(|(_, codes)| codes.as_slice());
        named(&self.global)
            || stage.is_some_and(named)
            || self.lines.iter().any(|(l, codes)| *l == line && named(codes))
    }
}

/// True for `hadolint ignore=…` (the text after `#`): the inline pragma DL1001 flags.
pub(crate) fn is_inline_hadolint_ignore(text: &str) -> bool {
    parse(text).is_some_and(|p| p.tool == Tool::Hadolint && p.scope == Scope::Line)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    Hadolint,
    Codi,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Line,
    /// hadolint only.
    Stage,
    Global,
}

#[derive(Debug, PartialEq, Eq)]
struct Pragma {
    tool: Tool,
    scope: Scope,
    codes: Vec<String>,
}

/// `hadolint [global|stage] ignore=A, B # trailing comment` (the text after `#`).
fn parse(text: &str) -> Option<Pragma> {
    let (tool, rest) = if let Some(rest) = text.strip_prefix("hadolint") {
        (Tool::Hadolint, rest)
    } else {
        (Tool::Codi, text.strip_prefix("codi")?)
    };
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let rest = rest.trim_start();
    let keyword = |word: &str| rest.strip_prefix(word).filter(|r| r.starts_with([' ', '\t'])).map(str::trim_start);
    let (scope, rest) = match (keyword("global"), keyword("stage")) {
        (Some(r), _) => (Scope::Global, r),
        (_, Some(r)) if tool == Tool::Hadolint => (Scope::Stage, r),
        _ => (Scope::Line, rest),
    };
    let list = rest.strip_prefix("ignore")?.trim_start().strip_prefix('=')?;
    let list = list.split('#').next().unwrap_or_default();
    let valid = |c: &str| match tool {
        Tool::Hadolint => c.chars().all(|ch| "DLSC0123456789".contains(ch)),
        Tool::Codi => c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-'),
    };
    let codes: Vec<String> = list.split(',').map(str::trim).map(str::to_owned).collect();
    (codes.iter().all(|c| !c.is_empty() && valid(c))).then_some(Pragma { tool, scope, codes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pragma(tool: Tool, scope: Scope, codes: &[&str]) -> Pragma {
        Pragma { tool, scope, codes: codes.iter().map(|c| (*c).to_owned()).collect() }
    }

    #[test]
    fn pragma_syntax() {
        let some = |tool, scope, codes| Some(pragma(tool, scope, codes));
        assert_eq!(parse("hadolint ignore=DL3008, DL3015"), some(Tool::Hadolint, Scope::Line, &["DL3008", "DL3015"]));
        assert_eq!(parse("hadolint global ignore=DL3059 # why"), some(Tool::Hadolint, Scope::Global, &["DL3059"]));
        assert_eq!(parse("hadolint stage ignore = DL3006"), some(Tool::Hadolint, Scope::Stage, &["DL3006"]));
        assert_eq!(
            parse("codi ignore=CD001,apt-get-pin-versions"),
            some(Tool::Codi, Scope::Line, &["CD001", "apt-get-pin-versions"])
        );
        assert_eq!(parse("codi stage ignore=CD001"), None);
        assert_eq!(parse("hadolint ignore=DL3008 because"), None);
        assert_eq!(parse("hadolintignore=DL3008"), None);
        assert_eq!(parse("just a comment"), None);
        assert!(is_inline_hadolint_ignore("hadolint ignore=DL3008"));
        assert!(!is_inline_hadolint_ignore("hadolint global ignore=DL3008"));
        assert!(!is_inline_hadolint_ignore("codi ignore=DL3008"));
    }
}
