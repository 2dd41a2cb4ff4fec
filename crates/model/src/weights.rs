//! Building a [`Transformer`] from the weights of a GGUF file or a Hugging Face model directory.

use std::path::Path;

use burn::tensor::{Device, FloatDType, Tensor, TensorData};
use serde::Serialize;

use crate::config::{Architecture, ModelConfig};
use crate::error::{Error, Result};
use crate::gguf::{Gguf, TensorInfo};
use crate::linear::Linear;
use crate::model::{Attention, Block, Mlp, RmsNorm, Transformer};
use crate::packed::PackedWeight;
use crate::safetensors::SafetensorsSet;

/// How base weights are held once loaded (a training configuration's `quantization.mode`:
/// `none` or `nf4`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum Quantize {
    /// As stored: GGUF blocks stay packed, floating-point weights stay dense (f32).
    #[default]
    #[serde(rename = "none")]
    AsStored,
    /// Floating-point linear weights are quantized to NF4 with double quantization (QLoRA).
    #[serde(rename = "nf4")]
    Nf4,
}

impl Quantize {
    pub fn name(self) -> &'static str {
        match self {
            Self::AsStored => "none",
            Self::Nf4 => "nf4",
        }
    }
}

/// A tensor on its way into the model: floats, or GGML blocks kept packed.
enum Incoming {
    Dense { shape: Vec<usize>, values: Vec<f32> },
    Packed(PackedWeight),
}

impl Incoming {
    fn shape(&self) -> Vec<usize> {
        match self {
            Self::Dense { shape, .. } => shape.clone(),
            Self::Packed(p) => vec![p.rows(), p.cols()],
        }
    }
}

/// Where tensors come from, by Hugging Face name.
trait TensorSource {
    fn path(&self) -> &Path;
    fn load(&mut self, hf_name: &str) -> Result<Option<Incoming>>;
}

struct GgufSource<'a> {
    gguf: &'a Gguf,
    bytes: &'a [u8],
    config: &'a ModelConfig,
}

impl TensorSource for GgufSource<'_> {
    fn path(&self) -> &Path {
        &self.gguf.path
    }

    fn load(&mut self, hf_name: &str) -> Result<Option<Incoming>> {
        let name = gguf_name(hf_name);
        let Some(info) = self.gguf.tensor(&name) else { return Ok(None) };
        let mut loaded = read_gguf_tensor(self.gguf, self.bytes, info)?;
        // llama.cpp's converter permutes Llama's q/k rows for its interleaved RoPE; undo it so
        // that the weights (and adapters trained on them) are in Hugging Face's layout.
        if self.config.architecture == Architecture::Llama {
            let heads = if name.ends_with("attn_q.weight") {
                Some(self.config.num_heads)
            } else if name.ends_with("attn_k.weight") {
                Some(self.config.num_kv_heads)
            } else {
                None
            };
            if let Some(heads) = heads {
                let order = unpermute_order(heads, self.config.head_dim);
                if order.len() != loaded.shape()[0] {
                    return Err(shape_error(
                        &self.gguf.path,
                        &name,
                        &loaded.shape(),
                        &[order.len(), self.config.hidden_size],
                    ));
                }
                match &mut loaded {
                    Incoming::Packed(p) => {
                        p.permute_rows(&order);
                    }
                    Incoming::Dense { shape, values } => {
                        let cols = shape[1];
                        *values =
                            order.iter().flat_map(|&r| values[r * cols..(r + 1) * cols].iter().copied()).collect();
                    }
                }
            }
        }
        Ok(Some(loaded))
    }
}

