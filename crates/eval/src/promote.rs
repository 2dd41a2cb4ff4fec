//! `codi promote`: the gate between an eval run and `patterns/rules.yml`. An adapter is promoted
//! for the stacks it beats the base on — the paired difference of per-example primary scores has
//! a 95% interval above 0 — and only when it wins more than the configured share of the stacks,
//! still verifies against the base, is the adapter the run evaluated, and the run was made
//! against the catalog as it is now.

use std::collections::BTreeMap;
use std::path::Path;

use codi_core::catalog::{Catalog, Promotion, append_promotions};
use codi_model::{Model, Quantize, adapter, cpu};
use serde::Serialize;
use serde_json::json;

use crate::config::Gate;
use crate::error::{Error, Result};
use crate::results::{AdapterLineage, BASE, ExampleRecord, StackComparison};
use crate::run::{by_stack, comparison};
use crate::stats::Bootstrap;
use crate::store::{Store, StoredRun};

/// What `codi promote` decided, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub run_id: String,
    pub adapter: String,
    /// Only the examples about this rule, when one was asked for.
    pub rule: Option<String>,
    pub sample_size: usize,
    pub stacks_won: usize,
    pub stacks_total: usize,
    pub by_stack: BTreeMap<String, StackComparison>,
    /// Why it is refused; empty when it is promoted.
    pub refusals: Vec<String>,
    /// What a reviewer should know (a stack won without a rule to promote).
    pub notes: Vec<String>,
    /// What is (or, in a dry run, would be) appended to `llm_assist.promotions`.
    pub promotions: Vec<Promotion>,
    pub applied: bool,
}

impl Verdict {
    pub fn promoted(&self) -> bool {
        self.refusals.is_empty()
    }
}

/// What to promote from which run.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub run_id: &'a str,
    /// The adapter (`name@version`) when the run evaluated several.
    pub adapter: Option<&'a str>,
    pub rule: Option<&'a str>,
    pub catalog: &'a Path,
    pub gate: Gate,
    pub dry_run: bool,
}

pub fn promote(store: &Store, request: &Request<'_>) -> Result<Verdict> {
    let run = store.read(request.run_id)?;
    let adapter = pick_adapter(&run, request.adapter)?;
    let text = std::fs::read_to_string(request.catalog).map_err(|e| Error::io(request.catalog, e))?;
    let catalog = Catalog::parse(&text, None)
        .map_err(|problems| codi_core::Error::Catalog { path: request.catalog.to_owned(), problems })?;
    let mut refusals = Vec::new();
    let mut notes = Vec::new();
    if let Some(rule) = request.rule
        && catalog.rule(rule).is_none()
    {
        return Err(Error::NotFound(format!("no rule `{rule}` in {}", request.catalog.display())));
    }
    let rows: Vec<&ExampleRecord> = run
        .examples
        .iter()
        .filter(|r| request.rule.is_none_or(|rule| r.rule_ids.iter().any(|id| id == rule)))
        .filter(|r| r.outputs.contains_key(&adapter.system) && r.outputs.contains_key(BASE))
        .collect();
    if rows.is_empty() {
        return Err(Error::NotFound(format!("run {} has no examples for that adapter and rule", run.results.run_id)));
    }
    let config = read_statistics(&run)?;
    let compared = comparison(
        &rows,
        (&adapter.system, BASE),
        "each task's primary score".into(),
        config,
        false,
        request.gate.min_stack_examples,
    );
    let (won, total) = (compared.stacks_won, compared.stacks_total);
    if total == 0 {
        refusals.push(format!("no stack has the {} examples the gate needs", request.gate.min_stack_examples));
    } else if won as f64 <= request.gate.stack_share * total as f64 {
        refusals.push(format!(
            "the adapter beats the base (95% interval of the paired difference above 0) on {won} of {total} stacks; \
             the gate needs more than {:.0}%",
            request.gate.stack_share * 100.0
        ));
    }
    refusals.extend(check_adapter(&run, adapter));
    let rules_version = codi_core::catalog::rules_version(request.catalog)?;
    if rules_version != run.results.lineage.rules_version {
        refusals.push(format!(
            "the run was made against another rules catalog (version {}) than {} (version {rules_version})",
            run.results.lineage.rules_version,
            request.catalog.display()
        ));
    }

    let date = chrono::Utc::now();
    let by_stack_rows = by_stack(&rows);
    let mut promotions = Vec::new();
    for (stack, figures) in compared.by_stack.iter().filter(|(_, s)| s.won) {
        let Some(rule_id) = request.rule.map(str::to_owned).or_else(|| main_rule(&by_stack_rows[stack], &catalog))
        else {
            notes.push(format!("stack {stack} is won, but its examples name no rule of the catalog: not promoted"));
            continue;
        };
        let id = format!("LLM-PROMO-{}-{}", date.format("%Y%m%d"), stack.to_uppercase());
        if catalog.llm_assist.promotions.iter().any(|p| p.id == id) {
            refusals.push(format!("promotion {id} is already in {}", request.catalog.display()));
        }
        let metrics = json!({
            "eval_run": run.results.run_id,
            "eval_report": format!("{}#{}", store.report_path().display(), run.results.run_id),
            "sample_size": by_stack_rows[stack].len(),
            "win_rate": figures.win_rate.value,
            "ci95": figures.win_rate.ci95,
            "difference": figures.difference.value,
            "difference_ci95": figures.difference.ci95,
            "stack": stack,
        });
        promotions.push(Promotion {
            id,
            rule_id,
            adapter_version: adapter.system.clone(),
            promoted_at: date.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            metrics,
        });
    }
    let applied = refusals.is_empty() && !request.dry_run && !promotions.is_empty();
    if applied {
        append_promotions(request.catalog, None, &promotions)?;
    }
    Ok(Verdict {
        run_id: run.results.run_id.clone(),
        adapter: adapter.system.clone(),
        rule: request.rule.map(str::to_owned),
        sample_size: rows.len(),
        stacks_won: won,
        stacks_total: total,
        by_stack: compared.by_stack,
        refusals,
        notes,
        promotions,
        applied,
    })
}

