//! One evaluation: every system on every example, scored, aggregated with intervals, compared,
//! calibrated and stored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use codi_assist::{AssistOptions, Assistant, Response, RulesOnly, Scoring};
use codi_core::rewrite::Ruleset;
use codi_model::{LoadOptions, Quantize, cpu};
use codi_tasks::{Answer, Task};

use crate::config::{EvalConfig, Split};
use crate::data::{Dataset, Example};
use crate::error::{Error, Result};
use crate::metrics;
use crate::results::{
    AdapterLineage, BASE, Calibration, Comparison, DataSummary, ExampleRecord, Lineage, ModelLineage, Output,
    RULES_ONLY, Results, StackComparison, SystemInfo, SystemResults, TaskResults, Timing,
};
use crate::stats::{self, Bootstrap, Estimate};
use crate::store::Store;

/// Where a run is: which system, how many of its examples are done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress<'a> {
    pub system: &'a str,
    pub done: usize,
    pub total: usize,
}

/// A stored run.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub id: String,
    pub dir: PathBuf,
    pub results: Results,
}

/// A system under evaluation.
enum System<'c> {
    Rules(RulesOnly<'c>),
    Model(Box<Assistant>),
}

impl System<'_> {
    fn answer(&self, example: &Example) -> Result<Response> {
        Ok(match self {
            // The rules' parameters are not in the prompt: they are what the rules rendered, which
            // the pair stores as its gold.
            Self::Rules(rules) => {
                let parameters = match &example.gold {
                    Answer::Rewrite(gold) => Some(&gold.parameters),
                    _ => None,
                };
                rules.answer(&example.prompt, parameters)?
            }
            Self::Model(assistant) => assistant.answer(&example.prompt)?,
        })
    }
}

