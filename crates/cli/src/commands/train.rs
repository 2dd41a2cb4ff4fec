//! `codi train`: a QLoRA run from a configuration file, with a progress bar, checkpoints,
//! resume, and the verified adapter directory at the end.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args as ClapArgs;
use codi_train::{BaseModel, Event, Provenance, TrainConfig, Trainer};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use super::generate::DeviceArg;

#[derive(Debug, ClapArgs)]
pub(crate) struct Args {
    /// The run's configuration (`configs/train/*.yaml`).
    #[arg(long, default_value = "configs/train/smollm2-135m-qlora.yaml")]
    config: PathBuf,
    /// Override a configuration value: `section.key=value` (YAML syntax), repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// Shorthand for `--set model.base=…`.
    #[arg(long)]
    base: Option<String>,
    /// Shorthand for `--set training.max_steps=…`.
    #[arg(long)]
    max_steps: Option<i64>,
    /// Shorthand for `--set training.epochs=…`.
    #[arg(long)]
    epochs: Option<usize>,
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    device: DeviceArg,
    /// Continue from a checkpoint directory, or `latest` for the newest of this run.
    #[arg(long, value_name = "CHECKPOINT")]
    resume_from: Option<String>,
    /// Stop (with a checkpoint) after this step; resume later with `--resume-from latest`.
    #[arg(long, value_name = "STEP")]
    stop_after: Option<usize>,
    /// Validate the configuration, data and model, estimate memory, and exit.
    #[arg(long)]
    dry_run: bool,
    /// The rules catalog the pairs were made from (its sha256 is the adapter's rules_version).
    #[arg(long, default_value = "patterns/rules.yml")]
    rules: PathBuf,
}

