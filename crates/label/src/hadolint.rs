//! hadolint itself, when its binary is installed: its codes beside ours (`--hadolint`), and the
//! one place codi runs it (the benchmarks compare with it through here too).

use std::path::{Path, PathBuf};
use std::process::Command;

use codi_dataset::records::HadolintRow;

use crate::{Error, Result};

/// The binary looked up on the PATH.
const PROGRAM: &str = "hadolint";

/// A hadolint binary that answered `--version`.
#[derive(Debug, Clone)]
pub struct Hadolint {
    pub version: String,
}

impl Hadolint {
    /// Finds hadolint on the PATH; the error says how to install it.
    pub fn find() -> Result<Self> {
        let output =
            Command::new(PROGRAM).arg("--version").output().map_err(|source| Error::HadolintMissing { source })?;
        let text = String::from_utf8_lossy(&output.stdout);
        let version =
            text.split_whitespace().find(|w| w.starts_with(|c: char| c.is_ascii_digit())).unwrap_or("unknown");
        Ok(Self { version: version.to_owned() })
    }

    /// hadolint's findings on every file of `paths`, in one invocation (`-f json`).
    pub fn lint_files(&self, paths: &[PathBuf]) -> Result<Vec<HadolintRow>> {
        let failed = |message: String| Error::Hadolint { files: paths.len(), message };
        let output = Command::new(PROGRAM)
            .args(["--no-fail", "--no-color", "-f", "json"])
            .args(paths)
            .output()
            .map_err(|e| failed(e.to_string()))?;
        serde_json::from_slice(&output.stdout).map_err(|e| {
            failed(format!("{e} in its JSON ({}; {})", output.status, String::from_utf8_lossy(&output.stderr).trim()))
        })
    }

    /// hadolint's findings on `texts`, each written to a temporary Dockerfile, in one invocation.
    pub fn lint_texts(&self, texts: &[&str]) -> Result<Vec<HadolintRow>> {
        let dir = tempfile::tempdir().map_err(|source| io_error(&std::env::temp_dir(), source))?;
        let mut paths = Vec::with_capacity(texts.len());
        for (i, text) in texts.iter().enumerate() {
            let path = dir.path().join(format!("{i}.Dockerfile"));
            std::fs::write(&path, text).map_err(|source| io_error(&path, source))?;
            paths.push(path);
        }
        self.lint_files(&paths)
    }

    /// hadolint's findings on `content`. A file hadolint cannot run on gets one `DL1000`-style
    /// row with the level `error`, as hadolint reports parse failures.
    pub fn findings(&self, content: &str) -> Vec<HadolintRow> {
        self.lint_texts(&[content])
            .unwrap_or_else(|_| vec![HadolintRow { code: "DL1000".into(), level: "error".into(), line: 1 }])
    }
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    codi_dataset::Error::Io { path: path.to_owned(), source }.into()
}
