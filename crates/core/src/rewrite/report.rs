//! What `codi rewrite` (and `codi run`) write for a project: one row per candidate, the Markdown
//! report, and the output directory.

use std::fmt::Write as _;
use std::path::Path;

use super::{Estimate, Rewrite};
use crate::{Error, Result};

/// One candidate's line in every table of candidates (the report's and the terminal's).
#[derive(Debug, Clone, PartialEq)]
pub struct CandidateRow<'r> {
    /// 1 for the best.
    pub rank: usize,
    pub rule_id: &'r str,
    pub score: f64,
    pub image_mb: f64,
    /// The size change against the original, in percent (`-80` is 80% smaller).
    pub size_change_percent: f64,
    pub layers: u32,
    pub build_seconds: f64,
    pub rebuild_seconds: f64,
    pub cache_friendliness: f64,
    pub fixes: &'r [String],
}

/// The candidates of `result`, best first, as table rows.
pub fn rows(result: &Rewrite) -> Vec<CandidateRow<'_>> {
    result
        .candidates
        .iter()
        .enumerate()
        .map(|(i, c)| CandidateRow {
            rank: i + 1,
            rule_id: &c.rule_id,
            score: c.deltas.score,
            image_mb: c.estimate.image_mb,
            size_change_percent: -100.0 * c.deltas.size_reduction,
            layers: c.estimate.layers,
            build_seconds: c.estimate.build_seconds,
            rebuild_seconds: c.estimate.rebuild_seconds,
            cache_friendliness: c.estimate.cache_friendliness,
            fixes: &c.fixes,
        })
        .collect()
}

/// Writes `candidates/<rank>-<rule>.Dockerfile` and `.diff`, `report.md` and `rewrite.json`
/// into `dir`, each atomically; candidates of an earlier run there are cleared first.
pub fn write_outputs(dir: &Path, result: &Rewrite) -> Result<()> {
    let write = |path: &Path, bytes: &[u8]| {
        codi_files::write_atomically(path, bytes).map_err(|source| Error::Io { path: path.to_owned(), source })
    };
    let candidates = dir.join("candidates");
    if candidates.is_dir() {
        std::fs::remove_dir_all(&candidates).map_err(|source| Error::Io { path: candidates.clone(), source })?;
    }
    for (rank, candidate) in result.candidates.iter().enumerate() {
        let stem = format!("{}-{}", rank + 1, candidate.rule_id);
        write(&candidates.join(format!("{stem}.Dockerfile")), candidate.dockerfile.as_bytes())?;
        write(&candidates.join(format!("{stem}.diff")), candidate.diff.as_bytes())?;
    }
    write(&dir.join("report.md"), markdown(result).as_bytes())?;
    let json = serde_json::to_string_pretty(result).unwrap_or_default() + "\n";
    write(&dir.join("rewrite.json"), json.as_bytes())
}

/// The Markdown report of one project's rewrite.
pub fn markdown(result: &Rewrite) -> String {
    let mut out = String::new();
    let facts = &result.facts;
    let stack = facts.stack.map_or_else(|| "unknown".to_owned(), |s| s.to_string());
    let _ = writeln!(out, "# Rewrite candidates for `{}`\n", result.project);
    let framework = facts.framework.map(|f| format!(", framework {f}")).unwrap_or_default();
    let _ = writeln!(out, "Stack **{stack}**{framework}. Features: {}.\n", code_list(facts.features.iter()));
    let measured = result.original.source == "measured";
    let _ = writeln!(
        out,
        "Figures are {} (see docs/estimates.md). Every candidate below was rendered from a rule of \
         `patterns/rules.yml`, re-parsed, checked against policy and linted clean at warning level.\n",
        if measured {
            "measured with Docker builds, rebuild times estimated"
        } else {
            "**estimates**, not measurements"
        }
    );
    let _ = writeln!(out, "## Original\n");
    let _ = writeln!(out, "{}", metrics(&result.original));
    if !result.original_violations.is_empty() {
        let _ = writeln!(out, "Policy violations:\n");
        for v in &result.original_violations {
            let _ = writeln!(out, "- line {}: {} (`{}`)", v.line, v.message, v.check);
        }
        out.push('\n');
    }
    if !result.original_findings.is_empty() {
        let _ = writeln!(out, "Lint findings:\n");
        for f in &result.original_findings {
            let _ = writeln!(out, "- line {}: `{}` {}: {}", f.line(), f.code, f.severity, f.message);
        }
        out.push('\n');
    }
    let _ = writeln!(out, "## Candidates\n");
    if result.candidates.is_empty() {
        let _ = writeln!(out, "No rule applies to this project.\n");
    } else {
        let _ = writeln!(out, "| # | rule | score | size MB | Δ size | layers | build s | rebuild s | cache | fixes |");
        let _ = writeln!(out, "|---|------|------:|--------:|-------:|-------:|--------:|----------:|------:|-------|");
        for row in rows(result) {
            let _ = writeln!(
                out,
                "| {} | `{}` | {:+.3} | {:.0} | {:+.0}% | {} | {:.0} | {:.0} | {:.2} | {} |",
                row.rank,
                row.rule_id,
                row.score,
                row.image_mb,
                row.size_change_percent,
                row.layers,
                row.build_seconds,
                row.rebuild_seconds,
                row.cache_friendliness,
                code_list(row.fixes.iter())
            );
        }
        out.push('\n');
    }
    for (rank, c) in result.candidates.iter().enumerate() {
        let _ = writeln!(out, "### {}. `{}`: {}\n", rank + 1, c.rule_id, c.rule_name);
        let _ = writeln!(out, "{}\n", c.rationale.trim());
        let _ = writeln!(out, "{}", metrics(&c.estimate));
        let _ = writeln!(out, "Parameters:\n");
        for (name, value) in &c.parameters {
            let source = c.parameter_sources.get(name).map_or("", String::as_str);
            let _ = writeln!(out, "- `{name}` = `{value}` ({source})");
        }
        let _ = writeln!(out, "\n```diff\n{}```\n", c.diff);
    }
    if !result.rejected.is_empty() {
        let _ = writeln!(out, "## Rejected (defects in the rules)\n");
        for r in &result.rejected {
            let _ = writeln!(out, "- `{}`: {}", r.rule_id, r.reasons.join("; "));
        }
        out.push('\n');
    }
    let _ = writeln!(out, "## Rules that do not apply\n");
    for n in &result.not_applicable {
        let _ = writeln!(out, "- `{}`: {}", n.rule_id, n.reason);
    }
    out
}

fn metrics(e: &Estimate) -> String {
    format!(
        "Image {:.0} MB, {} layers, {} build steps, cold build {:.0} s, rebuild after a source change {:.0} s, \
         cache friendliness {:.2}, {} policy violation(s).\n",
        e.image_mb,
        e.layers,
        e.build_steps,
        e.build_seconds,
        e.rebuild_seconds,
        e.cache_friendliness,
        e.policy_violations
    )
}

fn code_list<'a>(items: impl Iterator<Item = &'a String>) -> String {
    let list: Vec<String> = items.map(|i| format!("`{i}`")).collect();
    if list.is_empty() { "none".to_owned() } else { list.join(", ") }
}