fn pick_adapter<'r>(run: &'r StoredRun, name: Option<&str>) -> Result<&'r AdapterLineage> {
    let adapters = &run.results.lineage.adapters;
    let names = || adapters.iter().map(|a| a.system.as_str()).collect::<Vec<_>>().join(", ");
    match (name, adapters.as_slice()) {
        (None, [only]) => Ok(only),
        (None, []) => Err(Error::NotFound(format!("run {} evaluated no adapter", run.results.run_id))),
        (None, _) => Err(Error::NotFound(format!(
            "run {} evaluated several adapters ({}): name one",
            run.results.run_id,
            names()
        ))),
        (Some(name), _) => adapters.iter().find(|a| a.system == name).ok_or_else(|| {
            Error::NotFound(format!("run {} did not evaluate {name} (it evaluated {})", run.results.run_id, names()))
        }),
    }
}

/// The statistics settings the run was made with.
fn read_statistics(run: &StoredRun) -> Result<Bootstrap> {
    let config = crate::EvalConfig::read_resolved(&run.dir.join("config.yaml"))?;
    Ok(Bootstrap { resamples: config.statistics.resamples, seed: config.statistics.seed })
}

/// Why the adapter on disk is not the one the run evaluated, or no longer verifies.
fn check_adapter(run: &StoredRun, adapter: &AdapterLineage) -> Vec<String> {
    let mut problems = Vec::new();
    let metadata = adapter.dir.join("metadata.json");
    match codi_files::sha256_file(&metadata) {
        Ok(sha) if sha == adapter.metadata_sha256 => {}
        Ok(_) => problems.push(format!("{} changed since run {} evaluated it", metadata.display(), run.results.run_id)),
        Err(e) => problems.push(format!("{}: {e}", metadata.display())),
    }
    let base = &run.results.lineage.base_model;
    let described = Model::load(&base.path, Quantize::AsStored, &cpu()).and_then(|mut model| model.describe());
    match described {
        Ok(described) if described.sha256 != base.sha256 => {
            problems.push(format!("the base model {} changed since the run (sha256 {})", base.path, described.sha256));
        }
        Ok(described) => {
            let verification = adapter::verify(&adapter.dir, Some(&described));
            problems.extend(verification.problems.iter().map(|p| format!("the adapter no longer verifies: {p}")));
        }
        Err(e) => problems.push(format!("the base model {} does not load: {e}", base.path)),
    }
    problems
}

/// The catalog rule most of a stack's examples are about (ties: the first by id).
fn main_rule(rows: &[&ExampleRecord], catalog: &Catalog) -> Option<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for id in rows.iter().flat_map(|r| &r.rule_ids).filter(|id| catalog.rule(id).is_some()) {
        *counts.entry(id.as_str()).or_default() += 1;
    }
    let most = counts.values().copied().max()?;
    counts.into_iter().find(|(_, n)| *n == most).map(|(id, _)| id.to_owned())
}
