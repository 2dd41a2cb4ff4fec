//! `metadata/llm_metrics.json`: appends reconcile, concurrent writers (threads and processes)
//! never corrupt it, and a corrupt file is kept aside, never overwritten.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

use codi_serve::api::{Mode, RankResponse, Ranked};
use codi_serve::telemetry::{Environment, RankingRecord, Telemetry, TelemetryError};

/// Set in the child processes the concurrency test starts: the telemetry file to append to.
const CHILD_PATH: &str = "CODI_TELEMETRY_TEST_PATH";
/// The child's name, which its records carry.
const CHILD_NAME: &str = "CODI_TELEMETRY_TEST_CHILD";
const PER_WRITER: usize = 25;

/// A ranking of three candidates with `project` as its name, so every record is told apart.
fn record(project: &str) -> RankingRecord {
    let ranked = |id: &str, confidence: f64, rank: usize| Ranked {
        candidate_id: id.to_owned(),
        rule_id: format!("rule-{id}"),
        score: confidence.ln(),
        confidence,
        rank,
        dockerfile: None,
    };
    let response = RankResponse {
        ranking: vec![ranked("b", 0.625, 1), ranked("a", 0.25, 2), ranked("c", 0.125, 3)],
        selected: "b".to_owned(),
        rationale: None,
        adapter_version: Some("0123abcd".to_owned()),
        base_model: "HuggingFaceTB/SmolLM2-135M-Instruct".to_owned(),
        mode: Mode::Model,
        latency_ms: 12.5,
    };
    RankingRecord::new(project, &response, "rules-1", Environment::capture(2, true, None))
}

#[test]
fn a_record_carries_the_ranking_and_the_environment() {
    let record = record("demo");
    assert_eq!(record.order, ["b", "a", "c"]);
    assert_eq!(record.confidence, [0.625, 0.25, 0.125]);
    assert_eq!(record.selected, "b");
    assert_eq!(record.adapter_version.as_deref(), Some("0123abcd"));
    assert_eq!(record.mode, Mode::Model);
    assert!(chrono::DateTime::parse_from_rfc3339(&record.recorded_at).is_ok(), "{}", record.recorded_at);
    assert!(record.recorded_at.ends_with('Z'), "UTC: {}", record.recorded_at);
    let env = &record.environment;
    assert_eq!((env.os.as_str(), env.arch.as_str()), (std::env::consts::OS, std::env::consts::ARCH));
    assert!(!env.host.is_empty() && !env.codi_version.is_empty());
    assert_eq!((env.threads, env.llm_enabled, env.endpoint.as_deref()), (2, true, None));
}

#[test]
fn appends_reconcile_in_order() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let telemetry = Telemetry::new(dir.path().join("metadata/llm_metrics.json"));
    assert!(telemetry.read().expect("a missing file reads as empty").is_empty());
    let written: Vec<RankingRecord> = (0..10).map(|i| record(&format!("p{i}"))).collect();
    for record in &written {
        assert_eq!(telemetry.append(record).expect("append"), None);
    }
    assert_eq!(telemetry.read().expect("read"), written);
    let document: serde_json::Value =
        serde_json::from_slice(&std::fs::read(telemetry.path()).expect("the file")).expect("one JSON document");
    assert_eq!(document["version"], 1);
    assert_eq!(document["records"].as_array().map(Vec::len), Some(10));
    assert_eq!(document["records"][0]["mode"], "model");
}

/// Not a test on its own: in a child process of `concurrent_writers_never_corrupt_it` it
/// appends `PER_WRITER` records; run plainly it does nothing.
#[test]
fn child_appender() {
    let (Ok(path), Ok(name)) = (std::env::var(CHILD_PATH), std::env::var(CHILD_NAME)) else { return };
    let telemetry = Telemetry::new(path);
    for i in 0..PER_WRITER {
        telemetry.append(&record(&format!("{name}-{i}"))).expect("append from a child process");
    }
}

