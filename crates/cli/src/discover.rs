//! Finding Dockerfiles: the paths given on the command line, and under directories every file
//! whose name says it is one (`.gitignore` is respected).

use std::path::PathBuf;

use anyhow::{Context, Result};
use codi_core::project::is_dockerfile_name;

/// Files to lint, sorted and without duplicates. A path given explicitly is always included.
pub(crate) fn dockerfiles(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for path in paths {
        if path.is_dir() {
            for entry in ignore::WalkBuilder::new(path).build() {
                let entry = entry.with_context(|| format!("walking {}", path.display()))?;
                let name = entry.file_name().to_string_lossy();
                if entry.file_type().is_some_and(|t| t.is_file()) && is_dockerfile_name(&name) {
                    found.push(entry.into_path());
                }
            }
        } else if path.as_os_str() == "-" || path.exists() {
            found.push(path.clone());
        } else {
            anyhow::bail!("{}: no such file or directory", path.display());
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
}
