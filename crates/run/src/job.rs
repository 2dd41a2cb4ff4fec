//! The main job: for each project, analyze it and render the rules-first candidates
//! (`codi_core::rewrite`), have them ranked and the recommendation explained, and write it all
//! into a new run directory. A project that fails at some step has the failure recorded, in
//! `run.json` and the reports, and the run goes on with the next one.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use codi_core::lint::Severity;
use codi_core::project::Project;
use codi_core::rewrite::{Rewrite, Ruleset, write_outputs};
use codi_core::syntax::ParseOptions;
use codi_dataset::pipeline::Progress;
use codi_serve::ServeConfig;
use codi_serve::api::{CandidateInput, ExplainRequest, ProjectInput, RankRequest, RankResponse};
use codi_serve::telemetry::{Environment, RankingRecord, Telemetry};

use crate::error::{Error, Result};
use crate::patch::{self, Choice};
use crate::ranker::Ranker;
use crate::record::{
    CandidateRecord, Explanation, METRICS_FILE, Problem, ProjectRecord, REPORT_HTML, REPORT_MD, RankingInfo, RunRecord,
    Status, Step, reserve,
};
use crate::report;

/// What `codi run` is asked.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Project directories, or Dockerfiles (their directory is the build context).
    pub paths: Vec<PathBuf>,
    /// Where run directories are made (`runs/`).
    pub out: PathBuf,
    /// Rank with the rules alone: no model is loaded.
    pub skip_llm: bool,
    /// A server to rank through; the configuration's LLM_ENDPOINT when not given.
    pub endpoint: Option<String>,
    /// The serving configuration: the model, adapter, catalog, timeouts, air-gap allowlist.
    pub serve: ServeConfig,
    /// Write each recommendation as a patch and a commit message (`<project>/recommended.patch`,
    /// `<project>/commit-message.txt`).
    pub patch: bool,
    /// Also write the recommended candidate into the project's Dockerfile (implies `patch`).
    pub apply: bool,
}

/// A finished run.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub dir: PathBuf,
    pub record: RunRecord,
}

/// Runs the main job over `options.paths` into a new directory under `options.out`: the ranker
/// starts first (loading the model, or checking the endpoint's health), so a run that cannot
/// rank at all leaves no directory behind.
pub fn run(options: &RunOptions, progress: &dyn Progress) -> Result<RunOutcome> {
    if options.paths.is_empty() {
        return Err(Error::NoProjects);
    }
    let catalog = &options.serve.catalog;
    let rules = Ruleset::load(catalog, None)?;
    let rules_version = codi_core::catalog::rules_version(catalog)?;
    progress.phase("run: starting the ranker", None);
    let (ranker, ranker_info, environment) =
        Ranker::start(&options.serve, options.skip_llm, options.endpoint.as_deref())?;
    let started = Utc::now();
    let (id, dir) = reserve(&options.out, started)?;
    let job = Job {
        id: &id,
        started,
        patch: options.patch || options.apply,
        apply: options.apply,
        rules: &rules,
        ranker: &ranker,
        telemetry: Telemetry::new(dir.join(METRICS_FILE)),
        environment,
        rules_version: &rules_version,
        dir: &dir,
    };
    progress.phase("run: projects", Some(options.paths.len() as u64));
    let mut taken = BTreeSet::new();
    let mut projects = Vec::with_capacity(options.paths.len());
    let mut rewrites = Vec::with_capacity(options.paths.len());
    for path in &options.paths {
        let (project, rewrite) = job.project(path, &mut taken);
        projects.push(project);
        rewrites.push(rewrite);
        progress.advance(1);
    }
    let record = RunRecord {
        id,
        started_at: started.to_rfc3339_opts(SecondsFormat::Secs, true),
        finished_at: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        ranker: ranker_info,
        rules_version,
        catalog: catalog.clone(),
        projects,
    };
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        codi_files::write_atomically(&path, text.as_bytes()).map_err(|e| Error::io(&path, e))
    };
    write(REPORT_MD, report::markdown(&record, &rewrites))?;
    write(REPORT_HTML, report::html(&record, &rewrites))?;
    record.write(&dir)?;
    Ok(RunOutcome { dir, record })
}

/// What every project of one run shares.
struct Job<'a> {
    id: &'a str,
    started: DateTime<Utc>,
    patch: bool,
    apply: bool,
    rules: &'a Ruleset,
    ranker: &'a Ranker,
    telemetry: Telemetry,
    environment: Environment,
    rules_version: &'a str,
    dir: &'a Path,
}

