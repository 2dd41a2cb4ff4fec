//! The HTML report on synthetic runs: section ids, escaping, no "NaN", one `<svg>` per chart,
//! run order; and, when a Chromium is on PATH, the page rendered headless (its DOM and a
//! screenshot). Without one the browser test is skipped, unless `CODI_REQUIRE_ORACLES=1` and
//! `CODI_REQUIRE_BROWSER=1` are both set.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use codi_eval::report::{self, ReportRun};
use codi_eval::results::{
    AdapterLineage, Calibration, Comparison, DataSummary, ExampleRecord, Lineage, ModelLineage, Output, Results,
    StackComparison, SystemInfo, SystemResults, TaskResults, Timing,
};
use codi_eval::stats::{CalibrationBin, Estimate};
use codi_eval::{Rejected, SplitFile};

const XSS: &str = "<script>alert('x')</script>";
const ADAPTER: &str = "docker-fix@1.0.0";

fn est(value: f64, lo: f64, hi: f64, n: usize) -> Estimate {
    Estimate { value, ci95: [lo, hi], n }
}

fn nan() -> Estimate {
    Estimate { value: f64::NAN, ci95: [f64::NAN, f64::NAN], n: 0 }
}

fn metrics(pairs: &[(&str, Estimate)]) -> BTreeMap<String, Estimate> {
    pairs.iter().map(|(m, e)| ((*m).to_owned(), *e)).collect()
}

/// One system's figures on a task: `primary` overall and on the stacks `python` and the
/// hostile one, plus `others` overall.
fn system(
    primary: &str,
    overall: f64,
    python: Estimate,
    hostile: Estimate,
    others: &[(&str, Estimate)],
) -> SystemResults {
    let mut all = metrics(others);
    all.insert(primary.to_owned(), est(overall, (overall - 0.2).max(0.0), (overall + 0.2).min(1.0), 6));
    let by_stack = [("python", python), (XSS, hostile)]
        .into_iter()
        .map(|(stack, e)| (stack.to_owned(), metrics(&[(primary, e)])))
        .collect();
    SystemResults { overall: all, by_stack }
}

fn task(primary: &str, sample_size: usize, systems: [(&str, SystemResults); 3]) -> TaskResults {
    TaskResults {
        sample_size,
        primary: primary.to_owned(),
        systems: systems.into_iter().map(|(s, r)| (s.to_owned(), r)).collect(),
    }
}

fn comparison(win: f64, p_value: Option<f64>) -> Comparison {
    let stack = StackComparison {
        win_rate: est(win, 0.3, 0.9, 3),
        difference: est(0.2, -0.1, 0.5, 3),
        p_value,
        counted: true,
        won: false,
    };
    Comparison {
        metric: "top1".into(),
        win_rate: est(win, (win - 0.25).max(0.0), (win + 0.25).min(1.0), 6),
        difference: est(0.25, -0.05, 0.5, 6),
        p_value,
        stacks_won: 1,
        stacks_total: 2,
        by_stack: [("python".to_owned(), stack)].into_iter().collect(),
    }
}

fn calibration(temperature: f64, shift: f64) -> Calibration {
    let bins = (0..10_u32)
        .map(|i| {
            let lower = f64::from(i) / 10.0;
            let count = if i < 3 { 0 } else { 3 * i as usize };
            let confidence = lower + 0.05;
            CalibrationBin {
                lower,
                upper: lower + 0.1,
                count,
                confidence,
                accuracy: (confidence - shift).clamp(0.0, 1.0),
            }
        })
        .collect();
    Calibration { temperature, fitted_on: 40, ece: shift, bins }
}

fn timing(examples_per_second: f64) -> Timing {
    Timing {
        examples: 6,
        seconds: 6.0 / examples_per_second,
        examples_per_second,
        latency_p50_ms: 1000.0 / examples_per_second,
        latency_p95_ms: 1500.0 / examples_per_second,
        tokens_per_second: 42.0,
    }
}

