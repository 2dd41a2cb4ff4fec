//! codi-train: the QLoRA trainer (DESIGN §5). A frozen 4-bit base from the model crate with
//! LoRA on its projections, trained on the pairs splits (loss on completion tokens only), with
//! exact resume from checkpoints, TensorBoard + JSON-lines logs, and PEFT-compatible adapter
//! directories that `verify` checks and `merge` folds into the base.

mod checkpoint;
mod config;
mod data;
mod error;
mod logging;
mod merge;
mod optim;
mod package;
mod run;
pub mod tensorboard;
mod trainer;
mod verify;

pub use checkpoint::{fingerprint, latest as latest_checkpoint, resume, save as save_checkpoint};
pub use config::{
    ALL_TARGETS, ComputeDtype, DataSection, LoraSection, ModelSection, OutputSection, QuantizationSection, Scheduler,
    Style, TrainConfig, TrainingSection,
};
pub use data::{Batch, DataStats, Dataset, Encoding, Example, Reject};
pub use error::{Error, Result};
pub use logging::RunLog;
pub use merge::merge;
pub use optim::{AdamW, Moments, Schedule, clip_factor};
pub use package::{Provenance, code_revision, package, sha256_file, sha256_model};
pub use run::{Event, run};
pub use trainer::{MemoryEstimate, StepReport, TrainState, Trainer, nll_sum, training_device};
pub use verify::{BaseModel, Verification, verify};