impl Job<'_> {
    /// One project, start to end; its rewrite (none when it did not load) for the reports.
    fn project(&self, path: &Path, taken: &mut BTreeSet<String>) -> (ProjectRecord, Option<Rewrite>) {
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        let loaded = match Project::load(path, &ParseOptions::default()) {
            Ok(loaded) => loaded,
            Err(error) => {
                let base =
                    absolute.file_name().map_or_else(|| "project".to_owned(), |n| n.to_string_lossy().into_owned());
                let record = ProjectRecord {
                    name: unique(&base, taken),
                    path: absolute,
                    dockerfile: None,
                    dockerfile_sha256: None,
                    stack: None,
                    status: Status::LoadFailed,
                    candidates: Vec::new(),
                    selected: None,
                    ranking: None,
                    explanation: None,
                    problems: vec![Problem { step: Step::Load, message: error.to_string() }],
                    patch: None,
                };
                return (record, None);
            }
        };
        let name = unique(&loaded.name(), taken);
        let rewrite = self.rules.rewrite(&loaded);
        let mut problems = Vec::new();
        if let Err(error) = write_outputs(&self.dir.join(&name), &rewrite) {
            problems.push(Problem { step: Step::Write, message: error.to_string() });
        }
        let mut candidates = candidates(&name, &rewrite);
        let input = ProjectInput::from_project(&loaded, &name);
        let (status, ranking) = match candidates.len() {
            0 => (Status::NoRule, None),
            1 => (Status::OneCandidate, None),
            _ => match self.rank(&name, &input, &rewrite, &mut candidates) {
                Ok((info, telemetry)) => {
                    problems.extend(telemetry);
                    (Status::Ranked, Some(info))
                }
                Err(problem) => {
                    problems.push(problem);
                    (Status::RankFailed, None)
                }
            },
        };
        let selected = match status {
            Status::Ranked | Status::OneCandidate => candidates.first().map(|c| c.id.clone()),
            Status::NoRule | Status::RankFailed | Status::LoadFailed => None,
        };
        let explained = match (status, &selected) {
            (_, Some(id)) => candidates
                .iter()
                .find(|c| &c.id == id)
                .filter(|c| fixes_a_finding(&rewrite, &c.rule_id))
                .map(|c| Some(c.rule_id.clone())),
            (Status::NoRule, None) if has_warnings(&rewrite) => Some(None),
            _ => None,
        };
        let explanation = explained.and_then(|rule_id| {
            let request = ExplainRequest { project: input, rule_id: rule_id.clone() };
            match self.ranker.explain(&request) {
                Ok(answer) => Some(Explanation {
                    rule_id,
                    summary: answer.summary,
                    reasons: answer.rationale,
                    filtered: answer.filtered,
                    mode: answer.mode,
                    latency_ms: answer.latency_ms,
                }),
                Err(error) => {
                    problems.push(Problem { step: Step::Explain, message: error.to_string() });
                    None
                }
            }
        });
        let patch = selected.as_ref().filter(|_| self.patch).and_then(|id| {
            let ranked = candidates.iter().find(|c| &c.id == id)?;
            let candidate = rewrite.candidates.iter().find(|c| c.rule_id == ranked.rule_id)?;
            let choice = Choice {
                ranking: ranking.as_ref(),
                confidence: ranked.confidence,
                candidates: candidates.len(),
                run_id: self.id,
                date: self.started,
            };
            patch::write(&self.dir.join(&name), &loaded, &rewrite, candidate, &choice, self.apply)
                .map_err(|error| problems.push(Problem { step: Step::Patch, message: error.to_string() }))
                .ok()
        });
        let record = ProjectRecord {
            name,
            path: absolute,
            dockerfile: Some(loaded.dockerfile_path.clone()),
            dockerfile_sha256: Some(codi_files::sha256_hex(loaded.source.as_bytes())),
            stack: rewrite.facts.stack.map(|s| s.to_string()),
            status,
            candidates,
            selected,
            ranking,
            explanation,
            problems,
            patch,
        };
        (record, Some(rewrite))
    }

    /// Ranks exactly the candidates rendered here, puts `candidates` in the ranker's order and
    /// records the ranking in the run's telemetry (a failure to record is a problem of its own,
    /// returned beside the ranking).
    fn rank(
        &self,
        name: &str,
        input: &ProjectInput,
        rewrite: &Rewrite,
        candidates: &mut [CandidateRecord],
    ) -> Result<(RankingInfo, Option<Problem>), Problem> {
        let rank_problem = |message: String| Problem { step: Step::Rank, message };
        let request = RankRequest {
            project: input.clone(),
            candidates: Some(
                rewrite
                    .candidates
                    .iter()
                    .map(|c| CandidateInput {
                        id: Some(c.rule_id.clone()),
                        rule_id: c.rule_id.clone(),
                        dockerfile: c.dockerfile.clone(),
                    })
                    .collect(),
            ),
            explain: false,
        };
        let response = self.ranker.rank(&request).map_err(|e| rank_problem(e.to_string()))?;
        apply_ranking(candidates, &response).map_err(rank_problem)?;
        let record = RankingRecord::new(name, &response, self.rules_version, self.environment.clone());
        let telemetry =
            self.telemetry.append(&record).err().map(|e| Problem { step: Step::Telemetry, message: e.to_string() });
        let info = RankingInfo {
            mode: response.mode,
            base_model: response.base_model,
            adapter_version: response.adapter_version,
            latency_ms: response.latency_ms,
        };
        Ok((info, telemetry))
    }
}