fn results(run_id: &str) -> Results {
    let systems = vec![
        SystemInfo { name: "rules-only".into(), kind: "rules".into(), adapter: None },
        SystemInfo { name: "base".into(), kind: "base".into(), adapter: None },
        SystemInfo {
            name: ADAPTER.into(),
            kind: "adapter".into(),
            adapter: Some(PathBuf::from("adapters/docker-fix")),
        },
    ];
    let rank = task(
        "top1",
        4,
        [
            ("rules-only", system("top1", 1.0, est(1.0, 1.0, 1.0, 3), est(1.0, 1.0, 1.0, 1), &[])),
            (
                "base",
                system(
                    "top1",
                    0.25,
                    est(0.33, 0.0, 1.0, 3),
                    est(0.0, 0.0, 0.0, 1),
                    &[("kendall_tau", est(-0.2, -0.6, 0.3, 4))],
                ),
            ),
            // An empty stack: NaN, which must draw nothing.
            (ADAPTER, system("top1", 0.75, est(0.67, 0.33, 1.0, 3), nan(), &[("mrr", est(0.8, 0.6, 1.0, 4))])),
        ],
    );
    let rewrite = task(
        "choose_accuracy",
        6,
        [
            ("rules-only", system("choose_accuracy", 0.5, est(0.5, 0.0, 1.0, 4), est(0.5, 0.0, 1.0, 2), &[])),
            (
                "base",
                system(
                    "choose_accuracy",
                    0.17,
                    est(0.25, 0.0, 0.75, 4),
                    est(0.0, 0.0, 0.0, 2),
                    &[("schema_valid", nan())],
                ),
            ),
            (ADAPTER, system("choose_accuracy", 0.83, est(0.75, 0.25, 1.0, 4), est(1.0, 1.0, 1.0, 2), &[])),
        ],
    );
    let tasks = [("rank".to_owned(), rank), ("rewrite".to_owned(), rewrite)].into_iter().collect();
    let comparisons = [
        (
            format!("{ADAPTER}_vs_base"),
            [("rank".into(), comparison(0.75, None)), ("all".into(), comparison(0.7, Some(0.031)))]
                .into_iter()
                .collect(),
        ),
        (
            format!("{ADAPTER}_vs_rules-only"),
            [("rewrite".into(), comparison(0.45, Some(0.0004))), ("rank".into(), comparison(f64::NAN, None))]
                .into_iter()
                .collect(),
        ),
    ]
    .into_iter()
    .collect();
    let calibration = [(
        "rank".to_owned(),
        [("base".to_owned(), calibration(1.7, 0.15)), (ADAPTER.to_owned(), calibration(f64::NAN, 0.04))]
            .into_iter()
            .collect(),
    )]
    .into_iter()
    .collect();
    let timing = ["rank", "rewrite"]
        .into_iter()
        .map(|task| {
            let systems = [("rules-only", timing(900.0)), ("base", timing(2.5)), (ADAPTER, timing(f64::NAN))];
            (task.to_owned(), systems.into_iter().map(|(s, t)| (s.to_owned(), t)).collect())
        })
        .collect();
    let sha = |c: char| format!("sha256:{}", c.to_string().repeat(64));
    Results {
        run_id: run_id.to_owned(),
        created_at: "2026-12-01T12:00:00Z".into(),
        systems,
        tasks,
        comparisons,
        calibration,
        data: DataSummary {
            dir: PathBuf::from("data/pairs"),
            split: "test".into(),
            rows: 14,
            examples: 10,
            skipped: 3,
            rejected: vec![Rejected { pair_id: "p-bad".into(), reason: format!("bad gold {XSS}") }],
        },
        lineage: Lineage {
            base_model: ModelLineage {
                path: "models/base/SmolLM2-135M-Instruct.Q4_1.gguf".into(),
                sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53".into(),
                repo: Some("HuggingFaceTB/SmolLM2-135M-Instruct".into()),
            },
            adapters: vec![AdapterLineage {
                system: ADAPTER.into(),
                dir: PathBuf::from("adapters/docker-fix"),
                adapter_name: "docker-fix".into(),
                adapter_version: "1.0.0".into(),
                checksums: [("adapter.safetensors".to_owned(), sha('a'))].into_iter().collect(),
                metadata_sha256: sha('b'),
                rules_version: sha('d'),
            }],
            dataset: vec![SplitFile {
                split: "test".into(),
                path: PathBuf::from("data/pairs/test.jsonl"),
                sha256: sha('e'),
                rows: 14,
            }],
            catalog: PathBuf::from("patterns/rules.yml"),
            rules_version: sha('c'),
            code_revision: "0123456789abcdef0123456789abcdef01234567".into(),
        },
        notes: vec!["rules-only is the rank teacher".into(), format!("hostile note {XSS}")],
        timing,
    }
}

fn output(text: &str, primary: &str, score: f64, problems: &[&str]) -> Output {
    Output {
        text: text.to_owned(),
        problems: problems.iter().map(|p| (*p).to_owned()).collect(),
        scores: [(primary.to_owned(), score)].into_iter().collect(),
        choice: None,
        confidence: Some(0.8),
        latency_ms: 12.0,
        tokens_per_second: 40.0,
    }
}

