//! Packaging, verifying, reloading and merging an adapter trained on a tiny model; every
//! refusal of `verify` is provoked once; an adapter as PEFT writes it (no metadata) verifies
//! with a warning and loads.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use codi_model::adapter::{AdapterConfig, AdapterMetadata, BaseModel, PeftType, sha256_file, verify};
use codi_model::safetensors::{Dtype, NamedTensor, SafetensorsFile, to_bytes};
use codi_model::{KvCache, LoadOptions, Loaded, Quantize, Transformer, cpu};
use codi_train::{Packaged, Trainer};
use serde_json::{Value, json};

const INPUT: [u32; 12] = [1, 40, 41, 42, 4, 60, 61, 62, 63, 64, 2, 4];

fn logits(model: &Transformer) -> Vec<f32> {
    let hidden = model.forward(&[INPUT.to_vec()], None, &mut KvCache::default());
    model.logits(hidden).into_data().convert::<f32>().try_into_vec::<f32>().expect("f32")
}

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Trains a few steps and packages the adapter (into `dir/adapters/tiny`).
fn trained_adapter(dir: &Path) -> (Trainer, Packaged) {
    let mut config = support::setup(dir);
    config.training.max_steps = 4;
    let mut trainer = Trainer::from_config(config, cpu()).expect("trainer");
    while !trainer.is_done() {
        trainer.step();
    }
    let rules = dir.join("rules.yml");
    std::fs::write(&rules, "schema_version: 1\nrules: []\n").expect("rules");
    let packaged = trainer.package(&rules).expect("package");
    (trainer, packaged)
}

fn load(base: &str, adapter: Option<&Path>, quantize: Quantize) -> codi_model::Result<Loaded> {
    codi_model::load(&LoadOptions { model: base.into(), adapter: adapter.map(Path::to_owned), quantize, device: cpu() })
}

#[test]
fn a_packaged_adapter_verifies_and_reloads_to_the_same_logits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (trainer, packaged) = trained_adapter(dir.path());
    let adapter = &packaged.dir;
    assert!(packaged.verification.is_ok() && packaged.verification.warnings.is_empty());
    assert_eq!(packaged.verification.tensors, 2 * 7 * support::LAYERS);

    // PEFT's layout: lora_A [r, in], lora_B [out, r], under PEFT's names.
    let weights = SafetensorsFile::read(&adapter.join("adapter_model.safetensors")).expect("weights");
    let shape = |name: &str| {
        weights.get(&format!("base_model.model.model.layers.1.mlp.down_proj.{name}.weight")).expect(name).shape
    };
    assert_eq!((shape("lora_A"), shape("lora_B")), (vec![4, support::INTERMEDIATE], vec![support::HIDDEN, 4]));
    let base = trainer.config().model.base.clone();
    let config = AdapterConfig::read(&adapter.join("adapter_config.json")).expect("config");
    assert_eq!((config.peft_type, config.task_type.as_deref(), config.r), (PeftType::Lora, Some("CAUSAL_LM"), 4));
    // The tiny model names no Hugging Face repo: the configured base stands in.
    assert_eq!(config.base_model_name_or_path.as_deref(), Some(base.as_str()));
    let raw: Value =
        serde_json::from_slice(&std::fs::read(adapter.join("adapter_config.json")).expect("read")).expect("json");
    assert_eq!(
        (raw["init_lora_weights"].as_bool(), raw["rank_pattern"].as_object().map(serde_json::Map::len)),
        (Some(true), Some(0))
    );
    let metadata = AdapterMetadata::read(&adapter.join("metadata.json")).expect("metadata");
    assert_eq!((metadata.base_model.spec(), metadata.metrics.steps), (base.as_str(), 4));
    assert_eq!(metadata.checksums.len(), 3, "weights, config and card");

    // `codi_model::load` verifies the adapter and attaches it to a fresh copy of the base: the
    // same function.
    let trained = logits(&trainer.inference_model());
    let untrained = logits(&load(&base, None, Quantize::Nf4).expect("base").model.transformer);
    let reloaded = load(&base, Some(adapter), Quantize::Nf4).expect("base and adapter");
    assert!(reloaded.adapter.is_some_and(|v| v.metadata == Some(metadata)));
    let difference = max_difference(&trained, &logits(&reloaded.model.transformer));
    assert!(difference < 1e-5, "reloaded logits differ by {difference}");
    assert!(max_difference(&trained, &untrained) > 1e-3, "training changed nothing");
}

