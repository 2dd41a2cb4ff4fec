//! The three tasks, all derived from the rules and the analysis. Targets never contain
//! Dockerfile text: the model chooses, orders and explains candidates the templates wrote.
//!
//! - rewrite: which rule applies, and with which parameters (the best-ranked candidate);
//! - rank: the candidates rendered for the file, in the gold order of their estimated deltas
//!   (`llm_assist.ranking_weights`), with a short rationale;
//! - explain: the smells the chosen rule fixes and why, citing rule ids, from the lint rules'
//!   own doc text and the rule's rationale.

use codi_core::catalog::RankingWeights;
use codi_core::lint::{Severity, find_rule};
use codi_core::records::{CuratedRecord, sha256_hex};
use codi_core::rewrite::{Candidate, Rewrite};
use serde_json::{Value, json};

use crate::styles::{Example, render};

pub const SYSTEM: &str = "You assist a rules-first Dockerfile optimizer. Rules and templates write every Dockerfile; \
you choose which rule fits, rank the candidates they rendered, and explain why, citing rule ids. You never write \
Dockerfile instructions yourself.";

const REWRITE: &str =
    "Choose the rule from the catalog that best rewrites this Dockerfile, and the parameters to render it with.";
const RANK: &str = "Rank these candidate Dockerfiles, rendered from the catalog's rules for this project, best first.";
const EXPLAIN: &str = "Explain which problems of this Dockerfile the chosen rule fixes, and why they matter.";
const EXPLAIN_FINDINGS: &str =
    "No rule of the catalog applies to this Dockerfile. Explain its problems and why they matter.";

/// Lint findings explained at most, per file.
const MAX_EXPLAINED: usize = 8;

/// The project as the model sees it: the Dockerfile, its stack and what the linter found.
fn context(record: &CuratedRecord, rewrite: &Rewrite) -> Value {
    let findings: Vec<Value> = rewrite
        .original_findings
        .iter()
        .map(|f| json!({"code": f.code, "line": f.line(), "severity": f.severity.to_string()}))
        .collect();
    json!({
        "dockerfile": record.content,
        "stack": record.stack,
        "framework": record.framework,
        "package_manager": record.package_manager,
        "features": rewrite.facts.features,
        "findings": findings,
    })
}

/// The pairs of one curated Dockerfile, in task order: rewrite, rank and explain when a rule
/// applies; otherwise an explanation of its lint findings alone; nothing for a clean file no
/// rule applies to.
pub fn pairs(
    record: &CuratedRecord,
    rewrite: &Rewrite,
    weights: &RankingWeights,
) -> Vec<codi_core::records::PairRecord> {
    let stack = record.stack.clone().unwrap_or_else(|| "unknown".to_owned());
    let make = |task: &str, rule_ids: Vec<String>, instruction: &str, input: Value, output: Value| {
        let example = Example { instruction, input: &input, output: &output };
        let styles = render(&example, SYSTEM);
        codi_core::records::PairRecord {
            pair_id: sha256_hex(format!("{}:{task}", record.id).as_bytes()),
            source_id: record.id.clone(),
            cluster_id: record.cluster_id.clone(),
            task: task.to_owned(),
            stack: stack.clone(),
            rule_ids,
            instruction: instruction.to_owned(),
            input: input.to_string(),
            output: output.to_string(),
            raw: styles.raw,
            instruct: styles.instruct,
            chat: styles.chat,
        }
    };
    let mut out = Vec::new();
    let Some(best) = rewrite.candidates.first() else {
        let codes = finding_codes(rewrite);
        if !codes.is_empty() {
            out.push(make(
                "explain",
                codes.clone(),
                EXPLAIN_FINDINGS,
                context(record, rewrite),
                explain_findings(&codes),
            ));
        }
        return out;
    };
    let applicable: Vec<&str> = rewrite.candidates.iter().map(|c| c.rule_id.as_str()).collect();
    let mut input = context(record, rewrite);
    input["applicable_rules"] = json!(applicable);
    out.push(make(
        "rewrite",
        vec![best.rule_id.clone()],
        REWRITE,
        input,
        json!({"rule_id": best.rule_id, "parameters": best.parameters}),
    ));
    if rewrite.candidates.len() >= 2 {
        let (input, output) = rank(record, rewrite, weights);
        out.push(make("rank", rewrite.candidates.iter().map(|c| c.rule_id.clone()).collect(), RANK, input, output));
    }
    if !best.fixes.is_empty() {
        let mut input = context(record, rewrite);
        input["rule_id"] = json!(best.rule_id);
        out.push(make("explain", vec![best.rule_id.clone()], EXPLAIN, input, explain(best)));
    }
    out
}

