//! codi-model: the model runtime (DESIGN §5). A Llama/Qwen2 decoder on burn whose linear
//! layers hold dense or packed 4/8-bit weights plus optional LoRA; loaders for GGUF and Hugging
//! Face directories; the tokenizer and chat template; generation and candidate scoring.

mod adapter;
mod config;
mod error;
mod generate;
pub mod gguf;
mod hub;
mod linear;
mod load;
mod model;
mod packed;
pub mod quant;
pub mod safetensors;
mod tokenizer;

use std::path::{Path, PathBuf};

pub use burn::tensor::Device;

pub use adapter::{AdapterConfig, PEFT_PREFIX, attach_adapter, linear_layers_mut};
pub use config::{Architecture, ModelConfig};
pub use error::{Error, Result};
pub use generate::{
    Finish, GenerateOptions, Generation, Sampling, Score, SplitMix64, argmax, generate, last_logits, sample, score,
};
pub use hub::{Hub, ModelLocation, resolve, resolve_with};
pub use linear::{Linear, Lora};
pub use load::{Quantize, from_gguf, from_hf_dir};
pub use model::{Attention, Block, KvCache, Mlp, RmsNorm, Transformer};
pub use packed::PackedWeight;
pub use tokenizer::{Message, Tokenizer};

/// A loaded model: weights, tokenizer and where they came from.
#[derive(Debug)]
pub struct Model {
    pub transformer: Transformer,
    pub tokenizer: Tokenizer,
    /// The GGUF file or model directory.
    pub source: PathBuf,
}

impl Model {
    /// Loads `spec` (see [`resolve`]) onto `device`.
    pub fn load(spec: &str, quantize: Quantize, device: &Device) -> Result<Self> {
        match resolve(spec)? {
            ModelLocation::Gguf(path) => Self::load_gguf(&path, quantize, device),
            ModelLocation::HfDir(dir) => {
                let transformer = from_hf_dir(&dir, quantize, device)?;
                let tokenizer = Tokenizer::from_dir(&dir)?;
                Ok(Self { transformer, tokenizer, source: dir })
            }
        }
    }

    pub fn load_gguf(path: &Path, quantize: Quantize, device: &Device) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::Io { path: path.to_owned(), source: e })?;
        let gguf = gguf::Gguf::parse(path, &bytes)?;
        let transformer = from_gguf(&gguf, &bytes, quantize, device)?;
        let tokenizer = Tokenizer::from_gguf(&gguf)?;
        Ok(Self { transformer, tokenizer, source: path.to_owned() })
    }
}

/// The CPU device tests and the default build use.
pub fn cpu() -> Device {
    Device::flex()
}
