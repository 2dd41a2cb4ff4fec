//! `codi eval --nightly`: the promoted adapter evaluated again on the data of the run that
//! promoted it, and compared with that run; a score that fell more than the margin is a
//! regression. Before anything is promoted, the configured adapter is compared with its newest
//! stored run instead.

use std::fmt::Write as _;
use std::path::PathBuf;

use codi_core::catalog::Catalog;
use serde::Serialize;

use crate::config::EvalConfig;
use crate::error::{Error, Result};
use crate::run::{Progress, Run, evaluate};
use crate::store::{Store, StoredRun};

/// One task's primary score, before and now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub task: String,
    pub metric: String,
    pub baseline: f64,
    pub now: f64,
    pub regressed: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Nightly {
    pub run: Run,
    pub baseline_run: String,
    /// Why that run is the baseline (a promotion, or the newest run of the adapter).
    pub baseline_reason: String,
    pub adapter: String,
    pub rows: Vec<Row>,
    /// The Markdown summary, written to `<out>/nightly/<run id>.md`.
    pub summary: String,
    pub summary_path: PathBuf,
}

impl Nightly {
    pub fn regressed(&self) -> bool {
        self.rows.iter().any(|r| r.regressed)
    }
}

pub fn nightly(config: &EvalConfig, progress: impl FnMut(Progress<'_>)) -> Result<Nightly> {
    let store = Store::new(&config.out);
    let catalog = Catalog::load(&config.catalog, None)?;
    let (baseline, adapter, reason) = if let Some(promotion) = catalog.llm_assist.promotions.last() {
        let run_id = promotion.metrics.get("eval_run").and_then(|v| v.as_str()).unwrap_or_default();
        let run = store.read(run_id)?;
        (run, promotion.adapter_version.clone(), format!("promotion {}", promotion.id))
    } else {
        let dir = config.adapters.first().ok_or_else(|| Error::NotFound("no adapter is configured".into()))?;
        // Newest first, reading no further than the first run of the adapter.
        let mut newest = None;
        for id in store.run_ids()?.iter().rev() {
            let run = store.read(id)?;
            if let Some(name) = run.results.lineage.adapters.iter().find(|a| &a.dir == dir).map(|a| a.system.clone()) {
                newest = Some((run, name));
                break;
            }
        }
        let (newest, name) = newest.ok_or_else(|| {
            Error::NotFound(format!(
                "nothing is promoted and no run of {} is stored: run `codi eval` first",
                dir.display()
            ))
        })?;
        (newest, name, "the newest run of the configured adapter (nothing promoted)".into())
    };
    let evaluated = baseline
        .results
        .lineage
        .adapters
        .iter()
        .find(|a| a.system == adapter)
        .ok_or_else(|| Error::NotFound(format!("run {} did not evaluate {adapter}", baseline.results.run_id)))?;
    // The baseline's own configuration (data, split, tasks, base, scoring, statistics), with
    // today's store and the adapter under watch.
    let again = EvalConfig {
        out: config.out.clone(),
        adapters: vec![evaluated.dir.clone()],
        ..EvalConfig::read_resolved(&baseline.dir.join("config.yaml"))?
    };
    let changed =
        codi_files::sha256_file(&evaluated.dir.join("metadata.json")).ok() != Some(evaluated.metadata_sha256.clone());
    let run = evaluate(&again, progress)?;
    let rows = compare(&baseline, &run, &adapter, config.nightly.margin);
    let mut summary = markdown(&baseline, &run, &adapter, &reason, &rows, config.nightly.margin);
    if changed {
        summary.push_str(
            "\nThe adapter's metadata.json changed since the baseline run: this is not the adapter it evaluated.\n",
        );
    }
    let summary_path = config.out.join("nightly").join(format!("{}.md", run.id));
    codi_files::write_atomically(&summary_path, summary.as_bytes()).map_err(|e| Error::io(&summary_path, e))?;
    Ok(Nightly {
        run,
        baseline_run: baseline.results.run_id.clone(),
        baseline_reason: reason,
        adapter,
        rows,
        summary,
        summary_path,
    })
}

fn compare(baseline: &StoredRun, run: &Run, adapter: &str, margin: f64) -> Vec<Row> {
    let mut rows = Vec::new();
    for (task, before) in &baseline.results.tasks {
        let value = |tasks: &std::collections::BTreeMap<String, crate::results::TaskResults>| {
            tasks.get(task)?.systems.get(adapter)?.overall.get(&before.primary).map(|e| e.value)
        };
        let (Some(then), Some(now)) = (value(&baseline.results.tasks), value(&run.results.tasks)) else { continue };
        rows.push(Row {
            task: task.clone(),
            metric: before.primary.clone(),
            baseline: then,
            now,
            regressed: now < then - margin,
        });
    }
    rows
}

fn markdown(baseline: &StoredRun, run: &Run, adapter: &str, reason: &str, rows: &[Row], margin: f64) -> String {
    let regressed = rows.iter().any(|r| r.regressed);
    let mut out = format!(
        "# Nightly eval {}: {}\n\n{adapter} against run {} ({reason}), margin {margin}.\n\n",
        run.id,
        if regressed { "REGRESSION" } else { "no regression" },
        baseline.results.run_id
    );
    out.push_str("| task | metric | baseline | now | change | |\n|---|---|---|---|---|---|\n");
    for row in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {:.3} | {:.3} | {:+.3} | {} |",
            row.task,
            row.metric,
            row.baseline,
            row.now,
            row.now - row.baseline,
            if row.regressed { "regressed" } else { "ok" }
        );
    }
    let _ = writeln!(out, "\nRun directory: {}", run.dir.display());
    out
}
