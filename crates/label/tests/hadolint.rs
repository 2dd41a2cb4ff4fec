//! `--hadolint`: hadolint's own codes beside ours. Skipped when hadolint is not installed, unless
//! `CODI_REQUIRE_ORACLES=1`.

mod support;

use codi_dataset::pipeline::{Quiet, Shard, StageFiles};
use codi_dataset::records::LabeledRecord;
use codi_dataset::table::read_all;
use support::{data_with, hadolint, raw};

#[test]
fn findings_of_one_text_and_of_several_in_one_run() {
    let Some(hadolint) = hadolint() else { return };
    let codes = |rows: &[codi_dataset::records::HadolintRow]| -> Vec<String> {
        rows.iter().map(|r| format!("{} {}@{}", r.level, r.code, r.line)).collect()
    };
    let untagged = "FROM ubuntu\nRUN apt-get install -y curl\n";
    assert_eq!(codes(&hadolint.findings(untagged)), ["warning DL3006@1", "warning DL3008@2", "info DL3015@2"]);
    let both = hadolint.lint_texts(&[untagged, "FROM alpine:3.20\nCMD echo hi\n"]).expect("two files");
    assert_eq!(both.len(), 4, "{:?}", codes(&both));
}

#[test]
fn a_file_hadolint_cannot_parse_is_one_dl1000_row() {
    let Some(hadolint) = hadolint() else { return };
    let rows = hadolint.findings("FROM ubuntu:24.04\nFOO bar\n");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0].code.as_str(), rows[0].level.as_str()), ("DL1000", "error"));
}

#[test]
fn the_stage_keeps_hadolints_codes_and_its_version_in_the_fingerprint() {
    let Some(hadolint) = hadolint() else { return };
    let records = vec![
        raw("untagged/Dockerfile", "FROM ubuntu\nRUN apt-get update && apt-get install -y curl\n", &[]),
        raw("broken/Dockerfile", "FROM ubuntu:24.04\nFOO bar\n", &[]),
    ];
    let (_dir, layout) = data_with(records);
    let options = codi_label::Options { hadolint: true, ..codi_label::Options::in_layout(&layout) };
    let stats = codi_label::run(&options, &Quiet).expect("label --hadolint");
    assert_eq!(stats.discrepancy(), None);
    assert_eq!(stats.fingerprint, format!("{}+{}+{}", codi_label::VERSION, codi_core::lint::VERSION, hadolint.version));
    let labels: Vec<LabeledRecord> =
        read_all(&StageFiles::new(layout.labeled(), "labeled").data(Shard::ALL)).expect("labels");
    for label in &labels {
        let theirs = label.hadolint.as_ref().expect("hadolint's codes");
        assert!(!theirs.is_empty(), "{}", label.path);
    }
    let untagged = labels.iter().find(|l| l.path == "untagged/Dockerfile").expect("label");
    let theirs: Vec<&str> = untagged.hadolint.iter().flatten().map(|r| r.code.as_str()).collect();
    let ours: Vec<&str> = untagged.smells.iter().map(|r| r.code.as_str()).collect();
    for code in ["DL3006", "DL3008", "DL3009"] {
        assert!(theirs.contains(&code) && ours.contains(&code), "{code}: theirs {theirs:?}, ours {ours:?}");
    }
    // Without hadolint the fingerprint differs: nothing is reused, and the codes are gone.
    let plain = codi_label::run(&codi_label::Options::in_layout(&layout), &Quiet).expect("label");
    assert_eq!((plain.reused, plain.computed), (0, 2));
}
