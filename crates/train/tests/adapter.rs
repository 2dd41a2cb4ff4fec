//! Packaging, verifying, reloading and merging an adapter trained on a tiny model; every
//! refusal of `verify` is provoked once.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use codi_model::safetensors::{Dtype, Header, NamedTensor, to_bytes, to_f32};
use codi_model::{KvCache, Model, Quantize, Transformer, attach_adapter, cpu};
use codi_train::{BaseModel, Provenance, Trainer, package, sha256_file, sha256_model, verify};
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

/// Trains a few steps and packages the adapter into `dir/adapter`.
fn trained_adapter(dir: &Path) -> (Trainer, std::path::PathBuf, BaseModel) {
    let mut config = support::setup(dir);
    config.training.max_steps = 4;
    let base = config.model.base.clone();
    let mut trainer = Trainer::from_config(config.clone(), cpu()).expect("trainer");
    while !trainer.is_done() {
        trainer.step();
    }
    let rules = dir.join("rules.yml");
    std::fs::write(&rules, "schema_version: 1\nrules: []\n").expect("rules");
    let provenance = Provenance {
        base_model: base.clone(),
        base_sha256: sha256_model(Path::new(&base)).expect("sha"),
        datasets: BTreeMap::from([(
            "train".into(),
            (config.data.train.clone(), sha256_file(&config.data.train).expect("sha")),
        )]),
        rules_version: sha256_file(&rules).expect("sha"),
        code_revision: "codi test".into(),
    };
    let adapter = dir.join("adapter");
    package(&mut trainer, &adapter, &provenance, &json!({"train_loss": 1.0})).expect("package");
    let described = BaseModel::describe(&mut trainer.model, provenance.base_sha256);
    (trainer, adapter, described)
}

#[test]
fn a_packaged_adapter_verifies_and_reloads_to_the_same_logits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (trainer, adapter, base) = trained_adapter(dir.path());
    let verification = verify(&adapter, Some(&base));
    assert!(verification.is_ok(), "{:#?}", verification.problems);
    assert_eq!(verification.tensors, 2 * 7 * support::LAYERS);

    // PEFT's layout: lora_A [r, in], lora_B [out, r], under PEFT's names.
    let bytes = std::fs::read(adapter.join("adapter_model.safetensors")).expect("read");
    let header = Header::parse(&adapter.join("adapter_model.safetensors"), &bytes).expect("header");
    let a = &header.tensors["base_model.model.model.layers.1.mlp.down_proj.lora_A.weight"];
    let b = &header.tensors["base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"];
    assert_eq!(
        (a.shape.as_slice(), b.shape.as_slice()),
        ([4, support::INTERMEDIATE].as_slice(), [support::HIDDEN, 4].as_slice())
    );
    let config: Value =
        serde_json::from_slice(&std::fs::read(adapter.join("adapter_config.json")).expect("read")).expect("json");
    assert_eq!(
        (config["peft_type"].as_str(), config["task_type"].as_str(), config["r"].as_u64()),
        (Some("LORA"), Some("CAUSAL_LM"), Some(4))
    );

    // The model crate loads the adapter onto a fresh copy of the base: the same function.
    let trained = logits(&trainer.inference_model());
    let mut reloaded = Model::load(&trainer.config.model.base, Quantize::Nf4, &cpu()).expect("base");
    let untrained = logits(&reloaded.transformer);
    attach_adapter(&mut reloaded.transformer, &adapter).expect("attach");
    let difference = max_difference(&trained, &logits(&reloaded.transformer));
    assert!(difference < 1e-5, "reloaded logits differ by {difference}");
    assert!(max_difference(&trained, &untrained) > 1e-3, "training changed nothing");
}

#[test]
fn merging_folds_the_adapter_into_a_loadable_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (trainer, adapter, _) = trained_adapter(dir.path());
    let base = &trainer.config.model.base;
    let mut unmerged = Model::load(base, Quantize::AsStored, &cpu()).expect("base");
    attach_adapter(&mut unmerged.transformer, &adapter).expect("attach");
    let expected = logits(&unmerged.transformer);
    let mut model = Model::load(base, Quantize::AsStored, &cpu()).expect("base");
    let out = dir.path().join("merged");
    codi_train::merge(&mut model, &adapter, &out, Dtype::F32).expect("merge");
    let merged = Model::load(&out.to_string_lossy(), Quantize::AsStored, &cpu()).expect("merged model loads");
    let difference = max_difference(&expected, &logits(&merged.transformer));
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
    let bytes = std::fs::read(&path).expect("read");
    let header = Header::parse(&path, &bytes).expect("header");
    let mut tensors: Vec<NamedTensor> = header
        .tensors
        .iter()
        .map(|(name, e)| (name.clone(), e.shape.clone(), to_f32(e.dtype, &bytes[e.start..e.end])))
        .collect();
    change(&mut tensors);
    std::fs::write(&path, to_bytes(&tensors, dtype, &BTreeMap::new())).expect("write");
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

/// Copies the packaged adapter, breaks it with `break_it`, and returns what verify says.
fn problems(adapter: &Path, base: &BaseModel, name: &str, break_it: impl FnOnce(&Path)) -> Vec<String> {
    let copy = adapter.with_file_name(name);
    std::fs::create_dir_all(&copy).expect("mkdir");
    for entry in std::fs::read_dir(adapter).expect("list") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), copy.join(entry.file_name())).expect("copy");
    }
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
    let (_trainer, adapter, base) = trained_adapter(dir.path());
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
            let map = m.as_object_mut().expect("object");
            map.remove("rules_version");
            map.remove("created_at");
        });
    });
    assert_mentions(&found, "missing field `rules_version`");
    assert_mentions(&found, "missing field `created_at`");

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
