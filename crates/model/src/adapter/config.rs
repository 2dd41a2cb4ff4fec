//! `adapter_config.json`: PEFT's `LoraConfig` as PEFT writes it and reads it back.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value as Json;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeftType {
    #[serde(rename = "LORA")]
    Lora,
}

/// The fields inference reads are typed; PEFT's others (`init_lora_weights`, `modules_to_save`,
/// `layers_to_transform` …, which change nothing once trained) are kept as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdapterConfig {
    pub peft_type: PeftType,
    pub task_type: Option<String>,
    /// The base's Hugging Face repo id, which PEFT's `AutoPeftModelForCausalLM` loads.
    pub base_model_name_or_path: Option<String>,
    #[serde(default)]
    pub revision: Option<String>,
    #[serde(default)]
    pub inference_mode: bool,
    pub r: usize,
    pub lora_alpha: f64,
    #[serde(default)]
    pub lora_dropout: f64,
    /// A list, or one name (PEFT also accepts a string).
    #[serde(deserialize_with = "one_or_many")]
    pub target_modules: Vec<String>,
    #[serde(default = "no_bias")]
    pub bias: String,
    #[serde(default)]
    pub fan_in_fan_out: bool,
    #[serde(default)]
    pub use_rslora: bool,
    #[serde(default)]
    pub use_dora: bool,
    #[serde(default)]
    pub rank_pattern: BTreeMap<String, Json>,
    #[serde(default)]
    pub alpha_pattern: BTreeMap<String, Json>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Json>,
}

fn no_bias() -> String {
    "none".into()
}

fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(name) => vec![name],
        OneOrMany::Many(names) => names,
    })
}

impl AdapterConfig {
    /// A LoRA adapter of a causal LM, with PEFT's defaults for everything else.
    pub fn lora(base: String, r: usize, alpha: f64, dropout: f64, target_modules: Vec<String>) -> Self {
        let other = [("init_lora_weights", Json::Bool(true))]
            .into_iter()
            .chain(["modules_to_save", "layers_to_transform", "layers_pattern"].map(|key| (key, Json::Null)))
            .map(|(key, value)| (key.to_owned(), value))
            .collect();
        Self {
            peft_type: PeftType::Lora,
            task_type: Some("CAUSAL_LM".into()),
            base_model_name_or_path: Some(base),
            revision: None,
            inference_mode: true,
            r,
            lora_alpha: alpha,
            lora_dropout: dropout,
            target_modules,
            bias: no_bias(),
            fan_in_fan_out: false,
            use_rslora: false,
            use_dora: false,
            rank_pattern: BTreeMap::new(),
            alpha_pattern: BTreeMap::new(),
            other,
        }
    }

    /// Reads and checks what inference depends on: a positive rank, one rank and alpha for
    /// every layer, plain LoRA (no DoRA, no bias), weights stored `[out, in]`.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let config: Self =
            serde_json::from_slice(&text).map_err(|source| Error::Json { path: path.to_owned(), source })?;
        let unsupported = [
            (config.r == 0, "r", "must be a positive integer"),
            (!config.rank_pattern.is_empty(), "rank_pattern", "per-module ranks are not supported"),
            (!config.alpha_pattern.is_empty(), "alpha_pattern", "per-module alphas are not supported"),
            (config.use_dora, "use_dora", "DoRA adapters are not supported"),
            (config.bias != "none", "bias", "only `none` is supported"),
            (config.fan_in_fan_out, "fan_in_fan_out", "only `[out, in]` weights (false) are supported"),
        ];
        match unsupported.iter().find(|(bad, ..)| *bad) {
            Some((_, field, message)) => Err(Error::format(path, *field, *message)),
            None => Ok(config),
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("an adapter config serializes")
    }

    /// The factor PEFT multiplies B·A by.
    pub fn scale(&self) -> f64 {
        if self.use_rslora { self.lora_alpha / (self.r as f64).sqrt() } else { self.lora_alpha / self.r as f64 }
    }
}