/// Evaluates what `config` names and stores the run under `config.out`.
pub fn evaluate(config: &EvalConfig, mut progress: impl FnMut(Progress<'_>)) -> Result<Run> {
    let ruleset = Ruleset::load(&config.catalog, None)?;
    let dataset = Dataset::load(&config.data, config.split, &config.tasks, config.limit)?;
    let mut notes = teacher_notes(&dataset, config.assist.scoring);
    let val_tasks: Vec<Task> = config.tasks.iter().copied().filter(|t| *t != Task::Explain).collect();
    let val = if val_tasks.is_empty() {
        None
    } else {
        match Dataset::load(&config.data, Split::Val, &val_tasks, 0) {
            Ok(val) => Some(val),
            Err(error) => {
                notes.push(format!("No calibration: {error}."));
                None
            }
        }
    };
    if config.split != Split::Test && val.is_some() {
        notes.push("Temperatures are fitted on the validation split, which this run also evaluates.".into());
    }

    let (systems, infos, lineage) = load_systems(config, &ruleset, &dataset, &mut notes)?;
    let mut records: Vec<ExampleRecord> = dataset.examples.iter().map(record).collect();
    let mut timing: BTreeMap<String, BTreeMap<String, Timing>> = BTreeMap::new();
    let mut calibration: BTreeMap<String, BTreeMap<String, Calibration>> = BTreeMap::new();
    for (system, info) in systems.iter().zip(&infos) {
        let total = dataset.examples.len();
        let mut responses = Vec::with_capacity(total);
        for (done, example) in dataset.examples.iter().enumerate() {
            progress(Progress { system: &info.name, done, total });
            responses.push(system.answer(example)?);
        }
        progress(Progress { system: &info.name, done: total, total });
        let temperatures = match (system, &val) {
            (System::Model(assistant), Some(val)) => fit_temperatures(assistant, val, &config.assist)?,
            _ => BTreeMap::new(),
        };
        for ((example, response), record) in dataset.examples.iter().zip(&responses).zip(&mut records) {
            // A decision among one option says nothing of calibration.
            let confidence = response.choice.as_ref().filter(|c| c.options.len() > 1).and_then(|choice| {
                let (temperature, _) = temperatures.get(&example.prompt.task)?;
                let probabilities = choice.probabilities(config.assist.scoring, *temperature);
                Some(probabilities[choice.best(config.assist.scoring)])
            });
            let scored = output(example, response, confidence, &ruleset, config.assist.scoring);
            record.outputs.insert(info.name.clone(), scored);
        }
        for task in &config.tasks {
            let of_task: Vec<(&Example, &Response)> =
                dataset.examples.iter().zip(&responses).filter(|(e, _)| e.prompt.task == *task).collect();
            if of_task.is_empty() {
                continue;
            }
            timing.entry(task.to_string()).or_default().insert(info.name.clone(), timing_of(&of_task));
            if let Some(&(temperature, fitted_on)) = temperatures.get(task) {
                let (confidence, correct): (Vec<f64>, Vec<bool>) = records
                    .iter()
                    .filter(|r| r.task == task.as_str())
                    .filter_map(|r| {
                        let output = &r.outputs[&info.name];
                        Some((output.confidence?, output.scores[metrics::primary(*task)] > 0.5))
                    })
                    .unzip();
                let bins = config.statistics.calibration_bins;
                let figures = Calibration {
                    temperature,
                    fitted_on,
                    ece: stats::expected_calibration_error(&confidence, &correct, bins),
                    bins: stats::calibration_bins(&confidence, &correct, bins),
                };
                calibration.entry(task.to_string()).or_default().insert(info.name.clone(), figures);
            }
        }
    }

    let bootstrap = Bootstrap { resamples: config.statistics.resamples, seed: config.statistics.seed };
    let tasks = aggregate(&records, &infos, &config.tasks, bootstrap);
    let comparisons = compare(&records, &infos, &config.tasks, bootstrap, config.gate.min_stack_examples);
    let data = DataSummary {
        dir: config.data.clone(),
        split: config.split.as_str().to_owned(),
        rows: dataset.rows(),
        examples: dataset.examples.len(),
        skipped: dataset.skipped,
        rejected: dataset.rejected.clone(),
    };
    let store = Store::new(&config.out);
    let (id, created_at) = store.reserve_run_id()?;
    let results = Results {
        run_id: id.clone(),
        created_at,
        systems: infos,
        tasks,
        comparisons,
        calibration,
        data,
        lineage,
        notes,
        timing,
    };
    let dir = store.write(&results, &records, config)?;
    Ok(Run { id, dir, results })
}

/// The systems in report order, what they are, and where every input came from. Adapters are
/// verified against the base before they are attached; one that does not verify is refused.
fn load_systems<'c>(
    config: &EvalConfig,
    ruleset: &'c Ruleset,
    dataset: &Dataset,
    notes: &mut Vec<String>,
) -> Result<(Vec<System<'c>>, Vec<SystemInfo>, Lineage)> {
    let load = |adapter: Option<&Path>| {
        let options = LoadOptions {
            model: config.base.clone(),
            adapter: adapter.map(Path::to_owned),
            quantize: Quantize::AsStored,
            device: cpu(),
        };
        codi_model::load(&options).map_err(|source| match adapter {
            Some(dir) => Error::Adapter { path: dir.to_owned(), source },
            None => Error::Model(source),
        })
    };
    let mut base = load(None)?;
    let described = base.model.describe()?;
    let base_lineage =
        ModelLineage { path: base.model.source.display().to_string(), sha256: described.sha256, repo: described.repo };
    let mut systems = vec![System::Rules(RulesOnly::new(&ruleset.catalog))];
    let mut infos = vec![
        SystemInfo { name: RULES_ONLY.into(), kind: "rules".into(), adapter: None },
        SystemInfo { name: BASE.into(), kind: "base".into(), adapter: None },
    ];
    systems.push(System::Model(Box::new(Assistant::new(base.model, &ruleset.catalog, config.assist))));
    let rules_version = codi_core::catalog::rules_version(&config.catalog)?;
    let train_sha = codi_files::sha256_file(&config.data.join("train.parquet")).ok();
    let mut adapters = Vec::new();
    for dir in &config.adapters {
        let loaded = load(Some(dir))?;
        let verification = loaded.adapter.expect("an adapter was asked for");
        let metadata = verification
            .metadata
            .ok_or_else(|| Error::data(dir, "the adapter has no metadata.json: its lineage is unknown"))?;
        let name = format!("{}@{}", metadata.adapter_name, metadata.adapter_version);
        if infos.iter().any(|i| i.name == name) {
            return Err(Error::data(dir, format!("adapter {name} is given twice")));
        }
        notes.extend(verification.warnings.iter().map(|w| format!("{name}: {w}")));
        let trained_on = metadata.dataset.get("train").map(|d| d.sha256.as_str());
        if trained_on.is_none() || trained_on != train_sha.as_deref() {
            notes.push(format!(
                "Dataset mismatch: {name} was not trained on {}/train.parquet (its metadata records {}); \
                 the held-out pairs may not be held out from it.",
                config.data.display(),
                trained_on.unwrap_or("no training split")
            ));
        }
        let style = metadata.hyperparameters.pointer("/data/style").and_then(|s| s.as_str());
        if style.is_some_and(|style| style != "chat") {
            notes.push(format!(
                "{name} was trained on the `{}` style; the suite asks in the chat style.",
                style.unwrap_or_default()
            ));
        }
        if metadata.rules_version != rules_version {
            notes.push(format!(
                "{name} was trained on pairs from another rules catalog than {}.",
                config.catalog.display()
            ));
        }
        let metadata_path = dir.join("metadata.json");
        adapters.push(AdapterLineage {
            system: name.clone(),
            dir: dir.clone(),
            adapter_name: metadata.adapter_name.clone(),
            adapter_version: metadata.adapter_version.clone(),
            checksums: metadata.checksums.clone(),
            metadata_sha256: codi_files::sha256_file(&metadata_path).map_err(|e| Error::io(&metadata_path, e))?,
            rules_version: metadata.rules_version.clone(),
        });
        infos.push(SystemInfo { name, kind: "adapter".into(), adapter: Some(dir.clone()) });
        systems.push(System::Model(Box::new(Assistant::new(loaded.model, &ruleset.catalog, config.assist))));
    }
    let lineage = Lineage {
        base_model: base_lineage,
        adapters,
        dataset: dataset.files.clone(),
        catalog: config.catalog.clone(),
        rules_version,
        code_revision: codi_files::code_revision(),
    };
    Ok((systems, infos, lineage))
}

