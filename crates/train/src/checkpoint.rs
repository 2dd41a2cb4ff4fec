//! Checkpoints: `checkpoint-<step>/` with the adapter (PEFT layout), the optimizer's moments,
//! and `trainer_state.json` (position, RNG stream, schedule, fingerprint of what must not change
//! on resume). Written to a temporary directory and renamed; the newest `save_total_limit` and
//! the best by validation loss are kept.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::{Tensor, TensorData};
use codi_model::safetensors::{self, Dtype, Header, named};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::optim::{Moments, Schedule};
use crate::package;
use crate::trainer::{TrainState, Trainer};

const STATE: &str = "trainer_state.json";
const OPTIMIZER: &str = "optimizer.safetensors";
const PREFIX: &str = "checkpoint-";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SavedState {
    state: TrainState,
    schedule: Schedule,
    optimizer_steps: usize,
    /// What a resumed run must share with the saved one (see [`fingerprint`]).
    fingerprint: String,
    seed: u64,
}

/// A hash of everything that decides the sequence of updates: model, adapter shape, training
/// hyperparameters, data. Logging and checkpoint cadence may change between runs.
pub fn fingerprint(trainer: &Trainer) -> String {
    let config = &trainer.config;
    let mut training = serde_json::to_value(&config.training).unwrap_or_default();
    if let Some(map) = training.as_object_mut() {
        for cadence in ["eval_steps", "save_steps", "save_total_limit", "logging_steps"] {
            map.remove(cadence);
        }
    }
    let settings = serde_json::json!({
        "base": config.model.base,
        "quantization": config.quantization,
        "lora": config.lora,
        "training": training,
    });
    let mut hasher = Sha256::new();
    hasher.update(settings.to_string().as_bytes());
    for example in &trainer.train.examples {
        hasher.update((example.ids.len() as u64).to_le_bytes());
        hasher.update((example.completion_start as u64).to_le_bytes());
        example.ids.iter().for_each(|id| hasher.update(id.to_le_bytes()));
    }
    format!("{:x}", hasher.finalize())
}

/// Writes `checkpoint-<step>/` under `run_dir` and prunes old ones.
pub fn save(trainer: &mut Trainer, run_dir: &Path) -> Result<PathBuf> {
    let dir = run_dir.join(format!("{PREFIX}{:06}", trainer.state.step));
    let saved = SavedState {
        state: trainer.state.clone(),
        schedule: trainer.schedule,
        optimizer_steps: trainer.optimizer.steps,
        fingerprint: fingerprint(trainer),
        seed: trainer.config.training.seed,
    };
    let names = trainer.parameter_names();
    let mut moments = Vec::new();
    for (name, m) in names.iter().zip(&trainer.optimizer.moments) {
        moments.push(named(format!("{name}.exp_avg"), m.exp_avg.clone()));
        moments.push(named(format!("{name}.exp_avg_sq"), m.exp_avg_sq.clone()));
    }
    let files = [
        (package::WEIGHTS, safetensors::to_bytes(&package::adapter_tensors(trainer), Dtype::F32, &BTreeMap::new())),
        (package::CONFIG, package::adapter_config_json(&trainer.config)),
        (OPTIMIZER, safetensors::to_bytes(&moments, Dtype::F32, &BTreeMap::new())),
        (STATE, serde_json::to_vec_pretty(&saved).unwrap_or_default()),
    ];
    package::write_dir_atomically(&dir, &files)?;
    prune(run_dir, trainer.config.training.save_total_limit, trainer.state.best.map(|(step, _)| step))?;
    Ok(dir)
}

/// Continues `trainer` (built from the same configuration and data) from `dir`.
pub fn resume(trainer: &mut Trainer, dir: &Path) -> Result<()> {
    let state_path = dir.join(STATE);
    let text = std::fs::read(&state_path).map_err(|e| Error::io(&state_path, e))?;
    let saved: SavedState =
        serde_json::from_slice(&text).map_err(|source| Error::Json { path: state_path.clone(), source })?;
    if saved.fingerprint != fingerprint(trainer) {
        return Err(Error::checkpoint(
            &state_path,
            "saved by a run with another model, adapter shape, hyperparameters or data; resuming would not continue it",
        ));
    }
    let names = trainer.parameter_names();
    let current = trainer.parameters();
    let weights = read_tensors(&dir.join(package::WEIGHTS), names.iter().cloned(), &current)?;
    let moment_names = names.iter().flat_map(|n| [format!("{n}.exp_avg"), format!("{n}.exp_avg_sq")]);
    let doubled: Vec<Tensor<2>> = current.iter().flat_map(|t| [t.clone(), t.clone()]).collect();
    let mut moments = read_tensors(&dir.join(OPTIMIZER), moment_names, &doubled)?.into_iter();
    trainer.optimizer.moments = (0..names.len())
        .map(|_| Moments {
            exp_avg: moments.next().expect("two moments per parameter"),
            exp_avg_sq: moments.next().expect("two moments per parameter"),
        })
        .collect();
    trainer.set_parameters(weights);
    trainer.optimizer.steps = saved.optimizer_steps;
    trainer.schedule = saved.schedule;
    trainer.state = saved.state;
    Ok(())
}

/// The newest checkpoint under `run_dir`.
pub fn latest(run_dir: &Path) -> Result<PathBuf> {
    list(run_dir)?
        .pop()
        .map(|(_, dir)| dir)
        .ok_or_else(|| Error::checkpoint(run_dir, "no checkpoint to resume from (train first: `make train`)"))
}

/// Checkpoints under `run_dir`, oldest first.
fn list(run_dir: &Path) -> Result<Vec<(usize, PathBuf)>> {
    let entries = match std::fs::read_dir(run_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(run_dir, e)),
    };
    let mut found: Vec<(usize, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let step = e.file_name().to_str()?.strip_prefix(PREFIX)?.parse().ok()?;
            e.path().join(STATE).is_file().then(|| (step, e.path()))
        })
        .collect();
    found.sort();
    Ok(found)
}

/// Keeps the newest `keep` checkpoints and the best one.
fn prune(run_dir: &Path, keep: usize, best: Option<usize>) -> Result<()> {
    let found = list(run_dir)?;
    let cut = found.len().saturating_sub(keep);
    for (step, dir) in &found[..cut] {
        if Some(*step) != best {
            std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
    }
    Ok(())
}

/// Reads `names` from a safetensors file, each with the shape and device of its `like`.
fn read_tensors(path: &Path, names: impl Iterator<Item = String>, like: &[Tensor<2>]) -> Result<Vec<Tensor<2>>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let header = Header::parse(path, &bytes)?;
    names
        .zip(like)
        .map(|(name, like)| {
            let entry =
                header.tensors.get(&name).ok_or_else(|| Error::checkpoint(path, format!("missing tensor `{name}`")))?;
            if entry.shape != like.dims() || entry.dtype != Dtype::F32 {
                return Err(Error::checkpoint(
                    path,
                    format!(
                        "tensor `{name}` is {} {:?}, the run needs F32 {:?}",
                        entry.dtype.name(),
                        entry.shape,
                        like.dims()
                    ),
                ));
            }
            let values = safetensors::to_f32(entry.dtype, &bytes[entry.start..entry.end]);
            Ok(Tensor::from_data(TensorData::new(values, like.dims()), &like.device()))
        })
        .collect()
}
