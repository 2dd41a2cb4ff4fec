//! Tiny random-weight models that the tests write themselves (Hugging Face layout and GGUF),
//! and a plain f64 reference forward pass written straight from the architecture's equations.
#![allow(dead_code, unreachable_pub, clippy::cast_sign_loss, clippy::many_single_char_names)]

use std::collections::BTreeMap;
use std::path::Path;

use codi_model::quant::GgmlType;
use codi_model::{PackedWeight, SplitMix64};
use half::{bf16, f16};
use serde_json::{Value, json};

/// HF tensor name → (shape, values).
pub type Tensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

#[derive(Debug, Clone)]
pub struct Tiny {
    pub config: Value,
    pub tensors: Tensors,
}

#[derive(Debug, Clone, Copy)]
pub struct Dims {
    pub vocab: usize,
    pub hidden: usize,
    pub intermediate: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
}

pub const DIMS: Dims = Dims { vocab: 96, hidden: 64, intermediate: 128, layers: 2, heads: 4, kv_heads: 2 };

fn normal(rng: &mut SplitMix64) -> f32 {
    let (u1, u2) = (rng.next_f64().max(1e-12), rng.next_f64());
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

pub fn random(rng: &mut SplitMix64, n: usize, std: f32) -> Vec<f32> {
    (0..n).map(|_| normal(rng) * std).collect()
}

/// A tiny Llama (`qwen2 == false`: tied embeddings, no bias) or Qwen2 (q/k/v bias, separate head).
pub fn tiny(qwen2: bool, seed: u64) -> Tiny {
    let d = DIMS;
    let head_dim = d.hidden / d.heads;
    let mut rng = SplitMix64(seed);
    let mut tensors = Tensors::new();
    let mut add = |name: String, shape: Vec<usize>, std: f32, offset: f32, rng: &mut SplitMix64| {
        let values = random(rng, shape.iter().product(), std).into_iter().map(|v| v + offset).collect();
        tensors.insert(name, (shape, values));
    };
    add("model.embed_tokens.weight".into(), vec![d.vocab, d.hidden], 0.5, 0.0, &mut rng);
    for i in 0..d.layers {
        let p = format!("model.layers.{i}");
        add(format!("{p}.input_layernorm.weight"), vec![d.hidden], 0.1, 1.0, &mut rng);
        add(format!("{p}.post_attention_layernorm.weight"), vec![d.hidden], 0.1, 1.0, &mut rng);
        for (name, rows) in
            [("q_proj", d.heads * head_dim), ("k_proj", d.kv_heads * head_dim), ("v_proj", d.kv_heads * head_dim)]
        {
            add(format!("{p}.self_attn.{name}.weight"), vec![rows, d.hidden], 0.15, 0.0, &mut rng);
            if qwen2 {
                add(format!("{p}.self_attn.{name}.bias"), vec![rows], 0.3, 0.0, &mut rng);
            }
        }
        add(format!("{p}.self_attn.o_proj.weight"), vec![d.hidden, d.heads * head_dim], 0.15, 0.0, &mut rng);
        add(format!("{p}.mlp.gate_proj.weight"), vec![d.intermediate, d.hidden], 0.15, 0.0, &mut rng);
        add(format!("{p}.mlp.up_proj.weight"), vec![d.intermediate, d.hidden], 0.15, 0.0, &mut rng);
        add(format!("{p}.mlp.down_proj.weight"), vec![d.hidden, d.intermediate], 0.1, 0.0, &mut rng);
    }
    add("model.norm.weight".into(), vec![d.hidden], 0.1, 1.0, &mut rng);
    if qwen2 {
        add("lm_head.weight".into(), vec![d.vocab, d.hidden], 0.3, 0.0, &mut rng);
    }
    let config = json!({
        "model_type": if qwen2 { "qwen2" } else { "llama" },
        "vocab_size": d.vocab,
        "hidden_size": d.hidden,
        "intermediate_size": d.intermediate,
        "num_hidden_layers": d.layers,
        "num_attention_heads": d.heads,
        "num_key_value_heads": d.kv_heads,
        "max_position_embeddings": 256,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "tie_word_embeddings": !qwen2,
    });
    Tiny { config, tensors }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Encoding {
    F32,
    F16,
    BF16,
}

fn encode(values: &[f32], encoding: Encoding) -> (&'static str, Vec<u8>) {
    match encoding {
        Encoding::F32 => ("F32", values.iter().flat_map(|v| v.to_le_bytes()).collect()),
        Encoding::F16 => ("F16", values.iter().flat_map(|v| f16::from_f32(*v).to_le_bytes()).collect()),
        Encoding::BF16 => ("BF16", values.iter().flat_map(|v| bf16::from_f32(*v).to_le_bytes()).collect()),
    }
}

/// Writes `config.json` and the weights as `shards` safetensors files (with an index when > 1).
pub fn write_hf_dir(dir: &Path, tiny: &Tiny, shards: usize, encoding: Encoding) {
    std::fs::create_dir_all(dir).expect("mkdir");
    std::fs::write(dir.join("config.json"), serde_json::to_vec_pretty(&tiny.config).expect("json"))
        .expect("write config");
    let names: Vec<&String> = tiny.tensors.keys().collect();
    let per_shard = names.len().div_ceil(shards);
    let mut weight_map = serde_json::Map::new();
    for (index, chunk) in names.chunks(per_shard).enumerate() {
        let file = if shards == 1 {
            "model.safetensors".to_owned()
        } else {
            format!("model-{:05}-of-{shards:05}.safetensors", index + 1)
        };
        let tensors: Vec<(&str, &Vec<usize>, Vec<f32>)> =
            chunk.iter().map(|n| (n.as_str(), &tiny.tensors[*n].0, tiny.tensors[*n].1.clone())).collect();
        std::fs::write(dir.join(&file), safetensors_bytes(&tensors, encoding)).expect("write shard");
        for name in chunk {
            weight_map.insert((*name).clone(), json!(file));
        }
    }
    if shards > 1 {
        let index = json!({"metadata": {}, "weight_map": weight_map});
        std::fs::write(dir.join("model.safetensors.index.json"), serde_json::to_vec(&index).expect("json"))
            .expect("write index");
    }
}

pub fn safetensors_bytes(tensors: &[(&str, &Vec<usize>, Vec<f32>)], encoding: Encoding) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, shape, values) in tensors {
        let (dtype, bytes) = encode(values, encoding);
        header.insert(
            (*name).to_owned(),
            json!({"dtype": dtype, "shape": shape, "data_offsets": [data.len(), data.len() + bytes.len()]}),
        );
        data.extend(bytes);
    }
    header.insert("__metadata__".into(), json!({"format": "pt"}));
    let mut header = serde_json::to_vec(&header).expect("json");
    header.resize(header.len().next_multiple_of(8), b' ');
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend(header);
    out.extend(data);
    out
}