/// The candidates in the rules' order, with the files `write_outputs` wrote for them.
fn candidates(name: &str, rewrite: &Rewrite) -> Vec<CandidateRecord> {
    rewrite
        .candidates
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let stem = format!("{name}/candidates/{}-{}", i + 1, c.rule_id);
            CandidateRecord {
                id: c.rule_id.clone(),
                rule_id: c.rule_id.clone(),
                rank: i + 1,
                rules_rank: i + 1,
                rules_score: c.deltas.score,
                score: None,
                confidence: None,
                dockerfile: format!("{stem}.Dockerfile"),
                diff: format!("{stem}.diff"),
            }
        })
        .collect()
}

/// Orders `candidates` as `response` ranked them; refuses a ranking of other candidates than
/// the ones sent (each exactly once) or a selection that is not its first.
fn apply_ranking(candidates: &mut [CandidateRecord], response: &RankResponse) -> Result<(), String> {
    let sent: BTreeSet<&str> = candidates.iter().map(|c| c.id.as_str()).collect();
    let answered: Vec<&str> = response.ranking.iter().map(|r| r.candidate_id.as_str()).collect();
    let distinct: BTreeSet<&str> = answered.iter().copied().collect();
    if answered.len() != sent.len() || distinct != sent {
        return Err(format!(
            "the ranker ranked [{}], not the candidates sent [{}]",
            answered.join(", "),
            sent.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    if answered.first() != Some(&response.selected.as_str()) {
        return Err(format!("the ranker selected `{}`, which it did not rank first", response.selected));
    }
    for (place, ranked) in response.ranking.iter().enumerate() {
        if let Some(c) = candidates.iter_mut().find(|c| c.id == ranked.candidate_id) {
            c.rank = place + 1;
            c.score = Some(ranked.score);
            c.confidence = Some(ranked.confidence);
        }
    }
    candidates.sort_by_key(|c| c.rank);
    Ok(())
}

/// Whether the rule's candidate fixes a finding of the original: an explanation is of those
/// fixes (the server has nothing to explain otherwise).
fn fixes_a_finding(rewrite: &Rewrite, rule_id: &str) -> bool {
    rewrite.candidates.iter().any(|c| c.rule_id == rule_id && !c.fixes.is_empty())
}

/// Whether the original has a finding worth explaining when no rule applies.
fn has_warnings(rewrite: &Rewrite) -> bool {
    rewrite.original_findings.iter().any(|f| f.severity <= Severity::Warning)
}

/// `base`, or `base-2`, `base-3` … when the run already has a project of that name.
fn unique(base: &str, taken: &mut BTreeSet<String>) -> String {
    let mut name = base.to_owned();
    let mut n = 1;
    while taken.contains(&name) {
        n += 1;
        name = format!("{base}-{n}");
    }
    taken.insert(name.clone());
    name
}

#[cfg(test)]
mod tests {
    use codi_serve::api::{Mode, Ranked};

    use super::*;

    fn candidate(id: &str, rank: usize) -> CandidateRecord {
        CandidateRecord {
            id: id.to_owned(),
            rule_id: id.to_owned(),
            rank,
            rules_rank: rank,
            rules_score: 0.0,
            score: None,
            confidence: None,
            dockerfile: String::new(),
            diff: String::new(),
        }
    }

    fn response(order: &[&str], selected: &str) -> RankResponse {
        RankResponse {
            ranking: order
                .iter()
                .enumerate()
                .map(|(i, id)| Ranked {
                    candidate_id: (*id).to_owned(),
                    rule_id: (*id).to_owned(),
                    score: -(i as f64),
                    confidence: 1.0 / (i as f64 + 2.0),
                    rank: i + 1,
                    dockerfile: None,
                })
                .collect(),
            selected: selected.to_owned(),
            rationale: None,
            adapter_version: None,
            base_model: "base".to_owned(),
            mode: Mode::Heuristic,
            latency_ms: 1.0,
        }
    }

    #[test]
    fn a_ranking_reorders_the_candidates_sent_and_only_those() {
        let mut candidates = vec![candidate("a", 1), candidate("b", 2)];
        apply_ranking(&mut candidates, &response(&["b", "a"], "b")).expect("a ranking of the candidates sent");
        assert_eq!(
            candidates.iter().map(|c| (c.id.as_str(), c.rank, c.rules_rank)).collect::<Vec<_>>(),
            [("b", 1, 2), ("a", 2, 1)]
        );
        assert_eq!(candidates[0].confidence, Some(0.5));
        let error = apply_ranking(&mut candidates, &response(&["b", "c"], "b")).expect_err("c was not sent");
        assert!(error.contains("[b, c]") && error.contains("[a, b]"), "{error}");
        assert!(apply_ranking(&mut candidates, &response(&["b", "b"], "b")).is_err(), "a repeated candidate");
        assert!(apply_ranking(&mut candidates, &response(&["a", "b"], "b")).is_err(), "selected is not first");
    }

    #[test]
    fn project_names_stay_unique() {
        let mut taken = BTreeSet::new();
        assert_eq!(unique("app", &mut taken), "app");
        assert_eq!(unique("app", &mut taken), "app-2");
        assert_eq!(unique("app", &mut taken), "app-3");
        assert_eq!(unique("api", &mut taken), "api");
    }
}