#[test]
fn merging_folds_the_adapter_into_a_loadable_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (trainer, packaged) = trained_adapter(dir.path());
    let base = &trainer.config().model.base;
    let unmerged = load(base, Some(&packaged.dir), Quantize::AsStored).expect("base and adapter").model;
    let out = dir.path().join("merged");
    codi_train::merge(&unmerged, &out, Dtype::F32).expect("merge");
    let merged = load(&out.to_string_lossy(), None, Quantize::AsStored).expect("merged model loads").model;
    let difference = max_difference(&logits(&unmerged.transformer), &logits(&merged.transformer));
    assert!(difference < 1e-4, "merged logits differ by {difference}");
    assert_eq!(
        merged.tokenizer.encode("FROM node").expect("encode"),
        unmerged.tokenizer.encode("FROM node").expect("encode")
    );
}

/// Rewrites the adapter weights with `change`, stored as `dtype`, and records the new checksum,
/// so that only the change itself is wrong.
fn rewrite_weights(adapter: &Path, dtype: Dtype, change: impl FnOnce(&mut Vec<NamedTensor>)) {
    let path = adapter.join("adapter_model.safetensors");
    let file = SafetensorsFile::read(&path).expect("read");
    let mut tensors: Vec<NamedTensor> = file.tensors().into_iter().map(|(name, t)| (name, t.shape, t.values)).collect();
    change(&mut tensors);
    std::fs::write(&path, to_bytes(&tensors, dtype, &BTreeMap::new()).expect("bytes")).expect("write");
    edit_metadata(adapter, |m| {
        m["checksums"]["adapter_model.safetensors"] = json!(format!("sha256:{}", sha256_file(&path).expect("sha")));
    });
}

fn edit_metadata(adapter: &Path, change: impl FnOnce(&mut Value)) {
    let path = adapter.join("metadata.json");
    let mut metadata: Value = serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
    change(&mut metadata);
    std::fs::write(&path, serde_json::to_vec_pretty(&metadata).expect("json")).expect("write");
}

/// Copies the packaged adapter (without the files in `leave_out`) to `name` beside it.
fn copy(adapter: &Path, name: &str, leave_out: &[&str]) -> PathBuf {
    let copy = adapter.with_file_name(name);
    std::fs::create_dir_all(&copy).expect("mkdir");
    for entry in std::fs::read_dir(adapter).expect("list") {
        let entry = entry.expect("entry");
        if !leave_out.iter().any(|file| entry.file_name() == *file) {
            std::fs::copy(entry.path(), copy.join(entry.file_name())).expect("copy");
        }
    }
    copy
}

/// Copies the packaged adapter, breaks it with `break_it`, and returns what verify says.
fn problems(adapter: &Path, base: &BaseModel, name: &str, break_it: impl FnOnce(&Path)) -> Vec<String> {
    let copy = copy(adapter, name, &[]);
    break_it(&copy);
    let verification = verify(&copy, Some(base));
    assert!(!verification.is_ok(), "{name}: verify passed a broken adapter");
    verification.problems
}

fn assert_mentions(problems: &[String], expected: &str) {
    assert!(problems.iter().any(|p| p.contains(expected)), "no problem mentions {expected:?}: {problems:#?}");
}

