//! `codi adapter verify`: an adapter directory is accepted only when its metadata is complete,
//! every checksum holds, its keys are exactly PEFT's for the configured targets, every shape fits
//! the base model, and no value is NaN or infinite. Every problem is reported, not the first.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use codi_model::safetensors::{self, Dtype, Header};
use codi_model::{AdapterConfig, PEFT_PREFIX, Transformer, linear_layers_mut};
use serde_json::Value as Json;

use crate::package::{CONFIG, METADATA, WEIGHTS, sha256_file};

/// What verify knows about the base model: its adaptable layers and the sha256 of its weights.
#[derive(Debug, Clone)]
pub struct BaseModel {
    /// HF module path → `[out, in]`.
    pub layers: BTreeMap<String, [usize; 2]>,
    pub sha256: String,
}

impl BaseModel {
    pub fn describe(model: &mut Transformer, sha256: String) -> Self {
        let layers = linear_layers_mut(model).into_iter().map(|(name, linear)| (name, linear.shape())).collect();
        Self { layers, sha256 }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Verification {
    pub problems: Vec<String>,
    pub tensors: usize,
    pub parameters: usize,
}

impl Verification {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

const METADATA_FIELDS: [&str; 10] = [
    "adapter_version",
    "created_at",
    "base_model",
    "dataset",
    "rules_version",
    "code_revision",
    "hyperparameters",
    "metrics",
    "checksums",
    "adapter_name",
];

pub fn verify(dir: &Path, base: Option<&BaseModel>) -> Verification {
    let mut v = Verification::default();
    let mut problem = |file: &str, message: String| v.problems.push(format!("{file}: {message}"));
    if !dir.is_dir() {
        problem(&dir.display().to_string(), "not a directory".into());
        return v;
    }
    let metadata = check_metadata(dir, base, &mut problem);
    check_checksums(dir, metadata.as_ref(), &mut problem);
    let config = match AdapterConfig::read(&dir.join(CONFIG)) {
        Ok(config) => Some(config),
        Err(e) => {
            problem(CONFIG, e.to_string());
            None
        }
    };
    if let Some(config) = config {
        let (tensors, parameters) = check_weights(dir, &config, base, &mut problem);
        (v.tensors, v.parameters) = (tensors, parameters);
    }
    v
}

fn check_metadata(dir: &Path, base: Option<&BaseModel>, problem: &mut impl FnMut(&str, String)) -> Option<Json> {
    let path = dir.join(METADATA);
    let metadata: Json = match std::fs::read(&path) {
        Err(e) => {
            problem(METADATA, format!("cannot read: {e}"));
            return None;
        }
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(json) => json,
            Err(e) => {
                problem(METADATA, format!("invalid JSON: {e}"));
                return None;
            }
        },
    };
    for field in METADATA_FIELDS {
        match metadata.get(field) {
            None | Some(Json::Null) => problem(METADATA, format!("missing field `{field}`")),
            Some(Json::String(s)) if s.trim().is_empty() => problem(METADATA, format!("field `{field}` is empty")),
            Some(_) => {}
        }
    }
    if let Some(created) = metadata.get("created_at").and_then(Json::as_str)
        && chrono::DateTime::parse_from_rfc3339(created).is_err()
    {
        problem(METADATA, format!("`created_at` is not an RFC 3339 time: {created}"));
    }
    let base_sha = metadata.pointer("/base_model/sha256").and_then(Json::as_str);
    if metadata.get("base_model").is_some() && !base_sha.is_some_and(is_sha256) {
        problem(METADATA, "`base_model.sha256` is missing or not a sha256".into());
    }
    if let (Some(base), Some(recorded)) = (base, base_sha)
        && recorded != base.sha256
    {
        problem(
            METADATA,
            format!("trained on a base model with sha256 {recorded}, the given base has {}", base.sha256),
        );
    }
    match metadata.get("dataset").and_then(Json::as_object) {
        Some(splits) if !splits.is_empty() => {
            for (split, entry) in splits {
                if !entry.get("sha256").and_then(Json::as_str).is_some_and(is_sha256) {
                    problem(METADATA, format!("`dataset.{split}.sha256` is missing or not a sha256"));
                }
            }
        }
        _ if metadata.get("dataset").is_some() => problem(METADATA, "`dataset` names no split".into()),
        _ => {}
    }
    if let Some(rules) = metadata.get("rules_version").and_then(Json::as_str)
        && !is_sha256(rules)
    {
        problem(METADATA, format!("`rules_version` is not a sha256: {rules}"));
    }
    Some(metadata)
}

fn check_checksums(dir: &Path, metadata: Option<&Json>, problem: &mut impl FnMut(&str, String)) {
    let Some(checksums) = metadata.and_then(|m| m.get("checksums")).and_then(Json::as_object) else { return };
    for required in [WEIGHTS, CONFIG] {
        if !checksums.contains_key(required) {
            problem(METADATA, format!("`checksums` has no entry for {required}"));
        }
    }
    for (file, recorded) in checksums {
        let Some(expected) = recorded.as_str().and_then(|s| s.strip_prefix("sha256:")).filter(|s| is_sha256(s)) else {
            problem(METADATA, format!("checksum of {file} is not `sha256:<64 hex digits>`"));
            continue;
        };
        if file.contains('/') || file.contains('\\') || file == METADATA {
            problem(METADATA, format!("checksum entry `{file}` does not name a file of the adapter"));
            continue;
        }
        match sha256_file(&dir.join(file)) {
            Ok(actual) if actual == expected => {}
            Ok(actual) => {
                problem(file, format!("checksum drift: metadata says sha256:{expected}, the file is sha256:{actual}"));
            }
            Err(e) => problem(file, format!("cannot check its checksum: {e}")),
        }
    }
}

/// Checks keys, shapes, dtypes and values; returns (tensors, parameters).
fn check_weights(
    dir: &Path,
    config: &AdapterConfig,
    base: Option<&BaseModel>,
    problem: &mut impl FnMut(&str, String),
) -> (usize, usize) {
    let path = dir.join(WEIGHTS);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) => {
            problem(WEIGHTS, format!("cannot read: {e}"));
            return (0, 0);
        }
    };
    let header = match Header::parse(&path, &bytes) {
        Ok(header) => header,
        Err(e) => {
            problem(WEIGHTS, e.to_string());
            return (0, 0);
        }
    };
    let targets: BTreeSet<&str> = config.target_modules.iter().map(String::as_str).collect();
    let layer_of = |module: &str| module.rsplit('.').next().is_some_and(|last| targets.contains(last));
    // The modules the adapter must cover: the base's targeted layers, or (without a base) every
    // target of every layer index the file mentions.
    let mut expected: BTreeMap<String, Option<[usize; 2]>> = BTreeMap::new();
    match base {
        Some(base) => {
            for (module, shape) in base.layers.iter().filter(|(m, _)| layer_of(m)) {
                expected.insert(module.clone(), Some(*shape));
            }
        }
        None => {
            for key in header.tensors.keys() {
                if let Some(module) = module_of(key)
                    && let Some((layer, _)) = module.rsplit_once('.').and_then(|(p, _)| p.rsplit_once('.'))
                {
                    for target in &targets {
                        let kind =
                            if matches!(*target, "gate_proj" | "up_proj" | "down_proj") { "mlp" } else { "self_attn" };
                        expected.entry(format!("{layer}.{kind}.{target}")).or_insert(None);
                    }
                }
            }
        }
    }
    let mut parameters = 0;
    for (key, entry) in &header.tensors {
        let Some(module) = module_of(key).filter(|m| expected.contains_key(*m)) else {
            problem(
                WEIGHTS,
                format!("unexpected tensor `{key}` (not a LoRA weight of a targeted layer of the base model)"),
            );
            continue;
        };
        if entry.dtype != Dtype::F32 {
            problem(
                WEIGHTS,
                format!("`{key}` is {}, expected F32 (adapter weights are kept in fp32)", entry.dtype.name()),
            );
        }
        let is_a = key.ends_with(".lora_A.weight");
        let shape_ok = match (entry.shape.as_slice(), expected[module]) {
            ([rows, cols], Some([out, inp])) => {
                if is_a {
                    *rows == config.rank && *cols == inp
                } else {
                    *rows == out && *cols == config.rank
                }
            }
            ([rows, cols], None) => {
                if is_a {
                    *rows == config.rank
                } else {
                    *cols == config.rank
                }
            }
            _ => false,
        };
        if !shape_ok {
            let want = match expected[module] {
                Some([_, inp]) if is_a => format!("[{}, {inp}]", config.rank),
                Some([out, _]) => format!("[{out}, {}]", config.rank),
                None if is_a => format!("[{}, in]", config.rank),
                None => format!("[out, {}]", config.rank),
            };
            problem(
                WEIGHTS,
                format!("`{key}` has shape {:?}, the base model and r = {} need {want}", entry.shape, config.rank),
            );
        }
        let values = safetensors::to_f32(entry.dtype, &bytes[entry.start..entry.end]);
        let bad = values.iter().filter(|v| !v.is_finite()).count();
        if bad > 0 {
            problem(WEIGHTS, format!("`{key}` has {bad} NaN or infinite values"));
        }
        parameters += values.len();
    }
    for module in expected.keys() {
        for part in ["lora_A", "lora_B"] {
            let key = format!("{PEFT_PREFIX}{module}.{part}.weight");
            if !header.tensors.contains_key(&key) {
                problem(WEIGHTS, format!("missing tensor `{key}`"));
            }
        }
    }
    (header.tensors.len(), parameters)
}

/// `base_model.model.<module>.lora_{A,B}.weight` → `<module>`.
fn module_of(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(PEFT_PREFIX)?;
    rest.strip_suffix(".lora_A.weight").or_else(|| rest.strip_suffix(".lora_B.weight"))
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}