/// What the figures mean given where the gold comes from.
fn teacher_notes(dataset: &Dataset, scoring: Scoring) -> Vec<String> {
    let mut notes = vec![
        "Rank and rewrite gold come from the rules: the candidates' order is the catalog's ranking weights over the \
         estimates, the rule to choose is the best candidate. rules-only is their teacher, so it is a ceiling there, \
         not a rival; its rewrite parameters are the rules' own (the gold)."
            .to_owned(),
        "Explain gold comes from the linter (which agrees with hadolint 2.15.1) and the lint rules' documentation; \
         rules-only writes it from the same documentation."
            .to_owned(),
    ];
    notes.push(format!(
        "Rank and rewrite decide by the options' {} log-likelihood as continuations of the trained answer \
         (`_norm` metrics: per byte); confidence is their softmax at a temperature fitted on the validation split, \
         over decisions among two or more options.",
        match scoring {
            Scoring::Raw => "summed",
            Scoring::PerByte => "per-byte",
        }
    ));
    if !dataset.rejected.is_empty() {
        notes.push(format!("{} pairs were rejected and not evaluated (see data.rejected).", dataset.rejected.len()));
    }
    notes
}

/// The temperature of each scored task, fitted on the validation pairs, and how many it was
/// fitted on.
fn fit_temperatures(
    assistant: &Assistant,
    val: &Dataset,
    options: &AssistOptions,
) -> Result<BTreeMap<Task, (f64, usize)>> {
    let mut by_task: BTreeMap<Task, Vec<(Vec<f64>, usize)>> = BTreeMap::new();
    for example in &val.examples {
        let Some(gold) = gold_option(example) else { continue };
        let Some(choice) = assistant.first_choice(&example.prompt)?.filter(|c| c.options.len() > 1) else { continue };
        if let Some(index) = choice.options.iter().position(|o| *o == gold) {
            by_task.entry(example.prompt.task).or_default().push((choice.scores(options.scoring), index));
        }
    }
    Ok(by_task
        .into_iter()
        .map(|(task, examples)| (task, (stats::fit_temperature(&examples), examples.len())))
        .collect())
}