#[test]
fn verify_refuses_every_kind_of_broken_adapter() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_trainer, Packaged { dir: adapter, base, .. }) = trained_adapter(dir.path());
    let key = "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight";

    let found = problems(&adapter, &base, "one-byte", |d| {
        let path = d.join("adapter_model.safetensors");
        let mut bytes = std::fs::read(&path).expect("read");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, bytes).expect("write");
    });
    assert_mentions(&found, "adapter_model.safetensors: checksum drift");

    let found = problems(&adapter, &base, "no-checksums", |d| edit_metadata(d, |m| m["checksums"] = json!({})));
    assert_mentions(&found, "`checksums` has no entry for adapter_model.safetensors");

    let found = problems(&adapter, &base, "no-fields", |d| {
        edit_metadata(d, |m| {
            m.as_object_mut().expect("object").remove("created_at");
        });
    });
    assert_mentions(&found, "metadata.json: not adapter metadata: missing field `created_at`");

    let found = problems(&adapter, &base, "empty-and-malformed", |d| {
        edit_metadata(d, |m| {
            m["rules_version"] = json!("");
            m["created_at"] = json!("yesterday");
            m["dataset"]["train"]["sha256"] = json!("0");
        });
    });
    assert_mentions(&found, "field `rules_version` is empty");
    assert_mentions(&found, "`created_at` is not an RFC 3339 time: yesterday");
    assert_mentions(&found, "`dataset.train.sha256` is not a sha256");

    let found = problems(&adapter, &base, "nan", |d| {
        rewrite_weights(d, Dtype::F32, |t| t.iter_mut().find(|(n, ..)| n == key).expect("key").2[3] = f32::NAN);
    });
    assert_eq!(found, [format!("adapter_model.safetensors: `{key}` has 1 NaN or infinite values")]);

    let found = problems(&adapter, &base, "missing-and-extra", |d| {
        rewrite_weights(d, Dtype::F32, |t| {
            t.retain(|(n, ..)| n != key);
            t.push(("base_model.model.model.layers.9.mlp.up_proj.lora_A.weight".into(), vec![4, 64], vec![0.0; 256]));
        });
    });
    assert_mentions(&found, &format!("missing tensor `{key}`"));
    assert_mentions(&found, "unexpected tensor `base_model.model.model.layers.9.mlp.up_proj.lora_A.weight`");

    let found = problems(&adapter, &base, "shape", |d| {
        rewrite_weights(d, Dtype::F32, |t| {
            let entry = t.iter_mut().find(|(n, ..)| n == key).expect("key");
            (entry.1, entry.2) = (vec![63, 4], vec![0.0; 252]);
        });
    });
    assert_mentions(&found, &format!("`{key}` has shape [63, 4], the base model and r = 4 need [64, 4]"));

    let found = problems(&adapter, &base, "dtype", |d| rewrite_weights(d, Dtype::BF16, |_| {}));
    assert_mentions(&found, "is BF16, expected F32");

    let other_base = BaseModel { sha256: "0".repeat(64), ..base.clone() };
    let verification = verify(&adapter, Some(&other_base));
    assert_mentions(&verification.problems, "trained on a base model with sha256");
    assert!(verify(&adapter, None).is_ok(), "without a base, the intact adapter verifies");
}

/// `adapter_config.json` as PEFT 0.15 writes it for this adapter: more fields than ours, the
/// targets in set order, alpha an integer.
const PEFT_CONFIG: &str = r#"{
  "alpha_pattern": {}, "auto_mapping": null, "base_model_name_or_path": "HuggingFaceTB/SmolLM2-135M-Instruct",
  "bias": "none", "corda_config": null, "eva_config": null, "exclude_modules": null, "fan_in_fan_out": false,
  "inference_mode": true, "init_lora_weights": true, "layer_replication": null, "layers_pattern": null,
  "layers_to_transform": null, "loftq_config": {}, "lora_alpha": 8, "lora_bias": false, "lora_dropout": 0.1,
  "megatron_config": null, "megatron_core": "megatron.core", "modules_to_save": null, "peft_type": "LORA", "r": 4,
  "rank_pattern": {}, "revision": null,
  "target_modules": ["up_proj", "q_proj", "down_proj", "v_proj", "o_proj", "gate_proj", "k_proj"],
  "task_type": "CAUSAL_LM", "trainable_token_indices": null, "use_dora": false, "use_rslora": false
}"#;

#[test]
fn an_adapter_written_by_peft_verifies_without_provenance_and_loads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (trainer, packaged) = trained_adapter(dir.path());
    let peft = copy(&packaged.dir, "peft", &["metadata.json", "README.md"]);
    std::fs::write(peft.join("adapter_config.json"), PEFT_CONFIG).expect("config");

    let verification = verify(&peft, Some(&packaged.base));
    assert!(verification.is_ok(), "{:#?}", verification.problems);
    assert!(verification.metadata.is_none());
    assert_eq!(verification.warnings.len(), 1);
    assert_mentions(&verification.warnings, "metadata.json: absent (an adapter written by PEFT?): no provenance");

    let base = &trainer.config().model.base;
    let loaded = load(base, Some(&peft), Quantize::Nf4).expect("a PEFT adapter loads");
    let difference = max_difference(&logits(&trainer.inference_model()), &logits(&loaded.model.transformer));
    assert!(difference < 1e-5, "logits differ by {difference}");

    // A missing adapter, or one that does not fit the base, is an error: never the base alone.
    let error = load(base, Some(&dir.path().join("none")), Quantize::Nf4).expect_err("missing").to_string();
    assert!(error.contains("none: not a directory"), "{error}");
    std::fs::write(peft.join("adapter_config.json"), PEFT_CONFIG.replace(r#""r": 4"#, r#""r": 8"#)).expect("config");
    let error = load(base, Some(&peft), Quantize::Nf4).expect_err("mismatch").to_string();
    assert!(error.contains("the adapter does not verify") && error.contains("r = 8 need [8, 64]"), "{error}");
}
