//! `codi bench train`: tokens/s, step time and peak RSS of LoRA training steps on the default
//! model at batch 4 × 256, the setting `../shared/reference` measured PyTorch + PEFT at.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use codi_train::{ComputeDtype, Dataset, Example, Scheduler, TrainConfig, Trainer, training_device};

use super::bench::{peak_rss_mib, reset_peak_rss};
use super::generate::ModelArgs;

pub(crate) struct Setting<'a> {
    pub(crate) batch: usize,
    pub(crate) seq: usize,
    pub(crate) steps: usize,
    pub(crate) gradient_checkpointing: bool,
    pub(crate) compute_dtype: ComputeDtype,
    pub(crate) text: &'a Path,
}

pub(crate) fn run(model_args: &ModelArgs, setting: &Setting<'_>) -> Result<ExitCode> {
    reset_peak_rss();
    let model = model_args.load_on(training_device(model_args.device.device()?, setting.gradient_checkpointing))?;
    let text = std::fs::read_to_string(setting.text).with_context(|| format!("reading {}", setting.text.display()))?;
    let tokens = model.tokenizer.encode(&text)?;
    let needed = setting.batch * setting.seq;
    if tokens.len() < needed {
        bail!("{} tokens of text, the benchmark needs {needed}", tokens.len());
    }
    // Real text, every token scored: the reference's setting (loss on all 4 × 256 tokens).
    let examples = tokens
        .chunks_exact(setting.seq)
        .take(setting.batch)
        .enumerate()
        .map(|(i, ids)| Example { id: format!("chunk-{i}"), ids: ids.to_vec(), completion_start: 0 })
        .collect();
    let mut config = TrainConfig::default();
    config.model.base.clone_from(&model_args.model);
    config.lora.dropout = 0.0;
    config.training.batch_size = setting.batch;
    config.training.gradient_accumulation = 1;
    config.training.max_steps = i64::try_from(setting.steps + 1).unwrap_or(i64::MAX);
    config.training.lr_scheduler = Scheduler::Constant;
    config.training.warmup_ratio = 0.0;
    config.training.max_seq_length = setting.seq;
    config.quantization.compute_dtype = setting.compute_dtype;
    let mut trainer = Trainer::new(model, config, Dataset::from_examples(examples), Dataset::default())?;
    let plan = trainer.plan();
    anstream::println!(
        "model {} on {:?} computing in {:?}, {} threads; LoRA r 16 on {} layers, batch {} × {} tokens{}",
        trainer.source().display(),
        model_args.device,
        plan.compute_dtype,
        rayon::current_num_threads(),
        plan.adapted_layers,
        setting.batch,
        setting.seq,
        if setting.gradient_checkpointing { ", gradient checkpointing" } else { "" }
    );
    let warmup = trainer.step();
    anstream::eprintln!("  warm-up step: {:.2} s, loss {:.4}", warmup.seconds, warmup.loss);
    let mut times = Vec::with_capacity(setting.steps);
    let mut last_loss = warmup.loss;
    for _ in 0..setting.steps {
        let report = trainer.step();
        times.push(report.seconds);
        last_loss = report.loss;
    }
    anstream::eprintln!("  steps: {times:.2?} s; loss {:.4} → {last_loss:.4}", warmup.loss);
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    anstream::println!(
        "train step: {median:.2} s (median of {}) = {:.0} tokens/s",
        times.len(),
        needed as f64 / median
    );
    anstream::println!(
        "peak RSS {:.0} MiB (estimate before training: {:.0} MiB)",
        peak_rss_mib(),
        plan.memory.total() as f64 / f64::from(1u32 << 20)
    );
    Ok(ExitCode::SUCCESS)
}
