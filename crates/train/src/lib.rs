//! codi-train: the QLoRA trainer (DESIGN §5). A frozen 4-bit base from the model crate with
//! LoRA on its projections, trained on the pairs splits (loss on completion tokens only), with
//! exact resume from checkpoints, a graceful stop on SIGINT/SIGTERM, TensorBoard + JSON-lines
//! logs, and PEFT-compatible adapter directories (`codi_model::adapter`) that `merge` folds into
//! the base.

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

pub use checkpoint::ResumeFrom;
pub use config::{
    ALL_TARGETS, ComputeDtype, DataSection, LoraSection, ModelSection, OutputSection, QuantizationSection, Scheduler,
    Style, TrainConfig, TrainingSection,
};
pub use data::{Batch, DataStats, Dataset, Encoding, Example, RejectedRow};
pub use error::{Error, Result};
pub use logging::RunLog;
pub use merge::merge;
pub use optim::{AdamW, Moments, Schedule, clip_factor};
pub use package::Packaged;
pub use run::{Event, RunReport, Stop, interrupt_on_signals};
pub use trainer::{MemoryEstimate, Plan, StepReport, TrainState, Trainer, nll_sum, training_device};
