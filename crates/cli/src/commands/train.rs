//! `codi train`: a QLoRA run from a configuration file, with a progress bar, checkpoints,
//! resume, a graceful Ctrl-C, and the verified adapter directory at the end.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args as ClapArgs;
use codi_model::DeviceKind;
use codi_train::{DataStats, Event, Plan, ResumeFrom, Stop, TrainConfig, Trainer};
use indicatif::{ProgressBar, ProgressStyle};

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
    /// Where tensors live: cpu, wgpu or cuda (the GPU ones in builds with that feature).
    #[arg(long, default_value = "cpu")]
    device: DeviceKind,
    /// Continue from a checkpoint directory, or `latest` for the newest of this run.
    #[arg(long, value_name = "CHECKPOINT")]
    resume_from: Option<ResumeFrom>,
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
    let mut trainer = Trainer::from_config(config, args.device.device()?)
        .with_context(|| format!("preparing the run of {}", args.config.display()))?;
    print_plan(&trainer.plan());
    if args.dry_run {
        anstream::println!("dry run: configuration, data and model are valid; nothing trained");
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(from) = &args.resume_from {
        let dir = trainer.resume(from).context("resuming")?;
        anstream::println!("resumed from {} at step {}", dir.display(), trainer.state().step);
    }
    let interrupt = codi_train::interrupt_on_signals(|| {
        anstream::eprintln!("stopping after this step, with a checkpoint (press Ctrl-C again to quit now)");
    })?;
    let report = train_with_progress(&mut trainer, args.stop_after, interrupt)?;
    anstream::println!("logs: {}", trainer.config().run_dir().join("logs").display());
    let (step, total) = (trainer.state().step, trainer.total_steps());
    match report.stop {
        Stop::Done => {
            let packaged = trainer.package(&args.rules)?;
            let v = &packaged.verification;
            anstream::println!(
                "adapter: {} ({} tensors, {} parameters, verified)",
                packaged.dir.display(),
                v.tensors,
                v.parameters
            );
        }
        Stop::AtStep => anstream::println!("stopped at step {step} of {total}; continue with --resume-from latest"),
        Stop::Interrupted => {
            let saved = report.checkpoint.map(|dir| format!(", checkpoint {}", dir.display())).unwrap_or_default();
            anstream::println!("interrupted at step {step} of {total}{saved}; continue with --resume-from latest");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_plan(plan: &Plan) {
    for (split, s) in [("train", &plan.train), ("val", &plan.val)] {
        print_data(split, s);
    }
    let m = &plan.memory;
    let gib = |bytes: usize| bytes as f64 / f64::from(1u32 << 30);
    anstream::println!(
        "memory estimate: {:.2} GiB (base {:.2}, decoded weights {:.2}, adapters {:.2}, activations {:.2}, logits {:.2})",
        gib(m.total()),
        gib(m.base),
        gib(m.decoded_weights),
        gib(m.adapters),
        gib(m.activations),
        gib(m.logits)
    );
    anstream::println!(
        "{} adapted layers, {} trainable parameters (f32), computing in {:?}; optimizer steps: {} ({} per epoch)",
        plan.adapted_layers,
        plan.trainable_parameters,
        plan.compute_dtype,
        plan.total_steps,
        plan.steps_per_epoch
    );
}

fn print_data(split: &str, s: &DataStats) {
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for rejected in &s.rejected {
        *reasons.entry(rejected.reason.as_str()).or_default() += 1;
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

fn train_with_progress(
    trainer: &mut Trainer,
    stop_after: Option<usize>,
    interrupt: &std::sync::atomic::AtomicBool,
) -> Result<codi_train::RunReport> {
    let bar = ProgressBar::new(trainer.total_steps() as u64).with_position(trainer.state().step as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} steps {elapsed_precise}<{eta_precise} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let report = trainer.run(stop_after, interrupt, &mut |event| match event {
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
    Ok(report)
}

/// A line above the bar, or on its own when the bar is hidden (no terminal).
fn say(bar: &ProgressBar, line: &str) {
    if bar.is_hidden() {
        anstream::println!("{line}");
    } else {
        bar.println(line);
    }
}
