//! `metadata.json`: where an adapter came from (base, data, rules, code), how it was trained and
//! how that went, and the sha256 of every other file of the directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdapterMetadata {
    pub adapter_name: String,
    pub adapter_version: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub base_model: BaseModelRecord,
    /// Split name → file.
    pub dataset: BTreeMap<String, DatasetRecord>,
    /// The version of the rules catalog (`patterns/rules.yml`) the pairs were made from: its
    /// sha256 without the `llm_assist.promotions` block.
    pub rules_version: String,
    pub code_revision: String,
    /// The trainer's whole configuration, as it ran.
    pub hyperparameters: Json,
    pub metrics: Metrics,
    /// File name → `sha256:<hex>`.
    pub checksums: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseModelRecord {
    /// The Hugging Face repo id when known (what `adapter_config.json` names), else as configured.
    pub name: String,
    /// As configured: the GGUF file, model directory or hub id trained on (absent in adapters
    /// written before it was recorded, whose `name` is the configured one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Of the GGUF file, or of a directory's config and weights (see [`super::sha256_model`]).
    pub sha256: String,
}

impl BaseModelRecord {
    /// What to load to get the base back.
    pub fn spec(&self) -> &str {
        self.path.as_deref().unwrap_or(&self.name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetRecord {
    pub path: PathBuf,
    pub sha256: String,
}

/// How a run went, the whole run's curve included when it was resumed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub steps: usize,
    pub epochs: usize,
    pub tokens: u64,
    /// Mean training loss over the last logging window.
    pub train_loss: Option<f64>,
    pub val_loss: Option<f64>,
    /// (step, validation loss) of every evaluation.
    pub val_losses: Vec<(usize, f64)>,
    pub best_checkpoint: Option<BestCheckpoint>,
    pub tokens_per_second: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BestCheckpoint {
    pub step: usize,
    pub val_loss: f64,
}

impl AdapterMetadata {
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        serde_json::from_slice(&text).map_err(|source| Error::Json { path: path.to_owned(), source })
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("adapter metadata serializes")
    }
}
