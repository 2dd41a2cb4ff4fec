//! Every rule has a fixture in `fixtures/rules/<CODE>.Dockerfile`. A `# expect: CODE` comment
//! marks the next instruction as one the fixture's rule must flag (or, for rules on pragmas, a
//! `# hadolint …` comment right after it); nothing else may be flagged by it. All findings are
//! also kept as insta snapshots, and where hadolint is installed the DL codes are compared with
//! what hadolint itself reports on the same file.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use codi_core::lint::{Finding, LintConfig, all_rules, lint};
use codi_core::syntax::{Dockerfile, parse};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rules")
}

fn fixtures() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(fixture_dir())
        .expect("fixtures")
        .map(|e| {
            let path = e.expect("entry").path();
            let code = path.file_stem().expect("stem").to_string_lossy().into_owned();
            (code, std::fs::read_to_string(&path).expect("fixture text"))
        })
        .collect();
    files.sort();
    files
}

/// True for rules that run only when enabled (DL1001, DL3057: hadolint's `--info CODE`).
fn off_by_default(code: &str) -> bool {
    all_rules().iter().any(|r| r.meta().code == code && !r.meta().default_enabled)
}

/// Fixtures exercise their rule under the configuration it needs.
fn config_for(code: &str) -> LintConfig {
    match code {
        "DL3026" => {
            LintConfig { trusted_registries: vec!["docker.io".into(), "*.example.com".into()], ..LintConfig::default() }
        }
        _ if off_by_default(code) => LintConfig { enable: vec![code.into()], ..LintConfig::default() },
        _ => LintConfig::default(),
    }
}

/// (code, line) pairs announced by `# expect:` comments.
fn expectations(file: &Dockerfile) -> BTreeSet<(String, u32)> {
    let mut expected = BTreeSet::new();
    for comment in &file.comments {
        let Some(codes) = comment.text.strip_prefix("expect:") else { continue };
        let after = comment.span.start.line + 1;
        let pragma = file.comments.iter().any(|c| c.span.start.line == after && c.text.starts_with("hadolint "));
        let next = if pragma {
            after
        } else {
            file.instructions
                .iter()
                .find(|i| i.line() > comment.span.start.line)
                .expect("instruction after expect")
                .line()
        };
        for code in codes.split_whitespace() {
            expected.insert((code.to_owned(), next));
        }
    }
    expected
}

fn render(findings: &[Finding]) -> String {
    use std::fmt::Write as _;
    findings.iter().fold(String::new(), |mut out, f| {
        let _ = writeln!(out, "{}:{} {} {}: {}", f.line(), f.column(), f.code, f.severity, f.message);
        out
    })
}

#[test]
fn every_rule_has_a_fixture() {
    let fixtures: BTreeSet<String> = fixtures().into_iter().map(|(code, _)| code).collect();
    let rules: BTreeSet<String> = all_rules().iter().map(|r| r.meta().code.to_owned()).collect();
    assert_eq!(fixtures, rules);
}

#[test]
fn fixtures_flag_exactly_what_they_expect() {
    for (code, text) in fixtures() {
        let file = parse(&text);
        let expected = expectations(&file);
        assert!(expected.iter().any(|(c, _)| *c == code), "{code}: fixture expects nothing of its rule");
        let found: BTreeSet<(String, u32)> = lint(&file, &config_for(&code))
            .into_iter()
            .filter(|f| f.code == code)
            .map(|f| (f.code.to_owned(), f.line()))
            .collect();
        let expected: BTreeSet<(String, u32)> = expected.into_iter().filter(|(c, _)| *c == code).collect();
        assert_eq!(found, expected, "{code}: findings (left) differ from `# expect:` (right)");
    }
}

#[test]
fn fixture_snapshots() {
    for (code, text) in fixtures() {
        let findings = lint(&parse(&text), &config_for(&code));
        insta::assert_snapshot!(code, render(&findings));
    }
}

/// Where codi deliberately differs from hadolint 2.15.1 on these fixtures; docs/hadolint.md says why.
const KNOWN_DIFFERENCES: &[(&str, &str, u32, &str)] = &[
    ("DL3009", "DL3009", 4, "the builder stage is built on only by a stage that does not ship"),
    ("DL3033", "DL3033", 5, "a local .rpm file is pinned by its name (hadolint master still flags it)"),
    ("DL3010", "DL3010", 5, "hadolint loses the findings of a stage when a later FROM follows"),
    ("DL4006", "DL4006", 6, "the RUN sets pipefail itself"),
];

