//! Inline pragmas: `# hadolint ignore=DL3008,DL3015` (the next line only, as hadolint does),
//! `# codi ignore=CD001,apt-get-pin-versions` (the next instruction), and the file-wide
//! `# hadolint global ignore=…` / `# codi global ignore=…`.

use super::Finding;
use crate::syntax::Dockerfile;

#[derive(Debug, Default)]
pub(crate) struct Pragmas {
    /// (line the ignore applies to, codes or names)
    lines: Vec<(u32, Vec<String>)>,
    global: Vec<String>,
}

impl Pragmas {
    pub(crate) fn new(file: &Dockerfile) -> Self {
        let mut pragmas = Self::default();
        for comment in &file.comments {
            let Some((tool, global, codes)) = parse(&comment.text) else { continue };
            if global {
                pragmas.global.extend(codes);
                continue;
            }
            let line = if tool == Tool::Hadolint {
                comment.span.start.line + 1
            } else {
                match file.instructions.iter().find(|i| i.span.start.line > comment.span.start.line) {
                    Some(next) => next.span.start.line,
                    None => continue,
                }
            };
            pragmas.lines.push((line, codes));
        }
        pragmas
    }

    /// True when a pragma silences `finding` of the rule with `code` and `name`.
    pub(crate) fn suppresses(&self, finding: &Finding, name: &str) -> bool {
        let named = |codes: &[String]| codes.iter().any(|c| c.eq_ignore_ascii_case(finding.code) || c == name);
        named(&self.global) || self.lines.iter().any(|(line, codes)| *line == finding.line() && named(codes))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    Hadolint,
    Codi,
}

/// `hadolint [global] ignore=A, B # trailing comment` (the text after `#`).
fn parse(text: &str) -> Option<(Tool, bool, Vec<String>)> {
    let (tool, rest) = if let Some(rest) = text.strip_prefix("hadolint") {
        (Tool::Hadolint, rest)
    } else {
        (Tool::Codi, text.strip_prefix("codi")?)
    };
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let rest = rest.trim_start();
    let (global, rest) = match rest.strip_prefix("global") {
        Some(r) if r.starts_with([' ', '\t']) => (true, r.trim_start()),
        _ => (false, rest),
    };
    let list = rest.strip_prefix("ignore")?.trim_start().strip_prefix('=')?;
    let list = list.split('#').next().unwrap_or_default();
    let valid = |c: &str| match tool {
        Tool::Hadolint => c.chars().all(|ch| "DLSC0123456789".contains(ch)),
        Tool::Codi => c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-'),
    };
    let codes: Vec<String> = list.split(',').map(str::trim).map(str::to_owned).collect();
    (codes.iter().all(|c| !c.is_empty() && valid(c))).then_some((tool, global, codes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pragma_syntax() {
        assert_eq!(
            parse("hadolint ignore=DL3008, DL3015"),
            Some((Tool::Hadolint, false, vec!["DL3008".into(), "DL3015".into()]))
        );
        assert_eq!(parse("hadolint global ignore=DL3059 # why"), Some((Tool::Hadolint, true, vec!["DL3059".into()])));
        assert_eq!(
            parse("codi ignore=CD001,apt-get-pin-versions"),
            Some((Tool::Codi, false, vec!["CD001".into(), "apt-get-pin-versions".into()]))
        );
        assert_eq!(parse("hadolint ignore=DL3008 because"), None);
        assert_eq!(parse("hadolintignore=DL3008"), None);
        assert_eq!(parse("just a comment"), None);
    }
}
