//! SARIF 2.1.0 (OASIS), the format code-scanning services ingest.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::FileReport;
use crate::lint::{Severity, all_rules};

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info | Severity::Style => "note",
    }
}

/// A relative URI reference for a path: `/` separators, other reserved bytes percent-encoded.
fn uri(path: &str) -> String {
    let path = path.replace('\\', "/");
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The whole rule catalogue goes into `tool.driver.rules`, so that viewers can show every rule's
/// documentation; results point into it by index.
pub fn to_sarif(reports: &[FileReport<'_>]) -> Value {
    let rules = all_rules();
    let descriptors: Vec<Value> = rules
        .iter()
        .map(|rule| {
            let meta = rule.meta();
            let mut properties = json!({ "category": meta.category, "tags": [meta.category] });
            if let Some(code) = meta.hadolint_code() {
                properties["hadolint_code"] = json!(code);
            }
            let doc = meta.doc();
            json!({
                "id": meta.code,
                "name": meta.name,
                "shortDescription": { "text": meta.message },
                "fullDescription": { "text": doc.lines().find(|l| !l.trim().is_empty() && !l.starts_with('#')).unwrap_or(meta.message) },
                "help": { "text": doc, "markdown": doc },
                "defaultConfiguration": { "level": level(meta.severity), "enabled": meta.default_enabled },
                "properties": properties,
            })
        })
        .collect();
    let results: Vec<Value> = reports
        .iter()
        .flat_map(|report| {
            report.findings.iter().map(move |f| {
                let start = f.span.start;
                let end =
                    if f.span.end.line > start.line || f.span.end.column >= start.column { f.span.end } else { start };
                json!({
                    "ruleId": f.code,
                    "ruleIndex": rules.iter().position(|r| r.meta().code == f.code),
                    "level": level(f.severity),
                    "message": { "text": f.message },
                    "locations": [{
                        "physicalLocation": {
                            "artifactLocation": { "uri": uri(report.path) },
                            "region": {
                                "startLine": start.line,
                                "startColumn": start.column,
                                "endLine": end.line,
                                "endColumn": end.column.max(1),
                            }
                        }
                    }],
                })
            })
        })
        .collect();
    json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "codi",
                    "version": env!("CARGO_PKG_VERSION"),
                    "informationUri": env!("CARGO_PKG_REPOSITORY"),
                    "rules": descriptors,
                }
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::uri;

    #[test]
    fn uris_are_encoded() {
        assert_eq!(uri("dir with space/Dockerfile"), "dir%20with%20space/Dockerfile");
        assert_eq!(uri("a\\b#c"), "a/b%23c");
    }
}
