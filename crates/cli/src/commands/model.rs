//! `codi model synth`: a random-initialized model directory of a real model's exact shape.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Subcommand;
use codi_model::{DEFAULT_MODEL, Shape, load_tokenizer, synthesize};

#[derive(Debug, Subcommand)]
pub(crate) enum ModelCommand {
    /// Write config.json, bf16 model.safetensors and a tokenizer of SHAPE with random weights,
    /// for GPU runs and benchmarks where the real weights cannot be fetched.
    Synth {
        /// qwen2.5-coder-1.5b or smollm2-135m.
        #[arg(long)]
        shape: Shape,
        #[arg(long)]
        out: PathBuf,
        /// The model whose tokenizer the directory gets.
        #[arg(long, default_value = DEFAULT_MODEL)]
        tokenizer: String,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
}

pub(crate) fn run(command: &ModelCommand) -> Result<ExitCode> {
    match command {
        ModelCommand::Synth { shape, out, tokenizer, seed } => {
            let started = Instant::now();
            let tokenizer =
                load_tokenizer(tokenizer).with_context(|| format!("loading the tokenizer of {tokenizer}"))?;
            let written = synthesize(*shape, &tokenizer, out, *seed)
                .with_context(|| format!("writing {} to {}", shape.name(), out.display()))?;
            anstream::println!(
                "{}: {} {} tensors, {} parameters, {:.1} MiB of bf16 weights in {:.1} s",
                out.display(),
                shape.name(),
                written.tensors,
                written.parameters,
                written.bytes as f64 / f64::from(1 << 20),
                started.elapsed().as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
