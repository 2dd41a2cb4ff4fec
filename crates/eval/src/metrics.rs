//! Per-example scores of one system's response, by task. Every figure of a run is a mean of
//! these over examples, with a bootstrap interval.

use std::collections::BTreeMap;

use codi_assist::{Response, Scoring};
use codi_core::lint::{Category, LintConfig, Severity, find_rule, lint};
use codi_core::rewrite::Ruleset;
use codi_tasks::{Answer, ExplainAnswer, Problem, Task};

use crate::data::Example;
use crate::stats;

/// The per-example score each task's comparisons (win rate, promotion) are made on.
pub fn primary(task: Task) -> &'static str {
    match task {
        Task::Rank => "top1",
        Task::Rewrite => "choose_accuracy",
        Task::Explain => "code_f1",
    }
}

/// Whether a task's primary score is 0 or 1 (so an exact McNemar test applies).
pub fn is_binary(task: Task) -> bool {
    task != Task::Explain
}

/// The metrics reported for a task, in report order.
pub fn names(task: Task) -> &'static [&'static str] {
    match task {
        Task::Rank => &["top1", "top1_norm", "kendall_tau", "mrr", "schema_valid"],
        Task::Rewrite => &[
            "choose_accuracy",
            "choose_accuracy_norm",
            "parameter_match",
            "schema_valid",
            "insecure_rate",
            "render_failed",
        ],
        Task::Explain => &[
            "code_precision",
            "code_recall",
            "code_f1",
            "schema_valid",
            "forbidden_rate",
            "unknown_code_rate",
            "rouge_l",
        ],
    }
}

/// Scores `response` against the example's gold answer; `scoring` is how the system decided
/// (the `_norm` metrics decide by per-byte scores). A metric that does not apply (the insecure
/// rate of a candidate that could not be rendered) is absent.
pub fn score(example: &Example, response: &Response, ruleset: &Ruleset, scoring: Scoring) -> BTreeMap<String, f64> {
    let mut scores = BTreeMap::new();
    let mut put = |name: &str, value: f64| {
        scores.insert(name.to_owned(), value);
    };
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    let valid = response.answer.is_some() && response.problems.is_empty();
    match (&example.gold, &response.answer) {
        (Answer::Rank(gold), answer) => {
            let order = match answer {
                Some(Answer::Rank(rank)) => rank.order.clone(),
                _ => Vec::new(),
            };
            let first = |scoring| response.choice.as_ref().map(|c| c.options[c.best(scoring)].clone());
            put("top1", flag(order.first() == gold.order.first()));
            put(
                "top1_norm",
                flag(first(Scoring::PerByte).or_else(|| order.first().cloned()).as_ref() == gold.order.first()),
            );
            // τ is defined over orders of the same labels; anything else is no ranking at all.
            put(
                "kendall_tau",
                if same_labels(&order, &gold.order) { stats::kendall_tau(&order, &gold.order) } else { 0.0 },
            );
            put("mrr", stats::reciprocal_rank(&order, &gold.order));
            put("schema_valid", flag(valid));
        }
        (Answer::Rewrite(gold), answer) => {
            let parsed = match answer {
                Some(Answer::Rewrite(rewrite)) => Some(rewrite),
                _ => None,
            };
            // The rule is the scored decision even when the generated parameters do not parse.
            let chosen = |scoring| {
                response
                    .choice
                    .as_ref()
                    .map(|c| c.options[c.best(scoring)].clone())
                    .or_else(|| parsed.map(|p| p.rule_id.clone()))
            };
            put("choose_accuracy", flag(chosen(scoring).as_ref() == Some(&gold.rule_id)));
            put("choose_accuracy_norm", flag(chosen(Scoring::PerByte).as_ref() == Some(&gold.rule_id)));
            put(
                "parameter_match",
                flag(parsed.is_some_and(|p| p.rule_id == gold.rule_id && p.parameters == gold.parameters)),
            );
            put("schema_valid", flag(valid));
            let rendered = parsed.and_then(|p| {
                let rule = ruleset.catalog.rule(&p.rule_id)?;
                ruleset.templates.render(rule, &p.parameters).ok()
            });
            put("render_failed", flag(rendered.is_none()));
            if let Some(text) = rendered {
                put("insecure_rate", flag(insecure(&text)));
            }
        }
        (Answer::Explain(gold), answer) => {
            let parsed = match answer {
                Some(Answer::Explain(explain)) => Some(explain),
                _ => None,
            };
            let cited = parsed.map(codes).unwrap_or_default();
            let (precision, recall, f1) = stats::precision_recall_f1(&cited, &codes(gold));
            put("code_precision", precision);
            put("code_recall", recall);
            put("code_f1", f1);
            put("schema_valid", flag(parsed.is_some()));
            put("forbidden_rate", flag(response.problems.iter().any(|p| matches!(p, Problem::Instruction(_)))));
            put("unknown_code_rate", flag(response.problems.iter().any(|p| matches!(p, Problem::UnknownCode(_)))));
            put("rouge_l", parsed.map_or(0.0, |p| stats::rouge_l(&prose(p), &prose(gold))));
        }
    }
    scores
}

/// Whether two orders hold the same labels, each once.
fn same_labels(a: &[String], b: &[String]) -> bool {
    let sorted = |items: &[String]| {
        let mut items = items.to_vec();
        items.sort();
        items
    };
    let (a, b) = (sorted(a), sorted(b));
    a == b && a.windows(2).all(|w| w[0] != w[1])
}

/// The rule ids and lint codes an explanation cites.
fn codes(explain: &ExplainAnswer) -> Vec<String> {
    let mut codes: Vec<String> =
        explain.rule_ids.iter().chain(explain.fixes.iter().map(|f| &f.code)).cloned().collect();
    codes.sort();
    codes.dedup();
    codes
}

/// An explanation's text: each reason, then the rule's rationale.
fn prose(explain: &ExplainAnswer) -> String {
    let reasons = explain.fixes.iter().map(|f| f.why.as_str());
    reasons.chain(explain.explanation.as_deref()).collect::<Vec<_>>().join(" ")
}

/// Whether our own security lint rules find something at warning level or above in a rendered
/// candidate (an info-level nit such as DL3066's named user is not an insecure pattern).
fn insecure(dockerfile: &str) -> bool {
    let file = codi_core::syntax::parse(dockerfile);
    lint(&file, &LintConfig::default()).iter().any(|f| {
        f.severity <= Severity::Warning
            && find_rule(f.code).is_some_and(|rule| rule.meta().category == Category::Security)
    })
}
