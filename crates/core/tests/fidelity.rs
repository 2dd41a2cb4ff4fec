//! Small rule-focused cases, one file per class of input, each checked against the hadolint
//! 2.15.1 binary: the classes where codi and hadolint once differed (BuildKit mounts,
//! package-manager verbs and flags, variables, images and stages, pragmas).
//!
//! A class file `fixtures/fidelity/<class>.Dockerfile` holds cases, each starting at a
//! `# case: <name>` line and running to the next. Header comments right after it:
//! - `# hadolint: <flags>` — hadolint flags for this case (`--trusted-registry R`, `--info CODE`
//!   to enable an off-by-default rule); codi gets the same configuration;
//! - `# differs: <reason>` — a deliberate difference, listed in docs/hadolint.md; the case must
//!   still differ, so the list stays true.
//!
//! codi's findings on every case are kept as an insta snapshot per class (the test fails without
//! hadolint too); with hadolint, every case must agree on its DL codes and lines, or be marked.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use codi_core::lint::{LintConfig, Severity, all_rules, lint};
use codi_core::syntax::parse;

struct Case {
    class: String,
    name: String,
    text: String,
    flags: Vec<String>,
    differs: Option<String>,
}

type Codes = BTreeSet<(String, u32)>;

fn fidelity_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fidelity")
}

fn cases() -> Vec<Case> {
    let mut paths: Vec<PathBuf> =
        std::fs::read_dir(fidelity_dir()).expect("fidelity fixtures").map(|e| e.expect("entry").path()).collect();
    paths.sort();
    let mut cases = Vec::new();
    for path in paths.iter().filter(|p| p.extension().is_some_and(|e| e == "Dockerfile")) {
        let class = path.file_stem().expect("stem").to_string_lossy().into_owned();
        let text = std::fs::read_to_string(path).expect("class file");
        for chunk in text.split_inclusive('\n').fold(Vec::<String>::new(), |mut chunks, line| {
            if line.starts_with("# case: ") || chunks.is_empty() {
                chunks.push(String::new());
            }
            chunks.last_mut().expect("chunk").push_str(line);
            chunks
        }) {
            let Some(first) = chunk.lines().next().and_then(|l| l.strip_prefix("# case: ")) else {
                assert!(
                    chunk.trim().is_empty() || chunk.lines().all(|l| l.starts_with('#')),
                    "{class}: text before the first case"
                );
                continue;
            };
            let header = || chunk.lines().skip(1).take_while(|l| l.starts_with("# "));
            let flags = header()
                .filter_map(|l| l.strip_prefix("# hadolint: "))
                .flat_map(|f| f.split_whitespace().map(str::to_owned))
                .collect();
            let differs = header().find_map(|l| l.strip_prefix("# differs: ")).map(str::to_owned);
            cases.push(Case { class: class.clone(), name: first.trim().to_owned(), text: chunk, flags, differs });
        }
    }
    let names: BTreeSet<(&str, &str)> = cases.iter().map(|c| (c.class.as_str(), c.name.as_str())).collect();
    assert_eq!(names.len(), cases.len(), "case names are unique within a class");
    cases
}

/// codi's configuration for the hadolint flags a case names.
fn config(flags: &[String]) -> LintConfig {
    let mut config = LintConfig::default();
    let mut flags = flags.iter();
    while let Some(flag) = flags.next() {
        let value = flags.next().unwrap_or_else(|| panic!("{flag} needs a value")).clone();
        match flag.as_str() {
            "--trusted-registry" => config.trusted_registries.push(value),
            "--error" | "--warning" | "--info" | "--style" => {
                let severity = match flag.as_str() {
                    "--error" => Severity::Error,
                    "--warning" => Severity::Warning,
                    "--info" => Severity::Info,
                    _ => Severity::Style,
                };
                config.enable.push(value.clone());
                config.severity_overrides.push((value, severity));
            }
            "--ignore" => config.ignore.push(value),
            other => panic!("unsupported hadolint flag {other}"),
        }
    }
    config
}

