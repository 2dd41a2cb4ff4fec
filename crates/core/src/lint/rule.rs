//! What a lint rule is: metadata (code, severity, doc text) and a check over a [`Context`].

use std::fmt;

use serde::Serialize;

use super::Context;
use super::finding::Finding;

/// hadolint's levels, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
    Style,
}

impl Severity {
    pub const ALL: [Self; 4] = [Self::Error, Self::Warning, Self::Info, Self::Style];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Info => "info",
            Self::Style => "style",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown severity {s:?} (error, warning, info, style)"))
    }
}

/// What kind of problem a rule finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// The build fails or does something other than what was written.
    Correctness,
    /// Builds that are not reproducible.
    Reproducibility,
    /// Larger images or slower, less cacheable builds.
    Performance,
    /// Risks to the image or the build machine.
    Security,
    /// Readability and conventions.
    Style,
}

/// Everything about a rule except its check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleMeta {
    /// `DL3008` for rules that mirror hadolint, `CD…` for codi's own.
    pub code: &'static str,
    /// A kebab-case name, usable wherever a code is.
    pub name: &'static str,
    /// Whether the code is hadolint's (same meaning, same message).
    pub hadolint: bool,
    pub severity: Severity,
    pub category: Category,
    /// The message of a finding.
    pub message: &'static str,
    /// The rule type's doc comment as captured (each line keeps the space after `///`).
    pub(crate) doc_comment: &'static str,
    /// Off-by-default rules run only when enabled by code or name.
    pub default_enabled: bool,
}

impl RuleMeta {
    pub fn hadolint_code(&self) -> Option<&'static str> {
        self.hadolint.then_some(self.code)
    }

    /// Markdown in three parts (what it does, why it matters, an example fix): the rule type's
    /// doc comment.
    pub fn doc(&self) -> String {
        self.doc_comment.lines().map(|l| l.strip_prefix(' ').unwrap_or(l)).fold(String::new(), |mut doc, line| {
            doc.push_str(line);
            doc.push('\n');
            doc
        })
    }

    /// One section of the doc (`What it does`, `Why it matters`, `Example fix`), as prose on one
    /// line per paragraph.
    pub fn section(&self, title: &str) -> Option<String> {
        let doc = self.doc();
        let start = doc.find(&format!("## {title}\n"))? + title.len() + 4;
        let body = &doc[start..];
        let body = body.find("\n## ").map_or(body, |end| &body[..end]);
        let text =
            body.split("\n\n").map(|p| p.split_whitespace().collect::<Vec<_>>().join(" ")).filter(|p| !p.is_empty());
        Some(text.collect::<Vec<_>>().join("\n\n"))
    }

    /// True for the rule's code or name.
    pub fn is(&self, code_or_name: &str) -> bool {
        self.code.eq_ignore_ascii_case(code_or_name) || self.name == code_or_name
    }
}

/// A lint rule: its metadata and a check that reports findings.
pub trait Rule: Send + Sync + fmt::Debug {
    fn meta(&self) -> &'static RuleMeta;
    fn check(&self, cx: &Context<'_>, out: &mut Vec<Finding>);
}

/// Declares a rule type whose doc comment becomes [`RuleMeta::doc`]:
///
/// ```ignore
/// declare_rule! {
///     /// ## What it does …
///     pub(crate) struct AptGetPinVersions {
///         code: "DL3008", name: "apt-get-pin-versions", hadolint: true,
///         severity: Warning, category: Reproducibility,
///         message: "Pin versions in apt get install. …",
///     }
/// }
/// impl Check for AptGetPinVersions { … }
/// ```
macro_rules! declare_rule {
    (
        $(#[doc = $doc:literal])+
        $vis:vis struct $ty:ident {
            code: $code:literal,
            name: $name:literal,
            hadolint: $hadolint:literal,
            severity: $severity:ident,
            category: $category:ident,
            message: $message:literal
            $(, default_enabled: $enabled:literal)?
            $(,)?
        }
    ) => {
        $(#[doc = $doc])+
        #[derive(Debug, Clone, Copy, Default)]
        $vis struct $ty;

        impl $ty {
            $vis const META: $crate::lint::RuleMeta = $crate::lint::RuleMeta {
                code: $code,
                name: $name,
                hadolint: $hadolint,
                severity: $crate::lint::Severity::$severity,
                category: $crate::lint::Category::$category,
                message: $message,
                doc_comment: concat!($($doc, "\n"),+),
                default_enabled: true $(&& $enabled)?,
            };
        }

        impl $crate::lint::Rule for $ty {
            fn meta(&self) -> &'static $crate::lint::RuleMeta {
                &Self::META
            }

            fn check(&self, cx: &$crate::lint::Context<'_>, out: &mut Vec<$crate::lint::Finding>) {
                $crate::lint::rules::Check::run(self, cx, &mut $crate::lint::rules::Sink::new(&Self::META, out));
            }
        }
    };
}

pub(crate) use declare_rule;
