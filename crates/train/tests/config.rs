//! The configuration: the defaults, the shipped files, unknown keys and bad values with
//! their positions, command-line overrides.

use std::path::Path;

use burn::tensor::FloatDType;
use codi_model::Quantize;
use codi_train::{ALL_TARGETS, ComputeDtype, Scheduler, Style, TrainConfig};

fn parse(text: &str, overrides: &[&str]) -> Result<TrainConfig, String> {
    let overrides: Vec<String> = overrides.iter().map(|s| (*s).to_owned()).collect();
    TrainConfig::parse(text, Path::new("run.yaml"), &overrides).map_err(|e| e.to_string())
}

#[test]
fn defaults_are_the_documented_ones() {
    let c = parse("", &[]).expect("an empty file is all defaults");
    assert_eq!(c, TrainConfig::default());
    assert_eq!((c.quantization.mode, c.quantization.double_quant), (Quantize::Nf4, true));
    assert_eq!(c.quantization.compute_dtype, ComputeDtype::Auto);
    assert_eq!((c.lora.r, c.lora.alpha, c.lora.dropout, c.lora.bias.as_str()), (16, 32.0, 0.05, "none"));
    assert_eq!(c.lora.target_modules, ALL_TARGETS);
    let t = &c.training;
    assert_eq!((t.epochs, t.max_steps, t.batch_size, t.gradient_accumulation), (3, -1, 1, 16));
    assert_eq!((t.learning_rate, t.lr_scheduler, t.warmup_ratio), (2e-4, Scheduler::Cosine, 0.05));
    assert_eq!((t.optimizer.as_str(), t.weight_decay, t.max_grad_norm, t.max_seq_length), ("adamw", 0.01, 1.0, 4096));
    assert_eq!((t.eval_steps, t.save_steps, t.save_total_limit, t.logging_steps, t.seed), (50, 100, 3, 10, 42));
    assert_eq!(c.data.train, Path::new("data/splits/train.parquet"));
    assert_eq!(c.data.style, Style::Chat);
}

#[test]
fn compute_dtype_auto_is_f32_on_the_cpu_and_bf16_is_honoured_where_it_computes() {
    let cpu = codi_model::cpu().autodiff();
    let resolve = |dtype: ComputeDtype| dtype.resolve(&cpu).expect("the CPU backend computes in f32 and bf16");
    assert_eq!(resolve(ComputeDtype::Auto), FloatDType::F32);
    assert_eq!(resolve(ComputeDtype::F32), FloatDType::F32);
    assert_eq!(resolve(ComputeDtype::Bf16), FloatDType::BF16);
    let c = parse("quantization:\n  compute_dtype: bf16\n", &[]).expect("bf16");
    assert_eq!(c.quantization.compute_dtype, ComputeDtype::Bf16);
    let error = parse("quantization:\n  compute_dtype: fp16\n", &[]).expect_err("refused");
    assert!(error.contains("run.yaml:2:18: quantization.compute_dtype"), "{error}");
}

#[test]
fn the_shipped_configurations_load() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/train");
    let mut names: Vec<String> = std::fs::read_dir(&root)
        .expect("configs/train")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml"))
        .collect();
    names.sort();
    assert!(names.len() >= 3, "{names:?}");
    for name in names {
        let config = TrainConfig::load(&root.join(&name), &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(config.lora.r, 16, "{name}");
    }
}

#[test]
fn unknown_keys_and_bad_values_are_errors_with_positions() {
    let text = "training:\n  epochs: three\n  batchsize: 4\nlora:\n  target_modules: [q_proj, qkv]\nextra: 1\n";
    let error = parse(text, &[]).expect_err("refused");
    for expected in [
        "run.yaml:2:11: training.epochs: expected a number, found `three`",
        "run.yaml:3:3: training.batchsize: unknown key `batchsize`",
        "lora.target_modules: unknown `qkv`",
        "run.yaml:6:1: extra: unknown key `extra`",
    ] {
        assert!(error.contains(expected), "missing {expected:?} in:\n{error}");
    }
    let error = parse("quantization:\n  double_quant: false\n", &[]).expect_err("refused");
    assert!(error.contains("always double-quantized"), "{error}");
    let error = parse("training:\n  warmup_ratio: 1.5\n", &[]).expect_err("refused");
    assert!(error.contains("1.5 is not in [0, 1)"), "{error}");
}

#[test]
fn overrides_replace_values_and_are_checked_like_the_file() {
    let c = parse("training:\n  max_steps: 10\n", &["training.max_steps=3", "lora.target_modules=[q_proj, v_proj]"])
        .expect("overrides");
    assert_eq!(c.training.max_steps, 3);
    assert_eq!(c.lora.target_modules, ["q_proj", "v_proj"]);
    let c = parse("", &["model.base=models/other.gguf", "quantization.mode=none"]).expect("a new section");
    assert_eq!((c.model.base.as_str(), c.quantization.mode), ("models/other.gguf", Quantize::AsStored));
    let error = parse("", &["training.lr=0.1", "training.epochs=0", "oops"]).expect_err("refused");
    for expected in [
        "--set training.lr: unknown key `lr`",
        "--set training.epochs: 0 is not an integer ≥ 1",
        "--set oops: expected `section.key=value`",
    ] {
        assert!(error.contains(expected), "missing {expected:?} in:\n{error}");
    }
}