impl Args {
    fn config(&self) -> Result<TrainConfig> {
        let mut overrides = self.overrides.clone();
        if let Some(base) = &self.base {
            overrides.push(format!("model.base={base}"));
        }
        if let Some(steps) = self.max_steps {
            overrides.push(format!("training.max_steps={steps}"));
        }
        if let Some(epochs) = self.epochs {
            overrides.push(format!("training.epochs={epochs}"));
        }
        Ok(TrainConfig::load(&self.config, &overrides)?)
    }
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let config = args.config()?;
    let run_dir = config.run_dir();
    let device = args.device.device()?;
    let mut trainer = Trainer::from_config(config.clone(), device)
        .with_context(|| format!("preparing the run of {}", args.config.display()))?;
    report_data(&trainer);
    let memory = trainer.memory_estimate();
    let gib = |bytes: usize| bytes as f64 / f64::from(1u32 << 30);
    anstream::println!(
        "memory estimate: {:.2} GiB (base {:.2}, decoded weights {:.2}, adapters {:.2}, activations {:.2}, logits {:.2})",
        gib(memory.total()),
        gib(memory.base),
        gib(memory.decoded_weights),
        gib(memory.adapters),
        gib(memory.activations),
        gib(memory.logits)
    );
    let trainable: usize = trainer.parameters().iter().map(|p| p.dims().iter().product::<usize>()).sum();
    anstream::println!(
        "{} adapted layers, {trainable} trainable parameters (f32), computing in {:?}; optimizer steps: {} ({} per epoch)",
        trainer.modules.len(),
        trainer.model.compute_dtype,
        trainer.total_steps(),
        config.steps_per_epoch(trainer.train.batches_per_epoch(config.training.batch_size))
    );
    if args.dry_run {
        anstream::println!("dry run: configuration, data and model are valid; nothing trained");
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(from) = &args.resume_from {
        let dir = if from == "latest" { codi_train::latest_checkpoint(&run_dir)? } else { PathBuf::from(from) };
        codi_train::resume(&mut trainer, &dir).with_context(|| format!("resuming from {}", dir.display()))?;
        anstream::println!("resumed from {} at step {}", dir.display(), trainer.state.step);
    }
    train_with_progress(&mut trainer, &run_dir, args.stop_after)?;
    anstream::println!("logs: {}", run_dir.join("logs").display());
    if !trainer.is_done() {
        anstream::println!(
            "stopped at step {} of {}; continue with --resume-from latest",
            trainer.state.step,
            trainer.total_steps()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let adapter_dir = config.adapter_dir();
    let provenance = provenance(&config, &trainer.source, &args.rules)?;
    let metrics = json!({
        "steps": trainer.state.step,
        "epochs": trainer.state.epoch,
        "tokens": trainer.state.tokens,
        "train_loss": trainer.state.train_loss(config.training.logging_steps),
        "val_loss": trainer.state.val_loss().map(|(_, loss)| loss),
        "val_losses": trainer.state.val_losses,
        "best_checkpoint": trainer.state.best.map(|(step, loss)| json!({"step": step, "val_loss": loss})),
        "tokens_per_second": trainer.state.tokens_per_second(),
    });
    codi_train::package(&mut trainer, &adapter_dir, &provenance, &metrics)?;
    let base = BaseModel::describe(&mut trainer.model, provenance.base_sha256.clone());
    let verification = codi_train::verify(&adapter_dir, Some(&base));
    if !verification.is_ok() {
        for problem in &verification.problems {
            anstream::eprintln!("{problem}");
        }
        bail!("the adapter written to {} does not verify", adapter_dir.display());
    }
    anstream::println!(
        "adapter: {} ({} tensors, {} parameters, verified)",
        adapter_dir.display(),
        verification.tensors,
        verification.parameters
    );
    Ok(ExitCode::SUCCESS)
}

fn report_data(trainer: &Trainer) {
    for (split, data) in [("train", &trainer.train), ("val", &trainer.val)] {
        let s = &data.stats;
        let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
        for reject in &s.rejected {
            *reasons.entry(reject.reason.as_str()).or_default() += 1;
        }
        anstream::println!(
            "{split}: {} rows, {} kept {:?}, {} other tasks, {} rejected {reasons:?}, {} truncated; {} tokens \
             ({} scored), longest {}",
            s.rows,
            s.kept,
            s.by_task,
            s.filtered_by_task,
            s.rejected.len(),
            s.truncated,
            s.tokens,
            s.label_tokens,
            s.max_length
        );
    }
}

fn train_with_progress(trainer: &mut Trainer, run_dir: &Path, stop_after: Option<usize>) -> Result<()> {
    let bar = ProgressBar::new(trainer.total_steps() as u64).with_position(trainer.state.step as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} steps {elapsed_precise}<{eta_precise} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    codi_train::run(trainer, run_dir, stop_after, &mut |event| match event {
        Event::Step(report) => {
            bar.set_position(report.step as u64);
            bar.set_message(format!(
                "loss {:.4} lr {:.2e} {:.0} tok/s",
                report.loss,
                report.lr,
                report.tokens as f64 / report.seconds.max(1e-9)
            ));
            // Without a terminal the bar is hidden; one line per step keeps logs useful.
            if bar.is_hidden() {
                anstream::println!(
                    "step {} loss {:.4} lr {:.2e} grad norm {:.3} {:.0} tok/s",
                    report.step,
                    report.loss,
                    report.lr,
                    report.grad_norm,
                    report.tokens as f64 / report.seconds.max(1e-9)
                );
            }
        }
        Event::Eval { step, val_loss } => say(&bar, &format!("step {step}: val loss {val_loss:.4}")),
        Event::Saved(dir) => say(&bar, &format!("checkpoint {}", dir.display())),
    })?;
    bar.finish_and_clear();
    Ok(())
}

/// A line above the bar, or on its own when the bar is hidden (no terminal).
fn say(bar: &ProgressBar, line: &str) {
    if bar.is_hidden() {
        anstream::println!("{line}");
    } else {
        bar.println(line);
    }
}

fn provenance(config: &TrainConfig, base_path: &Path, rules: &Path) -> Result<Provenance> {
    let mut datasets = BTreeMap::new();
    for (split, path) in [("train", &config.data.train), ("val", &config.data.val)] {
        datasets.insert(split.to_owned(), (path.clone(), codi_train::sha256_file(path)?));
    }
    let rules_version =
        codi_train::sha256_file(rules).with_context(|| format!("hashing the rules catalog {}", rules.display()))?;
    Ok(Provenance {
        base_model: config.model.base.clone(),
        base_sha256: codi_train::sha256_model(base_path)?,
        datasets,
        rules_version,
        code_revision: codi_train::code_revision(),
    })
}