/// The option a scored decision should take: the best candidate's label, or the rule.
fn gold_option(example: &Example) -> Option<String> {
    match &example.gold {
        Answer::Rank(rank) => rank.order.first().cloned(),
        Answer::Rewrite(rewrite) => Some(rewrite.rule_id.clone()),
        Answer::Explain(_) => None,
    }
}

fn record(example: &Example) -> ExampleRecord {
    ExampleRecord {
        pair_id: example.pair_id.clone(),
        task: example.prompt.task.to_string(),
        stack: example.stack.clone(),
        rule_ids: example.rule_ids.clone(),
        prompt: example.prompt.text(),
        gold: example.gold.to_json(),
        outputs: BTreeMap::new(),
    }
}

fn output(
    example: &Example,
    response: &Response,
    confidence: Option<f64>,
    ruleset: &Ruleset,
    scoring: Scoring,
) -> Output {
    Output {
        text: response.text.clone(),
        problems: response.problems.iter().map(ToString::to_string).collect(),
        scores: metrics::score(example, response, ruleset, scoring),
        choice: response.choice.clone(),
        confidence,
        latency_ms: response.usage.seconds * 1000.0,
        tokens_per_second: response.usage.tokens_per_second(),
    }
}

fn timing_of(responses: &[(&Example, &Response)]) -> Timing {
    let latencies: Vec<f64> = responses.iter().map(|(_, r)| r.usage.seconds * 1000.0).collect();
    let seconds: f64 = responses.iter().map(|(_, r)| r.usage.seconds).sum();
    let tokens: usize =
        responses.iter().map(|(_, r)| r.usage.prompt_tokens + r.usage.scored_tokens + r.usage.generated_tokens).sum();
    let per_second = |n: f64| if seconds > 0.0 { n / seconds } else { 0.0 };
    Timing {
        examples: responses.len(),
        seconds,
        examples_per_second: per_second(responses.len() as f64),
        latency_p50_ms: stats::quantile(&latencies, 0.5),
        latency_p95_ms: stats::quantile(&latencies, 0.95),
        tokens_per_second: per_second(tokens as f64),
    }
}

/// Every metric of every task and system, overall and per stack.
fn aggregate(
    records: &[ExampleRecord],
    infos: &[SystemInfo],
    tasks: &[Task],
    bootstrap: Bootstrap,
) -> BTreeMap<String, TaskResults> {
    let mut out = BTreeMap::new();
    for task in tasks {
        let of_task: Vec<&ExampleRecord> = records.iter().filter(|r| r.task == task.as_str()).collect();
        if of_task.is_empty() {
            continue;
        }
        let systems = infos
            .iter()
            .map(|info| {
                let figures = |rows: &[&ExampleRecord]| -> BTreeMap<String, Estimate> {
                    metrics::names(*task)
                        .iter()
                        .filter_map(|metric| {
                            let values: Vec<f64> = rows
                                .iter()
                                .filter_map(|r| r.outputs[&info.name].scores.get(*metric).copied())
                                .collect();
                            (!values.is_empty()).then(|| ((*metric).to_owned(), bootstrap.mean(&values)))
                        })
                        .collect()
                };
                let by_stack = by_stack(&of_task).into_iter().map(|(stack, rows)| (stack, figures(&rows))).collect();
                (info.name.clone(), SystemResults { overall: figures(&of_task), by_stack })
            })
            .collect();
        let results = TaskResults { sample_size: of_task.len(), primary: metrics::primary(*task).into(), systems };
        out.insert(task.to_string(), results);
    }
    out
}

