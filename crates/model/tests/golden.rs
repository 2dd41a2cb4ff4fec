//! The runtime against Hugging Face transformers on the default model (fixtures/reference).
//! Runs when `make model` has fetched the model; with `CODI_REQUIRE_ORACLES=1` (CI) a missing
//! model fails instead of skipping.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use burn::tensor::FloatDType;
use codi_model::gguf::Gguf;
use codi_model::{GenerateOptions, KvCache, Message, Model, Quantize, cpu, generate, last_logits};
use serde_json::Value;

fn model_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/base/SmolLM2-135M-Instruct.Q4_1.gguf")
}

fn model() -> Option<&'static Model> {
    static MODEL: OnceLock<Option<Model>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let path = model_path();
            if !path.is_file() {
                assert!(
                    std::env::var_os("CODI_REQUIRE_ORACLES").is_none(),
                    "{} is missing: run `make model`",
                    path.display()
                );
                eprintln!("skipped: {} is missing (run `make model`)", path.display());
                return None;
            }
            Some(Model::load_gguf(&path, Quantize::AsStored, &cpu()).expect("the default model loads"))
        })
        .as_ref()
}

fn golden() -> &'static Value {
    static GOLDEN: OnceLock<Value> = OnceLock::new();
    GOLDEN.get_or_init(|| {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference/smollm2-golden.json"),
        )
        .expect("golden file");
        serde_json::from_str(&text).expect("golden JSON")
    })
}

fn prompts() -> &'static [Value] {
    golden()["prompts"].as_array().expect("prompts")
}

fn ids(value: &Value) -> Vec<u32> {
    value.as_array().expect("array").iter().map(|v| u32::try_from(v.as_u64().expect("id")).expect("u32")).collect()
}

fn logits_for(model: &Model, prompt: &[u32]) -> Vec<f32> {
    last_logits(&model.transformer, &[prompt.to_vec()], &mut KvCache::default())
}

#[test]
fn tokenizer_from_gguf_matches_transformers_and_llama_cpp() {
    let Some(model) = model() else { return };
    for prompt in prompts() {
        let expected = ids(&prompt["token_ids"]);
        assert_eq!(
            model.tokenizer.encode(prompt["text"].as_str().expect("text")).expect("encode"),
            expected,
            "prompt {}",
            prompt["name"]
        );
    }
    let cases: Value =
        serde_json::from_str(include_str!("fixtures/reference/smollm2-tokenizer-cases.json")).expect("cases");
    let cases = cases["cases"].as_array().expect("cases");
    for case in cases {
        let text = case["text"].as_str().expect("text");
        let got = model.tokenizer.encode(text).expect("encode");
        assert_eq!(got, ids(&case["llama_cpp_ids"]), "case {text:?}");
        assert_eq!(model.tokenizer.decode(&got).expect("decode"), text, "round trip of {text:?}");
    }
    eprintln!("tokenizer: {} golden prompts and {} llama.cpp cases identical", prompts().len(), cases.len());
}

#[test]
fn reference_tokenizer_json_matches_llama_cpp() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/smollm2-tokenizer.json");
    if !path.is_file() {
        eprintln!("skipped: {} is missing", path.display());
        return;
    }
    let tokenizer = codi_model::Tokenizer::from_file(&path, None).expect("tokenizer.json loads");
    let cases: Value =
        serde_json::from_str(include_str!("fixtures/reference/smollm2-tokenizer-cases.json")).expect("cases");
    for case in cases["cases"].as_array().expect("cases") {
        assert_eq!(
            tokenizer.encode(case["text"].as_str().expect("text")).expect("encode"),
            ids(&case["llama_cpp_ids"])
        );
    }
    for prompt in prompts() {
        assert_eq!(
            tokenizer.encode(prompt["text"].as_str().expect("text")).expect("encode"),
            ids(&prompt["token_ids"])
        );
    }
}

#[test]
fn chat_template_renders_like_transformers() {
    let Some(model) = model() else { return };
    let chat = prompts().iter().find(|p| p["name"] == "chat").expect("chat prompt");
    let messages: Vec<Message> = serde_json::from_value(chat["chat_messages"].clone()).expect("messages");
    let text = model.tokenizer.apply_chat_template(&messages, true).expect("render");
    assert_eq!(text, chat["text"].as_str().expect("text"));
}

