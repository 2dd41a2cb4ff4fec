//! Random-initialized model directories of a real model's exact shape (`codi model synth`):
//! `config.json`, `model.safetensors` (bf16, as the hub ships them) and a tokenizer, for GPU runs
//! and benchmarks where the real weights cannot be fetched. Time and memory depend on the shape
//! alone, so a synthesized Qwen2.5-Coder-1.5B trains and decodes as fast as the real one.
//!
//! Weights are drawn as Hugging Face initializes them (`initializer_range` 0.02; norms 1, biases
//! 0), from a seed: the same seed writes the same bytes. Each tensor is generated while it is
//! written, so a 3 GiB model needs one tensor's memory.

use std::borrow::Cow;
use std::path::Path;
use std::str::FromStr;

use rayon::prelude::*;
use safetensors::{Dtype as StoredDtype, View};

use crate::config::{Architecture, ModelConfig};
use crate::error::{Error, Result};
use crate::rng::SplitMix64;
use crate::tokenizer::Tokenizer;

/// The shapes `codi model synth` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Qwen/Qwen2.5-Coder-1.5B-Instruct: the GPU configuration's base.
    Qwen25Coder1_5b,
    /// HuggingFaceTB/SmolLM2-135M-Instruct: the embedded default.
    Smollm2_135m,
}

impl Shape {
    pub const ALL: [Self; 2] = [Self::Qwen25Coder1_5b, Self::Smollm2_135m];

    pub fn name(self) -> &'static str {
        match self {
            Self::Qwen25Coder1_5b => "qwen2.5-coder-1.5b",
            Self::Smollm2_135m => "smollm2-135m",
        }
    }

    /// The model's configuration, as its `config.json` on the hub gives it.
    pub fn config(self) -> ModelConfig {
        match self {
            Self::Qwen25Coder1_5b => ModelConfig {
                architecture: Architecture::Qwen2,
                vocab_size: 151_936,
                hidden_size: 1536,
                intermediate_size: 8960,
                num_layers: 28,
                num_heads: 12,
                num_kv_heads: 2,
                head_dim: 128,
                rope_theta: 1_000_000.0,
                rms_norm_eps: 1e-6,
                max_position_embeddings: 32_768,
                tie_word_embeddings: true,
                attention_bias: true,
            },
            Self::Smollm2_135m => ModelConfig {
                architecture: Architecture::Llama,
                vocab_size: 49_152,
                hidden_size: 576,
                intermediate_size: 1536,
                num_layers: 30,
                num_heads: 9,
                num_kv_heads: 3,
                head_dim: 64,
                rope_theta: 100_000.0,
                rms_norm_eps: 1e-5,
                max_position_embeddings: 8192,
                tie_word_embeddings: true,
                attention_bias: false,
            },
        }
    }
}

impl FromStr for Shape {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self> {
        Self::ALL.into_iter().find(|shape| shape.name() == name).ok_or_else(|| {
            let known: Vec<&str> = Self::ALL.iter().map(|s| s.name()).collect();
            Error::Invalid(format!("unknown model shape `{name}` ({})", known.join(", ")))
        })
    }
}

/// What [`synthesize`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Synthesized {
    pub tensors: usize,
    pub parameters: usize,
    /// Bytes of `model.safetensors`.
    pub bytes: u64,
}

/// Writes a random-initialized model of `shape` with `tokenizer`'s files into `out` (replaced
/// atomically). A tokenizer smaller than the shape's vocabulary is fine: its ids are in range.
pub fn synthesize(shape: Shape, tokenizer: &Tokenizer, out: &Path, seed: u64) -> Result<Synthesized> {
    let config = shape.config();
    let tensors = tensors_of(&config, seed);
    let mut hf_config = config.to_hf_json();
    hf_config["torch_dtype"] = "bfloat16".into();
    hf_config["initializer_range"] = INITIALIZER_RANGE.into();
    let config_bytes = serde_json::to_vec_pretty(&hf_config).map_err(|e| Error::Invalid(e.to_string()))?;
    let tokenizer_files = tokenizer.to_files()?;
    let weights = out.join("model.safetensors");
    codi_files::replace_dir(out, |dir| {
        std::fs::write(dir.join("config.json"), &config_bytes)?;
        for (name, bytes) in &tokenizer_files {
            std::fs::write(dir.join(name), bytes)?;
        }
        let views = tensors.iter().map(|t| (t.name.as_str(), t));
        let metadata = [("format".to_owned(), "pt".to_owned())].into_iter().collect();
        safetensors::serialize_to_file(views, Some(metadata), &dir.join("model.safetensors"))
            .map_err(std::io::Error::other)
    })
    .map_err(|e| Error::io(&weights, e))?;
    let bytes = std::fs::metadata(&weights).map_err(|e| Error::io(&weights, e))?.len();
    let parameters = tensors.iter().map(|t| t.shape.iter().product::<usize>()).sum();
    Ok(Synthesized { tensors: tensors.len(), parameters, bytes })
}

