//! The label stage on Dockerfiles written here: what each is labeled with, that a bad Dockerfile
//! is a labeled row (with its diagnostics and a quality of 0) and never a reject, that the counts
//! reconcile, and that a second run reuses every label.

mod support;

use codi_dataset::pipeline::{Quiet, Shard, StageFiles};
use codi_dataset::records::{LabeledRecord, RawRecord, Reject};
use codi_dataset::table::read_all;
use serde_json::json;
use support::{data_with, raw};

const NODE: &str = "FROM node:20\nWORKDIR /app\nCOPY . .\nRUN npm install\nCMD npm start\n";
const PYTHON: &str = "FROM python:3.12-slim AS build\nWORKDIR /app\nCOPY requirements.txt .\n\
    RUN pip install --no-cache-dir --prefix=/install -r requirements.txt\n\
    FROM python:3.12-slim\nCOPY --from=build /install /usr/local\nCOPY app.py /app/\nUSER 10001\n\
    CMD [\"python\", \"/app/app.py\"]\n";
const INSECURE: &str = "FROM alpine:3.20\nENV API_TOKEN=s3cr3t-t0ken-value\n\
    RUN apk add --no-cache curl && curl -fsSL https://example.com/install.sh | sh\n";
const UNKNOWN_INSTRUCTION: &str = "FROM ubuntu:24.04\nFOO bar\n";
const TOO_SHORT: &str = "FROM scratch\n";

