//! codi-sync: the data tree (its stage directories: raw, labeled, curated, pairs, splits) to and
//! from S3-compatible storage (AWS S3, Cloudflare R2) through Apache Arrow's `object_store`.
//!
//! Under `s3://bucket/prefix`, `objects/<sha256>` holds each file's bytes and `manifest.json`
//! (path, size, sha256 of every file) is written last, so a reader sees the previous dataset or
//! the new one, never half of one. [`push`] uploads only the objects that are not there yet, in
//! parts when large, and resumes an interrupted multipart upload from its last recorded part;
//! [`pull`] downloads beside the tree, verifies every sha256, then swaps the stage directories
//! in. See docs/data.md ("Sync").

mod error;
mod manifest;
mod pull;
mod push;
mod remote;
pub mod server;
mod transfer;

use codi_dataset::Layout;
use codi_dataset::pipeline::Progress;

pub use error::{Error, Result};
pub use manifest::{Entry, MANIFEST_VERSION, Manifest};
pub use remote::{Credentials, Remote};

/// S3's smallest part (all but the last); R2 also wants every part but the last the same size.
pub const MIN_PART_SIZE: u64 = 5 << 20;

/// How a push or pull runs.
#[derive(Debug, Clone)]
pub struct Options {
    pub remote: Remote,
    /// Say what would be transferred; change nothing, here or there.
    pub dry_run: bool,
    /// Bytes per second over all transfers together (`None`: as fast as it goes).
    pub limit_rate: Option<u64>,
    /// Requests in flight at once.
    pub jobs: usize,
    /// Files larger than this go up in parts of this size (at least [`MIN_PART_SIZE`]).
    pub part_size: u64,
}

impl Options {
    pub fn new(remote: Remote) -> Self {
        Self { remote, dry_run: false, limit_rate: None, jobs: 8, part_size: 8 << 20 }
    }
}

/// What a push or pull did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// `s3://bucket/prefix`.
    pub remote: String,
    /// The files of the dataset pushed or pulled, and their bytes.
    pub files: usize,
    pub bytes: u64,
    /// The files whose bytes went over the network (one per distinct content).
    pub transferred: Vec<Entry>,
    pub transferred_bytes: u64,
    /// Files that needed no transfer: their object was already there (push), or the local
    /// file already had the manifest's sha256 (pull).
    pub unchanged: usize,
    /// Pull: the local stage files that the dataset does not have, which the pull removed
    /// (the stage directories become the remote's).
    pub removed: Vec<String>,
    /// Parts of multipart uploads that an interrupted push had already sent.
    pub resumed_parts: usize,
    pub seconds: f64,
    pub dry_run: bool,
}

/// Pushes the layout's stage directories to `options.remote`: the missing objects, then the
/// manifest.
pub fn push(layout: &Layout, options: &Options, progress: &dyn Progress) -> Result<Report> {
    transfer::runtime(options)?.block_on(push::push(layout, options, progress))
}

/// Pulls the dataset at `options.remote` into the layout: every file verified against the
/// manifest before the stage directories are replaced; a mismatch changes nothing.
pub fn pull(layout: &Layout, options: &Options, progress: &dyn Progress) -> Result<Report> {
    transfer::runtime(options)?.block_on(pull::pull(layout, options, progress))
}
