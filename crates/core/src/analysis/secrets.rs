//! Credentials that should never be written into a Dockerfile: well-known token formats and
//! private keys. Used by the secret-value lint rule and by redaction.

use std::ops::Range;
use std::sync::LazyLock;

use aho_corasick::AhoCorasick;
use regex::Regex;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecretKind {
    AwsAccessKeyId,
    GithubToken,
    GitlabToken,
    SlackToken,
    GoogleApiKey,
    StripeKey,
    NpmToken,
    PrivateKey,
    JsonWebToken,
    UrlCredentials,
}

impl SecretKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwsAccessKeyId => "aws-access-key-id",
            Self::GithubToken => "github-token",
            Self::GitlabToken => "gitlab-token",
            Self::SlackToken => "slack-token",
            Self::GoogleApiKey => "google-api-key",
            Self::StripeKey => "stripe-key",
            Self::NpmToken => "npm-token",
            Self::PrivateKey => "private-key",
            Self::JsonWebToken => "json-web-token",
            Self::UrlCredentials => "url-credentials",
        }
    }

    /// A phrase for messages: "an AWS access key ID".
    pub fn description(self) -> &'static str {
        match self {
            Self::AwsAccessKeyId => "an AWS access key ID",
            Self::GithubToken => "a GitHub token",
            Self::GitlabToken => "a GitLab token",
            Self::SlackToken => "a Slack token",
            Self::GoogleApiKey => "a Google API key",
            Self::StripeKey => "a Stripe live key",
            Self::NpmToken => "an npm token",
            Self::PrivateKey => "a private key",
            Self::JsonWebToken => "a JSON web token",
            Self::UrlCredentials => "a password in a URL",
        }
    }
}

/// A secret found in text: its kind and the byte range of the secret value itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretMatch {
    pub kind: SecretKind,
    pub range: Range<usize>,
}

static PATTERNS: LazyLock<Vec<(SecretKind, Regex)>> = LazyLock::new(|| {
    let patterns = [
        (SecretKind::AwsAccessKeyId, r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b"),
        (SecretKind::GithubToken, r"\b(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{22,})\b"),
        (SecretKind::GitlabToken, r"\bglpat-[A-Za-z0-9_-]{20,}"),
        (SecretKind::SlackToken, r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
        (SecretKind::GoogleApiKey, r"\bAIza[0-9A-Za-z_-]{35}"),
        (SecretKind::StripeKey, r"\b(?:sk|rk)_live_[0-9A-Za-z]{24,}"),
        (SecretKind::NpmToken, r"\bnpm_[A-Za-z0-9]{36}\b"),
        (SecretKind::PrivateKey, r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----"),
        (SecretKind::JsonWebToken, r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
        // scheme://user:password@host, where the password is not a variable reference.
        (SecretKind::UrlCredentials, r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/:@$]+:([^\s/@$]{3,})@"),
    ];
    patterns.into_iter().map(|(kind, re)| (kind, Regex::new(re).expect("valid secret pattern"))).collect()
});

/// Substrings at least one of which every secret contains: a cheap test that spares the regexes
/// (and their shared caches) on almost all text.
static HINTS: LazyLock<AhoCorasick> = LazyLock::new(|| AhoCorasick::new(HINT_TEXTS).expect("valid hints"));

const HINT_TEXTS: &[&str] = &[
    "AKIA",
    "ASIA",
    "AGPA",
    "AIDA",
    "AROA",
    "ANPA",
    "ANVA",
    "AIPA",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "xox",
    "AIza",
    "_live_",
    "npm_",
    "PRIVATE KEY",
    "eyJ",
    "@",
];

/// Every secret in `text`, ordered by position.
pub fn find_secrets(text: &str) -> Vec<SecretMatch> {
    if !HINTS.is_match(text) {
        return Vec::new();
    }
    let mut found: Vec<SecretMatch> = PATTERNS
        .iter()
        .flat_map(|(kind, re)| {
            re.captures_iter(text).map(move |c| {
                let m = c.get(1).or_else(|| c.get(0)).expect("group 0 always matches");
                SecretMatch { kind: *kind, range: m.range() }
            })
        })
        .collect();
    found.sort_by_key(|m| (m.range.start, m.kind));
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<SecretKind> {
        find_secrets(text).into_iter().map(|m| m.kind).collect()
    }

    #[test]
    fn finds_known_formats() {
        // Fake values in the documented formats, not real credentials.
        assert_eq!(kinds("AWS_ACCESS_KEY_ID=AKIAABCDEFGHIJKLMNOP"), [SecretKind::AwsAccessKeyId]);
        assert_eq!(kinds(&format!("TOKEN=ghp_{}", "a".repeat(36))), [SecretKind::GithubToken]);
        assert_eq!(kinds("-----BEGIN OPENSSH PRIVATE KEY-----"), [SecretKind::PrivateKey]);
        let url = "https://deploy:s3cr3tpass@git.example.com/repo.git";
        let found = find_secrets(url);
        assert_eq!(found[0].kind, SecretKind::UrlCredentials);
        assert_eq!(&url[found[0].range.clone()], "s3cr3tpass");
    }

    #[test]
    fn ignores_variables_and_plain_words() {
        assert!(kinds("https://${USER}:${PASS}@example.com").is_empty());
        assert!(kinds("ENV PATH=/usr/local/bin:$PATH AKIA_NOT_A_KEY").is_empty());
    }
}