fn examples() -> Vec<ExampleRecord> {
    (0..7)
        .map(|i| {
            let (task, primary) = if i % 3 == 2 { ("rewrite", "choose_accuracy") } else { ("rank", "top1") };
            let prompt =
                format!("Example {i}.\nFROM python:3.12\nRUN pip install flask {XSS}\n{}", "RUN echo x\n".repeat(60));
            let outputs = [
                ("rules-only", output("{\"order\": [\"A\", \"B\"]}", primary, 1.0, &[])),
                ("base", output(&format!("I think {XSS}"), primary, 0.0, &["not JSON", XSS])),
                (ADAPTER, output("{\"order\": [\"B\", \"A\"]}", primary, f64::NAN, &[])),
            ];
            ExampleRecord {
                pair_id: format!("pair-{i}"),
                task: task.into(),
                stack: if i % 2 == 0 { "python".into() } else { XSS.into() },
                rule_ids: vec!["DL3008".into()],
                prompt,
                gold: "{\"order\": [\"A\", \"B\"]}".into(),
                outputs: outputs.into_iter().map(|(s, o)| (s.to_owned(), o)).collect(),
            }
        })
        .collect()
}

/// Bar charts (one per task with stacks) + one forest plot + one reliability diagram.
const CHARTS_PER_RUN: usize = 2 + 1 + 1;

fn two_runs() -> String {
    let (newer, older, records) = (results("20261201_1200"), results("20261130_0900"), examples());
    report::html(&[
        ReportRun { results: &newer, examples: &records },
        ReportRun { results: &older, examples: &records[..2] },
    ])
}

#[test]
fn sections_are_the_runs_newest_first_linked_from_the_contents() {
    let html = two_runs();
    let newer = html.find("<section class=\"run\" id=\"20261201_1200\">").expect("the newer run's section");
    let older = html.find("<section class=\"run\" id=\"20261130_0900\">").expect("the older run's section");
    assert!(newer < older, "newest first");
    let (first_link, second_link) = (html.find("href=\"#20261201_1200\""), html.find("href=\"#20261130_0900\""));
    assert!(first_link.is_some_and(|a| second_link.is_some_and(|b| a < b && b < newer)), "contents first, in order");
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
}

#[test]
fn data_strings_are_escaped() {
    let html = two_runs();
    assert!(!html.contains("<script"), "raw <script> in the report");
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    assert!(!html.contains("alert('x')"));
}

#[test]
fn no_nan_anywhere() {
    let html = two_runs();
    assert!(!html.contains("NaN") && !html.to_lowercase().contains("\"nan\""), "NaN in the report");
    assert!(!html.contains("=\"inf") && !html.contains("=\"-inf"));
}

#[test]
fn one_svg_per_chart() {
    let (r, records) = (results("20261201_1200"), examples());
    let html = report::html(&[ReportRun { results: &r, examples: &records }]);
    assert_eq!(html.matches("<svg").count(), CHARTS_PER_RUN);
    assert_eq!(html.matches("</svg>").count(), CHARTS_PER_RUN);
    assert_eq!(two_runs().matches("<svg").count(), 2 * CHARTS_PER_RUN);

    // Without comparisons, calibration or stacks the charts are left out, not drawn empty.
    let mut bare = r.clone();
    bare.comparisons.clear();
    bare.calibration.clear();
    for t in bare.tasks.values_mut() {
        for s in t.systems.values_mut() {
            s.by_stack.clear();
        }
    }
    let html = report::html(&[ReportRun { results: &bare, examples: &[] }]);
    assert_eq!(html.matches("<svg").count(), 0);
    assert!(html.contains("No comparisons"));
}

