//! Loaders and the forward pass on tiny random-weight models the tests write themselves, checked
//! against the f64 reference forward in `support`.

mod support;

use burn::tensor::{DType, FloatDType};
use codi_model::gguf::Gguf;
use codi_model::quant::{GgmlType, NF4_BLOCK, NF4_CODES};
use codi_model::{
    KvCache, PackedWeight, Quantize, SplitMix64, Transformer, cpu, from_gguf, from_hf_dir, last_logits, score,
};
use support::{DIMS, Encoding, Tensors, Tiny, reference_logits, tiny, tiny_gguf, write_hf_dir};

const IDS: [u32; 9] = [3, 17, 42, 5, 88, 61, 0, 95, 23];

fn all_logits(model: &Transformer, ids: &[u32]) -> Vec<Vec<f32>> {
    let hidden = model.forward(&[ids.to_vec()], None, &mut KvCache::default());
    let logits = model.logits(hidden).into_data().convert::<f32>().try_into_vec::<f32>().expect("f32");
    logits.chunks(DIMS.vocab).map(<[f32]>::to_vec).collect()
}

fn max_delta(got: &[Vec<f32>], expected: &[Vec<f64>]) -> f64 {
    got.iter().flatten().zip(expected.iter().flatten()).map(|(&g, e)| (f64::from(g) - e).abs()).fold(0.0, f64::max)
}

fn hf_model(tiny: &Tiny, shards: usize, encoding: Encoding, quantize: Quantize) -> Transformer {
    let dir = tempfile::tempdir().expect("tempdir");
    write_hf_dir(dir.path(), tiny, shards, encoding);
    from_hf_dir(dir.path(), quantize, &cpu()).expect("load HF dir")
}

fn gguf_model(tiny: &Tiny, matrices: GgmlType, embeddings: GgmlType) -> (Transformer, Tensors) {
    let (writer, held) = tiny_gguf(tiny, matrices, embeddings);
    let bytes = writer.bytes();
    let path = std::path::Path::new("tiny.gguf");
    let gguf = Gguf::parse(path, &bytes).expect("parse GGUF");
    (from_gguf(&gguf, &bytes, Quantize::AsStored, &cpu()).expect("load GGUF"), held)
}

#[test]
fn hf_llama_matches_the_reference_forward() {
    let tiny = tiny(false, 1);
    let delta = max_delta(
        &all_logits(&hf_model(&tiny, 1, Encoding::F32, Quantize::AsStored), &IDS),
        &reference_logits(&tiny.config, &tiny.tensors, &IDS),
    );
    assert!(delta < 1e-4, "max |Δ| {delta}");
}

#[test]
fn hf_qwen2_with_qkv_bias_and_separate_head_matches_the_reference_forward() {
    let tiny = tiny(true, 2);
    let model = hf_model(&tiny, 1, Encoding::F32, Quantize::AsStored);
    assert!(model.lm_head.is_some() && model.layers[0].self_attn.q_proj.bias().is_some());
    let delta = max_delta(&all_logits(&model, &IDS), &reference_logits(&tiny.config, &tiny.tensors, &IDS));
    assert!(delta < 1e-4, "max |Δ| {delta}");
}

#[test]
fn sharded_safetensors_load_like_one_file() {
    let tiny = tiny(true, 3);
    let single = all_logits(&hf_model(&tiny, 1, Encoding::F32, Quantize::AsStored), &IDS);
    let sharded = all_logits(&hf_model(&tiny, 3, Encoding::F32, Quantize::AsStored), &IDS);
    assert_eq!(single, sharded);
}

#[test]
fn half_precision_safetensors_decode_exactly() {
    for (encoding, round) in [
        (Encoding::BF16, (|v: f32| half::bf16::from_f32(v).to_f32()) as fn(f32) -> f32),
        (Encoding::F16, |v| half::f16::from_f32(v).to_f32()),
    ] {
        let mut tiny = tiny(false, 4);
        let model = hf_model(&tiny, 2, encoding, Quantize::AsStored);
        tiny.tensors.values_mut().for_each(|(_, values)| values.iter_mut().for_each(|v| *v = round(*v)));
        let delta = max_delta(&all_logits(&model, &IDS), &reference_logits(&tiny.config, &tiny.tensors, &IDS));
        assert!(delta < 1e-4, "{encoding:?}: max |Δ| {delta}");
    }
}

#[test]
fn gguf_llama_undoes_the_qk_permutation() {
    let tiny = tiny(false, 5);
    let (model, held) = gguf_model(&tiny, GgmlType::F32, GgmlType::F32);
    let delta = max_delta(&all_logits(&model, &IDS), &reference_logits(&tiny.config, &held, &IDS));
    assert!(delta < 1e-4, "max |Δ| {delta}");
}

