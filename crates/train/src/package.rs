//! The adapter directory (DESIGN §5): `adapter_model.safetensors` under PEFT's key names,
//! `adapter_config.json` as PEFT writes it, a model card, and `metadata.json` with provenance,
//! hyperparameters, metrics and the sha256 of every other file.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use codi_model::safetensors::{self, Dtype, NamedTensor};
use serde::Serialize;
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::trainer::Trainer;

pub(crate) const WEIGHTS: &str = "adapter_model.safetensors";
pub(crate) const CONFIG: &str = "adapter_config.json";
pub(crate) const METADATA: &str = "metadata.json";
pub(crate) const CARD: &str = "README.md";

/// Where an adapter came from; recorded in `metadata.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Provenance {
    /// The base model as configured (path or hub id) and the sha256 of its weights.
    pub base_model: String,
    pub base_sha256: String,
    /// Split name → (path, sha256).
    pub datasets: BTreeMap<String, (PathBuf, String)>,
    /// sha256 of `patterns/rules.yml`, the catalog the pairs were made from.
    pub rules_version: String,
    pub code_revision: String,
}

/// The trained adapters as PEFT names them.
pub(crate) fn adapter_tensors(trainer: &mut Trainer) -> Vec<NamedTensor> {
    let names = trainer.parameter_names();
    names.into_iter().zip(trainer.parameters()).map(|(name, tensor)| safetensors::named(name, tensor)).collect()
}

/// `adapter_config.json` with the fields PEFT's `LoraConfig` writes.
pub(crate) fn adapter_config_json(config: &TrainConfig) -> Vec<u8> {
    let lora = &config.lora;
    let value = json!({
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": config.model.base,
        "revision": null,
        "inference_mode": true,
        "r": lora.r,
        "lora_alpha": lora.alpha,
        "lora_dropout": lora.dropout,
        "target_modules": lora.target_modules,
        "bias": lora.bias,
        "fan_in_fan_out": false,
        "init_lora_weights": true,
        "use_rslora": false,
        "use_dora": false,
        "modules_to_save": null,
        "layers_to_transform": null,
        "layers_pattern": null,
        "rank_pattern": {},
        "alpha_pattern": {},
    });
    serde_json::to_vec_pretty(&value).unwrap_or_default()
}

/// Writes the adapter directory `dir` (replacing it whole).
pub fn package(trainer: &mut Trainer, dir: &Path, provenance: &Provenance, metrics: &Json) -> Result<()> {
    let config = trainer.config.clone();
    let weights = safetensors::to_bytes(&adapter_tensors(trainer), Dtype::F32, &BTreeMap::new());
    let mut files = vec![
        (WEIGHTS, weights),
        (CONFIG, adapter_config_json(&config)),
        (CARD, model_card(&config, provenance, metrics).into_bytes()),
    ];
    let checksums: BTreeMap<&str, String> =
        files.iter().map(|(name, bytes)| (*name, format!("sha256:{:x}", Sha256::digest(bytes)))).collect();
    let datasets: BTreeMap<&String, Json> =
        provenance.datasets.iter().map(|(split, (path, sha))| (split, json!({"path": path, "sha256": sha}))).collect();
    let metadata = json!({
        "adapter_name": config.model.adapter_name,
        "adapter_version": config.model.adapter_version,
        "created_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "base_model": {"name": provenance.base_model, "sha256": provenance.base_sha256},
        "dataset": datasets,
        "rules_version": provenance.rules_version,
        "code_revision": provenance.code_revision,
        "hyperparameters": config,
        "metrics": metrics,
        "checksums": checksums,
    });
    files.push((METADATA, serde_json::to_vec_pretty(&metadata).unwrap_or_default()));
    write_dir_atomically(dir, &files)
}

