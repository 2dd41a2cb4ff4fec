//! Resolving a model argument: a GGUF file, a model directory, or a Hugging Face id found in
//! the local Hugging Face cache (which works offline).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Where a model's files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelLocation {
    Gguf(PathBuf),
    HfDir(PathBuf),
}

/// Resolves `spec`: an existing path (a `.gguf` file or a directory with `config.json`), or a
/// hub id such as `Qwen/Qwen2.5-Coder-1.5B-Instruct` looked up in the local Hugging Face cache
/// (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`).
pub fn resolve(spec: &str) -> Result<ModelLocation> {
    let path = Path::new(spec);
    if path.is_file() {
        return Ok(ModelLocation::Gguf(path.to_owned()));
    }
    if path.is_dir() {
        return location_of_dir(path).ok_or_else(|| Error::NotFound {
            id: spec.into(),
            message: "the directory has neither config.json nor a .gguf file".into(),
        });
    }
    let is_hub_id = spec.split('/').count() == 2 && !spec.starts_with('.') && !spec.ends_with(".gguf");
    if !is_hub_id {
        return Err(Error::NotFound { id: spec.into(), message: "no such file or directory".into() });
    }
    let cache = hub_cache_dir();
    match snapshot(&cache, spec) {
        Some(dir) => location_of_dir(&dir).ok_or_else(|| Error::NotFound {
            id: spec.into(),
            message: format!("{} has no config.json", dir.display()),
        }),
        None => Err(Error::NotFound {
            id: spec.into(),
            message: format!(
                "not in the local Hugging Face cache ({}); fetch it where huggingface.co is reachable (`hf download {spec}`) and copy the cache here, or pass a directory or GGUF file",
                cache.display()
            ),
        }),
    }
}

fn location_of_dir(dir: &Path) -> Option<ModelLocation> {
    if dir.join("config.json").is_file() {
        return Some(ModelLocation::HfDir(dir.to_owned()));
    }
    let mut ggufs: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "gguf"))
        .collect();
    ggufs.sort();
    (ggufs.len() == 1).then(|| ModelLocation::Gguf(ggufs.remove(0)))
}

fn hub_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("HF_HUB_CACHE") {
        return dir.into();
    }
    if let Some(home) = std::env::var_os("HF_HOME") {
        return PathBuf::from(home).join("hub");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache/huggingface/hub")
}

/// The snapshot directory `refs/main` points at, in the hub cache layout
/// (`models--{org}--{name}/refs/main`, `snapshots/<revision>/`).
fn snapshot(cache: &Path, id: &str) -> Option<PathBuf> {
    let repo = cache.join(format!("models--{}", id.replace('/', "--")));
    let revision = std::fs::read_to_string(repo.join("refs/main")).ok()?;
    let dir = repo.join("snapshots").join(revision.trim());
    dir.is_dir().then_some(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_snapshot_in_the_cache_layout() {
        let cache = tempfile::tempdir().expect("tempdir");
        let repo = cache.path().join("models--Qwen--Tiny");
        std::fs::create_dir_all(repo.join("refs")).expect("mkdir");
        std::fs::create_dir_all(repo.join("snapshots/abc123")).expect("mkdir");
        std::fs::write(repo.join("refs/main"), "abc123\n").expect("write");
        assert_eq!(snapshot(cache.path(), "Qwen/Tiny"), Some(repo.join("snapshots/abc123")));
        assert_eq!(snapshot(cache.path(), "Qwen/Other"), None);
    }
}