#[test]
fn gguf_q4_1_and_q8_0_stay_packed_and_match_the_reference() {
    let tiny = tiny(false, 6);
    let (model, held) = gguf_model(&tiny, GgmlType::Q4_1, GgmlType::Q8_0);
    let q = model.layers[0].self_attn.q_proj.packed_weight().expect("packed q_proj");
    assert_eq!(q.format(), "Q4_1");
    assert_eq!(model.embed_tokens.packed_weight().expect("packed embeddings").format(), "Q8_0");
    let expected = reference_logits(&tiny.config, &held, &IDS);
    let delta = max_delta(&all_logits(&model, &IDS), &expected);
    assert!(delta < 1e-4, "prompt path: max |Δ| {delta}");
    // Token by token: the fused decode-and-dot kernel instead of the GEMM path.
    let mut cache = KvCache::default();
    for (i, &id) in IDS.iter().enumerate() {
        let logits = last_logits(&model, &[vec![id]], &mut cache);
        let delta = max_delta(&[logits], &expected[i..=i]);
        assert!(delta < 1e-4, "position {i}: max |Δ| {delta}");
    }
}

#[test]
fn gguf_qwen2_keeps_rows_and_loads_biases() {
    let tiny = tiny(true, 7);
    let (model, held) = gguf_model(&tiny, GgmlType::Q8_0, GgmlType::F32);
    let delta = max_delta(&all_logits(&model, &IDS), &reference_logits(&tiny.config, &held, &IDS));
    assert!(delta < 1e-4, "max |Δ| {delta}");
}

#[test]
fn nf4_round_trip_is_within_its_error_bound() {
    let mut rng = SplitMix64(8);
    let (rows, cols) = (96, 256);
    let values = support::random(&mut rng, rows * cols, 1.0);
    let packed = PackedWeight::nf4(rows, cols, &values).expect("whole blocks");
    let decoded = packed.dequantize();
    // Each value is at most half the widest gap between NF4 codes from its code, times its
    // block's absmax; the absmax itself is off by at most half a step of its 8-bit encoding.
    let widest_gap = NF4_CODES.windows(2).map(|w| w[1] - w[0]).fold(0f32, f32::max);
    let mut squared = 0.0;
    for (block, (original, got)) in values.chunks(NF4_BLOCK).zip(decoded.chunks(NF4_BLOCK)).enumerate() {
        let absmax = original.iter().fold(0f32, |a, v| a.max(v.abs()));
        let bound = absmax * widest_gap / 2.0 + absmax * 0.02;
        for (o, g) in original.iter().zip(got) {
            assert!((o - g).abs() <= bound, "block {block}: {o} → {g} (bound {bound})");
            squared += f64::from(o - g).powi(2);
        }
    }
    let rmse = (squared / values.len() as f64).sqrt();
    assert!(rmse < 0.12, "rmse {rmse}");
    assert!(
        packed.bytes() * 7 < values.len() * 4,
        "NF4 holds {} bytes for {} f32 values",
        packed.bytes(),
        values.len()
    );
}

#[test]
fn nf4_quantized_model_computes_with_its_decoded_weights() {
    let tiny = tiny(true, 9);
    let model = hf_model(&tiny, 1, Encoding::F32, Quantize::Nf4);
    assert_eq!(model.layers[1].mlp.down_proj.packed_weight().expect("packed").format(), "NF4");
    // What the model should compute: the reference forward over the NF4-decoded projections
    // (embeddings, norms and biases stay as they are).
    let mut decoded = tiny.tensors.clone();
    for (name, (shape, values)) in &mut decoded {
        if shape.len() == 2 && name.contains("_proj.") {
            *values = PackedWeight::nf4(shape[0], shape[1], values).expect("whole blocks").dequantize();
        }
    }
    let delta = max_delta(&all_logits(&model, &IDS), &reference_logits(&tiny.config, &decoded, &IDS));
    assert!(delta < 1e-4, "max |Δ| {delta}");
}

#[test]
fn bf16_compute_tracks_the_reference_within_bf16_precision() {
    let tiny = tiny(true, 12);
    let (mut model, held) = gguf_model(&tiny, GgmlType::Q4_1, GgmlType::Q8_0);
    model.compute_dtype = FloatDType::BF16;
    let hidden = model.forward(&[IDS.to_vec()], None, &mut KvCache::default());
    assert_eq!(hidden.dtype(), DType::BF16, "activations are computed in bf16");
    assert_eq!(model.logits(hidden).dtype(), DType::F32, "logits come back in f32");
    let expected = reference_logits(&tiny.config, &held, &IDS);
    let scale = expected.iter().flatten().fold(0f64, |m, l| m.max(l.abs()));
    // Whole prompt (decoded weights, GEMM) and token by token (KV cache, fused host kernel).
    let mut cache = KvCache::default();
    let stepwise: Vec<Vec<f32>> = IDS.iter().map(|&id| last_logits(&model, &[vec![id]], &mut cache)).collect();
    for (path, got) in [("prompt", all_logits(&model, &IDS)), ("stepwise", stepwise)] {
        let delta = max_delta(&got, &expected);
        eprintln!("{path}: bf16 max |Δ| {delta:.2e} on logits up to {scale:.2}");
        // bf16 keeps 8 significant bits: a few units of 2⁻⁸ relative to the logits' scale.
        assert!(delta < 0.05 * scale, "{path}: max |Δ| {delta} on logits up to {scale}");
        assert!(delta > 1e-4 * scale, "{path}: max |Δ| {delta} is f32's, not bf16's");
    }
}

