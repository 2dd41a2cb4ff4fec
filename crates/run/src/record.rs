//! A run directory, `runs/<YYYYMMDD_HHMMSS>[-N]/`, and its typed files: `run.json` (what was
//! ranked, by what, with which result) and `feedback.jsonl` (the decisions taken on it since).
//! `run.json` is written last, so a directory without one is a run that did not finish and no
//! reader takes it for a run.

use std::path::{Path, PathBuf};

use codi_serve::api::{Mode, Reason};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The run's record.
pub const RUN_FILE: &str = "run.json";
/// The rankings of the run, as `codi_serve::telemetry` records them.
pub const METRICS_FILE: &str = "llm_metrics.json";
/// One [`Decision`](crate::Decision) per line, appended by `codi feedback`.
pub const FEEDBACK_FILE: &str = "feedback.jsonl";
pub const REPORT_MD: &str = "report.md";
pub const REPORT_HTML: &str = "report.html";

/// `run.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRecord {
    /// The run directory's name.
    pub id: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub finished_at: String,
    /// What ranked the candidates.
    pub ranker: RankerInfo,
    /// `codi_core::catalog::rules_version` of the catalog the candidates were rendered from.
    pub rules_version: String,
    pub catalog: PathBuf,
    /// In the order given.
    pub projects: Vec<ProjectRecord>,
}

/// The ranker as it described itself when the run started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RankerInfo {
    pub kind: RankerKind,
    /// The server's URL (`endpoint` only).
    pub endpoint: Option<String>,
    pub mode: Option<Mode>,
    pub model_id: Option<String>,
    pub adapter_version: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RankerKind {
    /// The model loaded in this process (heuristic when it is disabled or does not load).
    InProcess,
    /// `--skip-llm`: the rules' own ranking, no model loaded.
    SkipLlm,
    /// A server (`--endpoint`, LLM_ENDPOINT).
    Endpoint,
}

impl RankerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProcess => "in-process",
            Self::SkipLlm => "skip-llm",
            Self::Endpoint => "endpoint",
        }
    }
}

/// One project of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectRecord {
    /// Unique in the run: the project directory's name (`-2` … for a second one of that name);
    /// its outputs are in `<name>/`.
    pub name: String,
    /// The project as given, made absolute.
    pub path: PathBuf,
    /// The Dockerfile, relative to the project directory (none when the project did not load).
    pub dockerfile: Option<PathBuf>,
    /// sha256 of the Dockerfile's bytes: the data pipeline's id of that file.
    pub dockerfile_sha256: Option<String>,
    pub stack: Option<String>,
    pub status: Status,
    /// Best first: the ranker's order when it ranked them, the rules' order otherwise.
    pub candidates: Vec<CandidateRecord>,
    /// The recommended candidate's id.
    pub selected: Option<String>,
    pub ranking: Option<RankingInfo>,
    pub explanation: Option<Explanation>,
    /// What failed, if anything (the run went on).
    pub problems: Vec<Problem>,
    /// `--patch`: the recommended candidate as a patch (`<name>/recommended.patch`, its message
    /// in `<name>/commit-message.txt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<PatchRecord>,
}

/// Where the patch of a project applies, and whether `--apply` applied it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchRecord {
    /// The git work tree holding the project (the project directory when it is in none): run
    /// `git apply` or `git am` there.
    pub root: PathBuf,
    /// The Dockerfile's path in the patch, from `root`.
    pub path: String,
    /// The candidate was written into the project.
    pub applied: bool,
}

impl ProjectRecord {
    pub fn candidate(&self, id: &str) -> Option<&CandidateRecord> {
        self.candidates.iter().find(|c| c.id == id)
    }

    pub fn selected_candidate(&self) -> Option<&CandidateRecord> {
        self.selected.as_deref().and_then(|id| self.candidate(id))
    }
}

/// How far a project got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Two or more candidates, ranked.
    Ranked,
    /// One candidate: nothing to rank, it is the recommendation.
    OneCandidate,
    /// No rule of the catalog applies.
    NoRule,
    /// The candidates are in the rules' order: the ranker failed (see `problems`).
    RankFailed,
    /// The project could not be read (see `problems`).
    LoadFailed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ranked => "ranked",
            Self::OneCandidate => "one candidate",
            Self::NoRule => "no rule applies",
            Self::RankFailed => "ranking failed",
            Self::LoadFailed => "not loaded",
        }
    }
}

/// A rendered candidate and its place in both orders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CandidateRecord {
    /// The id it was ranked and is decided on by (its rule id).
    pub id: String,
    pub rule_id: String,
    /// 1 is best, in the order of [`ProjectRecord::candidates`].
    pub rank: usize,
    /// Its place in the rules' order, which names its files (`candidates/<rules_rank>-<rule>.*`).
    pub rules_rank: usize,
    /// The catalog's weighted score of its estimated deltas.
    pub rules_score: f64,
    /// The ranker's score and the probability of it coming first, when it was ranked.
    pub score: Option<f64>,
    pub confidence: Option<f64>,
    /// The rendered Dockerfile and its diff, relative to the run directory.
    pub dockerfile: String,
    pub diff: String,
}

