//! Output formats: SARIF validates against the OASIS 2.1.0 schema; JSON has hadolint's fields,
//! levels and messages.

mod support;

use std::path::Path;

use codi_core::lint::format::{FileReport, to_json, to_sarif};
use codi_core::lint::{LintConfig, lint};
use codi_core::syntax::parse;

fn fixture(name: &str) -> (String, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rules").join(name);
    (path.display().to_string(), std::fs::read_to_string(&path).expect("fixture"))
}

#[test]
fn sarif_validates_against_the_oasis_schema() {
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sarif-schema-2.1.0.json");
    let mut schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path).expect("schema")).expect("schema JSON");
    // The published schema's `language` patterns have a stray `]` that strict regex engines
    // refuse; restore the evident intent (`en` or `en-US`) so the rest is checked as published.
    assert!(repair_language_patterns(&mut schema) > 0);
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let inputs = ["DL1000.Dockerfile", "DL3008.Dockerfile", "CD004.Dockerfile", "DL4006.Dockerfile"].map(fixture);
    let findings: Vec<_> = inputs.iter().map(|(_, text)| lint(&parse(text), &LintConfig::default())).collect();
    let reports: Vec<FileReport<'_>> =
        inputs.iter().zip(&findings).map(|((path, _), f)| FileReport { path, findings: f }).collect();
    let sarif = to_sarif(&reports);
    let errors: Vec<String> =
        validator.iter_errors(&sarif).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "SARIF schema errors: {errors:#?}");
    let results = sarif["runs"][0]["results"].as_array().expect("results");
    assert_eq!(results.len(), findings.iter().map(Vec::len).sum::<usize>());
    let rules = sarif["runs"][0]["tool"]["driver"]["rules"].as_array().expect("rules");
    for result in results {
        let index = result["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(rules[index]["id"], result["ruleId"]);
    }
    // Invalidating the document is noticed: the test can fail.
    let mut broken = sarif.clone();
    broken["version"] = serde_json::json!("2.0.0");
    assert!(!validator.is_valid(&broken));
}

fn repair_language_patterns(value: &mut serde_json::Value) -> usize {
    const BROKEN: &str = "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$";
    match value {
        serde_json::Value::String(s) if s == BROKEN => {
            *s = "^[a-zA-Z]{2}(-[a-zA-Z]{2})?$".into();
            1
        }
        serde_json::Value::Array(items) => items.iter_mut().map(repair_language_patterns).sum(),
        serde_json::Value::Object(map) => map.values_mut().map(repair_language_patterns).sum(),
        _ => 0,
    }
}

#[test]
fn json_matches_hadolint_record_for_record() {
    let (path, text) = fixture("DL3008.Dockerfile");
    let findings = lint(&parse(&text), &LintConfig::default());
    let ours: Vec<serde_json::Value> =
        serde_json::from_str(&to_json(&[FileReport { path: &path, findings: &findings }])).expect("our JSON");
    for record in &ours {
        let keys: Vec<&str> = record.as_object().expect("object").keys().map(String::as_str).collect();
        assert_eq!(keys, ["code", "column", "file", "level", "line", "message"]);
    }
    let Some(output) = support::run_oracle(
        "hadolint",
        &["--no-color", "--no-fail", "-f", "json", path.as_ref()].map(std::ffi::OsStr::new),
    ) else {
        return;
    };
    let theirs: Vec<serde_json::Value> = serde_json::from_str(&output).expect("hadolint JSON");
    let dl = |records: &[serde_json::Value]| {
        let mut v: Vec<serde_json::Value> =
            records.iter().filter(|r| r["code"].as_str().is_some_and(|c| c.starts_with("DL"))).cloned().collect();
        v.sort_by_key(|r| (r["line"].as_u64(), r["code"].as_str().map(str::to_owned)));
        v
    };
    assert_eq!(dl(&ours), dl(&theirs));
}