#[test]
fn dl_codes_agree_with_live_hadolint() {
    let fixtures: Vec<(String, String)> =
        fixtures().into_iter().filter(|(c, _)| c.starts_with("DL") && c != "DL1000").collect();
    let mut compared = 0;
    let mut seen_differences = BTreeSet::new();
    for (code, text) in &fixtures {
        let path = fixture_dir().join(format!("{code}.Dockerfile"));
        let mut args: Vec<std::ffi::OsString> =
            ["--no-color", "--no-fail", "-f", "json"].iter().map(Into::into).collect();
        if code == "DL3026" {
            args.extend(
                ["--trusted-registry", "docker.io", "--trusted-registry", "*.example.com"].iter().map(Into::into),
            );
        }
        if off_by_default(code) {
            args.extend(["--info", code.as_str()].iter().map(Into::into));
        }
        args.push(path.clone().into_os_string());
        let arg_refs: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsString::as_os_str).collect();
        let Some(output) = support::run_oracle("hadolint", &arg_refs) else { return };
        let theirs: BTreeSet<(String, u32)> = serde_json::from_str::<Vec<serde_json::Value>>(&output)
            .expect("hadolint JSON")
            .into_iter()
            .map(|f| (f["code"].as_str().unwrap_or_default().to_owned(), f["line"].as_u64().unwrap_or_default() as u32))
            .filter(|(c, _)| c.starts_with("DL"))
            .collect();
        let ours: BTreeSet<(String, u32)> = lint(&parse(text), &config_for(code))
            .into_iter()
            .filter(|f| f.code.starts_with("DL"))
            .map(|f| (f.code.to_owned(), f.line()))
            .collect();
        let known =
            |(c, l): &(String, u32)| KNOWN_DIFFERENCES.iter().any(|(f, kc, kl, _)| f == code && kc == c && kl == l);
        seen_differences.extend(
            ours.symmetric_difference(&theirs).filter(|d| known(d)).map(|(c, l)| (code.clone(), c.clone(), *l)),
        );
        let only_ours: Vec<_> = ours.difference(&theirs).filter(|d| !known(d)).collect();
        let only_theirs: Vec<_> = theirs.difference(&ours).filter(|d| !known(d)).collect();
        assert!(
            only_ours.is_empty() && only_theirs.is_empty(),
            "{code}: only codi {only_ours:?}, only hadolint {only_theirs:?}"
        );
        compared += 1;
    }
    let listed: BTreeSet<(String, String, u32)> =
        KNOWN_DIFFERENCES.iter().map(|(f, c, l, _)| ((*f).to_owned(), (*c).to_owned(), *l)).collect();
    assert_eq!(seen_differences, listed, "every known difference still occurs");
    eprintln!("{compared} DL fixtures agree with hadolint, {} known differences", listed.len());
}

#[test]
fn every_rule_doc_has_its_three_parts() {
    for rule in all_rules() {
        let meta = rule.meta();
        let doc = meta.doc();
        let sections: Vec<&str> = doc.lines().filter(|l| l.starts_with("## ")).collect();
        assert_eq!(sections, ["## What it does", "## Why it matters", "## Example fix"], "{}", meta.code);
        let fix = doc.split("## Example fix").nth(1).unwrap_or_default();
        assert!(
            fix.contains("```dockerfile") && fix.contains("# before") && fix.contains("# after"),
            "{}: example fix",
            meta.code
        );
        assert!(
            meta.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{}: name {}",
            meta.code,
            meta.name
        );
    }
}

#[test]
fn codes_and_names_are_unique() {
    let codes: BTreeSet<&str> = all_rules().iter().map(|r| r.meta().code).collect();
    let names: BTreeSet<&str> = all_rules().iter().map(|r| r.meta().name).collect();
    assert_eq!(codes.len(), all_rules().len());
    assert_eq!(names.len(), all_rules().len());
    let hadolint = all_rules().iter().filter(|r| r.meta().hadolint && r.meta().code != "DL1000").count();
    assert!(hadolint >= 50, "{hadolint} hadolint rules");
}
