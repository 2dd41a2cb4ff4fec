//! The data directory (DESIGN §2): one subdirectory per stage, under `data/` by default.

use std::path::PathBuf;

/// Where each stage writes under one data directory: `raw/`, `labeled/`, `curated/`, `pairs/`
/// and `splits/`. Each stage builds its default options from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub root: PathBuf,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Collected Dockerfiles and `manifest.parquet` (collect, extract).
    pub fn raw(&self) -> PathBuf {
        self.stage("raw")
    }

    /// `labeled.parquet` (label).
    pub fn labeled(&self) -> PathBuf {
        self.stage("labeled")
    }

    /// `curated.parquet` (standardize).
    pub fn curated(&self) -> PathBuf {
        self.stage("curated")
    }

    /// `pairs.parquet` (pairs).
    pub fn pairs(&self) -> PathBuf {
        self.stage("pairs")
    }

    /// `{train,val,test}.parquet` (split).
    pub fn splits(&self) -> PathBuf {
        self.stage("splits")
    }

    fn stage(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }
}

/// `data/`, relative to the working directory.
impl Default for Layout {
    fn default() -> Self {
        Self::new("data")
    }
}
