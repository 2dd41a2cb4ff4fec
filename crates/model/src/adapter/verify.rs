//! An adapter directory is accepted only when its metadata is complete, every checksum holds, its
//! keys are exactly PEFT's for the configured targets, every shape fits the base model, and no
//! value is NaN or infinite. Every problem is reported, not the first. A directory without
//! `metadata.json` (as PEFT itself writes them) is checked for everything but provenance, with a
//! warning, so that adapters trained in Python can be served.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{
    AdapterConfig, AdapterMetadata, CONFIG, METADATA, PEFT_PREFIX, WEIGHTS, peft_key, sha256_file, sha256_model,
};
use crate::error::{Error, Result};
use crate::model::{Transformer, linear_layers_mut};
use crate::safetensors::{Dtype, SafetensorsFile};

/// What an adapter is checked against, and what it records of its base: the adaptable layers,
/// the weights' sha256, and the Hugging Face repo they come from when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseModel {
    /// HF module path → `[out, in]`.
    pub layers: BTreeMap<String, [usize; 2]>,
    pub sha256: String,
    pub repo: Option<String>,
}

impl BaseModel {
    /// `model`'s layers, the sha256 of `source` (its GGUF file or directory), and `repo`, or the
    /// embedded default's repo when `source` is that model (its GGUF names none).
    pub fn describe(model: &mut Transformer, source: &Path, repo: Option<&str>) -> Result<Self> {
        let layers = linear_layers_mut(model).into_iter().map(|(name, linear)| (name, linear.shape())).collect();
        let sha256 = sha256_model(source)?;
        let repo = repo.or_else(|| crate::load::known_repo(&sha256)).map(str::to_owned);
        Ok(Self { layers, sha256, repo })
    }
}

#[derive(Debug, Clone, Default)]
pub struct Verification {
    pub dir: PathBuf,
    pub problems: Vec<String>,
    /// What holds but is worth saying (an adapter without provenance).
    pub warnings: Vec<String>,
    pub tensors: usize,
    pub parameters: usize,
    pub config: Option<AdapterConfig>,
    pub metadata: Option<AdapterMetadata>,
}

impl Verification {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The verification, or an error listing its problems.
    pub fn into_result(self) -> Result<Self> {
        if self.is_ok() { Ok(self) } else { Err(Error::Adapter { dir: self.dir, problems: self.problems }) }
    }
}

pub fn verify(dir: &Path, base: Option<&BaseModel>) -> Verification {
    let mut v = Verification { dir: dir.to_owned(), ..Verification::default() };
    if !dir.is_dir() {
        v.problems.push(format!("{}: not a directory", dir.display()));
        return v;
    }
    let mut problems = Vec::new();
    let mut problem = |file: &str, message: String| problems.push(format!("{file}: {message}"));
    v.metadata = check_metadata(dir, base, &mut problem, &mut v.warnings);
    if let Some(metadata) = &v.metadata {
        check_checksums(dir, metadata, &mut problem);
    }
    match AdapterConfig::read(&dir.join(CONFIG)) {
        Ok(config) => {
            (v.tensors, v.parameters) = check_weights(dir, &config, base, &mut problem);
            v.config = Some(config);
        }
        Err(e) => problem(CONFIG, e.to_string()),
    }
    v.problems = problems;
    v
}

fn check_metadata(
    dir: &Path,
    base: Option<&BaseModel>,
    problem: &mut impl FnMut(&str, String),
    warnings: &mut Vec<String>,
) -> Option<AdapterMetadata> {
    let bytes = match std::fs::read(dir.join(METADATA)) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            warnings.push(format!(
                "{METADATA}: absent (an adapter written by PEFT?): no provenance, so the base's sha256, the data and \
                 the checksums go unchecked; keys, shapes and values are checked"
            ));
            return None;
        }
        Err(e) => {
            problem(METADATA, format!("cannot read: {e}"));
            return None;
        }
    };
    let metadata: AdapterMetadata = match serde_json::from_slice(&bytes) {
        Ok(metadata) => metadata,
        Err(e) => {
            problem(METADATA, format!("not adapter metadata: {e}"));
            return None;
        }
    };
    let m = &metadata;
    for (field, value) in [
        ("adapter_name", &m.adapter_name),
        ("adapter_version", &m.adapter_version),
        ("created_at", &m.created_at),
        ("base_model.name", &m.base_model.name),
        ("rules_version", &m.rules_version),
        ("code_revision", &m.code_revision),
    ] {
        if value.trim().is_empty() {
            problem(METADATA, format!("field `{field}` is empty"));
        }
    }
    if !m.created_at.is_empty() && chrono::DateTime::parse_from_rfc3339(&m.created_at).is_err() {
        problem(METADATA, format!("`created_at` is not an RFC 3339 time: {}", m.created_at));
    }
    let recorded = &m.base_model.sha256;
    if !is_sha256(recorded) {
        problem(METADATA, "`base_model.sha256` is not a sha256".into());
    } else if let Some(base) = base
        && *recorded != base.sha256
    {
        problem(
            METADATA,
            format!("trained on a base model with sha256 {recorded}, the given base has {}", base.sha256),
        );
    }
    if m.dataset.is_empty() {
        problem(METADATA, "`dataset` names no split".into());
    }
    for (split, record) in &m.dataset {
        if !is_sha256(&record.sha256) {
            problem(METADATA, format!("`dataset.{split}.sha256` is not a sha256"));
        }
    }
    if !is_sha256(&m.rules_version) {
        problem(METADATA, format!("`rules_version` is not a sha256: {}", m.rules_version));
    }
    Some(metadata)
}

