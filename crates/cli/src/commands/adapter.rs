//! `codi adapter verify|merge`: check an adapter directory; fold it into its base model.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Subcommand, ValueEnum};
use codi_model::adapter::{AdapterMetadata, METADATA};
use codi_model::safetensors::Dtype;
use codi_model::{DeviceKind, LoadOptions, Model, Quantize};

#[derive(Debug, Subcommand)]
pub(crate) enum Adapter {
    /// Check metadata, checksums, keys, shapes, dtypes and values; exit 0 only when all hold.
    Verify {
        dir: PathBuf,
        /// The base model to check shapes and the recorded sha256 against.
        #[arg(long)]
        base: Option<String>,
    },
    /// Write the base model with the adapter merged in, as a Hugging Face model directory.
    Merge {
        dir: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// The base model (default: the one recorded in the adapter's metadata).
        #[arg(long)]
        base: Option<String>,
        #[arg(long, value_enum, default_value_t = DtypeArg::F32)]
        dtype: DtypeArg,
        /// Where tensors live: cpu, wgpu or cuda (the GPU ones in builds with that feature).
        #[arg(long, default_value = "cpu")]
        device: DeviceKind,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DtypeArg {
    F32,
    F16,
    Bf16,
}

pub(crate) fn run(command: &Adapter) -> Result<ExitCode> {
    match command {
        Adapter::Verify { dir, base } => {
            let base = match base {
                Some(spec) => Some(
                    Model::load(spec, Quantize::AsStored, &codi_model::cpu())
                        .and_then(|mut model| model.describe())
                        .with_context(|| format!("loading the base model {spec}"))?,
                ),
                None => None,
            };
            let verification = codi_model::adapter::verify(dir, base.as_ref());
            for problem in &verification.problems {
                anstream::println!("{problem}");
            }
            for warning in &verification.warnings {
                anstream::println!("warning: {warning}");
            }
            if verification.is_ok() {
                anstream::println!(
                    "{}: ok ({} tensors, {} parameters{})",
                    dir.display(),
                    verification.tensors,
                    verification.parameters,
                    if base.is_some() { ", checked against the base model" } else { "" }
                );
                Ok(ExitCode::SUCCESS)
            } else {
                let count = verification.problems.len();
                anstream::println!("{}: {count} problem{}", dir.display(), if count == 1 { "" } else { "s" });
                Ok(ExitCode::FAILURE)
            }
        }
        Adapter::Merge { dir, out, base, dtype, device } => {
            let spec = match base {
                Some(spec) => spec.clone(),
                None => AdapterMetadata::read(&dir.join(METADATA))
                    .with_context(|| format!("{} records no base model; pass --base", dir.display()))?
                    .base_model
                    .spec()
                    .to_owned(),
            };
            let options = LoadOptions {
                model: spec.clone(),
                adapter: Some(dir.clone()),
                quantize: Quantize::AsStored,
                device: device.device()?,
            };
            let loaded =
                codi_model::load(&options).with_context(|| format!("loading {spec} with {}", dir.display()))?;
            let dtype = match dtype {
                DtypeArg::F32 => Dtype::F32,
                DtypeArg::F16 => Dtype::F16,
                DtypeArg::Bf16 => Dtype::BF16,
            };
            let tensors = codi_train::merge(&loaded.model, out, dtype)?;
            anstream::println!("{}: {spec} + {} merged, {tensors} tensors", out.display(), dir.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}