pub(crate) fn by_stack<'r>(records: &[&'r ExampleRecord]) -> BTreeMap<String, Vec<&'r ExampleRecord>> {
    let mut stacks: BTreeMap<String, Vec<&ExampleRecord>> = BTreeMap::new();
    for record in records {
        stacks.entry(record.stack.clone()).or_default().push(record);
    }
    stacks
}

/// Each adapter against the base and against rules-only, per task and over every task pooled
/// (`all`, what the promotion gate reads).
fn compare(
    records: &[ExampleRecord],
    infos: &[SystemInfo],
    tasks: &[Task],
    bootstrap: Bootstrap,
    min_stack_examples: usize,
) -> BTreeMap<String, BTreeMap<String, Comparison>> {
    let mut out = BTreeMap::new();
    for adapter in infos.iter().filter(|i| i.kind == "adapter") {
        for other in [BASE, RULES_ONLY] {
            let mut by_task = BTreeMap::new();
            let groups = tasks
                .iter()
                .map(|t| (t.to_string(), vec![*t]))
                .chain(std::iter::once(("all".to_owned(), tasks.to_vec())));
            for (name, group) in groups {
                let rows: Vec<&ExampleRecord> =
                    records.iter().filter(|r| group.iter().any(|t| t.as_str() == r.task)).collect();
                if rows.is_empty() {
                    continue;
                }
                let binary = group.iter().all(|t| metrics::is_binary(*t));
                let metric = match group.as_slice() {
                    [task] => metrics::primary(*task).to_owned(),
                    _ => "each task's primary score".to_owned(),
                };
                let compared = comparison(&rows, (&adapter.name, other), metric, bootstrap, binary, min_stack_examples);
                by_task.insert(name, compared);
            }
            out.insert(format!("{}_vs_{other}", adapter.name), by_task);
        }
    }
    out
}

pub(crate) fn comparison(
    rows: &[&ExampleRecord],
    (adapter, other): (&str, &str),
    metric: String,
    bootstrap: Bootstrap,
    binary: bool,
    min_stack_examples: usize,
) -> Comparison {
    let paired = |rows: &[&ExampleRecord]| {
        let score = |r: &ExampleRecord, system: &str| {
            let task: Task = r.task.parse().expect("a task name written by this run");
            r.outputs[system].scores[metrics::primary(task)]
        };
        let a: Vec<f64> = rows.iter().map(|r| score(r, adapter)).collect();
        let b: Vec<f64> = rows.iter().map(|r| score(r, other)).collect();
        let (win_rate, difference) = bootstrap.paired(&a, &b);
        let p_value = binary.then(|| {
            let only_a = a.iter().zip(&b).filter(|(x, y)| x > y).count();
            let only_b = a.iter().zip(&b).filter(|(x, y)| x < y).count();
            stats::mcnemar_exact(only_a, only_b)
        });
        (win_rate, difference, p_value)
    };
    let (win_rate, difference, p_value) = paired(rows);
    let by_stack: BTreeMap<String, StackComparison> = by_stack(rows)
        .into_iter()
        .map(|(stack, rows)| {
            let (win_rate, difference, p_value) = paired(&rows);
            let counted = rows.len() >= min_stack_examples;
            let won = counted && difference.ci95[0] > 0.0;
            (stack, StackComparison { win_rate, difference, p_value, counted, won })
        })
        .collect();
    Comparison {
        metric,
        win_rate,
        difference,
        p_value,
        stacks_won: by_stack.values().filter(|s| s.won).count(),
        stacks_total: by_stack.values().filter(|s| s.counted).count(),
        by_stack,
    }
}
