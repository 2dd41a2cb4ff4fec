//! The adapter directory (DESIGN §5), defined once for the trainer that writes it and everything
//! that reads it: `adapter_model.safetensors` under PEFT's key names, `adapter_config.json`
//! ([`AdapterConfig`]), `metadata.json` ([`AdapterMetadata`]: provenance, hyperparameters, metrics,
//! checksums) and a model card. [`verify`] checks a directory against a base; [`attach`] puts
//! its LoRA weights on a loaded model's linear layers, unmerged.

mod config;
mod metadata;
mod verify;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use burn::tensor::{Tensor, TensorData};

pub use config::{AdapterConfig, PeftType};
pub use metadata::{AdapterMetadata, BaseModelRecord, BestCheckpoint, DatasetRecord, Metrics};
pub use verify::{BaseModel, Verification, verify};

use crate::error::{Error, Result};
use crate::linear::Lora;
use crate::model::{Transformer, linear_layers_mut};
use crate::safetensors::SafetensorsFile;

/// PEFT's prefix of every adapter key.
pub const PEFT_PREFIX: &str = "base_model.model.";
pub const WEIGHTS: &str = "adapter_model.safetensors";
pub const CONFIG: &str = "adapter_config.json";
pub const METADATA: &str = "metadata.json";
pub const CARD: &str = "README.md";

/// PEFT's name of a LoRA weight: `part` is `lora_A` or `lora_B`.
pub fn peft_key(module: &str, part: &str) -> String {
    format!("{PEFT_PREFIX}{module}.{part}.weight")
}

/// Attaches the adapter in `dir` to `model`. Every tensor must belong to a layer of the model and
/// have the shape that layer needs; every A must have its B.
pub fn attach(model: &mut Transformer, dir: &Path) -> Result<AdapterConfig> {
    let config = AdapterConfig::read(&dir.join(CONFIG))?;
    let weights = SafetensorsFile::read(&dir.join(WEIGHTS))?;
    let mut pending: BTreeSet<String> = weights.names().into_iter().collect();
    let device = model.device();
    let scale = config.scale();
    let tensor = |name: &str, shape: [usize; 2]| -> Result<Option<Tensor<2>>> {
        let Some(stored) = weights.get(name) else { return Ok(None) };
        if stored.shape != shape {
            return Err(Error::mismatch(
                weights.path(),
                format!("tensor `{name}` has shape {:?}, the model needs {shape:?}", stored.shape),
            ));
        }
        Ok(Some(Tensor::from_data(TensorData::new(stored.values, shape), &device)))
    };
    for (module, linear) in linear_layers_mut(model) {
        let (a_key, b_key) = (peft_key(&module, "lora_A"), peft_key(&module, "lora_B"));
        let [out_features, in_features] = linear.shape();
        match (tensor(&a_key, [config.r, in_features])?, tensor(&b_key, [out_features, config.r])?) {
            (None, None) => {}
            (Some(a), Some(b)) => {
                linear.lora = Some(Lora::from_tensors(a, b, scale, config.lora_dropout));
                pending.remove(&a_key);
                pending.remove(&b_key);
            }
            (a, _) => {
                let missing = if a.is_none() { a_key } else { b_key };
                return Err(Error::mismatch(
                    weights.path(),
                    format!("missing tensor `{missing}` (LoRA A and B come in pairs)"),
                ));
            }
        }
    }
    if let Some(extra) = pending.first() {
        return Err(Error::mismatch(
            weights.path(),
            format!("tensor `{extra}` matches no layer of the model ({} unmatched)", pending.len()),
        ));
    }
    Ok(config)
}

/// `sha256:<hex>` of `bytes`, as `metadata.json`'s checksums record it.
pub fn checksum(bytes: &[u8]) -> String {
    format!("sha256:{}", codi_files::sha256_hex(bytes))
}

/// sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String> {
    codi_files::sha256_file(path).map_err(|e| Error::io(path, e))
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
    Ok(codi_files::sha256_hex(lines.as_bytes()))
}
