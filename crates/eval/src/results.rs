//! What a run writes: `results.json` (every figure with its interval), `examples.jsonl` (each
//! example's answers and scores), and the summary `codi eval --format json` prints. One typed
//! definition, read back by the report, `codi promote`, `codi lineage` and the nightly check.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use codi_assist::Choice;
use serde::{Deserialize, Serialize};

use crate::data::{Rejected, SplitFile};
use crate::stats::{CalibrationBin, Estimate};

/// The rules-only system's name.
pub const RULES_ONLY: &str = "rules-only";
/// The base model's name.
pub const BASE: &str = "base";

/// `results.json`. Apart from `run_id`, `created_at` and `timing`, two runs of one
/// configuration write the same bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    pub run_id: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// In the order they are shown: rules-only, base, then each adapter.
    pub systems: Vec<SystemInfo>,
    /// Task → its figures.
    pub tasks: BTreeMap<String, TaskResults>,
    /// `<adapter>_vs_base`, `<adapter>_vs_rules-only` → task (and `all`, every task's primary
    /// score pooled) → the paired comparison.
    pub comparisons: BTreeMap<String, BTreeMap<String, Comparison>>,
    /// Task → model system → confidence calibration (rank and rewrite: the tasks decided by
    /// scores).
    pub calibration: BTreeMap<String, BTreeMap<String, Calibration>>,
    pub data: DataSummary,
    pub lineage: Lineage,
    /// What a reader must know to read the figures (teacher caveats, dataset warnings).
    pub notes: Vec<String>,
    pub timing: BTreeMap<String, BTreeMap<String, Timing>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemInfo {
    /// `rules-only`, `base`, or the adapter's `name@version`.
    pub name: String,
    /// `rules`, `base` or `adapter`.
    pub kind: String,
    /// The adapter directory, for adapters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<PathBuf>,
}

/// One task's figures, per system.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskResults {
    /// Examples of this task.
    pub sample_size: usize,
    /// The per-example score comparisons use.
    pub primary: String,
    pub systems: BTreeMap<String, SystemResults>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemResults {
    /// Metric → mean over the examples, with its interval.
    pub overall: BTreeMap<String, Estimate>,
    /// Stack → metric → mean.
    pub by_stack: BTreeMap<String, BTreeMap<String, Estimate>>,
}

/// An adapter against another system on one task, example by example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The per-example score compared.
    pub metric: String,
    /// Share of examples where the adapter scores higher (ties count half).
    pub win_rate: Estimate,
    /// Mean of adapter − other.
    pub difference: Estimate,
    /// Exact McNemar test (binary scores only).
    pub p_value: Option<f64>,
    /// Stacks whose difference interval lies above 0, of those with enough examples.
    pub stacks_won: usize,
    pub stacks_total: usize,
    pub by_stack: BTreeMap<String, StackComparison>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackComparison {
    pub win_rate: Estimate,
    pub difference: Estimate,
    pub p_value: Option<f64>,
    /// Counted in `stacks_total` (enough examples).
    pub counted: bool,
    /// The difference's interval lies above 0.
    pub won: bool,
}

/// How well a system's confidence (the softmax of its option scores at a temperature fitted on
/// the validation split) matches how often it is right.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub temperature: f64,
    /// Validation examples the temperature was fitted on.
    pub fitted_on: usize,
    /// Expected calibration error on the evaluated examples.
    pub ece: f64,
    pub bins: Vec<CalibrationBin>,
}

/// What was read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSummary {
    pub dir: PathBuf,
    pub split: String,
    pub rows: usize,
    pub examples: usize,
    pub skipped: usize,
    pub rejected: Vec<Rejected>,
}

impl Results {
    /// The figures for a terminal: per task a table of systems × metrics (value and 95%
    /// interval), then the comparisons and the notes.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let interval = |e: &Estimate| {
            if e.value.is_nan() {
                "—".to_owned()
            } else {
                format!("{:.3} [{:.3}, {:.3}]", e.value, e.ci95[0], e.ci95[1])
            }
        };
        for (task, figures) in &self.tasks {
            let _ = writeln!(out, "{task} (n = {}, primary: {})", figures.sample_size, figures.primary);
            for (system, results) in self.systems.iter().filter_map(|s| Some((&s.name, figures.systems.get(&s.name)?)))
            {
                let metrics: Vec<String> =
                    results.overall.iter().map(|(metric, e)| format!("{metric} {}", interval(e))).collect();
                let _ = writeln!(out, "  {system:<28} {}", metrics.join("  "));
            }
        }
        for (name, by_task) in &self.comparisons {
            for (task, c) in by_task {
                let p = c.p_value.map_or_else(String::new, |p| format!(", McNemar p = {p:.3}"));
                let _ = writeln!(
                    out,
                    "{name} {task}: win rate {}, difference {}{p}, stacks won {}/{}",
                    interval(&c.win_rate),
                    interval(&c.difference),
                    c.stacks_won,
                    c.stacks_total
                );
            }
        }
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        out
    }
}

