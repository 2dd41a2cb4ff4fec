//! One configuration for the Llama and Qwen2 families, read from a Hugging Face `config.json`
//! or from GGUF metadata.

use std::path::Path;

use serde_json::Value as Json;

use crate::error::{Error, Result};
use crate::gguf::Gguf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    Llama,
    Qwen2,
}

impl Architecture {
    pub fn name(self) -> &'static str {
        match self {
            Self::Llama => "llama",
            Self::Qwen2 => "qwen2",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        match name {
            "llama" => Some(Self::Llama),
            "qwen2" => Some(Self::Qwen2),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    pub architecture: Architecture,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
    pub rope_theta: f64,
    pub rms_norm_eps: f64,
    pub max_position_embeddings: usize,
    pub tie_word_embeddings: bool,
    /// Bias on q/k/v projections (Qwen2).
    pub attention_bias: bool,
}

impl ModelConfig {
    /// Reads a Hugging Face `config.json`.
    pub fn from_hf_file(path: &Path) -> Result<Self> {
        let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let json: Json =
            serde_json::from_slice(&text).map_err(|source| Error::Json { path: path.to_owned(), source })?;
        Self::from_hf_json(path, &json)
    }

    pub fn from_hf_json(path: &Path, json: &Json) -> Result<Self> {
        let field = |key: &str| json.get(key).filter(|v| !v.is_null());
        let usize_field = |key: &str| -> Result<usize> {
            field(key)
                .and_then(Json::as_u64)
                .and_then(|v| usize::try_from(v).ok())
                .ok_or_else(|| Error::format(path, key, "missing or not a non-negative integer"))
        };
        let model_type = field("model_type").and_then(Json::as_str).unwrap_or_default();
        let architecture = Architecture::parse(model_type).ok_or_else(|| {
            Error::mismatch(path, format!("unsupported model_type `{model_type}` (llama and qwen2 are)"))
        })?;
        if let Some(scaling) = field("rope_scaling")
            .or_else(|| json.pointer("/rope_parameters/rope_type").filter(|t| t.as_str() != Some("default")))
        {
            return Err(Error::mismatch(path, format!("unsupported RoPE scaling {scaling}")));
        }
        let hidden_size = usize_field("hidden_size")?;
        let num_heads = usize_field("num_attention_heads")?;
        let rope_theta = field("rope_theta")
            .or_else(|| json.pointer("/rope_parameters/rope_theta"))
            .and_then(Json::as_f64)
            .unwrap_or(10_000.0);
        let config = Self {
            architecture,
            vocab_size: usize_field("vocab_size")?,
            hidden_size,
            intermediate_size: usize_field("intermediate_size")?,
            num_layers: usize_field("num_hidden_layers")?,
            num_heads,
            num_kv_heads: usize_field("num_key_value_heads").unwrap_or(num_heads),
            head_dim: usize_field("head_dim").unwrap_or(hidden_size / num_heads.max(1)),
            rope_theta,
            rms_norm_eps: field("rms_norm_eps").and_then(Json::as_f64).unwrap_or(1e-6),
            max_position_embeddings: usize_field("max_position_embeddings").unwrap_or(4096),
            tie_word_embeddings: field("tie_word_embeddings").and_then(Json::as_bool).unwrap_or(false),
            attention_bias: field("attention_bias")
                .and_then(Json::as_bool)
                .unwrap_or(architecture == Architecture::Qwen2),
        };
        config.validate(path)?;
        Ok(config)
    }

    /// Reads the `{arch}.*` hyperparameters of a GGUF file. Tied embeddings are recognised by
    /// the absence of `output.weight`.
    pub fn from_gguf(gguf: &Gguf) -> Result<Self> {
        let arch_name = gguf.require_str("general.architecture")?;
        let architecture = Architecture::parse(arch_name).ok_or_else(|| {
            Error::mismatch(&gguf.path, format!("unsupported architecture `{arch_name}` (llama and qwen2 are)"))
        })?;
        let key = |name: &str| format!("{arch_name}.{name}");
        let usize_key = |name: &str| -> Result<usize> {
            let k = key(name);
            usize::try_from(gguf.require_u64(&k)?).map_err(|_| Error::format(&gguf.path, k, "too large"))
        };
        let hidden_size = usize_key("embedding_length")?;
        let num_heads = usize_key("attention.head_count")?;
        let vocab_size = match gguf.get(&key("vocab_size")).and_then(crate::gguf::Value::as_u64) {
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
            None => match gguf.get("tokenizer.ggml.tokens").and_then(|t| t.as_array()) {
                Some(tokens) => tokens.len(),
                None => gguf.tensor("token_embd.weight").map_or(0, |t| t.dims.last().copied().unwrap_or(0)),
            },
        };
        let float_key =
            |name: &str, default: f64| gguf.get(&key(name)).and_then(crate::gguf::Value::as_f64).unwrap_or(default);
        let config = Self {
            architecture,
            vocab_size,
            hidden_size,
            intermediate_size: usize_key("feed_forward_length")?,
            num_layers: usize_key("block_count")?,
            num_heads,
            num_kv_heads: usize_key("attention.head_count_kv").unwrap_or(num_heads),
            head_dim: usize_key("rope.dimension_count").unwrap_or(hidden_size / num_heads.max(1)),
            rope_theta: float_key("rope.freq_base", 10_000.0),
            rms_norm_eps: float_key("attention.layer_norm_rms_epsilon", 1e-6),
            max_position_embeddings: usize_key("context_length").unwrap_or(4096),
            tie_word_embeddings: gguf.tensor("output.weight").is_none(),
            attention_bias: gguf.tensor("blk.0.attn_q.bias").is_some(),
        };
        config.validate(&gguf.path)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<()> {
        let checks = [
            (self.vocab_size > 0, "vocab_size is 0"),
            (self.hidden_size > 0, "hidden_size is 0"),
            (self.intermediate_size > 0, "intermediate_size is 0"),
            (self.num_heads > 0 && self.num_kv_heads > 0, "no attention heads"),
            (
                self.num_kv_heads > 0 && self.num_heads.is_multiple_of(self.num_kv_heads),
                "attention heads are not a multiple of the key/value heads",
            ),
            (self.head_dim > 0 && self.head_dim.is_multiple_of(2), "head_dim must be even and non-zero"),
            // Guards against absurd sizes before anything is allocated from them.
            (
                self.hidden_size <= 1 << 16 && self.num_layers <= 1024 && self.vocab_size <= 1 << 22,
                "implausibly large dimensions",
            ),
            (
                self.num_heads * self.head_dim <= 1 << 16 && self.intermediate_size <= 1 << 18,
                "implausibly large dimensions",
            ),
        ];
        match checks.iter().find(|(ok, _)| !ok) {
            Some((_, message)) => Err(Error::mismatch(path, format!("invalid model config: {message}"))),
            None => Ok(()),
        }
    }

    /// The configuration as a Hugging Face `config.json`.
    pub fn to_hf_json(&self) -> Json {
        let model_type = self.architecture.name();
        serde_json::json!({
            "architectures": [match self.architecture { Architecture::Llama => "LlamaForCausalLM", Architecture::Qwen2 => "Qwen2ForCausalLM" }],
            "model_type": model_type,
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_layers,
            "num_attention_heads": self.num_heads,
            "num_key_value_heads": self.num_kv_heads,
            "head_dim": self.head_dim,
            "rope_theta": self.rope_theta,
            "rms_norm_eps": self.rms_norm_eps,
            "max_position_embeddings": self.max_position_embeddings,
            "tie_word_embeddings": self.tie_word_embeddings,
            "attention_bias": self.attention_bias,
            "hidden_act": "silu",
            "torch_dtype": "float32",
        })
    }
}
