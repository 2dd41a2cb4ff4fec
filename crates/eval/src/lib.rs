//! codi-eval: the eval suite (DESIGN §6). The rules-only system, the base model and each adapter
//! answer the held-out pairs through [`codi_assist`] — the prompts the pairs were trained on —
//! and every figure comes with a seeded 95% bootstrap interval and its sample size.
//!
//! - [`evaluate`]: one run ([`EvalConfig`], `configs/eval.yaml`) into the [`Store`]
//!   (`eval/runs/<id>/`: [`Results`], [`ExampleRecord`]s, the resolved configuration) and the
//!   HTML report over every run ([`report`]).
//! - [`metrics`]: the per-example scores; [`stats`]: intervals, paired comparisons, McNemar,
//!   calibration.
//! - [`promote`]: the promotion gate into `patterns/rules.yml`; [`lineage`]: the chain dataset
//!   → adapter → run → promotion with every hash checked; [`nightly`]: the promoted adapter
//!   against the run that promoted it.

mod config;
mod data;
mod error;
pub mod lineage;
pub mod metrics;
pub mod nightly;
pub mod promote;
pub mod report;
pub mod results;
mod run;
pub mod stats;
mod store;

pub use config::{EvalConfig, Gate, Nightly, Split, Statistics};
pub use data::{Dataset, Example, Rejected, SplitFile};
pub use error::{Error, Result};
pub use results::{Results, Summary};
pub use run::{Progress, Run, evaluate};
pub use store::{Store, StoredRun};
