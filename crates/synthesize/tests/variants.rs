//! The synthesized projects of the repository's sample projects, through the whole pipeline:
//! distinct, parsing, deterministic, and each seed's records in one cluster and one split.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use codi_core::syntax::parse;
use codi_dataset::Layout;
use codi_dataset::pipeline::{Quiet, Shard, StageFiles};
use codi_dataset::records::{CuratedRecord, PairRecord, RawRecord};
use codi_dataset::table::read_all;
use codi_synthesize::{Options, seeds, variants};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn synthesize(root: &Path, variants: usize) -> Layout {
    let layout = Layout::new(root);
    let options = Options { samples: repository().join("data/samples"), raw: layout.raw(), variants, seed: 42 };
    let stats = codi_synthesize::run(&options, &Quiet).expect("synthesize");
    assert_eq!(stats.rejected, 0, "{:?}", stats.rejected_by_reason);
    layout
}

fn manifest(layout: &Layout) -> Vec<RawRecord> {
    read_all(&StageFiles::new(layout.raw(), "manifest").data(Shard::ALL)).expect("manifest")
}

#[test]
fn variants_are_distinct_parse_and_are_the_same_for_the_same_seed() {
    let samples = seeds(&repository().join("data/samples")).expect("seeds");
    assert!(samples.len() >= 30, "{} seeds", samples.len());
    for seed in &samples {
        let made = variants(seed, 12, 42);
        assert_eq!(made.len(), 12, "{}: too few distinct variants", seed.name);
        let texts: BTreeSet<&str> = made.iter().map(|v| v.tree.dockerfile()).collect();
        assert_eq!(texts.len(), made.len(), "{}", seed.name);
        for variant in &made {
            assert!(!variant.mutations.is_empty(), "{} v{}: no edit", seed.name, variant.index);
            assert_ne!(variant.tree.dockerfile(), seed.tree.dockerfile());
            let diagnostics = parse(variant.tree.dockerfile()).diagnostics;
            assert!(diagnostics.is_empty(), "{} v{}: {diagnostics:?}", seed.name, variant.index);
        }
        let again = variants(seed, 12, 42);
        assert!(made.iter().zip(&again).all(|(a, b)| a.tree == b.tree && a.mutations == b.mutations));
        let other = variants(seed, 12, 7);
        assert!(made.iter().zip(&other).any(|(a, b)| a.tree != b.tree), "{}: the seed decides", seed.name);
    }
}

#[test]
fn a_run_is_deterministic_and_records_every_seed_and_variant() {
    let (a, b) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let (first, second) = (manifest(&synthesize(a.path(), 3)), manifest(&synthesize(b.path(), 3)));
    let seeds = seeds(&repository().join("data/samples")).expect("seeds").len();
    assert_eq!(first.len(), seeds * 4);
    let strip = |records: Vec<RawRecord>| -> Vec<RawRecord> {
        records.into_iter().map(|r| RawRecord { fetched_at: String::new(), ..r }).collect()
    };
    assert_eq!(strip(first.clone()), strip(second));
    let record = first.iter().find(|r| r.path == "node-express-npm/v001/Dockerfile").expect("a variant");
    assert_eq!((record.source.as_str(), record.group.as_deref()), ("synthetic", Some("synthetic/node-express-npm")));
    assert!(record.related.iter().any(|f| f.path == "package.json" && f.status == "found" && f.content.is_some()));
    assert!(record.url.contains("edits="), "{}", record.url);
}

#[test]
fn every_variant_of_a_seed_lands_in_its_seeds_split() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = synthesize(dir.path(), 6);
    codi_label::run(&codi_label::Options::in_layout(&layout), &Quiet).expect("label");
    codi_standardize::run(&codi_standardize::Options::in_layout(&layout), &Quiet).expect("standardize");
    let catalog = repository().join("patterns/rules.yml");
    codi_pairs::run(&codi_pairs::Options::in_layout(&layout, &catalog), &Quiet).expect("pairs");
    let split = codi_pairs::split(&codi_pairs::SplitOptions::in_layout(&layout), &Quiet).expect("split");
    assert_eq!(split.counts["leakage"]["clusters_in_several_splits"], 0);

    let curated: Vec<CuratedRecord> =
        read_all(&StageFiles::new(layout.curated(), "curated").data(Shard::ALL)).expect("curated");
    let mut clusters: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut group_of = BTreeMap::new();
    for record in curated.iter().filter(|r| r.kept) {
        let group = record.group.clone().expect("grouped");
        clusters.entry(group.clone()).or_default().insert(record.cluster_id.clone());
        group_of.insert(record.id.clone(), group);
    }
    assert!(clusters.values().all(|ids| ids.len() == 1), "a group is one cluster: {clusters:?}");

    let mut splits_of: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    for split in codi_pairs::SPLITS {
        let pairs: Vec<PairRecord> = read_all(&layout.splits().join(format!("{split}.parquet"))).expect("split");
        for pair in pairs {
            splits_of.entry(group_of[&pair.source_id].clone()).or_default().insert(split);
        }
    }
    assert!(splits_of.len() >= 30, "{} seeds with pairs", splits_of.len());
    assert!(splits_of.values().all(|s| s.len() == 1), "no seed is in two splits: {splits_of:?}");
    assert!(splits_of.values().any(|s| s.contains("test")) && splits_of.values().any(|s| s.contains("train")));
}

/// hadolint 2.15.1, the outside oracle: it parses every variant (no DL1000), and reports the
/// smells the edits add.
#[test]
fn hadolint_parses_every_variant_and_reports_the_smells_added() {
    let hadolint = match codi_label::Hadolint::find() {
        Ok(hadolint) => hadolint,
        Err(error) => {
            let required = std::env::var_os("CODI_REQUIRE_ORACLES").is_some_and(|v| v == "1");
            assert!(!required, "oracle required (CODI_REQUIRE_ORACLES=1) but {error}");
            eprintln!("skipping: {error}");
            return;
        }
    };
    let samples = seeds(&repository().join("data/samples")).expect("seeds");
    let made: Vec<_> = samples.iter().flat_map(|seed| variants(seed, 8, 42)).collect();
    let texts: Vec<&str> = made.iter().map(|v| v.tree.dockerfile()).collect();
    let rows = hadolint.lint_texts(&texts).expect("hadolint ran");
    let codes: BTreeSet<&str> = rows.iter().map(|row| row.code.as_str()).collect();
    assert!(!codes.contains("DL1000"), "a variant hadolint cannot parse");
    for code in ["DL3006", "DL3007", "DL3008", "DL3009", "DL3015", "DL3018", "DL3020", "DL3025", "DL4000"] {
        assert!(codes.contains(code), "no {code} among {codes:?}");
    }
}
