//! codi-model: the model runtime (DESIGN §5). A Llama/Qwen2 decoder on burn whose linear
//! layers hold dense or packed 4/8-bit weights plus optional LoRA; loaders for GGUF and Hugging
//! Face directories; the tokenizer and chat template; generation and candidate scoring; the
//! adapter directory format, its verification, and loading a base with a verified adapter.

pub mod adapter;
mod attention;
mod config;
mod device;
mod error;
mod generate;
pub mod gguf;
mod host;
mod hub;
mod linear;
mod load;
mod model;
mod packed;
pub mod quant;
mod resident;
mod rng;
mod runner;
pub mod safetensors;
mod synth;
mod tokenizer;
mod weights;

pub use burn::tensor::Device;

pub use config::{Architecture, ModelConfig};
pub use device::{DeviceKind, cpu};
pub use error::{Error, Result};
pub use generate::{
    Finish, GenerateOptions, Generation, Prefix, Sampling, Score, TokenLogprob, argmax, generate, last_logits, sample,
    score,
};
pub use hub::{Hub, ModelLocation, resolve, resolve_with};
pub use linear::{Linear, Lora};
pub use load::{DEFAULT_MODEL, LoadOptions, Loaded, Model, load, load_tokenizer};
pub use model::{Attention, Block, KvCache, Mlp, RmsNorm, TENSOR_QUERY_BLOCK, Transformer, linear_layers_mut};
pub use packed::PackedWeight;
pub use resident::Resident;
pub use rng::SplitMix64;
pub use runner::{Readout, Runner, Step, Stepped, run_steps};
pub use synth::{Shape, Synthesized, synthesize};
pub use tokenizer::{Message, Tokenizer};
pub use weights::{Quantize, from_gguf, from_hf_dir};
