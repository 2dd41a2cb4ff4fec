//! The feedback loop. `codi feedback` appends a reviewer's decision on a candidate to its run's
//! `feedback.jsonl`; `codi data feedback` turns the decisions of every run into rank pairs in
//! the pairs schema (the accepted candidate first, the rejected ones last, the rest in the
//! ranker's order between), so the next split — and the next adapter — learns from them.
//!
//! The pairs go to `data/pairs/pairs-feedback.parquet`, one of the parts the split stage reads
//! beside `pairs.parquet` (with `__meta__/rejects-feedback.parquet` and
//! `__meta__/stats-feedback.json`, a fingerprint the pairs stage never reuses). A full pairs run
//! removes its parts, so `codi data prepare` writes them again between pairs and split: they are
//! derived from `runs/` each time.
//!
//! Each pair's prompt is the one the pairs stage would write for the project: the rank prompt of
//! [`codi_tasks::Prompt::new`] over the project's Dockerfile as standardized (normalized and
//! redacted, `codi_standardize::standardized_text`) and its rewrite. The project is read again
//! from its path and must still be the file that was ranked (same sha256) with the same
//! candidates; otherwise the decision is a reject, with the reason.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use chrono::{SecondsFormat, Utc};
use codi_core::project::Project;
use codi_core::rewrite::Ruleset;
use codi_core::syntax::ParseOptions;
use codi_dataset::Layout;
use codi_dataset::pipeline::{Part, Shard, StageFiles, Stats, write_rejects};
use codi_dataset::records::{PairRecord, Reject};
use codi_dataset::table::{TableReader, write_all};
use codi_tasks::{Answer, Prompt, RankAnswer, Styles, Task, contains_instruction};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::record::{CandidateRecord, FEEDBACK_FILE, ProjectRecord, RunRecord, find_run, run_ids};

/// Bumped when feedback pairs change for the same decisions.
pub const VERSION: &str = "feedback-1";
/// The name of the feedback part of `data/pairs` (`pairs-<PART>.parquet`).
const PART: &str = "feedback";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Accept,
    Reject,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accept => "accept",
            Self::Reject => "reject",
        }
    }
}

/// One line of `feedback.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// RFC 3339, UTC.
    pub recorded_at: String,
    /// The project's name in the run.
    pub project: String,
    /// The candidate's id in that project.
    pub candidate: String,
    pub verdict: Verdict,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A decision recorded, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub run_id: String,
    pub dir: PathBuf,
    pub decision: Decision,
}

/// Appends a decision on `candidate` — `<project>/<candidate>`, or the candidate's id alone when
/// one project of the run has it — to the feedback of `run` (a run directory, or a run id under
/// `runs`). A candidate the run does not have is refused, with the ones it has.
pub fn record_feedback(
    runs: &Path,
    run: &str,
    candidate: &str,
    verdict: Verdict,
    reason: Option<&str>,
) -> Result<Recorded> {
    let dir = find_run(runs, run)?;
    let record = RunRecord::read(&dir)?;
    let (project, id) = resolve(&record, &dir, candidate)?;
    let decision = Decision {
        recorded_at: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        project,
        candidate: id,
        verdict,
        reason: reason.map(str::trim).filter(|r| !r.is_empty()).map(str::to_owned),
    };
    let path = dir.join(FEEDBACK_FILE);
    let mut bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io(&path, e)),
    };
    if !bytes.is_empty() && !bytes.ends_with(b"\n") {
        bytes.push(b'\n');
    }
    serde_json::to_writer(&mut bytes, &decision).map_err(|e| Error::json(&path, e))?;
    bytes.push(b'\n');
    codi_files::write_atomically(&path, &bytes).map_err(|e| Error::io(&path, e))?;
    Ok(Recorded { run_id: record.id, dir, decision })
}

