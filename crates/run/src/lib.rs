//! codi-run: the main job, `codi run` (DESIGN §1: analyze → render → rank → report), and the
//! feedback loop back into the training data.
//!
//! - [`run`]: each project is analyzed and its rules-first candidates rendered and checked
//!   (`codi_core::rewrite`), the candidates are ranked and the recommendation explained — by
//!   the server's own `Service` in this process (the model, or with `--skip-llm` the rules
//!   alone), or through a server with the air-gapped client — and everything lands in a new
//!   `runs/<YYYYMMDD_HHMMSS>[-N]/`: `run.json` ([`RunRecord`]), `report.md`, a self-contained
//!   `report.html`, `llm_metrics.json` (the run's rankings, as the server records them) and
//!   `<project>/` (`codi rewrite`'s candidates, diffs and report). A project that fails at a
//!   step is recorded with the failure and the run goes on; [`RunRecord::failed`] counts them.
//!   With `patch`, each recommendation is also a `git format-patch` mail against the project's
//!   Dockerfile and a suggested commit message; only `apply` writes into the project.
//! - [`record_feedback`]: a reviewer accepts or rejects a candidate of a run
//!   (`feedback.jsonl`, [`Decision`]).
//! - [`feedback_pairs`]: every run's decisions become rank pairs in the pairs schema (accepted
//!   first, rejected last), with the prompt the pairs stage writes, for the next split.

mod error;
mod feedback;
mod job;
mod patch;
mod ranker;
mod record;
mod report;

pub use error::{Error, Result};
pub use feedback::{
    Decision, FeedbackOptions, Recorded, VERSION as FEEDBACK_VERSION, Verdict, feedback_pairs, read_feedback,
    record_feedback,
};
pub use job::{RunOptions, RunOutcome, run};
pub use patch::{COMMIT_MESSAGE_FILE, PATCH_FILE};
pub use record::{
    CandidateRecord, Explanation, FEEDBACK_FILE, METRICS_FILE, PatchRecord, Problem, ProjectRecord, REPORT_HTML,
    REPORT_MD, RUN_FILE, RankerInfo, RankerKind, RankingInfo, RunRecord, Status, Step, find_run, run_ids,
};