/// Hugging Face's `initializer_range` for both families: weights are N(0, 0.02²).
const INITIALIZER_RANGE: f64 = 0.02;
/// Values drawn per parallel task (each task has its own stream of the tensor's seed).
const VALUES_PER_TASK: usize = 1 << 16;

#[derive(Debug, Clone, Copy)]
enum Init {
    Normal,
    Ones,
    Zeros,
}

/// One tensor to write, generated when the writer asks for its bytes.
#[derive(Debug)]
struct Synthetic {
    name: String,
    shape: Vec<usize>,
    init: Init,
    seed: u64,
}

/// Every tensor of a Hugging Face checkpoint of `config`, by its name.
fn tensors_of(config: &ModelConfig, seed: u64) -> Vec<Synthetic> {
    let c = config;
    let (q_out, kv_out) = (c.num_heads * c.head_dim, c.num_kv_heads * c.head_dim);
    let mut tensors = Vec::new();
    let mut add = |name: String, shape: Vec<usize>, init: Init| {
        let seed = seed ^ fnv1a(name.as_bytes());
        tensors.push(Synthetic { name, shape, init, seed });
    };
    add("model.embed_tokens.weight".into(), vec![c.vocab_size, c.hidden_size], Init::Normal);
    for i in 0..c.num_layers {
        let p = format!("model.layers.{i}");
        for (name, out) in [("q_proj", q_out), ("k_proj", kv_out), ("v_proj", kv_out)] {
            add(format!("{p}.self_attn.{name}.weight"), vec![out, c.hidden_size], Init::Normal);
            if c.attention_bias {
                add(format!("{p}.self_attn.{name}.bias"), vec![out], Init::Zeros);
            }
        }
        add(format!("{p}.self_attn.o_proj.weight"), vec![c.hidden_size, q_out], Init::Normal);
        add(format!("{p}.mlp.gate_proj.weight"), vec![c.intermediate_size, c.hidden_size], Init::Normal);
        add(format!("{p}.mlp.up_proj.weight"), vec![c.intermediate_size, c.hidden_size], Init::Normal);
        add(format!("{p}.mlp.down_proj.weight"), vec![c.hidden_size, c.intermediate_size], Init::Normal);
        add(format!("{p}.input_layernorm.weight"), vec![c.hidden_size], Init::Ones);
        add(format!("{p}.post_attention_layernorm.weight"), vec![c.hidden_size], Init::Ones);
    }
    add("model.norm.weight".into(), vec![c.hidden_size], Init::Ones);
    if !c.tie_word_embeddings {
        add("lm_head.weight".into(), vec![c.vocab_size, c.hidden_size], Init::Normal);
    }
    tensors
}

impl View for &Synthetic {
    fn dtype(&self) -> StoredDtype {
        StoredDtype::BF16
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        let n = self.shape.iter().product::<usize>();
        let mut bytes = vec![0u8; 2 * n];
        match self.init {
            Init::Zeros => {}
            Init::Ones => bytes.chunks_exact_mut(2).for_each(|b| b.copy_from_slice(&half::bf16::ONE.to_le_bytes())),
            Init::Normal => bytes.par_chunks_mut(2 * VALUES_PER_TASK).enumerate().for_each(|(task, chunk)| {
                let mut rng = SplitMix64(self.seed ^ (task as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
                for pair in chunk.chunks_exact_mut(4) {
                    let (a, b) = normal_pair(&mut rng);
                    pair[..2].copy_from_slice(&half::bf16::from_f64(a * INITIALIZER_RANGE).to_le_bytes());
                    pair[2..].copy_from_slice(&half::bf16::from_f64(b * INITIALIZER_RANGE).to_le_bytes());
                }
                if chunk.len() % 4 == 2 {
                    let at = chunk.len() - 2;
                    let value = normal_pair(&mut rng).0 * INITIALIZER_RANGE;
                    chunk[at..].copy_from_slice(&half::bf16::from_f64(value).to_le_bytes());
                }
            }),
        }
        Cow::Owned(bytes)
    }

    fn data_len(&self) -> usize {
        2 * self.shape.iter().product::<usize>()
    }
}

/// Two independent standard normals (Box–Muller).
fn normal_pair(rng: &mut SplitMix64) -> (f64, f64) {
    let (u1, u2) = (rng.next_f64().max(f64::MIN_POSITIVE), rng.next_f64());
    let radius = (-2.0 * u1.ln()).sqrt();
    let (sin, cos) = (std::f64::consts::TAU * u2).sin_cos();
    (radius * cos, radius * sin)
}

/// FNV-1a: a tensor's name as a seed, stable across runs and platforms.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shapes_have_their_published_parameter_counts() {
        let count = |shape: Shape| {
            tensors_of(&shape.config(), 0).iter().map(|t| t.shape.iter().product::<usize>()).sum::<usize>()
        };
        // transformers' num_parameters() for the two checkpoints (tied embeddings counted once).
        assert_eq!(count(Shape::Smollm2_135m), 134_515_008);
        assert_eq!(count(Shape::Qwen25Coder1_5b), 1_543_714_304);
    }
}