/// What the ranker said about the ranking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RankingInfo {
    pub mode: Mode,
    pub base_model: String,
    pub adapter_version: Option<String>,
    pub latency_ms: f64,
}

/// The explanation of the recommended candidate (or, with no rule, of the findings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Explanation {
    /// The rule explained; none when the findings were.
    pub rule_id: Option<String>,
    pub summary: String,
    pub reasons: Vec<Reason>,
    /// Text was removed because it held a Dockerfile instruction or an unknown code.
    pub filtered: bool,
    pub mode: Mode,
    pub latency_ms: f64,
}

/// A step that failed for one project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Problem {
    pub step: Step,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    Load,
    Write,
    Rank,
    Explain,
    Telemetry,
    Patch,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Load => "load",
            Self::Write => "write",
            Self::Rank => "rank",
            Self::Explain => "explain",
            Self::Telemetry => "telemetry",
            Self::Patch => "patch",
        }
    }
}

impl RunRecord {
    /// The projects with a problem.
    pub fn failed(&self) -> usize {
        self.projects.iter().filter(|p| !p.problems.is_empty()).count()
    }

    pub fn project(&self, name: &str) -> Option<&ProjectRecord> {
        self.projects.iter().find(|p| p.name == name)
    }

    /// Reads `<dir>/run.json`.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(RUN_FILE);
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        serde_json::from_slice(&bytes).map_err(|e| Error::json(&path, e))
    }

    pub(crate) fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(RUN_FILE);
        let mut bytes = serde_json::to_vec_pretty(self).map_err(|e| Error::json(&path, e))?;
        bytes.push(b'\n');
        codi_files::write_atomically(&path, &bytes).map_err(|e| Error::io(&path, e))
    }
}

/// A new run directory under `runs`, named for `now` (`-2`, `-3` … when that second already has
/// one), reserved by creating it: two runs never share a directory.
pub(crate) fn reserve(runs: &Path, now: chrono::DateTime<chrono::Utc>) -> Result<(String, PathBuf)> {
    std::fs::create_dir_all(runs).map_err(|e| Error::io(runs, e))?;
    let stamp = now.format("%Y%m%d_%H%M%S").to_string();
    let mut n = 1;
    loop {
        let id = if n == 1 { stamp.clone() } else { format!("{stamp}-{n}") };
        let dir = runs.join(&id);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok((id, dir)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n += 1,
            Err(e) => return Err(Error::io(dir, e)),
        }
    }
}

/// The ids of the finished runs under `runs`, oldest first (ids sort by time; `runs/train/`
/// and other directories without a `run.json` are not runs).
pub fn run_ids(runs: &Path) -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(runs) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(runs, e)),
    };
    let mut ids: Vec<String> = entries
        .filter_map(std::result::Result::ok)
        .filter(|e| e.path().join(RUN_FILE).is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.'))
        .collect();
    ids.sort_by_key(|id| sort_key(id));
    Ok(ids)
}

/// `20260101_120000-10` after `20260101_120000-9`.
fn sort_key(id: &str) -> (String, u32) {
    match id.rsplit_once('-').and_then(|(stamp, n)| Some((stamp, n.parse().ok()?))) {
        Some((stamp, n)) => (stamp.to_owned(), n),
        None => (id.to_owned(), 1),
    }
}

/// A run named by its directory, or by its id under `runs`.
pub fn find_run(runs: &Path, run: &str) -> Result<PathBuf> {
    let as_path = Path::new(run);
    if as_path.join(RUN_FILE).is_file() {
        return Ok(as_path.to_owned());
    }
    let dir = runs.join(run);
    if !run.contains(['/', '\\']) && dir.join(RUN_FILE).is_file() {
        return Ok(dir);
    }
    let known = run_ids(runs)?;
    Err(Error::NoRun {
        run: run.to_owned(),
        runs: runs.to_owned(),
        known: if known.is_empty() { "none".to_owned() } else { known.join(", ") },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_directories_never_collide_and_sort_by_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let now = chrono::Utc::now();
        let ids: Vec<String> = (0..11).map(|_| reserve(dir.path(), now).expect("reserve").0).collect();
        let stamp = now.format("%Y%m%d_%H%M%S").to_string();
        assert_eq!(ids[0], stamp);
        assert_eq!(ids[1], format!("{stamp}-2"));
        assert_eq!(ids[10], format!("{stamp}-11"));
        let mut sorted = ids.clone();
        sorted.sort_by_key(|id| sort_key(id));
        assert_eq!(sorted, ids);
        assert!(run_ids(dir.path()).expect("ids").is_empty(), "a directory without run.json is not a run");
    }
}
