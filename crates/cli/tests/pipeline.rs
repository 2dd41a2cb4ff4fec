//! The whole data pipeline through the stages' libraries, collect → extract → label →
//! standardize → pairs → split, on the sample projects, on made-up trees that exercise dedup
//! and redaction, and on the dev corpus (skipped when `../shared/corpus` is absent): counts
//! reconcile, no near-duplicate cluster crosses splits, no target holds a Dockerfile
//! instruction, runs are incremental and shards merge.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use codi_dataset::Layout;
use codi_dataset::pipeline::{Quiet, Shard, Stats};
use codi_dataset::records::{CuratedRecord, LabeledRecord, PairRecord, Reject};
use codi_dataset::table::read_all;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs every stage from `raw/` on; returns each stage's stats.
fn run_stages(layout: &Layout, full: bool) -> Vec<Stats> {
    let label = codi_label::Options { full, ..codi_label::Options::in_layout(layout) };
    let standardize = codi_standardize::Options { full, ..codi_standardize::Options::in_layout(layout) };
    let pairs =
        codi_pairs::Options { full, ..codi_pairs::Options::in_layout(layout, &repo().join("patterns/rules.yml")) };
    let split = codi_pairs::SplitOptions { full, jsonl: true, ..codi_pairs::SplitOptions::in_layout(layout) };
    vec![
        codi_label::run(&label, &Quiet).expect("label"),
        codi_standardize::run(&standardize, &Quiet).expect("standardize"),
        codi_pairs::run(&pairs, &Quiet).expect("pairs"),
        codi_pairs::split(&split, &Quiet).expect("split"),
    ]
}

fn collect(root: &Path, provenance: Option<PathBuf>, layout: &Layout) -> Stats {
    let options = codi_collect::LocalOptions { root: root.to_owned(), provenance, shard: Shard::ALL };
    codi_collect::collect_local(&options, &layout.raw(), &Quiet).expect("collect")
}

fn assert_sound(data: &Layout, stats: &[Stats]) {
    for stage in stats {
        assert_eq!(stage.discrepancy(), None, "{}: {stage:#?}", stage.stage);
    }
    assert_eq!(codi_pairs::clusters_in_several_splits(&data.splits()).expect("splits"), 0);
    let pairs: Vec<PairRecord> = read_all(&data.pairs().join("pairs.parquet")).expect("pairs");
    let split_rows: usize = codi_pairs::SPLITS
        .iter()
        .map(|s| read_all::<PairRecord>(&data.splits().join(format!("{s}.parquet"))).expect("split").len())
        .sum();
    assert_eq!(split_rows, pairs.len(), "every pair lands in exactly one split");
    for pair in &pairs {
        let output: serde_json::Value = serde_json::from_str(&pair.output).expect("output is JSON");
        assert!(
            !codi_tasks::contains_instruction(&output.to_string()),
            "{} {}: {}",
            pair.source_id,
            pair.task,
            pair.output
        );
        let chat: Vec<serde_json::Value> = serde_json::from_str(&pair.chat).expect("chat is JSON");
        assert_eq!(chat.len(), 3);
        assert_eq!(chat[2]["content"], pair.output);
        assert!(pair.instruct.contains("<INPUT>") && pair.instruct.contains("</OUTPUT>"));
    }
    let jsonl = std::fs::read_to_string(data.splits().join("__jsonl__/train.jsonl")).expect("jsonl");
    assert_eq!(jsonl.lines().count() as u64, stats[3].counts["by_split"].get("train").copied().unwrap_or(0));
}