/// The project and candidate ids `reference` names in `run`.
fn resolve(run: &RunRecord, dir: &Path, reference: &str) -> Result<(String, String)> {
    let refuse = |message: String| {
        let known: Vec<String> = run
            .projects
            .iter()
            .flat_map(|p| p.candidates.iter().map(move |c| format!("{}/{}", p.name, c.id)))
            .collect();
        Error::Candidate {
            run: run.id.clone(),
            dir: dir.to_owned(),
            message,
            known: if known.is_empty() { "none".to_owned() } else { known.join(", ") },
        }
    };
    let matches: Vec<(&ProjectRecord, &CandidateRecord)> = match reference.split_once('/') {
        Some((project, id)) => run.project(project).and_then(|p| p.candidate(id).map(|c| (p, c))).into_iter().collect(),
        None => run.projects.iter().filter_map(|p| p.candidate(reference).map(|c| (p, c))).collect(),
    };
    match matches.as_slice() {
        [(project, candidate)] => Ok((project.name.clone(), candidate.id.clone())),
        [] => Err(refuse(format!("no candidate `{reference}`"))),
        several => {
            let names: Vec<&str> = several.iter().map(|(p, _)| p.name.as_str()).collect();
            Err(refuse(format!(
                "`{reference}` is a candidate of {}: say which as <project>/{reference}",
                names.join(", ")
            )))
        }
    }
}

/// The decisions of the run in `dir`, in the order they were taken (none yet: empty).
pub fn read_feedback(dir: &Path) -> Result<Vec<Decision>> {
    let path = dir.join(FEEDBACK_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(&path, e)),
    };
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| {
            serde_json::from_str(line).map_err(|e| Error::json(format!("{}:{}", path.display(), n + 1), e))
        })
        .collect()
}

/// What `codi data feedback` reads and writes.
#[derive(Debug, Clone)]
pub struct FeedbackOptions {
    /// `runs/`.
    pub runs: PathBuf,
    /// `data/pairs`: the pairs are one of its parts.
    pub pairs: PathBuf,
    /// `data/curated`: a project collected there keeps its near-duplicate cluster, so its
    /// feedback pairs land in the same split as its other pairs.
    pub curated: PathBuf,
    /// `patterns/rules.yml`.
    pub catalog: PathBuf,
}

impl FeedbackOptions {
    pub fn in_layout(layout: &Layout, runs: &Path, catalog: &Path) -> Self {
        Self { runs: runs.to_owned(), pairs: layout.pairs(), curated: layout.curated(), catalog: catalog.to_owned() }
    }

    /// `data/pairs/pairs-feedback.parquet`.
    pub fn table(&self) -> PathBuf {
        self.files().data(Part::Named(PART.into()))
    }

    fn files(&self) -> StageFiles {
        StageFiles::new(&self.pairs, "pairs")
    }
}

/// Writes the rank pairs of every run's decisions (one per project with a preference), their
/// rejects and stats; returns the stats (input: the projects with decisions).
pub fn feedback_pairs(options: &FeedbackOptions) -> Result<Stats> {
    let started = std::time::Instant::now();
    let rules = Ruleset::load(&options.catalog, None)?;
    let rules_version = codi_core::catalog::rules_version(&options.catalog)?;
    let clusters = clusters(&options.curated)?;
    let mut stats = Stats::new("feedback", &format!("{VERSION}+rules-{}", &rules_version[..16]), Shard::ALL);
    let mut pairs = Vec::new();
    let mut rejects = Vec::new();
    let mut reject = |stats: &mut Stats, id: String, origin: String, reason: &str, detail: String| {
        stats.reject(reason);
        rejects.push(Reject { id, origin, reason: reason.to_owned(), detail });
    };
    for run_id in run_ids(&options.runs)? {
        let dir = options.runs.join(&run_id);
        let origin = dir.display().to_string();
        let loaded = RunRecord::read(&dir).and_then(|run| Ok((read_feedback(&dir)?, run)));
        let (decisions, run) = match loaded {
            Ok((decisions, _)) if decisions.is_empty() => continue,
            Ok(loaded) => loaded,
            Err(error) => {
                stats.input += 1;
                reject(&mut stats, format!("run:{run_id}"), origin, "run-unreadable", error.to_string());
                continue;
            }
        };
        let mut by_project: BTreeMap<&str, Vec<&Decision>> = BTreeMap::new();
        for decision in &decisions {
            by_project.entry(decision.project.as_str()).or_default().push(decision);
        }
        for (name, decisions) in by_project {
            stats.input += 1;
            let id = format!("run:{run_id}:{name}");
            let Some(project) = run.project(name) else {
                reject(&mut stats, id, origin.clone(), "unknown-project", format!("the run has no project `{name}`"));
                continue;
            };
            match pair(&run, project, &decisions, &rules, &clusters) {
                Ok(pair) => {
                    stats.count("pairs_by_stack", &pair.stack);
                    pairs.push(pair);
                }
                Err((reason, detail)) => reject(&mut stats, id, project.path.display().to_string(), reason, detail),
            }
        }
    }
    stats.output = pairs.len() as u64;
    stats.computed = stats.input;
    write_all(&options.table(), pairs)?;
    let files = options.files();
    write_rejects(&files.rejects(Part::Named(PART.into())), rejects)?;
    stats.seconds = started.elapsed().as_secs_f64();
    stats.write(&files.stats(Part::Named(PART.into())))?;
    Ok(stats)
}

