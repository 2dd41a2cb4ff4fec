//! Resolving a model argument: a GGUF file, a model directory, or a Hugging Face id — found in
//! the local Hugging Face cache first (offline), downloaded into it when the hub is reachable.

use std::path::{Path, PathBuf};

use hf_hub::api::sync::{ApiBuilder, ApiRepo};
use serde::Deserialize;

use crate::error::{Error, Result};

/// Where a model's files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelLocation {
    Gguf(PathBuf),
    HfDir(PathBuf),
}

/// Where hub ids are looked up and fetched from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hub {
    /// The cache in the Hugging Face layout.
    pub cache: PathBuf,
    /// The hub's URL.
    pub endpoint: String,
}

impl Hub {
    /// `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`; `$HF_ENDPOINT`,
    /// else huggingface.co — as the Python `huggingface_hub` does.
    pub fn from_env() -> Self {
        Self {
            cache: hub_cache_dir(),
            endpoint: std::env::var("HF_ENDPOINT").unwrap_or_else(|_| "https://huggingface.co".into()),
        }
    }
}

/// Resolves `spec`: an existing path (a `.gguf` file or a directory with `config.json`), or a
/// hub id such as `Qwen/Qwen2.5-Coder-1.5B-Instruct`, looked up in the hub cache and otherwise
/// downloaded into it.
pub fn resolve(spec: &str) -> Result<ModelLocation> {
    resolve_with(spec, &Hub::from_env())
}

pub fn resolve_with(spec: &str, hub: &Hub) -> Result<ModelLocation> {
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
    let dir = match snapshot(&hub.cache, spec) {
        Some(dir) => dir,
        None => download(spec, hub)?,
    };
    location_of_dir(&dir)
        .ok_or_else(|| Error::NotFound { id: spec.into(), message: format!("{} has no config.json", dir.display()) })
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

/// The Hugging Face repo a model directory holds: the hub cache's layout
/// (`models--{org}--{name}/snapshots/<revision>/`), else `config.json`'s `_name_or_path` when it
/// is a hub id.
pub(crate) fn repo_of_dir(dir: &Path) -> Option<String> {
    #[derive(Deserialize)]
    struct NameOrPath {
        #[serde(rename = "_name_or_path")]
        name_or_path: String,
    }
    let from_layout = dir
        .parent()
        .filter(|p| p.file_name().is_some_and(|n| n == "snapshots"))
        .and_then(Path::parent)
        .and_then(|repo| repo.file_name()?.to_str()?.strip_prefix("models--")?.split_once("--"))
        .map(|(org, name)| format!("{org}/{name}"));
    from_layout.or_else(|| {
        let text = std::fs::read(dir.join("config.json")).ok()?;
        let config: NameOrPath = serde_json::from_slice(&text).ok()?;
        hub_id(&config.name_or_path)
    })
}

/// `org/name` from a hub id or a huggingface.co URL (`https://huggingface.co/org/name/tree/main`).
pub(crate) fn hub_id(text: &str) -> Option<String> {
    let rest = ["https://huggingface.co/", "http://huggingface.co/", "https://hf.co/", "hf.co/", "huggingface.co/"]
        .iter()
        .find_map(|prefix| text.strip_prefix(prefix));
    let mut parts = rest.unwrap_or(text).split('/');
    let (org, name) = (parts.next()?, parts.next()?);
    // A bare id has exactly two parts; a URL may go on (`/tree/main`, `/blob/…`).
    let well_formed = |part: &str| {
        !part.is_empty()
            && !part.starts_with('.')
            && part.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    };
    (well_formed(org) && well_formed(name) && (rest.is_some() || parts.next().is_none()))
        .then(|| format!("{org}/{name}"))
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
    (dir.is_dir() && dir.join("config.json").is_file()).then_some(dir)
}

/// Downloads what loading needs (config, weights — every shard of a sharded index —, tokenizer)
/// into the cache and returns the snapshot directory.
fn download(id: &str, hub: &Hub) -> Result<PathBuf> {
    let Hub { cache, endpoint } = hub;
    let unreachable = |file: &str, error: &dyn std::fmt::Display| Error::NotFound {
        id: id.into(),
        message: format!(
            "not in the local Hugging Face cache ({}), and fetching {file} from {endpoint} failed: {error}",
            cache.display()
        ),
    };
    let api = ApiBuilder::new()
        .with_endpoint(endpoint.clone())
        .with_cache_dir(cache.clone())
        .with_progress(false)
        .with_retries(1)
        .build()
        .map_err(|e| unreachable("anything", &e))?;
    let repo = api.model(id.to_owned());
    let get = |repo: &ApiRepo, file: &str| repo.get(file).map_err(|e| unreachable(file, &e));
    let config = get(&repo, "config.json")?;
    match repo.get("model.safetensors.index.json") {
        Ok(index) => {
            for shard in crate::safetensors::shards(&index)? {
                get(&repo, &shard)?;
            }
        }
        Err(_) => {
            get(&repo, "model.safetensors")?;
        }
    }
    get(&repo, "tokenizer.json")?;
    // Optional: the chat template and special tokens.
    let _ = repo.get("tokenizer_config.json");
    Ok(config.parent().map_or_else(|| cache.clone(), Path::to_owned))
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
        std::fs::write(repo.join("snapshots/abc123/config.json"), "{}").expect("write");
        std::fs::write(repo.join("refs/main"), "abc123\n").expect("write");
        assert_eq!(snapshot(cache.path(), "Qwen/Tiny"), Some(repo.join("snapshots/abc123")));
        assert_eq!(snapshot(cache.path(), "Qwen/Other"), None);
        assert_eq!(repo_of_dir(&repo.join("snapshots/abc123")).as_deref(), Some("Qwen/Tiny"));
    }

    #[test]
    fn hub_ids_from_ids_and_urls() {
        for (text, id) in [
            ("HuggingFaceTB/SmolLM2-135M-Instruct", Some("HuggingFaceTB/SmolLM2-135M-Instruct")),
            ("https://huggingface.co/Qwen/Qwen2.5-Coder-1.5B-Instruct", Some("Qwen/Qwen2.5-Coder-1.5B-Instruct")),
            ("https://huggingface.co/Qwen/Qwen2.5-0.5B/tree/main", Some("Qwen/Qwen2.5-0.5B")),
            ("models/base/model.gguf", None),
            ("../x/y", None),
            ("single", None),
        ] {
            assert_eq!(hub_id(text).as_deref(), id, "{text}");
        }
    }
}
