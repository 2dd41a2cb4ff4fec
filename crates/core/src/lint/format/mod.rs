//! Machine-readable reports: hadolint-compatible JSON and SARIF 2.1.0. (The coloured terminal
//! format belongs to the CLI.)

mod sarif;

pub use sarif::to_sarif;

use serde::Serialize;

use super::Finding;

/// The findings of one linted file.
#[derive(Debug, Clone, Copy)]
pub struct FileReport<'a> {
    pub path: &'a str,
    pub findings: &'a [Finding],
}

/// hadolint's `-f json` record.
#[derive(Serialize)]
struct JsonFinding<'a> {
    code: &'a str,
    column: u32,
    file: &'a str,
    level: &'a str,
    line: u32,
    message: &'a str,
}

/// One JSON array of `{code, column, file, level, line, message}` objects, field-compatible with
/// `hadolint -f json`.
pub fn to_json(reports: &[FileReport<'_>]) -> String {
    let records: Vec<JsonFinding<'_>> = reports
        .iter()
        .flat_map(|r| {
            r.findings.iter().map(|f| JsonFinding {
                code: f.code,
                column: f.column(),
                file: r.path,
                level: f.severity.as_str(),
                line: f.line(),
                message: &f.message,
            })
        })
        .collect();
    serde_json::to_string(&records).unwrap_or_else(|_| "[]".into())
}