/// Quantizes row-major values to GGML blocks (Q4_1 and Q8_0, as llama.cpp's reference
/// quantizers do) and returns the bytes with the values they decode to.
pub fn quantize(values: &[f32], ty: GgmlType) -> (Vec<u8>, Vec<f32>) {
    let mut bytes = Vec::new();
    match ty {
        GgmlType::Q8_0 => {
            for block in values.chunks_exact(32) {
                let amax = block.iter().fold(0f32, |a, v| a.max(v.abs()));
                let d = amax / 127.0;
                let inverse = if d == 0.0 { 0.0 } else { 1.0 / d };
                bytes.extend(f16::from_f32(d).to_le_bytes());
                bytes.extend(block.iter().map(|v| (v * inverse).round() as i8 as u8));
            }
        }
        GgmlType::Q4_1 => {
            for block in values.chunks_exact(32) {
                let min = block.iter().copied().fold(f32::INFINITY, f32::min);
                let max = block.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let d = (max - min) / 15.0;
                let inverse = if d == 0.0 { 0.0 } else { 1.0 / d };
                bytes.extend(f16::from_f32(d).to_le_bytes());
                bytes.extend(f16::from_f32(min).to_le_bytes());
                let q = |v: f32| (((v - min) * inverse + 0.5) as u8).min(15);
                bytes.extend((0..16).map(|j| q(block[j]) | (q(block[j + 16]) << 4)));
            }
        }
        GgmlType::F32 => bytes.extend(values.iter().flat_map(|v| v.to_le_bytes())),
        other => panic!("no test quantizer for {other:?}"),
    }
    let mut decoded = vec![0.0; values.len()];
    ty.dequantize(&bytes, &mut decoded);
    (bytes, decoded)
}

