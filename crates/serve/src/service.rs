//! The server's work without HTTP: rank and explain a project, as `/llm/rank` and `/llm/explain`
//! answer and as `codi run` calls in process. The prompts, answers and checks are codi-assist's
//! (so codi-tasks'): the same bytes the pairs were trained on.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use codi_assist::{Assistant, Response, RulesOnly, chat_prompt, softmax};
use codi_core::analysis::ProjectFiles;
use codi_core::project::Project;
use codi_core::rewrite::{Rewrite, Ruleset, candidate};
use codi_model::{Device, LoadOptions, Quantize, cpu};
use codi_tasks::{Answer, Prompt, Task};

use crate::api::{
    AdapterInfo, Adapters, CandidateInput, ExplainRequest, ExplainResponse, Health, Mode, ProjectInput, RankRequest,
    RankResponse, Ranked, Reason,
};
use crate::config::ServeConfig;
use crate::engine::{self, EngineStats};
use crate::error::{Error, Result};
use crate::telemetry::{Environment, RankingRecord, Telemetry};

/// One loaded model and adapter, or the rules alone. Requests hold the generation they began
/// with to the end, so a swap never mixes two adapters in one answer.
#[derive(Debug)]
pub struct Generation {
    /// `None`: heuristic mode.
    assistant: Option<Assistant>,
    pub adapter: Option<AdapterInfo>,
    pub model_id: String,
    pub mode: Mode,
    /// Why the model is not answering, in heuristic mode.
    pub heuristic_reason: Option<String>,
    pub engine: Option<Arc<EngineStats>>,
}

impl Generation {
    /// The model answering (`None` in heuristic mode).
    pub fn assistant(&self) -> Option<&Assistant> {
        self.assistant.as_ref()
    }
}

/// The model's work, shared by every request.
#[derive(Debug)]
pub struct Service {
    current: RwLock<Arc<Generation>>,
    ruleset: Ruleset,
    rules_version: String,
    telemetry: Recorder,
    environment: Environment,
    config: ServeConfig,
}

/// Writes the rankings to the telemetry file on a thread of its own, off the requests' path:
/// the rankings that arrive while one write runs go into the next, in one atomic append. Dropping
/// it writes what is left.
#[derive(Debug)]
struct Recorder {
    records: Option<std::sync::mpsc::Sender<RankingRecord>>,
    writer: Option<std::thread::JoinHandle<()>>,
    /// Rankings whose append failed, for `/metrics` (each failure's reason goes to the log).
    failures: Arc<AtomicU64>,
}

impl Recorder {
    fn start(telemetry: Telemetry) -> Self {
        let (records, queue) = std::sync::mpsc::channel::<RankingRecord>();
        let failures = Arc::new(AtomicU64::new(0));
        let failed = Arc::clone(&failures);
        let writer = std::thread::Builder::new()
            .name("codi-telemetry".into())
            .spawn(move || {
                while let Ok(first) = queue.recv() {
                    let mut batch = vec![first];
                    batch.extend(queue.try_iter());
                    if let Err(error) = telemetry.append_all(&batch) {
                        failed.fetch_add(batch.len() as u64, Ordering::Relaxed);
                        eprintln!("codi serve: telemetry: {} ranking(s) not recorded: {error}", batch.len());
                    }
                }
            })
            .expect("the telemetry thread starts");
        Self { records: Some(records), writer: Some(writer), failures }
    }

