//! Checkpoints: `checkpoint-<step>/` with the adapter (PEFT layout), the optimizer's moments,
//! and `trainer_state.json` (position, RNG stream, schedule, fingerprint of what must not change
//! on resume). Written to a temporary directory and renamed; the newest `save_total_limit` and
//! the best by validation loss are kept.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use burn::tensor::{Tensor, TensorData};
use codi_model::adapter::{CONFIG, WEIGHTS};
use codi_model::safetensors::{Dtype, SafetensorsFile, named, to_bytes};
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

/// Where to resume from: a checkpoint directory, or `latest`, the newest of the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResumeFrom {
    Latest,
    Dir(PathBuf),
}

impl FromStr for ResumeFrom {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> std::result::Result<Self, Self::Err> {
        Ok(if text == "latest" { Self::Latest } else { Self::Dir(text.into()) })
    }
}

/// A hash of everything that decides the sequence of updates: model, adapter shape, training
/// hyperparameters, data. Logging and checkpoint cadence may change between runs.
fn fingerprint(trainer: &Trainer) -> String {
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

impl Trainer {
    /// Writes `checkpoint-<step>/` in the run directory and prunes old ones; the checkpoint is the
    /// best so far when this step's validation loss is the lowest yet.
    pub fn save_checkpoint(&mut self) -> Result<PathBuf> {
        let step = self.state.step;
        if let Some((at, loss)) = self.state.val_loss()
            && at == step
            && self.state.best.is_none_or(|(_, best)| loss < best)
        {
            self.state.best = Some((step, loss));
        }
        let run_dir = self.config.run_dir();
        let dir = run_dir.join(format!("{PREFIX}{step:06}"));
        let saved = SavedState {
            state: self.state.clone(),
            schedule: self.schedule,
            optimizer_steps: self.optimizer.steps,
            fingerprint: fingerprint(self),
            seed: self.config.training.seed,
        };
        let names = self.parameter_names();
        let mut moments = Vec::new();
        for (name, m) in names.iter().zip(&self.optimizer.moments) {
            moments.push(named(format!("{name}.exp_avg"), m.exp_avg.clone()));
            moments.push(named(format!("{name}.exp_avg_sq"), m.exp_avg_sq.clone()));
        }
        let adapter_config = self.adapter_config(self.config.model.base.clone());
        let files = [
            (WEIGHTS, self.adapter_weights()?),
            (CONFIG, adapter_config.to_json()),
            (OPTIMIZER, to_bytes(&moments, Dtype::F32, &BTreeMap::new())?),
            (STATE, serde_json::to_vec_pretty(&saved).unwrap_or_default()),
        ];
        package::write_dir_atomically(&dir, &files)?;
        prune(&run_dir, self.config.training.save_total_limit, self.state.best.map(|(step, _)| step))?;
        Ok(dir)
    }

    /// Continues this trainer (built from the same configuration and data) from a checkpoint;
    /// returns its directory.
    pub fn resume(&mut self, from: &ResumeFrom) -> Result<PathBuf> {
        let dir = match from {
            ResumeFrom::Latest => latest(&self.config.run_dir())?,
            ResumeFrom::Dir(dir) => dir.clone(),
        };
        let state_path = dir.join(STATE);
        let text = std::fs::read(&state_path).map_err(|e| Error::io(&state_path, e))?;
        let saved: SavedState =
            serde_json::from_slice(&text).map_err(|source| Error::Json { path: state_path.clone(), source })?;
        if saved.fingerprint != fingerprint(self) {
            return Err(Error::checkpoint(
                &state_path,
                "saved by a run with another model, adapter shape, hyperparameters or data; resuming would not continue it",
            ));
        }
        let names = self.parameter_names();
        let current = self.parameters();
        let weights = read_tensors(&dir.join(WEIGHTS), names.iter().cloned(), &current)?;
        let moment_names = names.iter().flat_map(|n| [format!("{n}.exp_avg"), format!("{n}.exp_avg_sq")]);
        let doubled: Vec<Tensor<2>> = current.iter().flat_map(|t| [t.clone(), t.clone()]).collect();
        let mut moments = read_tensors(&dir.join(OPTIMIZER), moment_names, &doubled)?.into_iter();
        self.optimizer.moments = (0..names.len())
            .map(|_| Moments {
                exp_avg: moments.next().expect("two moments per parameter"),
                exp_avg_sq: moments.next().expect("two moments per parameter"),
            })
            .collect();
        self.set_parameters(weights);
        self.optimizer.steps = saved.optimizer_steps;
        self.schedule = saved.schedule;
        self.state = saved.state;
        Ok(dir)
    }
}

/// The newest checkpoint under `run_dir`.
fn latest(run_dir: &Path) -> Result<PathBuf> {
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
    let file = SafetensorsFile::read(path)?;
    names
        .zip(like)
        .map(|(name, like)| {
            let stored = file.get(&name).ok_or_else(|| Error::checkpoint(path, format!("missing tensor `{name}`")))?;
            if stored.shape != like.dims() || stored.dtype != Dtype::F32 {
                return Err(Error::checkpoint(
                    path,
                    format!(
                        "tensor `{name}` is {} {:?}, the run needs F32 {:?}",
                        stored.dtype.name(),
                        stored.shape,
                        like.dims()
                    ),
                ));
            }
            Ok(Tensor::from_data(TensorData::new(stored.values, like.dims()), &like.device()))
        })
        .collect()
}
