//! Normalization and the two exact keys: the normalized text's hash, and a semantic hash over
//! the parsed tree that is blind to comments, whitespace, instruction case and continuation
//! layout.

use std::fmt::Write as _;

use codi_core::syntax::Dockerfile;
use codi_dataset::records::sha256_hex;

/// LF line endings, no byte-order mark, no trailing blanks, runs of blank lines collapsed to one,
/// no blank lines at either end, one final newline.
pub fn normalize(text: &str) -> String {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = String::with_capacity(text.len());
    let mut blank_run = 0;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line).trim_end();
        if line.is_empty() {
            blank_run += 1;
            continue;
        }
        if blank_run > 0 && !out.is_empty() {
            out.push('\n');
        }
        blank_run = 0;
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// sha256 of the canonical form of the instructions: keywords upper-case (the printer's),
/// continuations joined, runs of blanks collapsed, comments left out, heredoc bodies kept.
pub fn semantic_hash(file: &Dockerfile) -> String {
    let mut canonical = String::new();
    for directive in &file.directives {
        let _ = writeln!(canonical, "# {}={}", directive.name.to_ascii_lowercase(), directive.value);
    }
    for instruction in &file.instructions {
        let line = instruction.to_string();
        canonical.extend(line.split_whitespace().flat_map(|w| [w, " "]));
        canonical.push('\n');
        for heredoc in &instruction.heredocs {
            canonical.push_str(&heredoc.content);
            canonical.push('\n');
        }
    }
    sha256_hex(canonical.as_bytes())
}

#[cfg(test)]
mod tests {
    use codi_core::syntax::parse;

    use super::*;

    #[test]
    fn normalizes_layout() {
        assert_eq!(normalize("\u{feff}FROM a  \r\n\r\n\r\n\nRUN b\t\n\n"), "FROM a\n\nRUN b\n");
        assert_eq!(normalize(""), "");
    }

    #[test]
    fn semantic_hash_ignores_comments_case_and_continuations() {
        let a = parse("FROM alpine:3.20\n# install\nRUN apk add --no-cache curl \\\n    git\nCMD [\"sh\"]\n");
        let b = parse("from alpine:3.20\nrun   apk add --no-cache curl git\n\n# the shell\ncmd [\"sh\"]\n");
        let c = parse("FROM alpine:3.20\nRUN apk add --no-cache curl\nCMD [\"sh\"]\n");
        assert_eq!(semantic_hash(&a), semantic_hash(&b));
        assert_ne!(semantic_hash(&a), semantic_hash(&c));
    }
}