fn read_gguf_tensor(gguf: &Gguf, bytes: &[u8], info: &TensorInfo) -> Result<Incoming> {
    let data = &bytes[info.offset..info.offset + info.bytes];
    let shape = info.shape();
    if info.ty.is_quantized() {
        let [rows, cols] = shape[..] else {
            return Err(Error::format(
                &gguf.path,
                format!("tensor `{}`", info.name),
                "a quantized tensor must be a matrix",
            ));
        };
        let packed = PackedWeight::from_ggml(info.ty, rows, cols, data.to_vec()).ok_or_else(|| {
            Error::format(&gguf.path, format!("tensor `{}`", info.name), "block data does not match the shape")
        })?;
        return Ok(Incoming::Packed(packed));
    }
    let mut values = vec![0.0; info.elements()];
    info.ty.dequantize(data, &mut values);
    Ok(Incoming::Dense { shape, values })
}

/// Row order that turns llama.cpp's permuted q/k rows back into HF order. The converter
/// interleaves each head's two halves (`reshape(heads, 2, hd/2, in).swapaxes(1, 2)`), so HF row
/// `h·hd + j·hd/2 + i` is GGUF row `h·hd + 2i + j`.
pub(crate) fn unpermute_order(heads: usize, head_dim: usize) -> Vec<usize> {
    let half = head_dim / 2;
    (0..heads).flat_map(|h| (0..2).flat_map(move |j| (0..half).map(move |i| h * head_dim + 2 * i + j))).collect()
}

/// llama.cpp's name for a Hugging Face tensor name.
fn gguf_name(hf: &str) -> String {
    let (prefix, rest) = match hf.strip_prefix("model.layers.") {
        Some(rest) => {
            let (layer, rest) = rest.split_once('.').unwrap_or((rest, ""));
            (format!("blk.{layer}."), rest)
        }
        None => (String::new(), hf.strip_prefix("model.").unwrap_or(hf)),
    };
    let (module, suffix) = rest.rsplit_once('.').unwrap_or((rest, ""));
    let module = match module {
        "embed_tokens" => "token_embd",
        "norm" => "output_norm",
        "lm_head" => "output",
        "input_layernorm" => "attn_norm",
        "post_attention_layernorm" => "ffn_norm",
        "self_attn.q_proj" => "attn_q",
        "self_attn.k_proj" => "attn_k",
        "self_attn.v_proj" => "attn_v",
        "self_attn.o_proj" => "attn_output",
        "mlp.gate_proj" => "ffn_gate",
        "mlp.up_proj" => "ffn_up",
        "mlp.down_proj" => "ffn_down",
        other => other,
    };
    format!("{prefix}{module}.{suffix}")
}

struct SafetensorsSource {
    path: std::path::PathBuf,
    set: SafetensorsSet,
}

impl TensorSource for SafetensorsSource {
    fn path(&self) -> &Path {
        &self.path
    }

    fn load(&mut self, hf_name: &str) -> Result<Option<Incoming>> {
        Ok(self.set.read_f32(hf_name)?.map(|(shape, values)| Incoming::Dense { shape, values }))
    }
}

/// Loads a GGUF file's weights (its header already parsed from `bytes`).
pub fn from_gguf(gguf: &Gguf, bytes: &[u8], quantize: Quantize, device: &Device) -> Result<Transformer> {
    let config = ModelConfig::from_gguf(gguf)?;
    let mut source = GgufSource { gguf, bytes, config: &config };
    build(&mut source, config.clone(), quantize, device)
}

/// Loads `config.json` and the safetensors of a Hugging Face model directory.
pub fn from_hf_dir(dir: &Path, quantize: Quantize, device: &Device) -> Result<Transformer> {
    let config = ModelConfig::from_hf_file(&dir.join("config.json"))?;
    let mut source = SafetensorsSource { path: dir.to_owned(), set: SafetensorsSet::open(dir)? };
    build(&mut source, config, quantize, device)
}

