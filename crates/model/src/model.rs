//! The decoder: Llama and Qwen2 from one [`ModelConfig`] (GQA, RoPE, RMSNorm, SwiGLU, optional
//! q/k/v bias, tied or separate LM head), with a KV cache and padding-aware causal attention.

use burn::module::{Module, Param};
use burn::tensor::activation::{silu, softmax};
use burn::tensor::{DType, Device, FloatDType, Tensor, TensorData};

use crate::attention::{AttentionShape, Visibility, causal_attention};
use crate::config::ModelConfig;
use crate::linear::{Linear, frozen, host_kernels};

/// Added to the scores of keys a query may not see. Finite, so that a fully masked row (a
/// padding query) gives harmless numbers instead of NaNs that would spread.
const MASKED: f32 = -1e9;

/// Queries per block on the tensor path (training, GPUs): a block's scores span only the keys
/// its queries may see. 128 rather than 256 gave 4% less peak memory at batch 1 × 1024 in
/// `codi bench train`, at the same speed.
pub const TENSOR_QUERY_BLOCK: usize = 128;

#[derive(Module, Debug)]
pub struct RmsNorm {
    pub weight: Param<Tensor<1>>,
    pub eps: f64,
}

impl RmsNorm {
    pub fn new(weight: Tensor<1>, eps: f64) -> Self {
        Self { weight: frozen(weight), eps }
    }

    /// Normalizes in f32 whatever the compute dtype, as Hugging Face does: a bf16 mean of
    /// squares loses the small components.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let dtype = x.dtype();
        let x = x.cast(FloatDType::F32);
        let rms = x.clone().square().mean_dim(2).add_scalar(self.eps).sqrt();
        x.div(rms).cast(dtype).mul(self.weight.val().cast(dtype).unsqueeze::<3>())
    }
}

#[derive(Module, Debug)]
pub struct Attention {
    pub q_proj: Linear,
    pub k_proj: Linear,
    pub v_proj: Linear,
    pub o_proj: Linear,
}

#[derive(Module, Debug)]
pub struct Mlp {
    pub gate_proj: Linear,
    pub up_proj: Linear,
    pub down_proj: Linear,
}

impl Mlp {
    /// `down(silu(gate(h))·up(h))`; in f32 on the CPU backend without a gradient graph, the
    /// SwiGLU in between is one host pass.
    pub fn forward(&self, h: Tensor<3>) -> Tensor<3> {
        let (gate, up) = (self.gate_proj.forward(h.clone()), self.up_proj.forward(h));
        let device = gate.device();
        let swiglu = if gate.dtype() == DType::F32 && host_kernels(&device) {
            let shape = gate.shape();
            let mut values = gate.into_data().try_into_vec::<f32>().expect("f32 activations");
            crate::host::swiglu(&mut values, &up.into_data().try_into_vec::<f32>().expect("f32 activations"));
            Tensor::from_data(TensorData::new(values, shape), &device)
        } else {
            silu(gate).mul(up)
        };
        self.down_proj.forward(swiglu)
    }
}

#[derive(Module, Debug)]
pub struct Block {
    pub input_layernorm: RmsNorm,
    pub self_attn: Attention,
    pub post_attention_layernorm: RmsNorm,
    pub mlp: Mlp,
}

/// The model. Field names follow Hugging Face's (`model.layers.N.self_attn.q_proj` …) so
/// that adapter keys map one to one.
#[derive(Module, Debug)]
pub struct Transformer {
    pub embed_tokens: Linear,
    pub layers: Vec<Block>,
    pub norm: RmsNorm,
    /// `None` when the embeddings are tied.
    pub lm_head: Option<Linear>,
    #[module(skip)]
    pub config: ModelConfig,
    /// The dtype activations are computed in. Weights, adapters and logits stay as they are
    /// (f32 logits); norms and softmax run in f32.
    #[module(skip)]
    pub compute_dtype: FloatDType,
}

/// Keys and values of every layer for the tokens seen so far, and which of them are padding.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    layers: Vec<(Tensor<4>, Tensor<4>)>,
    /// Per batch row, one flag per cached position: false for padding.
    valid: Vec<Vec<bool>>,
}

