//! `codi adapter verify|merge`: check an adapter directory; fold it into its base model.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Subcommand, ValueEnum};
use codi_model::safetensors::Dtype;
use codi_model::{Model, Quantize};
use codi_train::BaseModel;

use super::generate::DeviceArg;

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
        #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
        device: DeviceArg,
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
                Some(spec) => Some(describe(spec)?),
                None => None,
            };
            let verification = codi_train::verify(dir, base.as_ref());
            for problem in &verification.problems {
                anstream::println!("{problem}");
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
                None => recorded_base(dir)?,
            };
            let mut model = Model::load(&spec, Quantize::AsStored, &device.device()?)
                .with_context(|| format!("loading the base model {spec}"))?;
            let dtype = match dtype {
                DtypeArg::F32 => Dtype::F32,
                DtypeArg::F16 => Dtype::F16,
                DtypeArg::Bf16 => Dtype::BF16,
            };
            let tensors = codi_train::merge(&mut model, dir, out, dtype)?;
            anstream::println!("{}: {spec} + {} merged, {tensors} tensors", out.display(), dir.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The base model's layer shapes and sha256.
fn describe(spec: &str) -> Result<BaseModel> {
    let mut model = Model::load(spec, Quantize::AsStored, &codi_model::cpu())
        .with_context(|| format!("loading the base model {spec}"))?;
    let sha256 = codi_train::sha256_model(&model.source)?;
    Ok(BaseModel::describe(&mut model.transformer, sha256))
}

fn recorded_base(dir: &std::path::Path) -> Result<String> {
    let path = dir.join("metadata.json");
    let text = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let metadata: serde_json::Value =
        serde_json::from_slice(&text).with_context(|| format!("parsing {}", path.display()))?;
    metadata
        .pointer("/base_model/name")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .with_context(|| format!("{} names no base model; pass --base", path.display()))
}
