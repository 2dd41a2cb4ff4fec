//! `configs/eval.yaml`: what a run evaluates and how (every key optional, defaults as shipped).

use std::path::{Path, PathBuf};

use codi_assist::{AssistOptions, Scoring};
use codi_tasks::Task;
use codi_yaml::{self as yaml, Reader, Value, section};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

const RESOLVED_HEADER: &str = "# The resolved configuration of this run (`codi eval`), in YAML's JSON form.";

/// Which split files a run reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Test,
    Val,
    All,
}

impl Split {
    pub const ALL: [Self; 3] = [Self::Test, Self::Val, Self::All];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Test => "test",
            Self::Val => "val",
            Self::All => "all",
        }
    }

    /// The split files, by name.
    pub fn names(self) -> &'static [&'static str] {
        match self {
            Self::Test => &["test"],
            Self::Val => &["val"],
            Self::All => &["train", "val", "test"],
        }
    }
}

impl std::str::FromStr for Split {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| format!("unknown split `{text}` (expected test, val or all)"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statistics {
    pub resamples: usize,
    pub seed: u64,
    pub calibration_bins: usize,
}

/// When `codi promote` promotes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Gate {
    /// Promote when more than this share of the stacks is won.
    pub stack_share: f64,
    /// Stacks with fewer pairs are not counted.
    pub min_stack_examples: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Nightly {
    /// A score this far below the promoting run's is a regression.
    pub margin: f64,
}

/// A resolved configuration, as a run's `config.yaml` records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalConfig {
    pub data: PathBuf,
    pub split: Split,
    pub tasks: Vec<Task>,
    /// At most this many pairs (0: all).
    pub limit: usize,
    pub out: PathBuf,
    pub base: String,
    pub adapters: Vec<PathBuf>,
    pub catalog: PathBuf,
    pub assist: AssistOptions,
    pub statistics: Statistics,
    pub gate: Gate,
    pub nightly: Nightly,
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            data: "data/splits".into(),
            split: Split::Test,
            tasks: Task::ALL.to_vec(),
            limit: 0,
            out: "eval".into(),
            base: codi_model::DEFAULT_MODEL.into(),
            adapters: vec!["models/adapters/smollm2-135m-codi".into()],
            catalog: "patterns/rules.yml".into(),
            assist: AssistOptions::default(),
            statistics: Statistics { resamples: 1000, seed: 42, calibration_bins: 10 },
            gate: Gate { stack_share: 0.5, min_stack_examples: 5 },
            nightly: Nightly { margin: 0.05 },
        }
    }
}

impl EvalConfig {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let fail = |problems| Error::Config { path: path.to_owned(), problems };
        let root = yaml::parse(text).map_err(|p| fail(vec![p]))?;
        let mut reader = Reader::default();
        let config = if root.value == Value::Null { Self::default() } else { read(&mut reader, &root) };
        if reader.problems.is_empty() { Ok(config) } else { Err(fail(reader.problems)) }
    }

    /// The configuration as YAML (JSON is YAML): what a run stores beside its results.
    pub fn to_yaml(&self) -> String {
        let json = serde_json::to_string_pretty(self).expect("the configuration serializes");
        format!("{RESOLVED_HEADER}\n{json}\n")
    }

    /// A run's `config.yaml`, as [`Self::to_yaml`] wrote it.
    pub fn read_resolved(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let json = text.strip_prefix(RESOLVED_HEADER).unwrap_or(&text);
        serde_json::from_str(json).map_err(|source| Error::Json { path: path.to_owned(), source })
    }
}

fn read(reader: &mut Reader, root: &yaml::Node) -> EvalConfig {
    let d = EvalConfig::default();
    let keys = [
        "data",
        "split",
        "tasks",
        "limit",
        "out",
        "base",
        "adapters",
        "catalog",
        "assist",
        "statistics",
        "gate",
        "nightly",
    ];
    let fields = reader.mapping("", root, &keys, &[]);
    let mut top = codi_yaml::Section { reader, fields };
    let tasks: Vec<&str> = Task::ALL.iter().map(|t| t.as_str()).collect();
    let defaults: Vec<String> = d.tasks.iter().map(ToString::to_string).collect();
    let adapters = match top.node("adapters") {
        Some((path, node)) => top.reader.strings(&path, node).into_iter().map(PathBuf::from).collect(),
        None => d.adapters.clone(),
    };
    let splits = Split::ALL.map(|s| (s.as_str(), s));
    let split = top.choice("split", d.split, &splits);
    let config = EvalConfig {
        data: top.string("data", &d.data.to_string_lossy()).into(),
        split,
        tasks: top.strings("tasks", &defaults, &tasks).iter().filter_map(|t| t.parse().ok()).collect(),
        limit: top.count("limit", d.limit, 0),
        out: top.string("out", &d.out.to_string_lossy()).into(),
        base: top.string("base", &d.base),
        adapters,
        catalog: top.string("catalog", &d.catalog.to_string_lossy()).into(),
        ..d.clone()
    };
    let root_fields = top.fields;
    let reader = top.reader;
    let root_fields = root_fields.as_ref();

    let mut s =
        section(reader, root_fields, "assist", &["scoring", "batch", "max_explain_tokens", "max_parameter_tokens"]);
    let assist = AssistOptions {
        scoring: s.choice("scoring", d.assist.scoring, &[("raw", Scoring::Raw), ("per_byte", Scoring::PerByte)]),
        batch: s.count("batch", d.assist.batch, 1),
        max_explain_tokens: s.count("max_explain_tokens", d.assist.max_explain_tokens, 1),
        max_parameter_tokens: s.count("max_parameter_tokens", d.assist.max_parameter_tokens, 1),
        ..d.assist
    };
    let mut s = section(reader, root_fields, "statistics", &["resamples", "seed", "calibration_bins"]);
    let statistics = Statistics {
        resamples: s.count("resamples", d.statistics.resamples, 1),
        seed: s.count("seed", d.statistics.seed as usize, 0) as u64,
        calibration_bins: s.count("calibration_bins", d.statistics.calibration_bins, 1),
    };
    let mut s = section(reader, root_fields, "gate", &["stack_share", "min_stack_examples"]);
    let gate = Gate {
        stack_share: s.number("stack_share", d.gate.stack_share, |x| (0.0..1.0).contains(&x), "in [0, 1)"),
        min_stack_examples: s.count("min_stack_examples", d.gate.min_stack_examples, 1),
    };
    let mut s = section(reader, root_fields, "nightly", &["margin"]);
    let nightly = Nightly { margin: s.number("margin", d.nightly.margin, |x| (0.0..=1.0).contains(&x), "in [0, 1]") };
    EvalConfig { assist, statistics, gate, nightly, ..config }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_configuration_is_the_default() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/eval.yaml");
        assert_eq!(EvalConfig::load(&path).expect("configs/eval.yaml reads"), EvalConfig::default());
    }

    #[test]
    fn problems_are_reported_with_their_path_and_line() {
        let error = EvalConfig::parse("split: dev\nassist:\n  batch: 0\nextra: 1\n", Path::new("eval.yaml"))
            .expect_err("three problems");
        let text = error.to_string();
        assert!(text.contains("eval.yaml"), "{text}");
        for needle in ["split", "assist.batch", "extra"] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
    }
}
