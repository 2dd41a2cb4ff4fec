//! Packaging a finished run as an adapter directory (the format of `codi_model::adapter`): the
//! LoRA weights, `adapter_config.json`, a model card, and `metadata.json` with the provenance,
//! hyperparameters, metrics and checksums; then verifying it against the base.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use codi_model::adapter::{
    AdapterConfig, AdapterMetadata, BaseModel, BaseModelRecord, BestCheckpoint, CARD, CONFIG, DatasetRecord, METADATA,
    Metrics, Verification, WEIGHTS, checksum, sha256_file, verify,
};
use codi_model::safetensors::{Dtype, NamedTensor, named, to_bytes};

use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::trainer::Trainer;

/// A packaged, verified adapter.
#[derive(Debug, Clone)]
pub struct Packaged {
    pub dir: PathBuf,
    /// The base it was verified against.
    pub base: BaseModel,
    pub verification: Verification,
}

impl Trainer {
    /// Writes the adapter directory (`<output.adapters>/<adapter_name>/`, replaced whole):
    /// metrics from the run's state, provenance from the configuration, the base, and the rules
    /// catalog at `rules`; then verifies it against the base, an error unless it holds.
    pub fn package(&mut self, rules: &Path) -> Result<Packaged> {
        let base = BaseModel::describe(&mut self.model, &self.source, self.repo.as_deref())?;
        let config = &self.config;
        let mut dataset = BTreeMap::new();
        for (split, path) in [("train", &config.data.train), ("val", &config.data.val)] {
            dataset.insert(split.to_owned(), DatasetRecord { path: path.clone(), sha256: sha256_file(path)? });
        }
        let state = &self.state;
        let metrics = Metrics {
            steps: state.step,
            epochs: state.epoch,
            tokens: state.tokens,
            train_loss: state.train_loss(config.training.logging_steps),
            val_loss: state.val_loss().map(|(_, loss)| loss),
            val_losses: state.val_losses.clone(),
            best_checkpoint: state.best.map(|(step, val_loss)| BestCheckpoint { step, val_loss }),
            tokens_per_second: state.tokens_per_second(),
        };
        let name = base.repo.clone().unwrap_or_else(|| config.model.base.clone());
        let mut metadata = AdapterMetadata {
            adapter_name: config.model.adapter_name.clone(),
            adapter_version: config.model.adapter_version.clone(),
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            base_model: BaseModelRecord {
                name: name.clone(),
                path: Some(config.model.base.clone()),
                sha256: base.sha256.clone(),
            },
            dataset,
            rules_version: codi_core::catalog::rules_version(rules)?,
            code_revision: codi_files::code_revision(),
            hyperparameters: serde_json::to_value(config).expect("a configuration serializes"),
            metrics,
            checksums: BTreeMap::new(),
        };
        let mut files = vec![
            (WEIGHTS, self.adapter_weights()?),
            (CONFIG, self.adapter_config(name).to_json()),
            (CARD, model_card(&self.config, &metadata).into_bytes()),
        ];
        metadata.checksums = files.iter().map(|(file, bytes)| ((*file).to_owned(), checksum(bytes))).collect();
        files.push((METADATA, metadata.to_json()));
        let dir = self.config.adapter_dir();
        write_dir_atomically(&dir, &files)?;
        let verification = verify(&dir, Some(&base)).into_result()?;
        Ok(Packaged { dir, base, verification })
    }

    /// `adapter_config.json` of this run's adapter, naming `base` as its base.
    pub(crate) fn adapter_config(&self, base: String) -> AdapterConfig {
        let lora = &self.config.lora;
        AdapterConfig::lora(base, lora.r, lora.alpha, lora.dropout, lora.target_modules.clone())
    }

    /// `adapter_model.safetensors`: the trained adapters under PEFT's names.
    pub(crate) fn adapter_weights(&mut self) -> Result<Vec<u8>> {
        let names = self.parameter_names();
        let tensors: Vec<NamedTensor> =
            names.into_iter().zip(self.parameters()).map(|(name, tensor)| named(name, tensor)).collect();
        Ok(to_bytes(&tensors, Dtype::F32, &BTreeMap::new())?)
    }
}

fn model_card(config: &TrainConfig, metadata: &AdapterMetadata) -> String {
    let (lora, t) = (&config.lora, &config.training);
    let base = &metadata.base_model;
    let mut card = String::new();
    let _ = writeln!(
        card,
        "---\nlibrary_name: peft\nbase_model: {}\ntags: [lora, qlora, codi, dockerfile]\n---\n",
        base.name
    );
    let _ = writeln!(card, "# {} {}\n", metadata.adapter_name, metadata.adapter_version);
    let _ = writeln!(
        card,
        "A LoRA adapter for `{}` that ranks rule-rendered Dockerfile candidates, chooses the rule that fits and \
         explains why. It never writes Dockerfile text: rules and templates do. Trained by `codi train`.\n",
        base.name
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
            format!("{} (frozen), compute {:?}", config.quantization.mode.name(), config.quantization.compute_dtype),
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
    let metrics = serde_json::to_string_pretty(&metadata.metrics).unwrap_or_default();
    let _ = writeln!(card, "\n## Metrics\n\n```json\n{metrics}\n```\n");
    let _ = writeln!(card, "## Provenance\n");
    let _ = writeln!(card, "- base model: `{}` (sha256 `{}`)", base.spec(), base.sha256);
    for (split, record) in &metadata.dataset {
        let _ = writeln!(card, "- {split} split: `{}` (sha256 `{}`)", record.path.display(), record.sha256);
    }
    let _ =
        writeln!(card, "- rules catalog sha256: `{}`\n- code: {}\n", metadata.rules_version, metadata.code_revision);
    let _ = writeln!(
        card,
        "## Use\n\n```sh\ncodi adapter verify <this directory> --base {base}\ncodi generate --model {base} --adapter <this directory> --chat \"…\"\n```\n\n\
         `metadata.json` holds the sha256 of every other file; `codi adapter verify` refuses the directory when one drifts.",
        base = base.spec()
    );
    card
}

/// [`codi_files::write_dir_atomically`], the error naming the directory.
pub(crate) fn write_dir_atomically(dir: &Path, files: &[(&str, Vec<u8>)]) -> Result<()> {
    codi_files::write_dir_atomically(dir, files).map_err(|e| Error::io(dir, e))
}