#[test]
fn long_prompts_after_a_cache_match_the_reference_on_the_host_and_tensor_paths() {
    // 600 new tokens after 20 cached: ten query blocks of the host kernel (the CPU without a
    // gradient graph), three of the tensor path (a training device).
    let tiny = tiny(false, 13);
    let (writer, held) = tiny_gguf(&tiny, GgmlType::Q4_1, GgmlType::Q8_0);
    let bytes = writer.bytes();
    let gguf = Gguf::parse(std::path::Path::new("tiny.gguf"), &bytes).expect("parse GGUF");
    let ids: Vec<u32> = (0..620u32).map(|i| i * 37 % 96).collect();
    let expected = reference_logits(&tiny.config, &held, &ids);
    for (path, device) in [("host", cpu()), ("tensor", cpu().autodiff())] {
        let model = from_gguf(&gguf, &bytes, Quantize::AsStored, &device).expect("load GGUF");
        let mut cache = KvCache::default();
        model.forward(&[ids[..20].to_vec()], None, &mut cache);
        let hidden = model.forward(&[ids[20..].to_vec()], None, &mut cache);
        let logits = model.logits(hidden).into_data().convert::<f32>().try_into_vec::<f32>().expect("f32");
        let got: Vec<Vec<f32>> = logits.chunks(DIMS.vocab).map(<[f32]>::to_vec).collect();
        let delta = max_delta(&got, &expected[20..]);
        assert!(delta < 1e-4, "{path} path: max |Δ| {delta}");
    }
}

#[test]
fn left_padding_does_not_change_a_row() {
    let tiny = tiny(false, 10);
    let (model, _) = gguf_model(&tiny, GgmlType::Q4_1, GgmlType::Q8_0);
    let alone = last_logits(&model, &[IDS.to_vec()], &mut KvCache::default());
    let short = IDS[4..].to_vec();
    let short_alone = last_logits(&model, std::slice::from_ref(&short), &mut KvCache::default());
    let padded_short: Vec<u32> = [0; 4].into_iter().chain(short).collect();
    let valid = vec![vec![true; IDS.len()], (0..IDS.len()).map(|i| i >= 4).collect()];
    let hidden = model.forward(&[IDS.to_vec(), padded_short], Some(&valid), &mut KvCache::default());
    let last = hidden.narrow(1, IDS.len() - 1, 1);
    let batched = model.logits(last).into_data().convert::<f32>().try_into_vec::<f32>().expect("f32");
    let (row0, row1) = batched.split_at(DIMS.vocab);
    for (a, b) in [(row0, &alone), (row1, &short_alone)] {
        let delta = a.iter().zip(b.iter()).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        assert!(delta < 1e-4, "max |Δ| {delta}");
    }
}

#[test]
fn scoring_with_a_shared_prompt_equals_scoring_each_candidate_alone() {
    let tiny = tiny(true, 11);
    let (model, held) = gguf_model(&tiny, GgmlType::Q4_1, GgmlType::Q8_0);
    let prompt = [5u32, 9, 14, 2];
    // The last group's positions (7 + 260) span two of the readout's 256-position chunks.
    let long: Vec<u32> = (0..260).map(|i| 10 + i % 50).collect();
    let candidates = vec![vec![7u32, 8, 9, 10, 11], vec![40], vec![3, 3, 3], vec![60, 61, 62, 63, 64, 65, 66], long];
    let scores = score(&model, &prompt, &candidates, 3).expect("score");
    for (candidate, got) in candidates.iter().zip(&scores) {
        let ids: Vec<u32> = prompt.iter().chain(candidate).copied().collect();
        let logits = reference_logits(&tiny.config, &held, &ids);
        let expected: f64 = candidate
            .iter()
            .enumerate()
            .map(|(i, &t)| {
                let row = &logits[prompt.len() - 1 + i];
                let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                row[t as usize] - max - row.iter().map(|l| (l - max).exp()).sum::<f64>().ln()
            })
            .sum();
        assert_eq!(got.tokens, candidate.len());
        assert!((got.logprob - expected).abs() < 1e-3, "{candidate:?}: {} vs {expected}", got.logprob);
    }
}