/// Curated id → near-duplicate cluster id (none when the data has not been curated).
fn clusters(curated: &Path) -> Result<HashMap<String, String>> {
    #[derive(Deserialize)]
    struct Cluster {
        id: String,
        cluster_id: String,
    }
    let path = curated.join("curated.parquet");
    let mut clusters = HashMap::new();
    if !path.is_file() {
        return Ok(clusters);
    }
    for batch in TableReader::<Cluster>::open(&path, Some(&["id", "cluster_id"]))? {
        for row in batch? {
            clusters.insert(row.id, row.cluster_id);
        }
    }
    Ok(clusters)
}

/// The rank pair of one project's decisions (the latest decision on a candidate counts), or the
/// reason there is none.
fn pair(
    run: &RunRecord,
    project: &ProjectRecord,
    decisions: &[&Decision],
    rules: &Ruleset,
    clusters: &HashMap<String, String>,
) -> Result<PairRecord, (&'static str, String)> {
    let mut latest: BTreeMap<&str, &Decision> = BTreeMap::new();
    for decision in decisions {
        latest.insert(decision.candidate.as_str(), decision);
    }
    if let Some(unknown) = latest.keys().find(|id| project.candidate(id).is_none()) {
        return Err(("unknown-candidate", format!("the run's project has no candidate `{unknown}`")));
    }
    let ranked: Vec<&str> = project.candidates.iter().map(|c| c.id.as_str()).collect();
    if latest.values().all(|d| d.verdict == Verdict::Reject) && latest.len() == ranked.len() {
        return Err(("no-preference", "every candidate was rejected: none is preferred to another".to_owned()));
    }
    let order = preferred(&ranked, &latest);
    let Some(sha256) = project.dockerfile_sha256.as_deref() else {
        return Err(("not-loaded", "the project did not load in the run".to_owned()));
    };
    let loaded =
        Project::load(&project.path, &ParseOptions::default()).map_err(|e| ("project-missing", e.to_string()))?;
    if codi_files::sha256_hex(loaded.source.as_bytes()) != sha256 {
        return Err(("dockerfile-changed", format!("{}: not the Dockerfile the run ranked", project.path.display())));
    }
    let text = codi_standardize::standardized_text(&loaded.source, &mut BTreeMap::new());
    let served = Project::in_memory(&loaded.name(), "Dockerfile", &text, loaded.files.clone(), loaded.context_bytes);
    let rewrite = rules.rewrite(&served);
    let Some(prompt) = Prompt::new(Task::Rank, &served.source, &rewrite) else {
        return Err(("one-candidate", "fewer than two candidates: nothing to rank".to_owned()));
    };
    let label_of: BTreeMap<&str, &str> =
        prompt.input.candidates.iter().map(|c| (c.rule_id.as_str(), c.label.as_str())).collect();
    let rule_of = |id| rule_of(project, id);
    let shown: BTreeSet<&str> = label_of.keys().copied().collect();
    let ranked: BTreeSet<&str> = order.iter().map(|id| rule_of(id)).collect();
    if shown != ranked {
        let list = |set: &BTreeSet<&str>| set.iter().copied().collect::<Vec<_>>().join(", ");
        return Err((
            "candidates-changed",
            format!("the rules now render [{}], the run ranked [{}]", list(&shown), list(&ranked)),
        ));
    }
    let rule_ids: Vec<String> = order.iter().map(|id| rule_of(id).to_owned()).collect();
    let answer = Answer::Rank(RankAnswer {
        order: rule_ids.iter().filter_map(|rule| label_of.get(rule.as_str()).map(|l| (*l).to_owned())).collect(),
        rationale: rationale(&order, &latest, project),
    });
    let output = answer.to_json();
    let styles = Styles::render(&prompt, &output);
    Ok(PairRecord {
        pair_id: codi_files::sha256_hex(format!("{VERSION}:{}:{}:rank", run.id, project.name).as_bytes()),
        source_id: format!("run:{}:{}", run.id, project.path.display()),
        cluster_id: clusters.get(sha256).cloned().unwrap_or_else(|| sha256.to_owned()),
        task: Task::Rank.as_str().to_owned(),
        stack: rewrite.facts.stack.map_or_else(|| "unknown".to_owned(), |s| s.to_string()),
        rule_ids,
        instruction: prompt.instruction.to_owned(),
        input: prompt.input_json(),
        output,
        raw: styles.raw,
        instruct: styles.instruct,
        chat: styles.chat,
    })
}