#[test]
fn the_sample_projects_run_end_to_end_incrementally() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = Layout::new(dir.path());
    let collected = collect(&repo().join("data/samples"), None, &data);
    assert_eq!((collected.input, collected.output, collected.rejected), (34, 34, 0));
    let extracted = codi_collect::extract(&data.raw(), None, &Quiet).expect("extract");
    assert_eq!(extracted.output, 34);
    let first = run_stages(&data, false);
    assert_sound(&data, &first);
    let pairs = &first[2];
    assert!(pairs.output >= 30, "{pairs:#?}");
    for task in ["rewrite", "rank", "explain"] {
        assert!(pairs.counts["pairs_by_task"].get(task).copied().unwrap_or(0) > 0, "no {task} pairs");
    }
    // The labels carry the context collect found.
    let labeled: Vec<LabeledRecord> = read_all(&data.labeled().join("labeled.parquet")).expect("labeled");
    let dotnet = labeled.iter().find(|r| r.path == "dotnet-webapi/Dockerfile").expect("sample");
    assert!(dotnet.related.iter().any(|r| r.path == "Weather.Api.csproj" && r.content.is_some()));
    assert_eq!(dotnet.stack.as_deref(), Some("dotnet"));

    let again = run_stages(&data, false);
    assert_eq!(again[0].computed, 0, "labels reused");
    assert_eq!(again[1].computed, 0, "standardization reused");
    assert_eq!(again[2].reused, pairs.output, "pairs reused");
    let splits = |name: &str| read_all::<PairRecord>(&data.splits().join(format!("{name}.parquet"))).expect("split");
    let before = splits("test");
    let full = run_stages(&data, true);
    assert_eq!(full[0].reused, 0);
    assert_eq!(splits("test"), before, "deterministic");
}

#[test]
fn shards_of_a_job_array_merge_into_the_same_labels() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = Layout::new(dir.path());
    // Collect in two shards: each writes its files and stats; extract rebuilds the manifest.
    let collected: u64 = ["0/2", "1/2"]
        .iter()
        .map(|shard| {
            let options = codi_collect::LocalOptions {
                root: repo().join("data/samples"),
                provenance: None,
                shard: shard.parse().expect("shard"),
            };
            codi_collect::collect_local(&options, &data.raw(), &Quiet).expect("collect shard").output
        })
        .sum();
    assert_eq!(collected, 34);
    assert!(data.raw().join("__meta__/stats-00001-of-00002.json").is_file());
    assert!(!data.raw().join("manifest.parquet").exists(), "shards leave the manifest to the next run");
    assert_eq!(codi_collect::extract(&data.raw(), None, &Quiet).expect("extract").output, 34);
    let options = |shard: Shard| codi_label::Options { shard, ..codi_label::Options::in_layout(&data) };
    let halves: Vec<Stats> = ["0/2", "1/2"]
        .iter()
        .map(|s| codi_label::run(&options(s.parse().expect("shard")), &Quiet).expect("shard"))
        .collect();
    assert_eq!(halves[0].input + halves[1].input, 34);
    let part = data.labeled().join("labeled-00000-of-00002.parquet");
    assert!(part.is_file());
    let merged = codi_label::run(&options(Shard::ALL), &Quiet).expect("merge");
    assert_eq!((merged.input, merged.reused, merged.computed), (34, 34, 0));
    assert!(!part.exists(), "parts removed once merged");
    let direct_dir = tempfile::tempdir().expect("tempdir");
    let direct = Layout::new(direct_dir.path());
    collect(&repo().join("data/samples"), None, &direct);
    codi_collect::extract(&direct.raw(), None, &Quiet).expect("extract");
    codi_label::run(&codi_label::Options::in_layout(&direct), &Quiet).expect("direct");
    // The merge writes the rows in input order: the same file as one run over everything.
    let bytes = |layout: &Layout| std::fs::read(layout.labeled().join("labeled.parquet")).expect("labels");
    assert!(bytes(&data) == bytes(&direct), "sharded and direct labels differ");
}

