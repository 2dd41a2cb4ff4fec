//! What the label tests share: raw records of Dockerfiles written here, a data directory holding
//! them, and hadolint when it is installed.
#![allow(dead_code, unreachable_pub)]

use codi_dataset::Layout;
use codi_dataset::pipeline::{Shard, StageFiles};
use codi_dataset::records::{RawRecord, RelatedFile, sha256_hex};
use codi_label::Hadolint;

/// A locally collected Dockerfile with the context files `related` (path, text).
pub fn raw(path: &str, content: &str, related: &[(&str, &str)]) -> RawRecord {
    RawRecord {
        id: sha256_hex(content.as_bytes()),
        source: "local".into(),
        repo: "label-tests".into(),
        path: path.into(),
        git_ref: String::new(),
        url: String::new(),
        license: "MIT".into(),
        fetched_at: "2026-01-01T00:00:00Z".into(),
        bytes: content.len() as u64,
        content: content.into(),
        stack_hint: None,
        related: related
            .iter()
            .map(|(path, text)| RelatedFile {
                path: (*path).into(),
                role: "manifest".into(),
                status: "found".into(),
                content: Some((*text).into()),
            })
            .collect(),
        group: None,
    }
}

/// A data directory whose `raw/manifest.parquet` holds `records`, as collect writes it.
pub fn data_with(records: Vec<RawRecord>) -> (tempfile::TempDir, Layout) {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = Layout::new(dir.path());
    let manifest = StageFiles::new(layout.raw(), "manifest").data(Shard::ALL);
    codi_dataset::table::write_all(&manifest, records).expect("manifest");
    (dir, layout)
}

/// hadolint on the PATH; `None` (skip) when it is not installed, unless CI asked for every
/// outside oracle (`CODI_REQUIRE_ORACLES=1`), where its absence fails the test.
pub fn hadolint() -> Option<Hadolint> {
    match Hadolint::find() {
        Ok(hadolint) => Some(hadolint),
        Err(error) => {
            let required = std::env::var_os("CODI_REQUIRE_ORACLES").is_some_and(|v| v == "1");
            assert!(!required, "oracle required (CODI_REQUIRE_ORACLES=1) but {error}");
            eprintln!("skipping: {error}");
            None
        }
    }
}
