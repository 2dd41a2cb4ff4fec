//! Our findings agree with hadolint 2.15.1's labels on the dev corpus: micro F1 ≥ 0.95 over the
//! codes we implement, and ≥ 0.85 for every code hadolint reports there.

mod support;

use codi_core::lint::{LintConfig, agreement, lint};
use codi_core::syntax::{ParseOptions, parse_bytes};

#[test]
fn agreement_with_hadolint_on_corpus() {
    let Some(dir) = support::corpus_dir() else { return };
    let labels = agreement::read_labels(&dir.join("hadolint.jsonl")).expect("labels");
    let config = LintConfig::default();
    let result = agreement::compare(&labels, |name| {
        let bytes = std::fs::read(dir.join("dockerfiles").join(name)).expect("corpus file");
        lint(&parse_bytes(&bytes, &ParseOptions::default()), &config)
    });
    for d in &result.disagreements {
        eprintln!("{} {} {}:{}", if d.only_codi { "FP" } else { "FN" }, d.code, d.file, d.line);
    }
    let mut weak = Vec::new();
    for (code, counts) in &result.by_code {
        let seen = counts.true_positives + counts.false_negatives + counts.false_positives;
        eprintln!(
            "{code} tp={} fp={} fn={} f1={:.3}",
            counts.true_positives,
            counts.false_positives,
            counts.false_negatives,
            counts.f1()
        );
        if seen > 0 && counts.f1() < 0.85 {
            weak.push(code.as_str());
        }
    }
    eprintln!(
        "micro F1 {:.4} over {} files ({} unparsed by hadolint)",
        result.micro.f1(),
        result.files,
        result.unparsed_by_hadolint.len()
    );
    assert_eq!(result.files + result.unparsed_by_hadolint.len(), 493);
    assert!(result.micro.f1() >= 0.95, "micro F1 {:.4} < 0.95", result.micro.f1());
    assert!(weak.is_empty(), "codes under 0.85 F1: {weak:?}");
}
