//! codi-standardize: labeled Dockerfiles into `data/curated/curated.parquet` (DESIGN §4):
//! normalized, secrets redacted, quality-filtered, exact and semantic duplicates dropped, near
//! duplicates clustered.
//!
//! It runs in two passes. The first works row by row (and so can be sharded and is incremental
//! by content hash): normalization, redaction, the quality filters, the exact and semantic
//! hashes and the MinHash band keys, into `data/curated/__meta__/prepared/`. The second sees every row:
//! it keeps the smallest id of each group of exact or semantic duplicates, clusters the rest by
//! shared bands, and writes `curated.parquet` (every row, with `kept` and the reason) and the
//! rejects. A sharded run does the first pass only; a run without `--shard` does both.

mod dedup;
mod filters;
pub mod minhash;
mod normalize;
mod redact;

use std::collections::BTreeMap;
use std::path::PathBuf;

use codi_core::syntax::parse;
use codi_dataset::Layout;
use codi_dataset::pipeline::{Outcome, Progress, RowStage, Shard, StageFiles, Stats, move_file};
use codi_dataset::records::{CuratedRecord, LabeledRecord, sha256_hex};

pub use filters::filter_reason;
pub use normalize::{normalize, semantic_hash};
pub use redact::redact;

/// Bumped when the output changes for the same input.
pub const VERSION: &str = "standardize-2";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Dataset(#[from] codi_dataset::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Clone)]
pub struct Options {
    /// `data/labeled`.
    pub labeled: PathBuf,
    /// `data/curated`.
    pub out: PathBuf,
    pub shard: Shard,
    pub full: bool,
}

impl Options {
    /// `labeled/` into `curated/` of `layout`: every shard, incremental.
    pub fn in_layout(layout: &Layout) -> Self {
        Self { labeled: layout.labeled(), out: layout.curated(), shard: Shard::ALL, full: false }
    }
}

/// Runs the first pass for the shard, and the second when the run covers everything.
pub fn run(options: &Options, progress: &dyn Progress) -> Result<Stats> {
    let curated = StageFiles::new(&options.out, "curated");
    let prepared = curated.intermediate("prepared");
    // The earlier layout kept the intermediate table beside the curated one.
    let legacy = options.out.join("prepared");
    if legacy.is_dir() && !prepared.dir.exists() {
        move_file(&legacy, &prepared.dir)?;
    }
    let stage = RowStage {
        name: "standardize".into(),
        fingerprint: format!("{VERSION}+{}", codi_core::lint::VERSION),
        input: StageFiles::new(&options.labeled, "labeled"),
        output: prepared.clone(),
        shard: options.shard,
        full: options.full,
    };
    let first = stage.run(progress, |_| true, |row: LabeledRecord| Outcome::Rows(vec![prepare(row)]), |_, _| {})?;
    if !options.shard.is_all() {
        return Ok(first);
    }
    let mut stats = dedup::deduplicate_and_cluster(&prepared, &curated, progress)?;
    stats.reused = first.reused;
    stats.computed = first.computed;
    stats.write(&curated.stats(Shard::ALL))?;
    Ok(stats)
}

/// A Dockerfile's text as the pairs stage sees it, and so as the model was trained on it:
/// normalized, its secrets redacted (each redaction counted in `counts` by kind). A server
/// builds its prompts from this text, never from the raw file.
pub fn standardized_text(text: &str, counts: &mut BTreeMap<String, u32>) -> String {
    redact(&normalize(text), counts)
}

/// The first pass over one row.
pub fn prepare(labeled: LabeledRecord) -> CuratedRecord {
    let mut counts = BTreeMap::new();
    let content = standardized_text(&labeled.content, &mut counts);
    let related = labeled
        .related
        .into_iter()
        .map(|mut file| {
            file.content = file.content.map(|text| redact(&text, &mut counts));
            file
        })
        .collect();
    let file = parse(&content);
    let reason = filter_reason(&file, &content);
    CuratedRecord {
        exact_hash: sha256_hex(content.as_bytes()),
        semantic_hash: semantic_hash(&file),
        lsh_bands: minhash::band_keys(&content),
        cluster_id: labeled.id.clone(),
        cluster_size: 1,
        redactions: redact::as_rows(counts),
        kept: reason.is_none(),
        filter_reason: reason.map(str::to_owned),
        id: labeled.id,
        source: labeled.source,
        repo: labeled.repo,
        path: labeled.path,
        license: labeled.license,
        stack: labeled.stack,
        framework: labeled.framework,
        package_manager: labeled.package_manager,
        quality: labeled.quality,
        content,
        related,
        group: labeled.group,
    }
}