#[test]
fn duplicates_are_dropped_near_duplicates_clustered_and_secrets_never_written() {
    let tree = tempfile::tempdir().expect("tempdir");
    let base = (0..40).fold(String::new(), |mut s, i| {
        let _ = writeln!(s, "RUN echo step {i} && touch /tmp/marker-{i}");
        s
    });
    let files = [
        ("a/Dockerfile", format!("FROM alpine:3.20\n{base}CMD [\"sh\"]\n")),
        // Only layout differs: an exact duplicate once normalized.
        ("b/Dockerfile", format!("FROM alpine:3.20   \r\n{}CMD [\"sh\"]\r\n\r\n\r\n", base.replace('\n', " \r\n"))),
        // Comments and instruction case differ: a semantic duplicate.
        ("c/Dockerfile", format!("# the base\nfrom alpine:3.20\n{base}cmd [\"sh\"]\n")),
        // One step changed: a near duplicate, kept and clustered.
        ("d/Dockerfile", format!("FROM alpine:3.20\n{}CMD [\"sh\"]\n", base.replacen("step 20", "step twenty", 1))),
        ("e/Dockerfile", "FROM python:3.12-slim\nENV DB_PASSWORD=hunter2-very-secret\nRUN pip install flask==3.0.3\nCMD [\"python\", \"app.py\"]\n".to_owned()),
        ("f/Dockerfile", "FROM {{ .BaseImage }}\nRUN make\n".to_owned()),
    ];
    for (path, text) in &files {
        let path = tree.path().join(path);
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let data = Layout::new(dir.path());
    collect(tree.path(), None, &data);
    let stats = run_stages(&data, false);
    assert_sound(&data, &stats);
    let curated = &stats[1];
    assert_eq!(curated.rejected_by_reason.get("exact-duplicate"), Some(&1), "{curated:#?}");
    assert_eq!(curated.rejected_by_reason.get("semantic-duplicate"), Some(&1), "{curated:#?}");
    assert_eq!(curated.rejected_by_reason.get("template-placeholders"), Some(&1), "{curated:#?}");
    assert_eq!(curated.counts["near_duplicates"]["rows_in_clusters"], 2);
    assert_eq!(curated.counts["redactions_by_kind"]["secret-assignment"], 1);
    let rows: Vec<CuratedRecord> = read_all(&data.curated().join("curated.parquet")).expect("curated");
    let kept: Vec<&CuratedRecord> = rows.iter().filter(|r| r.kept).collect();
    let near: Vec<&&CuratedRecord> = kept.iter().filter(|r| r.cluster_size == 2).collect();
    assert_eq!(near.len(), 2);
    assert_eq!(near[0].cluster_id, near[1].cluster_id);
    let rejects: Vec<Reject> = read_all(&data.curated().join("__meta__/rejects.parquet")).expect("rejects");
    assert!(rejects.iter().any(|r| r.reason == "exact-duplicate" && r.detail.starts_with("same as ")));
    // Nothing standardize or a later stage wrote holds the secret.
    for stage in [data.curated(), data.pairs(), data.splits()] {
        for entry in walk(&stage) {
            let bytes = std::fs::read(&entry).expect("read");
            assert!(!contains(&bytes, b"hunter2-very-secret"), "secret in {}", entry.display());
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dir").flatten() {
        let path = entry.path();
        if path.is_dir() { out.extend(walk(&path)) } else { out.push(path) }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("CODI_CORPUS").map_or_else(|| repo().join("../shared/corpus"), PathBuf::from);
    if dir.join("dockerfiles").is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: no corpus at {} (set CODI_CORPUS)", dir.display());
        None
    }
}

#[test]
fn the_dev_corpus_runs_end_to_end() {
    let Some(corpus) = corpus() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let data = Layout::new(dir.path());
    let collected = collect(&corpus.join("dockerfiles"), Some(corpus.join("MANIFEST.csv")), &data);
    assert_eq!(collected.output + collected.rejected, 493);
    let stats = run_stages(&data, false);
    assert_sound(&data, &stats);
    for stage in std::iter::once(&collected).chain(&stats) {
        eprintln!(
            "{}: in {}, out {}, rejected {:?}, counts {:?}",
            stage.stage, stage.input, stage.output, stage.rejected_by_reason, stage.counts
        );
    }
    assert!(stats[1].output > 300, "{:#?}", stats[1]);
    assert!(stats[2].output > 300, "{:#?}", stats[2]);
}
