//! Inline pragmas: hadolint's (same semantics as hadolint, checked against it) and codi's own.

mod support;

use std::collections::BTreeSet;

use codi_core::lint::{LintConfig, lint};
use codi_core::syntax::parse;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/pragmas.Dockerfile");

fn findings(config: &LintConfig) -> BTreeSet<(String, u32)> {
    let text = std::fs::read_to_string(FIXTURE).expect("fixture");
    lint(&parse(&text), config).into_iter().map(|f| (f.code.to_owned(), f.line())).collect()
}

fn set(items: &[(&str, u32)]) -> BTreeSet<(String, u32)> {
    items.iter().map(|(c, l)| ((*c).to_owned(), *l)).collect()
}

#[test]
fn pragmas_silence_what_they_name() {
    let found = findings(&LintConfig::default());
    let dl: BTreeSet<(String, u32)> = found.iter().filter(|(c, _)| c.starts_with("DL")).cloned().collect();
    assert_eq!(dl, set(&[("DL3008", 7), ("DL3015", 7)]));
    assert!(found.iter().any(|(c, _)| c == "CD006"), "a codi pragma before the FROM line does not cover it");
}

#[test]
fn pragmas_can_be_disabled() {
    let found = findings(&LintConfig { disable_pragmas: true, ..LintConfig::default() });
    for expected in [("DL3008", 4), ("DL3059", 7), ("DL3008", 9), ("DL3015", 14)] {
        assert!(found.contains(&(expected.0.to_owned(), expected.1)), "{expected:?} in {found:?}");
    }
}

#[test]
fn hadolint_pragmas_behave_as_in_hadolint() {
    let args = ["--no-color", "--no-fail", "-f", "json", FIXTURE].map(std::ffi::OsStr::new);
    let Some(output) = support::run_oracle("hadolint", &args) else { return };
    let theirs: BTreeSet<(String, u32)> = serde_json::from_str::<Vec<serde_json::Value>>(&output)
        .expect("hadolint JSON")
        .iter()
        .filter_map(|f| Some((f["code"].as_str()?.to_owned(), u32::try_from(f["line"].as_u64()?).ok()?)))
        .filter(|(c, _)| c.starts_with("DL"))
        .collect();
    // hadolint does not know codi's pragmas: compare on the lines before them.
    let ours: BTreeSet<(String, u32)> =
        findings(&LintConfig::default()).into_iter().filter(|(c, l)| c.starts_with("DL") && *l < 10).collect();
    let theirs: BTreeSet<(String, u32)> = theirs.into_iter().filter(|(_, l)| *l < 10).collect();
    assert_eq!(ours, theirs);
}