#[test]
fn concurrent_writers_never_corrupt_it() {
    const THREADS: usize = 8;
    const CHILDREN: usize = 2;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("llm_metrics.json");
    let exe = std::env::current_exe().expect("the test binary");
    let children: Vec<_> = (0..CHILDREN)
        .map(|c| {
            Command::new(&exe)
                .args(["--exact", "child_appender", "--test-threads=1", "--nocapture"])
                .env(CHILD_PATH, &path)
                .env(CHILD_NAME, format!("process{c}"))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("a child process")
        })
        .collect();
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let telemetry = Telemetry::new(&path);
            scope.spawn(move || {
                for i in 0..PER_WRITER {
                    telemetry.append(&record(&format!("thread{t}-{i}"))).expect("append from a thread");
                }
            });
        }
    });
    for child in children {
        let output = child.wait_with_output().expect("the child process ends");
        assert!(
            output.status.success(),
            "a child process failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    let records = Telemetry::new(&path).read().expect("a valid document after concurrent appends");
    assert_eq!(records.len(), (THREADS + CHILDREN) * PER_WRITER);
    let expected: BTreeSet<String> = (0..THREADS)
        .map(|t| format!("thread{t}"))
        .chain((0..CHILDREN).map(|c| format!("process{c}")))
        .flat_map(|writer| (0..PER_WRITER).map(move |i| format!("{writer}-{i}")))
        .collect();
    let seen: BTreeSet<String> = records.iter().map(|r| r.project.clone()).collect();
    assert_eq!(seen, expected, "every append recorded exactly once");
    let template = record("template");
    for record in &records {
        assert_eq!(
            (&record.order, &record.confidence, &record.selected, &record.base_model, &record.rules_version),
            (&template.order, &template.confidence, &template.selected, &template.base_model, &template.rules_version),
            "record {} intact",
            record.project
        );
    }
    // Each writer's records keep their order.
    for writer in seen.iter().filter_map(|p| p.strip_suffix("-0")) {
        let order: Vec<usize> =
            records.iter().filter_map(|r| r.project.strip_prefix(writer)?.strip_prefix('-')?.parse().ok()).collect();
        assert_eq!(order, (0..PER_WRITER).collect::<Vec<_>>(), "{writer}'s appends in order");
    }
    assert_eq!(names_in(dir.path()), ["llm_metrics.json", "llm_metrics.json.lock"], "no temporary file left");
}

#[test]
fn a_corrupt_file_is_kept_aside_not_overwritten() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("llm_metrics.json");
    let corrupt = br#"{"version":1,"records":[{"recorded_at":"#;
    std::fs::write(&path, corrupt).expect("write");
    let telemetry = Telemetry::new(&path);
    assert!(matches!(telemetry.read(), Err(TelemetryError::Json { .. })), "read refuses it");

    let aside = telemetry.append(&record("after")).expect("append").expect("the corrupt file is set aside");
    let aside_name = aside.file_name().expect("a file name").to_string_lossy().into_owned();
    assert!(aside_name.starts_with("llm_metrics.json.corrupt-"), "{aside_name}");
    assert_eq!(std::fs::read(&aside).expect("the corrupt file kept"), corrupt);
    let records = telemetry.read().expect("a new document");
    assert_eq!(records.iter().map(|r| r.project.as_str()).collect::<Vec<_>>(), ["after"]);

    // A second corruption is kept under another name, the first one untouched.
    std::fs::write(&path, b"not json").expect("write");
    let second = telemetry.append(&record("again")).expect("append").expect("set aside again");
    assert_ne!(second, aside);
    assert_eq!(std::fs::read(&aside).expect("the first one kept"), corrupt);
    assert_eq!(std::fs::read(&second).expect("the second one kept"), b"not json");
}

#[test]
fn a_newer_version_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("llm_metrics.json");
    let newer = br#"{"version":2,"records":[{"something":"else"}]}"#;
    std::fs::write(&path, newer).expect("write");
    let telemetry = Telemetry::new(&path);
    let error = telemetry.append(&record("x")).expect_err("a version 2 document is not rewritten");
    assert!(matches!(error, TelemetryError::Version { found: 2, .. }), "{error}");
    assert!(error.to_string().contains("llm_metrics.json"), "names the file: {error}");
    assert_eq!(std::fs::read(&path).expect("the file"), newer);
    assert_eq!(names_in(dir.path()), ["llm_metrics.json", "llm_metrics.json.lock"]);
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("the directory")
        .map(|e| e.expect("an entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
