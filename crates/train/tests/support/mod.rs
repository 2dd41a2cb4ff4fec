//! A tiny Llama in Hugging Face layout (random weights, a character-level tokenizer with a
//! ChatML template) and pairs splits the tests write themselves.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use codi_dataset::records::PairRecord;
use codi_model::SplitMix64;
use codi_model::safetensors::{Dtype, to_bytes};
use codi_train::TrainConfig;
use serde_json::json;

pub const HIDDEN: usize = 64;
pub const INTERMEDIATE: usize = 128;
pub const LAYERS: usize = 2;
pub const HEADS: usize = 4;
pub const KV_HEADS: usize = 2;
const SPECIALS: [&str; 4] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<unk>"];

/// Specials, newline, then printable ASCII: one token per character.
fn vocab() -> Vec<String> {
    let mut vocab: Vec<String> = SPECIALS.map(str::to_owned).to_vec();
    vocab.push("\n".into());
    vocab.extend((32u8..127).map(|b| (b as char).to_string()));
    vocab
}

fn normal(rng: &mut SplitMix64) -> f32 {
    let (u1, u2) = (rng.next_f64().max(1e-12), rng.next_f64());
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

/// Writes the model to `dir` and returns it.
pub fn write_tiny_model(dir: &Path, seed: u64) -> PathBuf {
    std::fs::create_dir_all(dir).expect("mkdir");
    let vocab = vocab();
    let head_dim = HIDDEN / HEADS;
    let config = json!({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": vocab.len(),
        "hidden_size": HIDDEN, "intermediate_size": INTERMEDIATE, "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS, "num_key_value_heads": KV_HEADS, "rope_theta": 10000.0,
        "rms_norm_eps": 1e-5, "max_position_embeddings": 512, "tie_word_embeddings": true,
    });
    std::fs::write(dir.join("config.json"), config.to_string()).expect("config");
    let mut rng = SplitMix64(seed);
    let mut tensors = Vec::new();
    let mut add = |name: String, shape: Vec<usize>, std: f32, offset: f32| {
        let values = (0..shape.iter().product()).map(|_| normal(&mut rng) * std + offset).collect();
        tensors.push((name, shape, values));
    };
    add("model.embed_tokens.weight".into(), vec![vocab.len(), HIDDEN], 0.5, 0.0);
    for i in 0..LAYERS {
        let p = format!("model.layers.{i}");
        add(format!("{p}.input_layernorm.weight"), vec![HIDDEN], 0.1, 1.0);
        add(format!("{p}.post_attention_layernorm.weight"), vec![HIDDEN], 0.1, 1.0);
        for (name, rows, cols) in [
            ("self_attn.q_proj", HEADS * head_dim, HIDDEN),
            ("self_attn.k_proj", KV_HEADS * head_dim, HIDDEN),
            ("self_attn.v_proj", KV_HEADS * head_dim, HIDDEN),
            ("self_attn.o_proj", HIDDEN, HEADS * head_dim),
            ("mlp.gate_proj", INTERMEDIATE, HIDDEN),
            ("mlp.up_proj", INTERMEDIATE, HIDDEN),
            ("mlp.down_proj", HIDDEN, INTERMEDIATE),
        ] {
            add(format!("{p}.{name}.weight"), vec![rows, cols], 1.0 / (cols as f32).sqrt(), 0.0);
        }
    }
    add("model.norm.weight".into(), vec![HIDDEN], 0.1, 1.0);
    let weights = to_bytes(&tensors, Dtype::F32, &BTreeMap::new()).expect("weights");
    std::fs::write(dir.join("model.safetensors"), weights).expect("weights");

    let added: Vec<_> = SPECIALS
        .iter()
        .enumerate()
        .map(|(id, content)| {
            json!({"id": id, "content": content, "single_word": false, "lstrip": false, "rstrip": false,
                   "normalized": false, "special": true})
        })
        .collect();
    let ids: serde_json::Map<String, serde_json::Value> =
        vocab.iter().enumerate().map(|(id, token)| (token.clone(), json!(id))).collect();
    let tokenizer = json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": added,
        "normalizer": null, "pre_tokenizer": null, "post_processor": null, "decoder": null,
        "model": {"type": "BPE", "dropout": null, "unk_token": "<unk>", "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                  "vocab": ids, "merges": []},
    });
    std::fs::write(dir.join("tokenizer.json"), tokenizer.to_string()).expect("tokenizer");
    let template = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + \
                    '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";
    let tokenizer_config = json!({"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "chat_template": template});
    std::fs::write(dir.join("tokenizer_config.json"), tokenizer_config.to_string()).expect("tokenizer config");
    dir.to_owned()
}

/// A learnable task: the stack named in the prompt decides the rule in the answer.
pub fn pairs(count: usize, seed: u64) -> Vec<PairRecord> {
    let stacks = [("node", "node-npm-multistage"), ("python", "python-pip-slim"), ("go", "go-static-distroless")];
    let mut rng = SplitMix64(seed);
    (0..count)
        .map(|i| {
            let (stack, rule) = stacks[(rng.next_u64() % 3) as usize];
            let port = 3000 + rng.next_u64() % 50;
            let user = format!("FROM {stack}:latest\nEXPOSE {port}\nWhich rule?");
            let answer = format!("{{\"rule_id\":\"{rule}\"}}");
            let chat = json!([
                {"role": "system", "content": "Pick a rule."},
                {"role": "user", "content": user},
                {"role": "assistant", "content": answer},
            ]);
            PairRecord {
                pair_id: format!("pair-{seed}-{i}"),
                source_id: format!("src-{i}"),
                cluster_id: format!("cluster-{i}"),
                task: if i % 4 == 3 { "explain".into() } else { "rewrite".into() },
                stack: stack.into(),
                rule_ids: vec![rule.into()],
                instruction: "Which rule?".into(),
                input: json!({"stack": stack}).to_string(),
                output: answer.clone(),
                raw: format!("{user}\n{answer}"),
                instruct: format!("<INPUT>{user}</INPUT><OUTPUT>{answer}</OUTPUT>"),
                chat: chat.to_string(),
            }
        })
        .collect()
}

/// A model, train/val splits and a configuration for a fast run in `dir`.
pub fn setup(dir: &Path) -> TrainConfig {
    let model = write_tiny_model(&dir.join("model"), 7);
    let splits = dir.join("splits");
    std::fs::create_dir_all(&splits).expect("mkdir");
    codi_dataset::table::write_all(&splits.join("train.parquet"), pairs(24, 1)).expect("train split");
    codi_dataset::table::write_all(&splits.join("val.parquet"), pairs(6, 2)).expect("val split");
    let mut config = TrainConfig::default();
    config.model.base = model.to_string_lossy().into_owned();
    config.model.adapter_name = "tiny".into();
    config.lora.r = 4;
    config.lora.alpha = 8.0;
    config.lora.dropout = 0.1;
    config.training.epochs = 2;
    config.training.batch_size = 2;
    config.training.gradient_accumulation = 2;
    config.training.learning_rate = 1e-2;
    config.training.eval_steps = 3;
    config.training.save_steps = 4;
    config.training.save_total_limit = 2;
    config.training.logging_steps = 2;
    config.data.train = splits.join("train.parquet");
    config.data.val = splits.join("val.parquet");
    config.output.adapters = dir.join("adapters");
    config.output.runs = dir.join("runs");
    config
}