#[test]
fn sections_show_the_figures() {
    let (r, records) = (results("20261201_1200"), examples());
    let html = report::html(&[ReportRun { results: &r, examples: &records }]);
    // Headings with the sample size, cells with intervals, absent metrics as "—".
    assert!(html.contains("<h3>rank — n = 4 pairs</h3>") && html.contains("<h3>rewrite — n = 6 pairs</h3>"));
    assert!(html.contains("0.750 [0.550, 0.950]<br><small>n = 6</small>"));
    // rank columns in report order, only those present.
    let head = html.find("<th>top1</th><th>kendall_tau</th><th>mrr</th>");
    assert!(head.is_some(), "rank metric columns");
    assert!(!html.contains("<th>top1_norm</th>"));
    assert!(html.contains("<td>—</td>"));
    // Lineage: shortened hashes with the full value in the title.
    assert!(html.contains(
        "<code title=\"b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53\">b179c9523d0e</code>"
    ));
    assert!(html.contains("trained on rules version"));
    // Notes as a list, comparisons with their labels, calibration legend, timing.
    assert!(html.contains("<li>rules-only is the rank teacher</li>"));
    assert!(html.contains("stacks won 1/2 · p = 0.031") && html.contains("p &lt; 0.001"));
    assert!(html.contains("base: T = 1.70, ECE = 0.150 (fitted on 40)"));
    assert!(html.contains("<td>900.00</td>"));
    // At most five examples per task, the first ones: rank has pairs 0, 1, 3, 4, 6; rewrite 2, 5.
    for shown in ["pair-0", "pair-1", "pair-2", "pair-3", "pair-4", "pair-5", "pair-6"] {
        assert!(html.contains(&format!("<code>{shown}</code>")), "{shown}");
    }
    assert_eq!(html.matches("<article class=\"example\">").count(), 7);
    assert!(html.contains("more characters)"), "long prompts are cut");
}

#[test]
fn at_most_five_examples_per_task() {
    let r = results("20261201_1200");
    let mut records = examples();
    records.extend(examples().into_iter().map(|mut e| {
        e.pair_id = format!("late-{}", e.pair_id);
        e
    }));
    let html = report::html(&[ReportRun { results: &r, examples: &records }]);
    // rank: pair-0, 1, 3, 4, 6; rewrite: pair-2, 5, then late-pair-2, 5 (of 14 records in all).
    assert_eq!(html.matches("<article class=\"example\">").count(), 9);
    assert!(!html.contains("late-pair-0") && html.contains("late-pair-5"));
}

#[test]
fn empty_report_is_a_page() {
    let html = report::html(&[]);
    assert!(html.contains("No runs.") && !html.contains("<section"));
}

// ---- in a browser ------------------------------------------------------------------------------

fn browser() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Runs the browser headless on `page` with `args`, killed after two minutes; its stdout.
fn headless(browser: &Path, profile: &Path, page: &Path, args: &[String]) -> String {
    let mut child = Command::new(browser)
        .args(["--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars", "--no-first-run"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the browser");
    let start = Instant::now();
    while child.try_wait().expect("wait for the browser").is_none() {
        if start.elapsed() > Duration::from_mins(2) {
            let _ = child.kill();
            panic!("{} did not finish in two minutes", browser.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output().expect("the browser's output");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn renders_in_a_headless_browser() {
    let Some(browser) = browser() else {
        let required = ["CODI_REQUIRE_ORACLES", "CODI_REQUIRE_BROWSER"]
            .iter()
            .all(|var| std::env::var_os(var).is_some_and(|v| v == "1"));
        assert!(!required, "no chromium, chromium-browser or google-chrome on PATH (CODI_REQUIRE_BROWSER=1)");
        eprintln!("skipped: no chromium, chromium-browser or google-chrome on PATH");
        return;
    };
    let dir = tempfile::tempdir().expect("a temp dir");
    let page = dir.path().join("llm_eval.html");
    let html = two_runs();
    std::fs::write(&page, &html).expect("write the report");

    let dom = headless(&browser, &dir.path().join("profile-dom"), &page, &["--dump-dom".into()]);
    for id in ["20261201_1200", "20261130_0900"] {
        assert!(dom.contains(&format!("id=\"{id}\"")), "section {id} missing from the rendered DOM");
    }
    assert_eq!(dom.matches("<svg").count(), html.matches("<svg").count(), "an <svg> did not survive parsing");
    assert!(!dom.contains("<script"), "the parsed DOM has a script");

    let shot = dir.path().join("shot.png");
    let args = [format!("--screenshot={}", shot.display()), "--window-size=1280,2000".into()];
    headless(&browser, &dir.path().join("profile-shot"), &page, &args);
    let png = std::fs::read(&shot).expect("the screenshot");
    assert!(png.len() > 10_000 && png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG screenshot ({} bytes)", png.len());
    // IHDR: width and height, big-endian, at bytes 16..24.
    let width = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
    assert_eq!(width, 1280);
    if let Some(keep) = std::env::var_os("CODI_REPORT_SHOT") {
        // To look at: the screenshot there, the page beside it.
        std::fs::copy(&shot, &keep).expect("keep the screenshot");
        std::fs::copy(&page, Path::new(&keep).with_extension("html")).expect("keep the page");
    }
}