#[test]
fn last_position_logits_match_transformers() {
    let Some(model) = model() else { return };
    for prompt in prompts() {
        let logits = logits_for(model, &ids(&prompt["token_ids"]));
        let mut order: Vec<usize> = (0..logits.len()).collect();
        order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
        let top20: Vec<u32> = order[..20].iter().map(|&i| i as u32).collect();
        assert_eq!(top20, ids(&prompt["last_top20_ids"]), "top-20 ids of prompt {}", prompt["name"]);
        let golden_top: Vec<f64> =
            prompt["last_top20_logits"].as_array().expect("logits").iter().map(|v| v.as_f64().expect("f64")).collect();
        let top_delta =
            order[..20].iter().zip(&golden_top).map(|(&i, g)| (f64::from(logits[i]) - g).abs()).fold(0.0, f64::max);
        eprintln!("prompt {}: top-20 ids identical, max |Δ| on them {top_delta:.2e}", prompt["name"]);
        if let Some(full) = prompt.get("last_logits_f32").and_then(Value::as_array) {
            assert_eq!(full.len(), logits.len());
            let deltas: Vec<f64> =
                full.iter().zip(&logits).map(|(g, &l)| (f64::from(l) - g.as_f64().expect("f64")).abs()).collect();
            let max = deltas.iter().copied().fold(0.0, f64::max);
            let mean = deltas.iter().sum::<f64>() / deltas.len() as f64;
            eprintln!("prompt {}: all {} logits, max |Δ| {max:.2e}, mean |Δ| {mean:.2e}", prompt["name"], deltas.len());
            assert!(max <= 0.05, "max |Δlogit| {max} > 0.05");
        }
    }
}

#[test]
fn bf16_compute_keeps_transformers_top_tokens() {
    let Some(model) = model() else { return };
    let mut transformer = model.transformer.clone();
    transformer.compute_dtype = FloatDType::BF16;
    for prompt in prompts() {
        let logits = last_logits(&transformer, &[ids(&prompt["token_ids"])], &mut KvCache::default());
        let golden_ids = ids(&prompt["last_top20_ids"]);
        let golden_top: Vec<f64> =
            prompt["last_top20_logits"].as_array().expect("logits").iter().map(|v| v.as_f64().expect("f64")).collect();
        let delta = golden_ids
            .iter()
            .zip(&golden_top)
            .map(|(&i, g)| (f64::from(logits[i as usize]) - g).abs())
            .fold(0.0, f64::max);
        eprintln!("prompt {}: bf16 compute, max |Δ| on transformers' top-20 logits {delta:.3}", prompt["name"]);
        assert_eq!(codi_model::argmax(&logits), golden_ids[0], "top token of prompt {}", prompt["name"]);
        assert!(delta < 0.5, "prompt {}: max |Δ| {delta} on the top-20 logits (about 20 in size)", prompt["name"]);
    }
}

#[test]
fn greedy_continuations_match_transformers() {
    let Some(model) = model() else { return };
    let options = GenerateOptions { max_tokens: 16, stop_at_eos: false, ..GenerateOptions::default() };
    for prompt in prompts() {
        let generation = generate(&model.transformer, &model.tokenizer, &ids(&prompt["token_ids"]), &options, |_| {})
            .expect("generate");
        assert_eq!(generation.ids, ids(&prompt["greedy16_ids"]), "prompt {}", prompt["name"]);
        assert_eq!(generation.text, prompt["greedy16_text"].as_str().expect("text"));
    }
}

#[test]
fn gguf_dequantization_matches_the_gguf_library() {
    let path = model_path();
    if model().is_none() {
        return;
    }
    let bytes = std::fs::read(&path).expect("read");
    let gguf = Gguf::parse(&path, &bytes).expect("parse");
    let probes = golden()["gguf_dequant_probes"].as_object().expect("probes");
    for (name, probe) in probes {
        let info = gguf.tensor(name).unwrap_or_else(|| panic!("tensor {name}"));
        let mut values = vec![0.0f32; info.elements()];
        info.ty.dequantize(&bytes[info.offset..info.offset + info.bytes], &mut values);
        let row = info.dims[0];
        let expect = |key: &str, got: &[f32]| {
            for (g, e) in got.iter().zip(probe[key].as_array().expect("values")) {
                assert!((f64::from(*g) - e.as_f64().expect("f64")).abs() <= 1e-6, "{name} {key}: {g} vs {e}");
            }
        };
        expect("row0_first16", &values[..16.min(row)]);
        expect("last_row_last8", &values[values.len() - 8..]);
        let sum: f64 = values.iter().map(|&v| f64::from(v)).sum();
        let expected_sum = probe["sum_f64"].as_f64().expect("sum");
        assert!((sum - expected_sum).abs() <= 1e-6 * expected_sum.abs().max(1.0), "{name} sum {sum} vs {expected_sum}");
    }
}