/// Candidates labelled A, B, C … in an order fixed by the file's id (not the gold order), and
/// the gold order by estimated deltas.
fn rank(record: &CuratedRecord, rewrite: &Rewrite, weights: &RankingWeights) -> (Value, Value) {
    let mut shown: Vec<&Candidate> = rewrite.candidates.iter().collect();
    shown.sort_by_key(|c| sha256_hex(format!("{}:{}", record.id, c.rule_id).as_bytes()));
    let label = |i: usize| char::from(b'A' + (i % 26) as u8).to_string();
    let candidates: Vec<Value> = shown
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({
                "label": label(i),
                "rule_id": c.rule_id,
                "dockerfile": c.dockerfile,
                "estimate": {"image_mb": c.estimate.image_mb, "layers": c.estimate.layers,
                             "build_seconds": c.estimate.build_seconds, "rebuild_seconds": c.estimate.rebuild_seconds},
            })
        })
        .collect();
    let mut input = context(record, rewrite);
    input["candidates"] = json!(candidates);
    input["original_estimate"] = json!({"image_mb": rewrite.original.image_mb, "layers": rewrite.original.layers});
    let order: Vec<String> = rewrite
        .candidates
        .iter()
        .map(|c| shown.iter().position(|s| s.rule_id == c.rule_id).map(label).unwrap_or_default())
        .collect();
    let best = &rewrite.candidates[0];
    let next = &rewrite.candidates[1];
    let rationale = format!(
        "{} ranks first with an estimated score of {:+.3} against the original (size {:+.0}%, layers {:+.0}%, build time {:+.0}%); \
         {} follows at {:+.3}. Scores weigh size {:.2}, layers {:.2}, build time {:.2} and policy {:.2}.",
        best.rule_id,
        best.deltas.score,
        -100.0 * best.deltas.size_reduction,
        -100.0 * best.deltas.layer_reduction,
        -100.0 * best.deltas.build_time,
        next.rule_id,
        next.deltas.score,
        weights.size_reduction,
        weights.layer_reduction,
        weights.build_time,
        weights.policy_compliance,
    );
    let rule_order: Vec<&str> = rewrite.candidates.iter().map(|c| c.rule_id.as_str()).collect();
    (input, json!({"order": order, "rule_ids": rule_order, "rationale": rationale}))
}

/// Each lint code with its problem and why it matters, from the lint rule's own doc.
fn why(codes: &[String]) -> Vec<Value> {
    codes
        .iter()
        .filter_map(|code| {
            let meta = find_rule(code)?.meta();
            let why = meta.section("Why it matters").map(|t| without_instructions(&t)).unwrap_or_default();
            Some(json!({"code": meta.code, "name": meta.name, "problem": meta.message, "why": why}))
        })
        .collect()
}

/// The smells the rule fixes, each with why it matters, and the rule's rationale.
fn explain(best: &Candidate) -> Value {
    json!({
        "rule_ids": [best.rule_id],
        "fixes": why(&best.fixes),
        "explanation": without_instructions(best.rationale.trim()),
    })
}

/// The distinct codes of the findings at warning level or above, most severe first.
fn finding_codes(rewrite: &Rewrite) -> Vec<String> {
    let mut findings: Vec<_> = rewrite.original_findings.iter().filter(|f| f.severity <= Severity::Warning).collect();
    findings.sort_by_key(|f| (f.severity, f.line()));
    let mut codes: Vec<String> = Vec::new();
    for finding in findings {
        if !codes.iter().any(|c| c == finding.code) && codes.len() < MAX_EXPLAINED {
            codes.push(finding.code.to_owned());
        }
    }
    codes
}

fn explain_findings(codes: &[String]) -> Value {
    json!({"rule_ids": codes, "fixes": why(codes)})
}

const KEYWORDS: &[&str] = &[
    "FROM",
    "RUN",
    "CMD",
    "LABEL",
    "EXPOSE",
    "ENV",
    "ADD",
    "COPY",
    "ENTRYPOINT",
    "VOLUME",
    "USER",
    "WORKDIR",
    "ARG",
    "ONBUILD",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
    "MAINTAINER",
];

/// Whether `text` holds something that reads as a Dockerfile instruction: a line, or a
/// backquoted span, that starts with an upper-case keyword and an argument.
pub fn contains_instruction(text: &str) -> bool {
    // A keyword and an argument other than flags (`COPY --from` names an instruction, it is
    // not one).
    let starts_with_instruction = |s: &str| {
        let mut words = s.split_whitespace();
        words.next().is_some_and(|keyword| KEYWORDS.contains(&keyword)) && words.any(|w| !w.starts_with("--"))
    };
    text.lines().any(starts_with_instruction) || text.split('`').skip(1).step_by(2).any(starts_with_instruction)
}

/// `text` without the sentences that quote Dockerfile instructions.
fn without_instructions(text: &str) -> String {
    text.split_inclusive(". ").filter(|sentence| !contains_instruction(sentence)).collect::<String>().trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_are_recognised_and_left_out() {
        assert!(contains_instruction("then `COPY . .` copies everything"));
        assert!(contains_instruction("RUN apt-get update"));
        assert!(!contains_instruction("every RUN is a layer, and USER matters"));
        assert!(!contains_instruction("`COPY --from` should reference a previously defined `FROM` alias"));
        assert_eq!(without_instructions("One. Use `COPY package.json ./` first. Two."), "One. Two.");
    }
}