/// Where every input of the run came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lineage {
    pub base_model: ModelLineage,
    pub adapters: Vec<AdapterLineage>,
    pub dataset: Vec<SplitFile>,
    pub catalog: PathBuf,
    /// The catalog's version (`codi_core::catalog::rules_version`), as adapters record it.
    pub rules_version: String,
    pub code_revision: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelLineage {
    pub path: String,
    pub sha256: String,
    pub repo: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdapterLineage {
    pub system: String,
    pub dir: PathBuf,
    pub adapter_name: String,
    pub adapter_version: String,
    /// File → `sha256:<hex>`, as its metadata lists them.
    pub checksums: BTreeMap<String, String>,
    /// sha256 of its `metadata.json`.
    pub metadata_sha256: String,
    pub rules_version: String,
}

/// Times, which differ from run to run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    pub examples: usize,
    pub seconds: f64,
    pub examples_per_second: f64,
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
    pub tokens_per_second: f64,
}

/// One line of `examples.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExampleRecord {
    pub pair_id: String,
    pub task: String,
    pub stack: String,
    pub rule_ids: Vec<String>,
    /// The prompt's user turn.
    pub prompt: String,
    /// The gold answer, as JSON.
    pub gold: String,
    /// System → its answer.
    pub outputs: BTreeMap<String, Output>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Output {
    pub text: String,
    /// The problems [`codi_tasks::check`] found.
    pub problems: Vec<String>,
    pub scores: BTreeMap<String, f64>,
    /// The scored options of the first decision.
    pub choice: Option<Choice>,
    /// The probability of the option taken, at the fitted temperature.
    pub confidence: Option<f64>,
    pub latency_ms: f64,
    pub tokens_per_second: f64,
}

/// `codi eval --format json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub run_id: String,
    pub run_dir: PathBuf,
    pub systems: Vec<String>,
    /// Task → system → metric → value and interval.
    pub tasks: BTreeMap<String, BTreeMap<String, BTreeMap<String, SummaryMetric>>>,
    /// `<adapter>_vs_base` → task → comparison.
    pub comparisons: BTreeMap<String, BTreeMap<String, SummaryComparison>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SummaryMetric {
    pub value: f64,
    pub ci95: [f64; 2],
    /// Examples behind it.
    pub n: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SummaryComparison {
    pub win_rate: f64,
    pub ci95: [f64; 2],
    pub p_value: Option<f64>,
    pub stacks_won: usize,
    pub stacks_total: usize,
}

impl Summary {
    pub fn of(results: &Results, run_dir: PathBuf) -> Self {
        let tasks = results
            .tasks
            .iter()
            .map(|(task, figures)| {
                let systems = figures
                    .systems
                    .iter()
                    .map(|(system, r)| {
                        let metrics = r
                            .overall
                            .iter()
                            .map(|(m, e)| (m.clone(), SummaryMetric { value: e.value, ci95: e.ci95, n: e.n }))
                            .collect();
                        (system.clone(), metrics)
                    })
                    .collect();
                (task.clone(), systems)
            })
            .collect();
        let comparisons = results
            .comparisons
            .iter()
            .map(|(name, by_task)| {
                let by_task = by_task
                    .iter()
                    .map(|(task, c)| {
                        let summary = SummaryComparison {
                            win_rate: c.win_rate.value,
                            ci95: c.win_rate.ci95,
                            p_value: c.p_value,
                            stacks_won: c.stacks_won,
                            stacks_total: c.stacks_total,
                        };
                        (task.clone(), summary)
                    })
                    .collect();
                (name.clone(), by_task)
            })
            .collect();
        Self {
            run_id: results.run_id.clone(),
            run_dir,
            systems: results.systems.iter().map(|s| s.name.clone()).collect(),
            tasks,
            comparisons,
        }
    }
}
