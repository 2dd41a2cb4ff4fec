//! The manifest (`<prefix>/manifest.json`): every file of a pushed data tree, with its size and
//! sha256. A push writes it last; a pull reads nothing else first.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use codi_dataset::Layout;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The manifest's format version; a reader refuses others.
pub const MANIFEST_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    /// When the push that wrote it started, RFC 3339 in UTC.
    pub created: String,
    /// Sorted by path.
    pub files: Vec<Entry>,
}

/// One file: its path under the data directory (`/`-separated, `raw/manifest.parquet`), its
/// size and the sha256 that names its object (`objects/<sha256>`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Entry {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

impl Manifest {
    pub fn new(mut files: Vec<Entry>) -> Self {
        files.sort();
        Self {
            version: MANIFEST_VERSION,
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            files,
        }
    }

    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// Reads a manifest, refusing another version and any path a pull must not write: outside
    /// the stage directories, with `.`/`..`/hidden components, duplicated, or a bad digest.
    pub(crate) fn parse(bytes: &[u8], key: &str) -> Result<Self> {
        let invalid = |message: String| Error::Manifest { key: key.to_owned(), message };
        let manifest: Self = serde_json::from_slice(bytes).map_err(|e| invalid(format!("not a manifest: {e}")))?;
        if manifest.version != MANIFEST_VERSION {
            return Err(invalid(format!(
                "manifest version {} (this codi reads version {MANIFEST_VERSION})",
                manifest.version
            )));
        }
        let stages = stage_names();
        let mut seen = BTreeSet::new();
        for entry in &manifest.files {
            let mut parts = entry.path.split('/');
            let stage = parts.next().unwrap_or_default();
            let safe = stages.contains(&stage.to_owned())
                && entry.path.split('/').all(|p| !p.is_empty() && !p.starts_with('.') && !p.contains('\\'))
                && entry.path.split('/').count() > 1;
            if !safe {
                return Err(invalid(format!("`{}` is not a path in a stage directory", entry.path)));
            }
            if !is_sha256(&entry.sha256) {
                return Err(invalid(format!("`{}`: `{}` is not a sha256", entry.path, entry.sha256)));
            }
            if !seen.insert(entry.path.as_str()) {
                return Err(invalid(format!("`{}` is listed twice", entry.path)));
            }
        }
        Ok(manifest)
    }
}

fn is_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The stage directories of a layout, the only ones that are synced: `raw`, `labeled`,
/// `curated`, `pairs`, `splits`.
pub(crate) fn stage_dirs(layout: &Layout) -> Vec<PathBuf> {
    vec![layout.raw(), layout.labeled(), layout.curated(), layout.pairs(), layout.splits()]
}

/// The stage directories' names, relative to the layout's root.
pub(crate) fn stage_names() -> Vec<String> {
    stage_dirs(&Layout::new(""))
        .iter()
        .map(|p| p.to_string_lossy().trim_start_matches(['/', '\\']).to_owned())
        .collect()
}

/// Whether a name is a stage's temporary or partial file (`.x.parquet.123.tmp`, `.dir.tmp-9`):
/// such files, and dot-files generally, are never synced.
fn is_temporary(name: &str) -> bool {
    name.starts_with('.') || name.ends_with(".tmp") || name.ends_with(".partial")
}

/// A local file to push: its manifest path and where it is.
#[derive(Debug, Clone)]
pub(crate) struct LocalFile {
    pub(crate) path: String,
    pub(crate) local: PathBuf,
    pub(crate) size: u64,
}

/// Every regular file under the layout's stage directories, temporary ones left out, sorted.
pub(crate) fn local_files(layout: &Layout) -> Result<Vec<LocalFile>> {
    let mut files = Vec::new();
    for dir in stage_dirs(layout) {
        walk(&layout.root, &dir, &mut files)?;
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

fn walk(root: &Path, dir: &Path, files: &mut Vec<LocalFile>) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(Error::io(dir))?;
        let local = entry.path();
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            return Err(Error::Io {
                path: local,
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, "the name is not UTF-8"),
            });
        };
        if is_temporary(name) {
            continue;
        }
        let metadata = std::fs::metadata(&local).map_err(Error::io(&local))?;
        if metadata.is_dir() {
            walk(root, &local, files)?;
        } else if metadata.is_file() {
            let relative = local.strip_prefix(root).unwrap_or(&local);
            let path: Vec<_> = relative.components().map(|c| c.as_os_str().to_string_lossy()).collect();
            files.push(LocalFile { path: path.join("/"), local, size: metadata.len() });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str) -> Entry {
        Entry { path: path.into(), size: 1, sha256: "a".repeat(64) }
    }

    #[test]
    fn lists_stage_outputs_without_temporary_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for file in [
            "raw/manifest.parquet",
            "raw/files/ab/ab.Dockerfile",
            "splits/train.parquet",
            "splits/.train.parquet.1.tmp",
            "pairs/.pairs.tmp-3/pairs.parquet",
            "samples/app/Dockerfile",
            "elsewhere.txt",
        ] {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, file).expect("write");
        }
        let files = local_files(&Layout::new(root)).expect("list");
        let paths: Vec<_> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["raw/files/ab/ab.Dockerfile", "raw/manifest.parquet", "splits/train.parquet"]);
        assert_eq!(files[1].size, "raw/manifest.parquet".len() as u64);
    }

    #[test]
    fn refuses_unsafe_manifests() {
        let good = Manifest::new(vec![entry("splits/train.parquet"), entry("raw/files/ab/x")]);
        let bytes = serde_json::to_vec(&good).expect("json");
        assert_eq!(Manifest::parse(&bytes, "k").expect("valid").files[0].path, "raw/files/ab/x");
        for path in
            ["../etc/passwd", "raw/../../x", "samples/x", "raw", "raw//x", "raw/.hidden", "/raw/x", "raw\\..\\x"]
        {
            let bytes = serde_json::to_vec(&Manifest::new(vec![entry(path)])).expect("json");
            assert!(Manifest::parse(&bytes, "k").is_err(), "{path} is refused");
        }
        let twice = serde_json::to_vec(&Manifest::new(vec![entry("raw/x"), entry("raw/x")])).expect("json");
        assert!(Manifest::parse(&twice, "k").is_err());
        let newer = serde_json::to_vec(&Manifest { version: 2, ..good }).expect("json");
        assert!(Manifest::parse(&newer, "k").expect_err("refused").to_string().contains("version 2"));
    }
}