/// The DL codes codi implements (hadolint's others are outside the comparison).
fn compared_codes() -> BTreeSet<&'static str> {
    all_rules().iter().map(|r| r.meta()).filter(|m| m.hadolint && m.code != "DL1000").map(|m| m.code).collect()
}

fn ours(case: &Case) -> Codes {
    let compared = compared_codes();
    lint(&parse(&case.text), &config(&case.flags))
        .into_iter()
        .filter(|f| compared.contains(f.code))
        .map(|f| (f.code.to_owned(), f.line()))
        .collect()
}

fn render(codes: &Codes) -> String {
    if codes.is_empty() {
        return "-".to_owned();
    }
    codes.iter().map(|(c, l)| format!("{c}@{l}")).collect::<Vec<_>>().join(" ")
}

#[test]
fn fidelity_snapshots() {
    let mut by_class: BTreeMap<String, String> = BTreeMap::new();
    for case in cases() {
        let out = by_class.entry(case.class.clone()).or_default();
        let _ = writeln!(out, "{}: {}", case.name, render(&ours(&case)));
    }
    for (class, text) in by_class {
        insta::assert_snapshot!(class, text);
    }
}

/// hadolint's DL codes on every case, run once per distinct set of flags.
fn hadolint(cases: &[Case]) -> Option<Vec<Codes>> {
    let dir = tempfile::tempdir().expect("temp dir");
    let compared = compared_codes();
    let mut results = vec![Codes::new(); cases.len()];
    let mut groups: BTreeMap<&[String], Vec<usize>> = BTreeMap::new();
    for (i, case) in cases.iter().enumerate() {
        groups.entry(&case.flags).or_default().push(i);
    }
    for (flags, members) in groups {
        let mut args: Vec<std::ffi::OsString> = ["--no-color", "--no-fail", "-f", "json"]
            .iter()
            .map(Into::into)
            .chain(flags.iter().map(Into::into))
            .collect();
        let mut file_of = BTreeMap::new();
        for &i in &members {
            let path = dir.path().join(format!("case-{i}.Dockerfile"));
            std::fs::write(&path, &cases[i].text).expect("write case");
            file_of.insert(path.to_string_lossy().into_owned(), i);
            args.push(path.into_os_string());
        }
        let arg_refs: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsString::as_os_str).collect();
        let output = support::run_oracle("hadolint", &arg_refs)?;
        for finding in serde_json::from_str::<Vec<serde_json::Value>>(&output).expect("hadolint JSON") {
            let code = finding["code"].as_str().unwrap_or_default();
            if !compared.contains(code) {
                continue;
            }
            let file = finding["file"].as_str().expect("hadolint names the file");
            let line = finding["line"].as_u64().expect("hadolint gives the line") as u32;
            results[file_of[file]].insert((code.to_owned(), line));
        }
    }
    Some(results)
}

#[test]
fn fidelity_cases_agree_with_live_hadolint() {
    let cases = cases();
    let Some(theirs) = hadolint(&cases) else { return };
    let mut table: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    for (case, theirs) in cases.iter().zip(&theirs) {
        let ours = ours(case);
        let row = table.entry(&case.class).or_default();
        row.0 += 1;
        match (&case.differs, ours == *theirs) {
            (None, true) => row.1 += 1,
            (Some(_), false) => row.2 += 1,
            (None, false) => failures.push(format!(
                "{}/{}: codi {}, hadolint {}",
                case.class,
                case.name,
                render(&ours),
                render(theirs)
            )),
            (Some(reason), true) => {
                failures.push(format!("{}/{}: marked `differs: {reason}` but agrees now", case.class, case.name));
            }
        }
    }
    eprintln!("{:<20} {:>6} {:>6} {:>9}", "class", "cases", "agree", "deliberate");
    for (class, (cases, agree, deliberate)) in &table {
        eprintln!("{class:<20} {cases:>6} {agree:>6} {deliberate:>9}");
    }
    assert!(failures.is_empty(), "{} cases differ from hadolint:\n{}", failures.len(), failures.join("\n"));
}