/// llama.cpp's q/k row permutation (HF → GGUF), as its converter writes it:
/// `w.reshape(heads, 2, hd/2, in).swapaxes(1, 2).reshape(out, in)`.
pub fn permute_for_gguf(values: &[f32], rows: usize, cols: usize, heads: usize) -> Vec<f32> {
    let head_dim = rows / heads;
    let half = head_dim / 2;
    let mut out = vec![0.0; values.len()];
    for h in 0..heads {
        for i in 0..half {
            for j in 0..2 {
                let hf_row = h * head_dim + j * half + i;
                let gguf_row = h * head_dim + 2 * i + j;
                out[gguf_row * cols..(gguf_row + 1) * cols]
                    .copy_from_slice(&values[hf_row * cols..(hf_row + 1) * cols]);
            }
        }
    }
    out
}

fn gguf_name(hf: &str) -> String {
    let hf = hf
        .replace("model.layers.", "blk.")
        .replace("model.embed_tokens", "token_embd")
        .replace("model.norm", "output_norm")
        .replace("lm_head", "output");
    [
        ("input_layernorm", "attn_norm"),
        ("post_attention_layernorm", "ffn_norm"),
        ("self_attn.q_proj", "attn_q"),
        ("self_attn.k_proj", "attn_k"),
        ("self_attn.v_proj", "attn_v"),
        ("self_attn.o_proj", "attn_output"),
        ("mlp.gate_proj", "ffn_gate"),
        ("mlp.up_proj", "ffn_up"),
        ("mlp.down_proj", "ffn_down"),
    ]
    .iter()
    .fold(hf, |name, (from, to)| name.replace(from, to))
}

/// A GGUF writer for tests: metadata (string, u32, f32, string array, i32 array) and tensors.
#[derive(Debug, Default)]
pub struct GgufWriter {
    pub kv: Vec<(String, Vec<u8>)>,
    pub tensors: Vec<(String, Vec<usize>, u32, Vec<u8>)>,
}

fn gguf_string(s: &str) -> Vec<u8> {
    let mut out = (s.len() as u64).to_le_bytes().to_vec();
    out.extend(s.as_bytes());
    out
}

impl GgufWriter {
    pub fn string(&mut self, key: &str, value: &str) {
        let mut v = 8u32.to_le_bytes().to_vec();
        v.extend(gguf_string(value));
        self.kv.push((key.into(), v));
    }

    pub fn u32(&mut self, key: &str, value: u32) {
        let mut v = 4u32.to_le_bytes().to_vec();
        v.extend(value.to_le_bytes());
        self.kv.push((key.into(), v));
    }

    pub fn f32(&mut self, key: &str, value: f32) {
        let mut v = 6u32.to_le_bytes().to_vec();
        v.extend(value.to_le_bytes());
        self.kv.push((key.into(), v));
    }

    pub fn strings(&mut self, key: &str, values: &[&str]) {
        let mut v = 9u32.to_le_bytes().to_vec();
        v.extend(8u32.to_le_bytes());
        v.extend((values.len() as u64).to_le_bytes());
        for s in values {
            v.extend(gguf_string(s));
        }
        self.kv.push((key.into(), v));
    }

    pub fn i32s(&mut self, key: &str, values: &[i32]) {
        let mut v = 9u32.to_le_bytes().to_vec();
        v.extend(5u32.to_le_bytes());
        v.extend((values.len() as u64).to_le_bytes());
        for x in values {
            v.extend(x.to_le_bytes());
        }
        self.kv.push((key.into(), v));
    }

    /// `shape` in PyTorch order.
    pub fn tensor(&mut self, name: &str, shape: &[usize], ty: u32, bytes: Vec<u8>) {
        self.tensors.push((name.into(), shape.iter().rev().copied().collect(), ty, bytes));
    }

    pub fn bytes(&self) -> Vec<u8> {
        let mut out = b"GGUF".to_vec();
        out.extend(3u32.to_le_bytes());
        out.extend((self.tensors.len() as u64).to_le_bytes());
        out.extend((self.kv.len() as u64).to_le_bytes());
        for (key, value) in &self.kv {
            out.extend(gguf_string(key));
            out.extend(value);
        }
        let mut offset = 0usize;
        for (name, dims, ty, bytes) in &self.tensors {
            out.extend(gguf_string(name));
            out.extend((dims.len() as u32).to_le_bytes());
            for d in dims {
                out.extend((*d as u64).to_le_bytes());
            }
            out.extend(ty.to_le_bytes());
            out.extend((offset as u64).to_le_bytes());
            offset = (offset + bytes.len()).next_multiple_of(32);
        }
        out.resize(out.len().next_multiple_of(32), 0);
        for (_, _, _, bytes) in &self.tensors {
            out.extend(bytes);
            out.resize(out.len().next_multiple_of(32), 0);
        }
        out
    }
}