fn build(
    source: &mut dyn TensorSource,
    config: ModelConfig,
    quantize: Quantize,
    device: &Device,
) -> Result<Transformer> {
    let c = &config;
    let (q_out, kv_out) = (c.num_heads * c.head_dim, c.num_kv_heads * c.head_dim);
    let embed_tokens =
        linear(source, "model.embed_tokens", [c.vocab_size, c.hidden_size], false, Quantize::AsStored, device)?;
    let mut layers = Vec::with_capacity(c.num_layers);
    for i in 0..c.num_layers {
        let p = format!("model.layers.{i}");
        let mut proj = |name: &str, shape: [usize; 2], bias: bool| {
            linear(source, &format!("{p}.{name}"), shape, bias, quantize, device)
        };
        let self_attn = Attention {
            q_proj: proj("self_attn.q_proj", [q_out, c.hidden_size], c.attention_bias)?,
            k_proj: proj("self_attn.k_proj", [kv_out, c.hidden_size], c.attention_bias)?,
            v_proj: proj("self_attn.v_proj", [kv_out, c.hidden_size], c.attention_bias)?,
            o_proj: proj("self_attn.o_proj", [c.hidden_size, q_out], false)?,
        };
        let mlp = Mlp {
            gate_proj: proj("mlp.gate_proj", [c.intermediate_size, c.hidden_size], false)?,
            up_proj: proj("mlp.up_proj", [c.intermediate_size, c.hidden_size], false)?,
            down_proj: proj("mlp.down_proj", [c.hidden_size, c.intermediate_size], false)?,
        };
        layers.push(Block {
            input_layernorm: norm(source, &format!("{p}.input_layernorm"), c, device)?,
            self_attn,
            post_attention_layernorm: norm(source, &format!("{p}.post_attention_layernorm"), c, device)?,
            mlp,
        });
    }
    let norm = norm(source, "model.norm", c, device)?;
    let lm_head = if c.tie_word_embeddings {
        None
    } else {
        Some(linear(source, "lm_head", [c.vocab_size, c.hidden_size], false, Quantize::AsStored, device)?)
    };
    Ok(Transformer { embed_tokens, layers, norm, lm_head, config, compute_dtype: FloatDType::F32 })
}

fn require(source: &mut dyn TensorSource, name: &str) -> Result<Incoming> {
    source.load(name)?.ok_or_else(|| Error::mismatch(source.path(), format!("missing tensor `{name}`")))
}

fn shape_error(path: &Path, name: &str, found: &[usize], expected: &[usize]) -> Error {
    Error::mismatch(path, format!("tensor `{name}` has shape {found:?}, the config implies {expected:?}"))
}

fn linear(
    source: &mut dyn TensorSource,
    module: &str,
    shape: [usize; 2],
    bias: bool,
    quantize: Quantize,
    device: &Device,
) -> Result<Linear> {
    let name = format!("{module}.weight");
    let weight = require(source, &name)?;
    if weight.shape() != shape {
        return Err(shape_error(source.path(), &name, &weight.shape(), &shape));
    }
    let bias = if bias { Some(vector(source, &format!("{module}.bias"), shape[0], device)?) } else { None };
    Ok(match weight {
        Incoming::Packed(packed) => Linear::packed(packed, bias, device),
        Incoming::Dense { values, .. } => match quantize {
            Quantize::Nf4 => {
                let packed = PackedWeight::nf4(shape[0], shape[1], &values).ok_or_else(|| {
                    Error::mismatch(
                        source.path(),
                        format!("tensor `{name}`: NF4 needs rows of whole 64-value blocks, found {}", shape[1]),
                    )
                })?;
                Linear::packed(packed, bias, device)
            }
            Quantize::AsStored => Linear::dense(Tensor::from_data(TensorData::new(values, shape), device), bias),
        },
    })
}

fn vector(source: &mut dyn TensorSource, name: &str, len: usize, device: &Device) -> Result<Tensor<1>> {
    match require(source, name)? {
        Incoming::Dense { shape, values } if shape == [len] => {
            Ok(Tensor::from_data(TensorData::new(values, [len]), device))
        }
        other => Err(shape_error(source.path(), name, &other.shape(), &[len])),
    }
}

fn norm(source: &mut dyn TensorSource, module: &str, c: &ModelConfig, device: &Device) -> Result<RmsNorm> {
    Ok(RmsNorm::new(vector(source, &format!("{module}.weight"), c.hidden_size, device)?, c.rms_norm_eps))
}