    fn record(&self, record: RankingRecord) {
        if let Some(records) = &self.records {
            // The writer lives as long as the sender: sending cannot fail.
            let _ = records.send(record);
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        drop(self.records.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl Service {
    /// Loads the rules and the model with its verified adapter; heuristic mode when the model is
    /// disabled or does not load. An adapter that does not verify is an error: never served,
    /// and never silently replaced by the base alone.
    pub fn start(config: &ServeConfig) -> Result<Self> {
        let ruleset = Ruleset::load(&config.catalog, None)?;
        let rules_version = codi_core::catalog::rules_version(&config.catalog)?;
        let generation = if config.enabled {
            match load(config, &ruleset, config.adapter.as_deref()) {
                Ok(generation) => generation,
                Err(error @ Error::Adapter { .. }) => return Err(error),
                Err(error) => heuristic(format!("the model did not load: {error}")),
            }
        } else {
            heuristic("LLM_ENABLED=false".into())
        };
        let environment = Environment::capture(threads(config), config.enabled, config.endpoint.clone());
        Ok(Self {
            current: RwLock::new(Arc::new(generation)),
            ruleset,
            rules_version,
            telemetry: Recorder::start(Telemetry::new(&config.telemetry)),
            environment,
            config: config.clone(),
        })
    }

    /// The generation answering now.
    pub fn generation(&self) -> Arc<Generation> {
        Arc::clone(&self.current.read().expect("the generation lock is never poisoned"))
    }

    pub fn config(&self) -> &ServeConfig {
        &self.config
    }

    /// Rankings the telemetry file could not record so far.
    pub fn telemetry_failures(&self) -> u64 {
        self.telemetry.failures.load(Ordering::Relaxed)
    }

    pub fn health(&self) -> Health {
        let generation = self.generation();
        Health {
            status: "ok".into(),
            model_id: Some(generation.model_id.clone()),
            adapter_version: generation.adapter.as_ref().map(|a| a.version.clone()),
            mode: Some(generation.mode),
        }
    }

    /// Loads the adapter at `path` against the configured base (verified first) and swaps it in:
    /// requests already running finish on the old one, new ones get the new one. A refused
    /// adapter leaves the old one serving.
    pub fn load_adapter(&self, path: &Path) -> Result<AdapterInfo> {
        if !self.config.enabled {
            return Err(Error::request("path", "the model is disabled (LLM_ENABLED=false): no adapter to load"));
        }
        let generation = load(&self.config, &self.ruleset, Some(path))?;
        let info = generation.adapter.clone().expect("an adapter was loaded");
        *self.current.write().expect("the generation lock is never poisoned") = Arc::new(generation);
        Ok(info)
    }

    pub fn adapters(&self) -> Adapters {
        let mut available: Vec<String> = std::fs::read_dir(&self.config.adapters_dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|entry| entry.path().join("adapter_config.json").is_file())
            .map(|entry| entry.path().display().to_string())
            .collect();
        available.sort();
        Adapters { active: self.generation().adapter.clone(), available }
    }

    /// The candidates ranked, best first, and the ranking recorded in the telemetry.
    pub fn rank(&self, request: &RankRequest) -> Result<RankResponse> {
        let started = Instant::now();
        let generation = self.generation();
        let (project, mut rewrite) = self.rewrite(&request.project)?;
        let ids = match &request.candidates {
            Some(given) => self.given_candidates(&project, &mut rewrite, given)?,
            None => rewrite.candidates.iter().map(|c| c.rule_id.clone()).collect(),
        };
        let id_of = |rule: &str| {
            let at = rewrite.candidates.iter().position(|c| c.rule_id == rule).expect("a shown candidate");
            ids[at].clone()
        };
        let server_rendered = request.candidates.is_none();
        let mut ranked: Vec<Ranked> = match rewrite.candidates.len() {
            0 => {
                return Err(Error::request(
                    "candidates",
                    "nothing to rank: no rule of the catalog applies to this project and no candidates were given",
                ));
            }
            1 => vec![Ranked {
                candidate_id: ids[0].clone(),
                rule_id: rewrite.candidates[0].rule_id.clone(),
                score: 0.0,
                confidence: 1.0,
                rank: 1,
                dockerfile: None,
            }],
            _ => {
                let prompt = Prompt::new(Task::Rank, &project.source, &rewrite).expect("two candidates make a ranking");
                let (response, _) = self.ask(&generation, &prompt, false)?;
                let Some(Answer::Rank(answer)) = &response.answer else {
                    return Err(Error::request("project", "the ranking could not be read: no answer"));
                };
                let choice = response.choice.as_ref().expect("a ranking scores its first decision");
                let scores = choice.scores(self.config.assist.scoring);
                let confidence = softmax(&scores, 1.0);
                let rule_of_label = |label: &str| {
                    prompt.input.candidates.iter().find(|c| c.label == label).map(|c| c.rule_id.clone()).expect("shown")
                };
                answer
                    .order
                    .iter()
                    .enumerate()
                    .map(|(position, label)| {
                        let at = choice.options.iter().position(|o| o == label).expect("every label was scored");
                        let rule_id = rule_of_label(label);
                        Ranked {
                            candidate_id: id_of(&rule_id),
                            rule_id,
                            score: scores[at],
                            confidence: confidence[at],
                            rank: position + 1,
                            dockerfile: None,
                        }
                    })
                    .collect()
            }
        };
        if server_rendered {
            for entry in &mut ranked {
                let candidate = rewrite.candidates.iter().find(|c| c.rule_id == entry.rule_id).expect("ranked");
                entry.dockerfile = Some(candidate.dockerfile.clone());
            }
        }
        let rationale = if request.explain {
            let selected_rule = ranked[0].rule_id.clone();
            // A selected rule that fixes none of the findings has nothing to explain: no rationale,
            // not a failed ranking.
            match self.explain_rewrite(&generation, &project, rewrite, Some(&selected_rule), "explain") {
                Ok(explained) => Some(explained.summary),
                Err(Error::Request { .. }) => None,
                Err(other) => return Err(other),
            }
        } else {
            None
        };
        let response = RankResponse {
            selected: ranked[0].candidate_id.clone(),
            ranking: ranked,
            rationale,
            adapter_version: generation.adapter.as_ref().map(|a| a.version.clone()),
            base_model: generation.model_id.clone(),
            mode: generation.mode,
            latency_ms: started.elapsed().as_secs_f64() * 1e3,
        };
        let record =
            RankingRecord::new(project.name(), &response, self.rules_version.clone(), self.environment.clone());
        self.telemetry.record(record);
        Ok(response)
    }

    /// Why the chosen rule (or, when none applies, the Dockerfile's findings) matters.
    pub fn explain(&self, request: &ExplainRequest) -> Result<ExplainResponse> {
        let generation = self.generation();
        let (project, rewrite) = self.rewrite(&request.project)?;
        self.explain_rewrite(&generation, &project, rewrite, request.rule_id.as_deref(), "rule_id")
    }

    fn explain_rewrite(
        &self,
        generation: &Generation,
        project: &Project,
        mut rewrite: Rewrite,
        rule_id: Option<&str>,
        field: &str,
    ) -> Result<ExplainResponse> {
        let started = Instant::now();
        if let Some(rule_id) = rule_id {
            let Some(at) = rewrite.candidates.iter().position(|c| c.rule_id == rule_id) else {
                let why = rewrite.not_applicable.iter().find(|n| n.rule_id == rule_id).map_or_else(
                    || format!("`{rule_id}` is not a rule of the catalog, or its candidate failed its checks"),
                    |n| format!("rule `{rule_id}` does not apply to this project: {}", n.reason),
                );
                return Err(Error::request(field, why));
            };
            let chosen = rewrite.candidates.remove(at);
            rewrite.candidates.insert(0, chosen);
        }
        let Some(prompt) = Prompt::new(Task::Explain, &project.source, &rewrite) else {
            return Err(Error::request(
                "project",
                "nothing to explain: the chosen rule fixes none of its findings, or it has none at warning level",
            ));
        };
        let (mut response, mut filtered) = self.ask(generation, &prompt, true)?;
        let mut mode = generation.mode;
        if !matches!(response.answer, Some(Answer::Explain(_))) {
            // The model wrote nothing readable: the rules' own explanation, marked as theirs.
            let rules = RulesOnly::new(&self.ruleset.catalog).answer(&prompt, None)?;
            filtered |= !response.text.is_empty();
            response = rules;
            mode = Mode::Heuristic;
        }
        let Some(Answer::Explain(answer)) = response.answer else { unreachable!("the rules always explain") };
        let rationale: Vec<Reason> =
            answer.fixes.iter().map(|f| Reason { code: f.code.clone(), why: f.why.clone() }).collect();
        let summary = answer.explanation.clone().unwrap_or_else(|| {
            rationale.iter().map(|r| format!("{}: {}", r.code, r.why)).collect::<Vec<_>>().join(" ")
        });
        Ok(ExplainResponse {
            summary,
            rationale,
            rule_ids: answer.rule_ids,
            filtered,
            adapter_version: generation.adapter.as_ref().map(|a| a.version.clone()),
            mode,
            latency_ms: started.elapsed().as_secs_f64() * 1e3,
        })
    }

    /// The answer of the generation's model (checked; explanations cleaned), or of the rules.
    fn ask(&self, generation: &Generation, prompt: &Prompt, explain: bool) -> Result<(Response, bool)> {
        let Some(assistant) = &generation.assistant else {
            return Ok((RulesOnly::new(&self.ruleset.catalog).answer(prompt, None)?, false));
        };
        self.check_prompt_length(chat_prompt(assistant.tokenizer(), prompt)?.len(), "project")?;
        if explain { Ok(assistant.explain_clean(prompt)?) } else { Ok((assistant.answer(prompt)?, false)) }
    }

    /// A 400 naming `field`, the token count and the limit, for a prompt over
    /// `limits.max_prompt_tokens`: every endpoint that asks the model checks through it.
    pub fn check_prompt_length(&self, tokens: usize, field: &str) -> Result<()> {
        let limit = self.config.limits.max_prompt_tokens;
        if tokens > limit {
            return Err(Error::request(
                field,
                format!("the prompt is {tokens} tokens, over the limit of {limit} (limits.max_prompt_tokens)"),
            ));
        }
        Ok(())
    }

    /// The prompt for `task` on a project as a client sends it: what `/llm/rank` and
    /// `/llm/explain` ask the model (with server-rendered candidates and the best rule).
    pub fn prompt(&self, task: Task, input: &ProjectInput) -> Result<Option<Prompt>> {
        let (project, rewrite) = self.rewrite(input)?;
        Ok(Prompt::new(task, &project.source, &rewrite))
    }

    /// The project as a [`Project`] and its rules-first candidates. The Dockerfile is
    /// standardized first (normalized, secrets redacted), as the pairs stage standardized what
    /// the model was trained on.
    fn rewrite(&self, input: &ProjectInput) -> Result<(Project, Rewrite)> {
        if input.dockerfile.trim().is_empty() {
            return Err(Error::request("project.dockerfile", "the Dockerfile is empty"));
        }
        let mut files = ProjectFiles::default();
        for (path, text) in &input.files {
            if path.starts_with('/') || path.split('/').any(|part| part == "..") {
                return Err(Error::request(format!("project.files.{path}"), "paths are relative to the build context"));
            }
            files.paths.push(path.clone());
            // A path sent without text is a file the rules only need to know exists.
            if !text.is_empty() {
                files.manifests.insert(path.clone(), text.clone());
            }
        }
        if !files.paths.iter().any(|p| p == "Dockerfile") {
            files.paths.push("Dockerfile".into());
        }
        files.paths.sort();
        let context_bytes = input.context_bytes.unwrap_or_else(|| {
            input.files.values().map(|t| t.len() as u64).sum::<u64>() + input.dockerfile.len() as u64
        });
        let name = input.name.clone().unwrap_or_else(|| "project".into());
        let text = codi_standardize::standardized_text(&input.dockerfile, &mut std::collections::BTreeMap::new());
        let project = Project::in_memory(&name, "Dockerfile", &text, files, context_bytes);
        let rewrite = self.ruleset.rewrite(&project);
        Ok((project, rewrite))
    }

    /// Replaces the rendered candidates with the client's, each checked as a rendered one is;
    /// their ids, in the candidates' order.
    fn given_candidates(
        &self,
        project: &Project,
        rewrite: &mut Rewrite,
        given: &[CandidateInput],
    ) -> Result<Vec<String>> {
        let mut candidates = Vec::with_capacity(given.len());
        let mut ids = Vec::with_capacity(given.len());
        for (i, input) in given.iter().enumerate() {
            let field = |name: &str| format!("candidates[{i}].{name}");
            let Some(rule) = self.ruleset.catalog.rule(&input.rule_id) else {
                return Err(Error::request(
                    field("rule_id"),
                    format!("`{}` is not a rule of the catalog", input.rule_id),
                ));
            };
            if given[..i].iter().any(|other| other.rule_id == input.rule_id) {
                return Err(Error::request(field("rule_id"), "two candidates of one rule: the model ranks rules"));
            }
            let id = input.id.clone().unwrap_or_else(|| input.rule_id.clone());
            if ids.contains(&id) {
                return Err(Error::request(field("id"), format!("`{id}` is given twice")));
            }
            let checked = candidate(rewrite, project, &self.ruleset.catalog, rule, input.dockerfile.clone())
                .map_err(|problems| Error::request(field("dockerfile"), problems.join("; ")))?;
            candidates.push(checked);
            ids.push(id);
        }
        rewrite.candidates = candidates;
        Ok(ids)
    }
}

/// The model threads the configuration asks for (0: every core).
fn threads(config: &ServeConfig) -> usize {
    if config.threads > 0 { config.threads } else { std::thread::available_parallelism().map_or(1, usize::from) }
}

fn heuristic(reason: String) -> Generation {
    Generation {
        assistant: None,
        adapter: None,
        model_id: "rules".into(),
        mode: Mode::Heuristic,
        heuristic_reason: Some(reason),
        engine: None,
    }
}

/// Loads the configured base with `adapter` (verified against it) onto its engine.
fn load(config: &ServeConfig, ruleset: &Ruleset, adapter: Option<&Path>) -> Result<Generation> {
    let device: Device = cpu();
    let options = LoadOptions {
        model: config.model.clone(),
        adapter: adapter.map(Path::to_owned),
        quantize: Quantize::AsStored,
        device,
    };
    let loaded = codi_model::load(&options).map_err(|source| match adapter {
        Some(path) if about_adapter(&source, path) => Error::Adapter { path: path.to_owned(), source },
        _ => Error::Model(source),
    })?;
    let adapter = match (adapter, &loaded.adapter) {
        (Some(path), Some(verification)) => Some(adapter_info(path, verification)?),
        _ => None,
    };
    let model_id = loaded.model.repo.clone().unwrap_or_else(|| loaded.model.source.display().to_string());
    let (runner, stats) = engine::start(loaded.model.transformer, config.limits.max_batch_rows);
    let assistant = Assistant::with_runner(Box::new(runner), loaded.model.tokenizer, &ruleset.catalog, config.assist);
    Ok(Generation {
        assistant: Some(assistant),
        adapter,
        model_id,
        mode: Mode::Model,
        heuristic_reason: None,
        engine: Some(stats),
    })
}

/// Whether a load error is the adapter's (refused at start) rather than the base's (heuristic).
fn about_adapter(error: &codi_model::Error, adapter: &Path) -> bool {
    use codi_model::Error as E;
    match error {
        E::Adapter { .. } => true,
        E::Io { path, .. } | E::Json { path, .. } | E::Format { path, .. } | E::Mismatch { path, .. } => {
            path.starts_with(adapter)
        }
        _ => false,
    }
}

fn adapter_info(path: &Path, verification: &codi_model::adapter::Verification) -> Result<AdapterInfo> {
    let weights: PathBuf = path.join("adapter_model.safetensors");
    let checksum = codi_files::sha256_file(&weights).map_err(|e| Error::io(&weights, e))?;
    let metadata = verification.metadata.as_ref();
    Ok(AdapterInfo {
        path: path.display().to_string(),
        version: metadata.map_or_else(|| format!("sha256:{}", &checksum[..12]), |m| m.adapter_version.clone()),
        checksum,
        base_model: metadata.map(|m| m.base_model.name.clone()),
        rules_version: metadata.map(|m| m.rules_version.clone()),
        created_at: metadata.map(|m| m.created_at.clone()),
    })
}