/// The tiny model as a GGUF file: matrices in `matrix_type` (the embedding in `embed_type`),
/// q/k permuted as llama.cpp stores them. Returns the writer and the weights as the file holds
/// them (decoded, HF layout) for a reference.
pub fn tiny_gguf(tiny: &Tiny, matrix_type: GgmlType, embed_type: GgmlType) -> (GgufWriter, Tensors) {
    let d = DIMS;
    let arch = tiny.config["model_type"].as_str().expect("model_type").to_owned();
    let mut w = GgufWriter::default();
    w.string("general.architecture", &arch);
    w.u32(&format!("{arch}.embedding_length"), d.hidden as u32);
    w.u32(&format!("{arch}.feed_forward_length"), d.intermediate as u32);
    w.u32(&format!("{arch}.block_count"), d.layers as u32);
    w.u32(&format!("{arch}.attention.head_count"), d.heads as u32);
    w.u32(&format!("{arch}.attention.head_count_kv"), d.kv_heads as u32);
    w.u32(&format!("{arch}.context_length"), 256);
    w.f32(&format!("{arch}.rope.freq_base"), 10000.0);
    w.f32(&format!("{arch}.attention.layer_norm_rms_epsilon"), 1e-5);
    let mut held = Tensors::new();
    for (name, (shape, values)) in &tiny.tensors {
        let ty = if shape.len() == 1 {
            GgmlType::F32
        } else if name.contains("embed_tokens") || name.starts_with("lm_head") {
            embed_type
        } else {
            matrix_type
        };
        let (bytes, decoded) = quantize(values, ty);
        held.insert(name.clone(), (shape.clone(), decoded.clone()));
        let heads = if name.contains("q_proj.weight") {
            Some(d.heads)
        } else if name.contains("k_proj.weight") {
            Some(d.kv_heads)
        } else {
            None
        };
        let bytes = match heads {
            Some(h) if arch == "llama" => quantize(&permute_for_gguf(values, shape[0], shape[1], h), ty).0,
            _ => bytes,
        };
        w.tensor(&gguf_name(name), shape, ty.id(), bytes);
    }
    (w, held)
}

