//! Secret redaction: credentials found by the analyzer's patterns (cloud keys, tokens, private
//! keys, passwords in URLs) and values assigned to secret-looking names in ENV, ARG and RUN, or
//! given to `--password`-like flags. Each value becomes `<redacted:kind>`; only the counts per
//! kind are kept, never the values.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::Range;
use std::sync::LazyLock;

use codi_core::analysis::secrets::{SecretKind, find_secrets};
use codi_dataset::records::Redaction;
use regex::Regex;

/// `DB_PASSWORD=value`, `api_key: value` with a secret-looking name; the value is group 2.
static ASSIGNMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)\b([A-Z0-9_]*(?:PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY)[A-Z0-9_]*)[ \t]*=[ \t]*("[^"\n]*"|'[^'\n]*'|[^\s"'\\]+)"#)
        .expect("valid pattern")
});

/// `--password value`, `--token=value`, `-p'value'` is left alone (too ambiguous).
static FLAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)(--(?:password|passwd|token|api-key|apikey|secret|client-secret))(?:=|[ \t]+)("[^"\n]*"|'[^'\n]*'|[^\s"'\\-][^\s"'\\]*)"#)
        .expect("valid pattern")
});

/// `ENV DB_PASSWORD value` (the legacy form): the value is group 2.
static LEGACY_ENV: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?im)^[ \t]*(?:ENV|ARG)[ \t]+([A-Z0-9_]*(?:PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_?KEY)[A-Z0-9_]*)[ \t]+([^\s=][^\n]*)$")
        .expect("valid pattern")
});

/// A value that is not a secret itself: a variable reference, empty, or a placeholder.
fn is_reference(value: &str) -> bool {
    let bare = value.trim_matches(|c| c == '"' || c == '\'');
    bare.is_empty()
        || bare.starts_with('$')
        || bare.starts_with('<')
        || bare.starts_with("/run/secrets")
        || matches!(bare.to_ascii_lowercase().as_str(), "changeme" | "xxx" | "none" | "null" | "true" | "false")
}

/// The ranges to redact in `text`, with their kind, not overlapping, in order.
fn find(text: &str) -> Vec<(Range<usize>, String)> {
    let mut found: Vec<(Range<usize>, String)> = find_secrets(text)
        .into_iter()
        .map(|m| {
            let mut range = m.range;
            // The whole key block, not just its header.
            if m.kind == SecretKind::PrivateKey {
                let end = text[range.end..].find("PRIVATE KEY-----").map_or_else(
                    || text[range.end..].find('\n').map_or(text.len(), |n| range.end + n),
                    |n| range.end + n + "PRIVATE KEY-----".len(),
                );
                range = range.start..end;
            }
            (range, m.kind.as_str().to_owned())
        })
        .collect();
    for (re, kind) in
        [(&*ASSIGNMENT, "secret-assignment"), (&*LEGACY_ENV, "secret-assignment"), (&*FLAG, "secret-flag")]
    {
        for captures in re.captures_iter(text) {
            let value = captures.get(2).expect("the value group");
            if !is_reference(value.as_str()) {
                found.push((value.range(), kind.to_owned()));
            }
        }
    }
    found.sort_by_key(|(r, _)| (r.start, std::cmp::Reverse(r.end)));
    let mut merged: Vec<(Range<usize>, String)> = Vec::new();
    for (range, kind) in found {
        match merged.last_mut() {
            Some((last, _)) if range.start < last.end => last.end = last.end.max(range.end),
            _ => merged.push((range, kind)),
        }
    }
    merged
}

/// `text` with every secret value replaced, and the counts per kind (added to `counts`).
pub fn redact(text: &str, counts: &mut BTreeMap<String, u32>) -> String {
    let found = find(text);
    if found.is_empty() {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (range, kind) in found {
        out.push_str(&text[at..range.start]);
        let _ = write!(out, "<redacted:{kind}>");
        *counts.entry(kind).or_default() += 1;
        at = range.end;
    }
    out.push_str(&text[at..]);
    out
}

pub(crate) fn as_rows(counts: BTreeMap<String, u32>) -> Vec<Redaction> {
    counts.into_iter().map(|(kind, count)| Redaction { kind, count }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redacted(text: &str) -> (String, BTreeMap<String, u32>) {
        let mut counts = BTreeMap::new();
        (redact(text, &mut counts), counts)
    }

    #[test]
    fn credentials_and_secret_assignments() {
        let (text, counts) = redacted(
            "ENV AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE DB_PASSWORD=hunter2\nARG API_TOKEN\nRUN curl -u x https://bob:s3cr3t@example.com/ && login --password \"p w\"\nENV APP_SECRET from-legacy-form\n",
        );
        for secret in ["AKIAIOSFODNN7EXAMPLE", "hunter2", "s3cr3t", "p w", "from-legacy-form"] {
            assert!(!text.contains(secret), "{secret} left in {text}");
        }
        assert!(text.contains("ARG API_TOKEN\n"), "a declaration without a value stays");
        assert_eq!(counts.values().sum::<u32>(), 5, "{counts:?}");
    }

    #[test]
    fn references_and_placeholders_stay() {
        let input = "ENV DB_PASSWORD=$DB_PASSWORD TOKEN=${TOKEN}\nRUN --mount=type=secret,id=npm,target=/run/secrets/npm NPM_TOKEN=$(cat /run/secrets/npm) npm ci\n";
        let (text, counts) = redacted(input);
        assert_eq!(text, input);
        assert!(counts.is_empty());
    }

    #[test]
    fn private_keys_are_redacted_whole() {
        let (text, _) =
            redacted("RUN echo '-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----' > key\n");
        assert!(!text.contains("MIIEow"));
        assert!(text.ends_with("' > key\n"));
    }
}