fn records() -> Vec<RawRecord> {
    vec![
        raw("node/Dockerfile", NODE, &[("package.json", r#"{"name":"web","scripts":{"start":"node server.js"}}"#)]),
        raw("python/Dockerfile", PYTHON, &[("requirements.txt", "flask==3.0.3\n")]),
        raw("insecure/Dockerfile", INSECURE, &[]),
        raw("broken/Dockerfile", UNKNOWN_INSTRUCTION, &[]),
        raw("short/Dockerfile", TOO_SHORT, &[]),
    ]
}

/// A score as written to three decimals (f32 prints with f64's noise in JSON).
fn rounded(score: f32) -> f64 {
    (f64::from(score) * 1000.0).round() / 1000.0
}

/// A label without the texts it was made from: findings as `CODE@line`.
fn summary(record: &LabeledRecord) -> serde_json::Value {
    let codes = |rows: &[codi_dataset::records::SmellRow]| -> Vec<String> {
        rows.iter().map(|r| format!("{}@{}", r.code, r.line)).collect()
    };
    json!({
        "path": record.path,
        "diagnostics": record.diagnostics,
        "stages": record.stages,
        "base_images": record.base_images,
        "stack": record.stack,
        "framework": record.framework,
        "package_manager": record.package_manager,
        "confidence": rounded(record.confidence),
        "smells": codes(&record.smells),
        "security": codes(&record.security),
        "cmd": record.cmd,
        "quality": rounded(record.quality),
        "hadolint": record.hadolint,
    })
}

#[test]
fn labels_of_small_dockerfiles() {
    let labels: Vec<serde_json::Value> = records().iter().map(|r| summary(&codi_label::label(r))).collect();
    insta::assert_json_snapshot!(labels);
}

#[test]
fn a_label_keeps_the_raw_records_identity_and_context() {
    let record = &records()[0];
    let label = codi_label::label(record);
    assert_eq!((&label.id, &label.path, &label.license), (&record.id, &record.path, &record.license));
    assert_eq!((&label.content, &label.related), (&record.content, &record.related));
    assert_eq!(label.hadolint, None, "hadolint only when asked for");
}

#[test]
fn security_findings_are_kept_apart_from_smells() {
    let label = codi_label::label(&records()[2]);
    let security: Vec<&str> = label.security.iter().map(|r| r.code.as_str()).collect();
    for code in ["CD004", "CD005", "CD006"] {
        assert!(security.contains(&code), "{code} in {security:?}");
        assert!(label.smells.iter().all(|r| r.code != code), "{code} is not a smell");
    }
    assert!(label.security.iter().any(|r| r.rule_id == "secret-value"), "rows name the rule");
}

#[test]
fn bad_dockerfiles_are_labeled_with_quality_zero_not_rejected() {
    let broken = codi_label::label(&records()[3]);
    assert!(!broken.diagnostics.is_empty(), "the unknown instruction is a diagnostic");
    assert!(broken.diagnostics.iter().all(|d| d.line > 0 && d.column > 0), "{:?}", broken.diagnostics);
    assert!(broken.quality.abs() < f32::EPSILON, "quality {}", broken.quality);
    let short = codi_label::label(&records()[4]);
    assert!(short.diagnostics.is_empty());
    assert!(short.quality <= 0.3, "fewer than three instructions are capped at 0.3: {}", short.quality);
}

#[test]
fn the_stage_labels_every_row_counts_reconcile_and_reruns_reuse() {
    let (_dir, layout) = data_with(records());
    let stats = codi_label::run(&codi_label::Options::in_layout(&layout), &Quiet).expect("label");
    assert_eq!(stats.discrepancy(), None, "{stats:#?}");
    assert_eq!((stats.input, stats.output, stats.rejected, stats.computed), (5, 5, 0, 5));
    assert!(stats.rejected_by_reason.is_empty(), "label rejects nothing: {:?}", stats.rejected_by_reason);
    assert_eq!(stats.counts["parse"]["with-diagnostics"], 1);
    assert_eq!(stats.counts["by_stack"].values().sum::<u64>(), 5);
    assert_eq!(stats.counts["by_source"]["local"], 5);
    assert_eq!(
        stats.fingerprint,
        format!("{}+{}", codi_label::VERSION, codi_core::lint::VERSION),
        "the linter's version relabels"
    );

    let files = StageFiles::new(layout.labeled(), "labeled");
    let labels: Vec<LabeledRecord> = read_all(&files.data(Shard::ALL)).expect("labels");
    let rejects: Vec<Reject> = read_all(&files.rejects(Shard::ALL)).expect("rejects are written, empty");
    assert_eq!((labels.len(), rejects.len()), (5, 0));
    let mut written: Vec<&str> = labels.iter().map(|l| l.path.as_str()).collect();
    written.sort_unstable();
    assert_eq!(
        written,
        ["broken/Dockerfile", "insecure/Dockerfile", "node/Dockerfile", "python/Dockerfile", "short/Dockerfile"]
    );
    assert!(
        labels.iter().all(|l| *l == codi_label::label(&records().into_iter().find(|r| r.id == l.id).expect("raw")))
    );

    let again = codi_label::run(&codi_label::Options::in_layout(&layout), &Quiet).expect("again");
    assert_eq!((again.input, again.reused, again.computed), (5, 5, 0));
    let full = codi_label::Options { full: true, ..codi_label::Options::in_layout(&layout) };
    assert_eq!(codi_label::run(&full, &Quiet).expect("full").computed, 5);
}

#[test]
fn shards_split_the_input_and_their_counts_add_up() {
    let (_dir, layout) = data_with(records());
    let shards: Vec<_> = ["0/2", "1/2"]
        .iter()
        .map(|shard| {
            let options =
                codi_label::Options { shard: shard.parse().expect("shard"), ..codi_label::Options::in_layout(&layout) };
            codi_label::run(&options, &Quiet).expect("shard")
        })
        .collect();
    assert!(shards.iter().all(|s| s.discrepancy().is_none()));
    assert_eq!(shards.iter().map(|s| s.input).sum::<u64>(), 5);
    let merged = codi_label::run(&codi_label::Options::in_layout(&layout), &Quiet).expect("merge");
    assert_eq!((merged.input, merged.reused, merged.computed), (5, 5, 0));
}

#[test]
fn a_missing_previous_stage_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = codi_dataset::Layout::new(dir.path());
    let error = codi_label::run(&codi_label::Options::in_layout(&layout), &Quiet).expect_err("no raw data");
    let text = error.to_string();
    assert!(text.contains("manifest.parquet") && text.contains("run the previous stage first"), "{text}");
}