/// The reference forward pass in f64: logits at every position of `ids`.
pub fn reference_logits(config: &Value, tensors: &Tensors, ids: &[u32]) -> Vec<Vec<f64>> {
    let get = |name: &str| -> &Vec<f32> { &tensors.get(name).unwrap_or_else(|| panic!("tensor {name}")).1 };
    let n = |key: &str| config[key].as_u64().expect("config") as usize;
    let (hidden, heads, kv_heads, inter, vocab) =
        (n("hidden_size"), n("num_attention_heads"), n("num_key_value_heads"), n("intermediate_size"), n("vocab_size"));
    let hd = hidden / heads;
    let eps = config["rms_norm_eps"].as_f64().expect("eps");
    let theta = config["rope_theta"].as_f64().expect("theta");
    let matvec = |w: &[f32], rows: usize, x: &[f64]| -> Vec<f64> {
        (0..rows)
            .map(|r| w[r * x.len()..(r + 1) * x.len()].iter().zip(x).map(|(&a, b)| f64::from(a) * b).sum())
            .collect()
    };
    let norm = |x: &[f64], w: &[f32]| -> Vec<f64> {
        let rms = (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64 + eps).sqrt();
        x.iter().zip(w).map(|(v, &g)| v / rms * f64::from(g)).collect()
    };
    let rope = |v: &mut [f64], pos: usize| {
        for head in v.chunks_mut(hd) {
            let half = hd / 2;
            for i in 0..half {
                let angle = pos as f64 * theta.powf(-((2 * i) as f64) / hd as f64);
                let (a, b) = (head[i], head[i + half]);
                head[i] = a * angle.cos() - b * angle.sin();
                head[i + half] = b * angle.cos() + a * angle.sin();
            }
        }
    };
    let embed = get("model.embed_tokens.weight");
    let mut xs: Vec<Vec<f64>> = ids
        .iter()
        .map(|&t| embed[t as usize * hidden..(t as usize + 1) * hidden].iter().map(|&v| f64::from(v)).collect())
        .collect();
    for layer in 0..n("num_hidden_layers") {
        let p = format!("model.layers.{layer}");
        let bias = |name: &str, v: &mut Vec<f64>| {
            if let Some((_, b)) = tensors.get(&format!("{p}.self_attn.{name}.bias")) {
                v.iter_mut().zip(b).for_each(|(x, &b)| *x += f64::from(b));
            }
        };
        let mut qs = Vec::new();
        let mut ks = Vec::new();
        let mut vs = Vec::new();
        for (pos, x) in xs.iter().enumerate() {
            let h = norm(x, get(&format!("{p}.input_layernorm.weight")));
            let mut q = matvec(get(&format!("{p}.self_attn.q_proj.weight")), heads * hd, &h);
            let mut k = matvec(get(&format!("{p}.self_attn.k_proj.weight")), kv_heads * hd, &h);
            let mut v = matvec(get(&format!("{p}.self_attn.v_proj.weight")), kv_heads * hd, &h);
            bias("q_proj", &mut q);
            bias("k_proj", &mut k);
            bias("v_proj", &mut v);
            rope(&mut q, pos);
            rope(&mut k, pos);
            qs.push(q);
            ks.push(k);
            vs.push(v);
        }
        for pos in 0..xs.len() {
            let mut out = vec![0.0; heads * hd];
            for head in 0..heads {
                let kv = head / (heads / kv_heads);
                let q = &qs[pos][head * hd..(head + 1) * hd];
                let scores: Vec<f64> = (0..=pos)
                    .map(|j| {
                        q.iter().zip(&ks[j][kv * hd..(kv + 1) * hd]).map(|(a, b)| a * b).sum::<f64>()
                            / (hd as f64).sqrt()
                    })
                    .collect();
                let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f64 = weights.iter().sum();
                for (j, w) in weights.iter().enumerate() {
                    for i in 0..hd {
                        out[head * hd + i] += w / total * vs[j][kv * hd + i];
                    }
                }
            }
            let o = matvec(get(&format!("{p}.self_attn.o_proj.weight")), hidden, &out);
            xs[pos].iter_mut().zip(o).for_each(|(x, o)| *x += o);
            let h = norm(&xs[pos], get(&format!("{p}.post_attention_layernorm.weight")));
            let gate = matvec(get(&format!("{p}.mlp.gate_proj.weight")), inter, &h);
            let up = matvec(get(&format!("{p}.mlp.up_proj.weight")), inter, &h);
            let act: Vec<f64> = gate.iter().zip(&up).map(|(g, u)| g / (1.0 + (-g).exp()) * u).collect();
            let down = matvec(get(&format!("{p}.mlp.down_proj.weight")), hidden, &act);
            xs[pos].iter_mut().zip(down).for_each(|(x, d)| *x += d);
        }
    }
    let head = tensors.get("lm_head.weight").map_or(embed, |(_, w)| w);
    xs.iter().map(|x| matvec(head, vocab, &norm(x, get("model.norm.weight")))).collect()
}

/// Byte offsets of a block's f16 fields (scales and minimums), which must be finite.
pub fn half_fields(ty: GgmlType) -> &'static [usize] {
    match ty {
        GgmlType::Q4_0 | GgmlType::Q8_0 => &[0],
        GgmlType::Q4_1 | GgmlType::Q4K | GgmlType::Q5K => &[0, 2],
        GgmlType::Q6K => &[208],
        _ => &[],
    }
}

/// A `[rows, cols]` matrix of random blocks of `ty`: every code, sub-scale and high bit drawn,
/// the f16 fields finite and of both signs.
pub fn random_blocks(ty: GgmlType, rows: usize, cols: usize, seed: u64) -> PackedWeight {
    let mut rng = SplitMix64(seed);
    let len = ty.bytes_for(cols).expect("whole blocks") * rows;
    let mut bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
    for block in bytes.chunks_exact_mut(ty.block_bytes()) {
        for &at in half_fields(ty) {
            let value = f16::from_f64((rng.next_f64() - 0.5) * 0.1);
            block[at..at + 2].copy_from_slice(&value.to_le_bytes());
        }
    }
    PackedWeight::from_ggml(ty, rows, cols, bytes).expect("valid blocks")
}