fn model_card(config: &TrainConfig, provenance: &Provenance, metrics: &Json) -> String {
    let (lora, t) = (&config.lora, &config.training);
    let mut card = String::new();
    let _ = writeln!(
        card,
        "---\nlibrary_name: peft\nbase_model: {}\ntags: [lora, qlora, codi, dockerfile]\n---\n",
        config.model.base
    );
    let _ = writeln!(card, "# {} {}\n", config.model.adapter_name, config.model.adapter_version);
    let _ = writeln!(
        card,
        "A LoRA adapter for `{}` that ranks rule-rendered Dockerfile candidates, chooses the rule that fits and \
         explains why. It never writes Dockerfile text: rules and templates do. Trained by `codi train`.\n",
        config.model.base
    );
    let _ = writeln!(card, "## Training\n");
    let _ = writeln!(card, "| setting | value |\n|---|---|");
    for (name, value) in [
        (
            "LoRA",
            format!(
                "r {}, alpha {}, dropout {}, targets {}",
                lora.r,
                lora.alpha,
                lora.dropout,
                lora.target_modules.join(", ")
            ),
        ),
        (
            "base weights",
            format!("{} (frozen), compute {:?}", config.quantization.mode, config.quantization.compute_dtype),
        ),
        (
            "optimizer",
            format!(
                "AdamW, lr {}, {:?} schedule, warmup {}, weight decay {}",
                t.learning_rate, t.lr_scheduler, t.warmup_ratio, t.weight_decay
            ),
        ),
        (
            "batch",
            format!("{} × {} accumulation, max {} tokens", t.batch_size, t.gradient_accumulation, t.max_seq_length),
        ),
        ("data", format!("{:?} style, tasks {}", config.data.style, config.data.tasks.join(", "))),
        ("seed", t.seed.to_string()),
    ] {
        let _ = writeln!(card, "| {name} | {value} |");
    }
    let _ =
        writeln!(card, "\n## Metrics\n\n```json\n{}\n```\n", serde_json::to_string_pretty(metrics).unwrap_or_default());
    let _ = writeln!(card, "## Provenance\n");
    let _ = writeln!(card, "- base model sha256: `{}`", provenance.base_sha256);
    for (split, (path, sha)) in &provenance.datasets {
        let _ = writeln!(card, "- {split} split: `{}` (sha256 `{sha}`)", path.display());
    }
    let _ = writeln!(
        card,
        "- rules catalog sha256: `{}`\n- code: {}\n",
        provenance.rules_version, provenance.code_revision
    );
    let _ = writeln!(
        card,
        "## Use\n\n```sh\ncodi adapter verify <this directory> --base {base}\ncodi generate --model {base} --adapter <this directory> --chat \"…\"\n```\n\n\
         `metadata.json` holds the sha256 of every other file; `codi adapter verify` refuses the directory when one drifts.",
        base = config.model.base
    );
    card
}

/// sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|e| Error::io(path, e))?;
    Ok(format!("{:x}", hasher.finalize()))
}

/// sha256 of a model: of the GGUF file, or for a directory of the `name sha256` lines of its
/// `config.json` and weight files, sorted.
pub fn sha256_model(path: &Path) -> Result<String> {
    if path.is_file() {
        return sha256_file(path);
    }
    let entries = std::fs::read_dir(path).map_err(|e| Error::io(path, e))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n == "config.json" || n.ends_with(".safetensors"))
        })
        .collect();
    files.sort();
    let mut lines = String::new();
    for file in files {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let _ = writeln!(lines, "{name} {}", sha256_file(&file)?);
    }
    Ok(format!("{:x}", Sha256::digest(lines.as_bytes())))
}

/// Writes `files` into a temporary sibling of `dir`, then swaps it in: readers see the old
/// directory or the new one, never a mix.
pub(crate) fn write_dir_atomically(dir: &Path, files: &[(&str, Vec<u8>)]) -> Result<()> {
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    let old = parent.join(format!(".{name}.old-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp)?;
        for (file, bytes) in files {
            std::fs::write(tmp.join(file), bytes)?;
        }
        if dir.exists() {
            std::fs::rename(dir, &old)?;
        }
        std::fs::rename(&tmp, dir)?;
        let _ = std::fs::remove_dir_all(&old);
        Ok(())
    };
    write().map_err(|e| {
        let _ = std::fs::remove_dir_all(&tmp);
        Error::io(dir, e)
    })
}

/// The code's version: the crate version and, inside a git checkout, the commit (`-dirty` with
/// local changes).
pub fn code_revision() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let version = env!("CARGO_PKG_VERSION");
    match git(&["rev-parse", "HEAD"]) {
        Some(commit) => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
            format!("codi {version} (git {commit}{})", if dirty { "-dirty" } else { "" })
        }
        None => format!("codi {version}"),
    }
}
