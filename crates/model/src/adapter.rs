//! PEFT LoRA adapters (`adapter_config.json` + `adapter_model.safetensors`) attached to a loaded
//! model's linear layers, unmerged.

use std::collections::BTreeMap;
use std::path::Path;

use burn::tensor::{Tensor, TensorData};
use serde_json::Value as Json;

use crate::error::{Error, Result};
use crate::linear::{Linear, Lora};
use crate::model::Transformer;

/// PEFT's prefix of every adapter key.
pub const PEFT_PREFIX: &str = "base_model.model.";

/// What an adapter directory declares.
#[derive(Debug, Clone, PartialEq)]
pub struct AdapterConfig {
    pub rank: usize,
    pub alpha: f64,
    pub dropout: f64,
    pub target_modules: Vec<String>,
    pub use_rslora: bool,
}

impl AdapterConfig {
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let json: Json =
            serde_json::from_slice(&text).map_err(|source| Error::Json { path: path.to_owned(), source })?;
        if json.get("peft_type").and_then(Json::as_str) != Some("LORA") {
            return Err(Error::format(path, "peft_type", "only LORA adapters are supported"));
        }
        let rank = json
            .get("r")
            .and_then(Json::as_u64)
            .filter(|&r| r > 0)
            .ok_or_else(|| Error::format(path, "r", "missing or not a positive integer"))?;
        let alpha = json
            .get("lora_alpha")
            .and_then(Json::as_f64)
            .ok_or_else(|| Error::format(path, "lora_alpha", "missing or not a number"))?;
        let target_modules = match json.get("target_modules") {
            Some(Json::Array(items)) => items.iter().filter_map(Json::as_str).map(str::to_owned).collect(),
            Some(Json::String(one)) => vec![one.clone()],
            _ => return Err(Error::format(path, "target_modules", "missing")),
        };
        Ok(Self {
            rank: usize::try_from(rank).unwrap_or(usize::MAX),
            alpha,
            dropout: json.get("lora_dropout").and_then(Json::as_f64).unwrap_or(0.0),
            target_modules,
            use_rslora: json.get("use_rslora").and_then(Json::as_bool).unwrap_or(false),
        })
    }

    /// The factor PEFT multiplies B·A by.
    pub fn scale(&self) -> f64 {
        if self.use_rslora { self.alpha / (self.rank as f64).sqrt() } else { self.alpha / self.rank as f64 }
    }
}

/// Every adaptable linear layer with its HF module path (`model.layers.0.self_attn.q_proj` …).
pub fn linear_layers_mut(model: &mut Transformer) -> Vec<(String, &mut Linear)> {
    let mut out = Vec::new();
    for (i, block) in model.layers.iter_mut().enumerate() {
        let p = format!("model.layers.{i}");
        let attn = &mut block.self_attn;
        out.push((format!("{p}.self_attn.q_proj"), &mut attn.q_proj));
        out.push((format!("{p}.self_attn.k_proj"), &mut attn.k_proj));
        out.push((format!("{p}.self_attn.v_proj"), &mut attn.v_proj));
        out.push((format!("{p}.self_attn.o_proj"), &mut attn.o_proj));
        let mlp = &mut block.mlp;
        out.push((format!("{p}.mlp.gate_proj"), &mut mlp.gate_proj));
        out.push((format!("{p}.mlp.up_proj"), &mut mlp.up_proj));
        out.push((format!("{p}.mlp.down_proj"), &mut mlp.down_proj));
    }
    out
}

/// Attaches the adapter in `dir` to `model`. Every tensor must belong to a layer of the model and
/// have the shape that layer needs; every A must have its B.
pub fn attach_adapter(model: &mut Transformer, dir: &Path) -> Result<AdapterConfig> {
    let config = AdapterConfig::read(&dir.join("adapter_config.json"))?;
    let weights_path = dir.join("adapter_model.safetensors");
    let bytes = std::fs::read(&weights_path).map_err(|e| Error::io(&weights_path, e))?;
    let header = crate::safetensors::Header::parse(&weights_path, &bytes)?;
    let mut pending: BTreeMap<String, Option<Tensor<2>>> = header.tensors.keys().map(|k| (k.clone(), None)).collect();
    let device = model.device();
    let scale = config.scale();
    for (module, linear) in linear_layers_mut(model) {
        let key = |part: &str| format!("{PEFT_PREFIX}{module}.{part}.weight");
        let (a_key, b_key) = (key("lora_A"), key("lora_B"));
        match (header.tensors.get(&a_key), header.tensors.get(&b_key)) {
            (None, None) => {}
            (Some(a), Some(b)) => {
                let [out_features, in_features] = linear.shape();
                let (expected_a, expected_b) = (vec![config.rank, in_features], vec![out_features, config.rank]);
                for (name, entry, expected) in [(&a_key, a, &expected_a), (&b_key, b, &expected_b)] {
                    if &entry.shape != expected {
                        return Err(Error::mismatch(
                            &weights_path,
                            format!("tensor `{name}` has shape {:?}, the model needs {expected:?}", entry.shape),
                        ));
                    }
                }
                let tensor = |entry: &crate::safetensors::TensorEntry| {
                    let values = crate::safetensors::to_f32(entry.dtype, &bytes[entry.start..entry.end]);
                    Tensor::<2>::from_data(TensorData::new(values, [entry.shape[0], entry.shape[1]]), &device)
                };
                linear.lora = Some(Lora::from_tensors(tensor(a), tensor(b), scale, config.dropout));
                pending.remove(&a_key);
                pending.remove(&b_key);
            }
            (a, _) => {
                let missing = if a.is_none() { a_key } else { b_key };
                return Err(Error::mismatch(
                    &weights_path,
                    format!("missing tensor `{missing}` (LoRA A and B come in pairs)"),
                ));
            }
        }
    }
    if let Some(extra) = pending.keys().next() {
        return Err(Error::mismatch(
            &weights_path,
            format!("tensor `{extra}` matches no layer of the model ({} unmatched)", pending.len()),
        ));
    }
    Ok(config)
}