fn check_checksums(dir: &Path, metadata: &AdapterMetadata, problem: &mut impl FnMut(&str, String)) {
    let checksums = &metadata.checksums;
    for required in [WEIGHTS, CONFIG] {
        if !checksums.contains_key(required) {
            problem(METADATA, format!("`checksums` has no entry for {required}"));
        }
    }
    for (file, recorded) in checksums {
        let Some(expected) = recorded.strip_prefix("sha256:").filter(|s| is_sha256(s)) else {
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
    let weights = match SafetensorsFile::read(&dir.join(WEIGHTS)) {
        Ok(weights) => weights,
        Err(e) => {
            problem(WEIGHTS, e.to_string());
            return (0, 0);
        }
    };
    let names = weights.names();
    let targeted =
        |module: &str| module.rsplit('.').next().is_some_and(|last| config.target_modules.iter().any(|t| t == last));
    // The modules the adapter must cover: the base's targeted layers, or (without a base) every
    // target of every layer index the file mentions.
    let mut expected: BTreeMap<String, Option<[usize; 2]>> = BTreeMap::new();
    match base {
        Some(base) => {
            for (module, shape) in base.layers.iter().filter(|(m, _)| targeted(m)) {
                expected.insert(module.clone(), Some(*shape));
            }
        }
        None => {
            for name in &names {
                if let Some(module) = module_of(name)
                    && let Some((layer, _)) = module.rsplit_once('.').and_then(|(p, _)| p.rsplit_once('.'))
                {
                    for target in &config.target_modules {
                        let kind = if matches!(target.as_str(), "gate_proj" | "up_proj" | "down_proj") {
                            "mlp"
                        } else {
                            "self_attn"
                        };
                        expected.entry(format!("{layer}.{kind}.{target}")).or_insert(None);
                    }
                }
            }
        }
    }
    let r = config.r;
    let mut parameters = 0;
    for (key, tensor) in weights.tensors() {
        let Some(module) = module_of(&key).filter(|m| expected.contains_key(*m)) else {
            problem(
                WEIGHTS,
                format!("unexpected tensor `{key}` (not a LoRA weight of a targeted layer of the base model)"),
            );
            continue;
        };
        if tensor.dtype != Dtype::F32 {
            problem(
                WEIGHTS,
                format!("`{key}` is {}, expected F32 (adapter weights are kept in fp32)", tensor.dtype.name()),
            );
        }
        let is_a = key.ends_with(".lora_A.weight");
        let shape_ok = match (tensor.shape.as_slice(), expected[module]) {
            ([rows, cols], Some([out, inp])) => (*rows, *cols) == if is_a { (r, inp) } else { (out, r) },
            ([rows, cols], None) => {
                if is_a {
                    *rows == r
                } else {
                    *cols == r
                }
            }
            _ => false,
        };
        if !shape_ok {
            let want = match expected[module] {
                Some([_, inp]) if is_a => format!("[{r}, {inp}]"),
                Some([out, _]) => format!("[{out}, {r}]"),
                None if is_a => format!("[{r}, in]"),
                None => format!("[out, {r}]"),
            };
            problem(WEIGHTS, format!("`{key}` has shape {:?}, the base model and r = {r} need {want}", tensor.shape));
        }
        let bad = tensor.values.iter().filter(|v| !v.is_finite()).count();
        if bad > 0 {
            problem(WEIGHTS, format!("`{key}` has {bad} NaN or infinite values"));
        }
        parameters += tensor.values.len();
    }
    for module in expected.keys() {
        for part in ["lora_A", "lora_B"] {
            let key = peft_key(module, part);
            if !names.contains(&key) {
                problem(WEIGHTS, format!("missing tensor `{key}`"));
            }
        }
    }
    (names.len(), parameters)
}

/// `base_model.model.<module>.lora_{A,B}.weight` → `<module>`.
fn module_of(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(PEFT_PREFIX)?;
    rest.strip_suffix(".lora_A.weight").or_else(|| rest.strip_suffix(".lora_B.weight"))
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}