/// The rule a candidate of the run was rendered from.
fn rule_of<'a>(project: &'a ProjectRecord, id: &'a str) -> &'a str {
    project.candidate(id).map_or(id, |c| c.rule_id.as_str())
}

/// The ranker's order with the accepted candidates moved first and the rejected ones last.
fn preferred<'a>(ranked: &[&'a str], latest: &BTreeMap<&str, &Decision>) -> Vec<&'a str> {
    let mut order = ranked.to_vec();
    order.sort_by_key(|id| match latest.get(id).map(|d| d.verdict) {
        Some(Verdict::Accept) => 0,
        None => 1,
        Some(Verdict::Reject) => 2,
    });
    order
}

/// Why this order: the reviewer's decisions, with their reasons when they quote no Dockerfile
/// instruction (an answer never does).
fn rationale(order: &[&str], latest: &BTreeMap<&str, &Decision>, project: &ProjectRecord) -> String {
    let said: Vec<String> = order
        .iter()
        .filter_map(|id| {
            let decision = latest.get(id)?;
            let verb = match decision.verdict {
                Verdict::Accept => "accepted",
                Verdict::Reject => "rejected",
            };
            let reason = decision
                .reason
                .as_deref()
                .map(|r| r.split_whitespace().collect::<Vec<_>>().join(" "))
                .filter(|r| !r.is_empty() && !contains_instruction(r))
                .map(|r| format!(": {}", r.trim_end_matches('.')))
                .unwrap_or_default();
            Some(format!("{} was {verb} in review{reason}", rule_of(project, id)))
        })
        .collect();
    format!("{}.", said.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(candidate: &str, verdict: Verdict, reason: Option<&str>) -> Decision {
        Decision {
            recorded_at: String::new(),
            project: "app".to_owned(),
            candidate: candidate.to_owned(),
            verdict,
            reason: reason.map(str::to_owned),
        }
    }

    #[test]
    fn accepted_first_rejected_last_the_rest_in_the_rankers_order() {
        let (accept, reject) = (decision("d", Verdict::Accept, None), decision("a", Verdict::Reject, None));
        let latest: BTreeMap<&str, &Decision> = [("d", &accept), ("a", &reject)].into();
        assert_eq!(preferred(&["a", "b", "c", "d"], &latest), ["d", "b", "c", "a"]);
        assert_eq!(preferred(&["a", "b"], &BTreeMap::new()), ["a", "b"]);
    }
}