impl KvCache {
    /// Cached positions (including padding).
    pub fn len(&self) -> usize {
        self.valid.first().map_or(0, Vec::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn batch(&self) -> usize {
        self.valid.len()
    }

    /// A batch-1 cache repeated `n` times, so that `n` continuations share one prompt.
    #[must_use]
    pub fn repeat(&self, n: usize) -> Self {
        assert!(self.batch() <= 1, "only a single-sequence cache can be repeated");
        Self {
            layers: self.layers.iter().map(|(k, v)| (k.clone().repeat_dim(0, n), v.clone().repeat_dim(0, n))).collect(),
            valid: vec![self.valid.first().cloned().unwrap_or_default(); n],
        }
    }
}

impl Transformer {
    pub fn device(&self) -> Device {
        self.norm.weight.device()
    }

    /// Runs `ids` (`batch` rows of equal length; `valid[b][i]` false marks padding) after what
    /// `cache` holds, appends their keys and values to it, and returns the final hidden states
    /// `[batch, seq, hidden]` (after the last norm).
    pub fn forward(&self, ids: &[Vec<u32>], valid: Option<&[Vec<bool>]>, cache: &mut KvCache) -> Tensor<3> {
        let device = self.device();
        let (batch, seq) = (ids.len(), ids.first().map_or(0, Vec::len));
        let (cos, sin, mask) = self.prepare(ids, valid, cache, &device);
        let flat: Vec<u32> = ids.iter().flatten().copied().collect();
        let mut x: Tensor<3> = self.embed_tokens.rows(&flat, &device).cast(self.compute_dtype).reshape([
            batch,
            seq,
            self.config.hidden_size,
        ]);
        let fresh = cache.layers.is_empty();
        for (index, layer) in self.layers.iter().enumerate() {
            let layer_cache = if fresh { None } else { Some(cache.layers[index].clone()) };
            let (h, kv) =
                self.attention(layer, layer.input_layernorm.forward(x.clone()), layer_cache, &cos, &sin, &mask);
            if fresh {
                cache.layers.push(kv);
            } else {
                cache.layers[index] = kv;
            }
            x = x + h;
            let h = layer.post_attention_layernorm.forward(x.clone());
            x = x + layer.mlp.forward(h);
        }
        self.norm.forward(x)
    }

    /// Several independent calls of [`Self::forward`] at once: their tokens go through every
    /// linear layer together (one pass over the weights for all of them), and each attends over
    /// its own cache alone — no cache is copied or padded, so each gets what it gets alone.
    pub fn forward_many(&self, calls: &mut [crate::runner::Step]) -> Vec<Tensor<3>> {
        let device = self.device();
        let hidden = self.config.hidden_size;
        let shapes: Vec<(usize, usize)> =
            calls.iter().map(|c| (c.ids.len(), c.ids.first().map_or(0, Vec::len))).collect();
        let tables: Vec<_> =
            calls.iter_mut().map(|c| self.prepare(&c.ids, c.valid.as_deref(), &mut c.cache, &device)).collect();
        let flat: Vec<u32> = calls.iter().flat_map(|c| c.ids.iter().flatten().copied()).collect();
        let total = flat.len();
        let mut x: Tensor<3> =
            self.embed_tokens.rows(&flat, &device).cast(self.compute_dtype).reshape([1, total, hidden]);
        // Each call's rows of the flattened tokens, as [batch, seq, width].
        let split = |t: &Tensor<3>| -> Vec<Tensor<3>> {
            let width = t.dims()[2];
            let mut at = 0;
            shapes
                .iter()
                .map(|&(batch, seq)| {
                    let part = t.clone().narrow(1, at, batch * seq).reshape([batch, seq, width]);
                    at += batch * seq;
                    part
                })
                .collect()
        };
        let join = |parts: Vec<Tensor<3>>| -> Tensor<3> {
            let parts: Vec<Tensor<3>> = parts
                .into_iter()
                .map(|p| {
                    let [b, s, w] = p.dims();
                    p.reshape([1, b * s, w])
                })
                .collect();
            Tensor::cat(parts, 1)
        };
        for (index, layer) in self.layers.iter().enumerate() {
            let normed = layer.input_layernorm.forward(x.clone());
            let attn = &layer.self_attn;
            let queries = split(&attn.q_proj.forward(normed.clone()));
            let keys = split(&attn.k_proj.forward(normed.clone()));
            let values = split(&attn.v_proj.forward(normed));
            let mut outs = Vec::with_capacity(calls.len());
            for (((query, key), value), (call, (cos, sin, mask))) in
                queries.into_iter().zip(keys).zip(values).zip(calls.iter_mut().zip(&tables))
            {
                let cache = &mut call.cache;
                let fresh = cache.layers.len() <= index;
                let layer_cache = if fresh { None } else { Some(cache.layers[index].clone()) };
                let (out, kv) = self.attend(query, key, value, layer_cache, cos, sin, mask);
                if fresh {
                    cache.layers.push(kv);
                } else {
                    cache.layers[index] = kv;
                }
                outs.push(out);
            }
            x = x + attn.o_proj.forward(join(outs));
            let h = layer.post_attention_layernorm.forward(x.clone());
            x = x + layer.mlp.forward(h);
        }
        split(&self.norm.forward(x))
    }

    /// A call's rotary tables and mask, with its positions recorded in `cache`.
    fn prepare(
        &self,
        ids: &[Vec<u32>],
        valid: Option<&[Vec<bool>]>,
        cache: &mut KvCache,
        device: &Device,
    ) -> (Tensor<4>, Tensor<4>, Mask) {
        let (batch, seq) = (ids.len(), ids.first().map_or(0, Vec::len));
        assert!(ids.iter().all(|row| row.len() == seq), "rows of equal length");
        assert!(cache.is_empty() || cache.batch() == batch, "cache batch {} ≠ input batch {batch}", cache.batch());
        let past = cache.len();
        if cache.valid.is_empty() {
            cache.valid = vec![Vec::new(); batch];
        }
        for (b, flags) in cache.valid.iter_mut().enumerate() {
            flags.extend((0..seq).map(|i| valid.is_none_or(|v| v[b][i])));
        }
        let positions: Vec<Vec<usize>> = cache
            .valid
            .iter()
            .map(|flags| {
                let before = flags[..past].iter().filter(|&&v| v).count();
                flags[past..].iter().scan(before, |n, &v| Some(std::mem::replace(n, *n + usize::from(v)))).collect()
            })
            .collect();
        let (cos, sin) = self.rope_tables(&positions, device);
        let visibility = Visibility { valid: cache.valid.clone(), past };
        // One new token attends to everything before it: the tensor path's two small products
        // are as fast as the host kernel's (decode 110–111 vs 108–110 tokens/s when measured),
        // without copying the cache out.
        let mask = if seq > 1 && self.compute_dtype == FloatDType::F32 && host_kernels(device) {
            Mask::Host(visibility)
        } else {
            let blocks = (0..seq.max(1)).step_by(TENSOR_QUERY_BLOCK);
            Mask::Bias(blocks.map(|first| self.attention_bias(&visibility, first, seq, device)).collect())
        };
        (cos, sin, mask)
    }

    /// Every weight under its Hugging Face name, with each layer's adapter merged in: what a
    /// `model.safetensors` of the merged model holds.
    pub fn hf_tensors(&self) -> Vec<crate::safetensors::NamedTensor> {
        use crate::safetensors::named;
        let device = self.device();
        let mut out = Vec::new();
        let mut linear = |name: &str, linear: &Linear| {
            out.push(named(format!("{name}.weight"), linear.merged_weight(&device)));
            if let Some(bias) = linear.bias() {
                out.push(named(format!("{name}.bias"), bias));
            }
        };
        linear("model.embed_tokens", &self.embed_tokens);
        for (i, layer) in self.layers.iter().enumerate() {
            let p = format!("model.layers.{i}");
            let (attn, mlp) = (&layer.self_attn, &layer.mlp);
            for (name, proj) in [
                ("self_attn.q_proj", &attn.q_proj),
                ("self_attn.k_proj", &attn.k_proj),
                ("self_attn.v_proj", &attn.v_proj),
                ("self_attn.o_proj", &attn.o_proj),
                ("mlp.gate_proj", &mlp.gate_proj),
                ("mlp.up_proj", &mlp.up_proj),
                ("mlp.down_proj", &mlp.down_proj),
            ] {
                linear(&format!("{p}.{name}"), proj);
            }
        }
        if let Some(head) = &self.lm_head {
            linear("lm_head", head);
        }
        for (i, layer) in self.layers.iter().enumerate() {
            let p = format!("model.layers.{i}");
            out.push(named(format!("{p}.input_layernorm.weight"), layer.input_layernorm.weight.val()));
            out.push(named(
                format!("{p}.post_attention_layernorm.weight"),
                layer.post_attention_layernorm.weight.val(),
            ));
        }
        out.push(named("model.norm.weight".into(), self.norm.weight.val()));
        out
    }

    /// Logits `[batch, seq, vocab]` for hidden states, in f32.
    pub fn logits(&self, hidden: Tensor<3>) -> Tensor<3> {
        self.lm_head.as_ref().unwrap_or(&self.embed_tokens).forward(hidden).cast(FloatDType::F32)
    }

    fn attention(
        &self,
        layer: &Block,
        normed: Tensor<3>,
        cache: Option<(Tensor<4>, Tensor<4>)>,
        cos: &Tensor<4>,
        sin: &Tensor<4>,
        mask: &Mask,
    ) -> (Tensor<3>, (Tensor<4>, Tensor<4>)) {
        let attn = &layer.self_attn;
        let (q, k, v) =
            (attn.q_proj.forward(normed.clone()), attn.k_proj.forward(normed.clone()), attn.v_proj.forward(normed));
        let (out, kv) = self.attend(q, k, v, cache, cos, sin, mask);
        (attn.o_proj.forward(out), kv)
    }

    /// Attention of projected queries, keys and values `[batch, seq, heads·head_dim]` after a
    /// cache: rotary embedding, the cache grown, grouped-query attention; the output before
    /// `o_proj`, and the grown cache.
    #[allow(clippy::too_many_arguments)]
    fn attend(
        &self,
        q: Tensor<3>,
        k: Tensor<3>,
        v: Tensor<3>,
        cache: Option<(Tensor<4>, Tensor<4>)>,
        cos: &Tensor<4>,
        sin: &Tensor<4>,
        mask: &Mask,
    ) -> (Tensor<3>, (Tensor<4>, Tensor<4>)) {
        let config = &self.config;
        let [batch, seq, _] = q.dims();
        let heads = |x: Tensor<3>, n: usize| x.reshape([batch, seq, n, config.head_dim]).swap_dims(1, 2);
        let q = rope(heads(q, config.num_heads), cos, sin);
        let k = rope(heads(k, config.num_kv_heads), cos, sin);
        let v = heads(v, config.num_kv_heads);
        let (k, v) = match cache {
            Some((past_k, past_v)) => (Tensor::cat(vec![past_k, k], 2), Tensor::cat(vec![past_v, v], 2)),
            None => (k, v),
        };
        let out = match mask {
            Mask::Host(visibility) => {
                let device = q.device();
                let data = |t: Tensor<4>| t.into_data().try_into_vec::<f32>().expect("f32 activations");
                let shape = AttentionShape {
                    batch,
                    heads: config.num_heads,
                    kv_heads: config.num_kv_heads,
                    seq,
                    head_dim: config.head_dim,
                };
                let out = causal_attention(&data(q), &data(k.clone()), &data(v.clone()), shape, visibility);
                Tensor::from_data(TensorData::new(out, [batch, config.num_heads, seq, config.head_dim]), &device)
            }
            Mask::Bias(blocks) => {
                // Each block of queries multiplies only the keys up to its last one: a long
                // sequence keeps about half the scores for the backward pass.
                let groups = config.num_heads / config.num_kv_heads;
                let past = k.dims()[2] - seq;
                let outs = blocks.iter().enumerate().map(|(index, bias)| {
                    let first = index * TENSOR_QUERY_BLOCK;
                    let rows = TENSOR_QUERY_BLOCK.min(seq - first);
                    let extent = past + first + rows;
                    // Grouped-query attention without copying keys: the query heads that share
                    // a key/value head are stacked along the sequence axis.
                    let q = q.clone().narrow(2, first, rows).reshape([
                        batch,
                        config.num_kv_heads,
                        groups * rows,
                        config.head_dim,
                    ]);
                    let (k, v) = (k.clone().narrow(2, 0, extent), v.clone().narrow(2, 0, extent));
                    // Masking and softmax in f32, as Hugging Face does for reduced-precision compute.
                    let mut scores = q
                        .matmul(k.swap_dims(2, 3))
                        .mul_scalar(1.0 / (config.head_dim as f64).sqrt())
                        .cast(FloatDType::F32);
                    if let Some(bias) = bias {
                        scores = scores + bias.clone();
                    }
                    let out = softmax(scores, 3).cast(self.compute_dtype).matmul(v);
                    out.reshape([batch, config.num_heads, rows, config.head_dim])
                });
                Tensor::cat(outs.collect(), 2)
            }
        };
        let out = out.reshape([batch, config.num_heads, seq, config.head_dim]).swap_dims(1, 2).reshape([
            batch,
            seq,
            config.num_heads * config.head_dim,
        ]);
        (out, (k, v))
    }

    /// cos and sin `[batch, 1, seq, head_dim]` for each row's positions (HF's rotate-half
    /// layout: the two halves of a head share frequencies).
    fn rope_tables(&self, positions: &[Vec<usize>], device: &Device) -> (Tensor<4>, Tensor<4>) {
        let hd = self.config.head_dim;
        let inv_freq: Vec<f64> =
            (0..hd / 2).map(|i| self.config.rope_theta.powf(-((2 * i) as f64) / hd as f64)).collect();
        let (batch, seq) = (positions.len(), positions.first().map_or(0, Vec::len));
        let mut cos = Vec::with_capacity(batch * seq * hd);
        let mut sin = Vec::with_capacity(batch * seq * hd);
        for &position in positions.iter().flatten() {
            for _half in 0..2 {
                for &f in &inv_freq {
                    let angle = f64::from(position as u32) * f;
                    cos.push(angle.cos() as f32);
                    sin.push(angle.sin() as f32);
                }
            }
        }
        let shape = [batch, 1, seq, hd];
        let options = (device, DType::from(self.compute_dtype));
        (
            Tensor::from_data(TensorData::new(cos, shape), options),
            Tensor::from_data(TensorData::new(sin, shape), options),
        )
    }

    /// The additive f32 mask of the block of new tokens from `first` (at most
    /// [`TENSOR_QUERY_BLOCK`] of `seq`), `[batch, 1, groups·rows, past+first+rows]`: causal, and
    /// hiding padded keys. `None` when every query may see every key (one new token, no padding).
    fn attention_bias(&self, visibility: &Visibility, first: usize, seq: usize, device: &Device) -> Option<Tensor<4>> {
        let Visibility { valid, past } = visibility;
        if seq == 1 && valid.iter().flatten().all(|&v| v) {
            return None;
        }
        let rows = TENSOR_QUERY_BLOCK.min(seq - first);
        let extent = past + first + rows;
        let groups = self.config.num_heads / self.config.num_kv_heads;
        let mut bias = Vec::with_capacity(valid.len() * groups * rows * extent);
        for flags in valid {
            for _group in 0..groups {
                for i in first..first + rows {
                    bias.extend(
                        flags[..extent].iter().enumerate().map(|(j, &v)| if v && j <= past + i { 0.0 } else { MASKED }),
                    );
                }
            }
        }
        Some(Tensor::from_data(TensorData::new(bias, [valid.len(), 1, groups * rows, extent]), device))
    }
}

/// How a call's queries are kept from the keys they may not see: by the host attention kernel
/// (f32 on the CPU backend without a gradient graph, more than one new token), or by an
/// additive bias per block of queries on the tensor path.
#[derive(Debug, Clone)]
enum Mask {
    Host(Visibility),
    Bias(Vec<Option<Tensor<4>>>),
}

/// Rotary embedding, rotate-half form: `x·cos + rotate_half(x)·sin`.
fn rope(x: Tensor<4>, cos: &Tensor<4>, sin: &Tensor<4>) -> Tensor<4> {
    let half = x.dims()[3] / 2;
    let x1 = x.clone().narrow(3, 0, half);
    let x2 = x.clone().narrow(3, half, half);
    let rotated = Tensor::cat(vec![x2.neg(), x1], 3);
    x.mul(cos.clone()) + rotated.mul(sin.clone())
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
