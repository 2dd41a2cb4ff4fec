//! The metrics, proven on systems whose scores are known: an oracle that answers the gold scores
//! 1.0 on every quality metric, constant systems score their analytic values, and relabelling
//! the candidates changes nothing for a system that does not read the labels.

// The scores compared are 0/1 flags and ratios of small integers, exact in f64.
#![allow(clippy::float_cmp)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use codi_assist::{Choice, Response, RulesOnly, Scoring, Usage};
use codi_core::project::Project;
use codi_core::rewrite::Ruleset;
use codi_core::syntax::ParseOptions;
use codi_eval::Example;
use codi_eval::metrics::score;
use codi_tasks::{Answer, ExplainAnswer, Fix, Known, Prompt, RankAnswer, Task, check, label};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn ruleset() -> Ruleset {
    Ruleset::load(&repo().join("patterns/rules.yml"), None).expect("the catalog")
}

/// Every example of every sample project, as the pairs stage would make them.
fn examples(ruleset: &Ruleset) -> Vec<Example> {
    let samples = repo().join("data/samples");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&samples)
        .expect("data/samples")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("Dockerfile").is_file())
        .collect();
    dirs.sort();
    let mut out = Vec::new();
    for dir in dirs {
        let project = Project::load(&dir, &ParseOptions::default()).expect("a sample project");
        let rewrite = ruleset.rewrite(&project);
        let stack = rewrite.facts.stack.map_or_else(|| "unknown".to_owned(), |s| s.to_string());
        for example in codi_tasks::examples(&project.source, &rewrite) {
            out.push(Example {
                pair_id: format!("{}:{}", dir.display(), example.prompt.task),
                split: "test".into(),
                stack: stack.clone(),
                rule_ids: example.rule_ids,
                prompt: example.prompt,
                gold: example.answer,
            });
        }
    }
    assert!(Task::ALL.iter().all(|t| out.iter().any(|e| e.prompt.task == *t)), "every task among the samples");
    out
}

/// A system that writes `text`: checked exactly as a model's answer is.
fn answering(prompt: &Prompt, text: &str, ruleset: &Ruleset) -> Response {
    let checked = check(prompt, text, &Known::new(&ruleset.catalog));
    Response {
        answer: checked.answer,
        text: text.to_owned(),
        problems: checked.problems,
        choice: None,
        usage: Usage::default(),
    }
}

fn scores_of(example: &Example, text: &str, ruleset: &Ruleset) -> BTreeMap<String, f64> {
    score(example, &answering(&example.prompt, text, ruleset), ruleset, Scoring::Raw)
}

const LOWER_IS_BETTER: &[&str] = &["render_failed", "forbidden_rate", "unknown_code_rate"];

#[test]
fn the_gold_answer_scores_one_on_every_quality_metric() {
    let ruleset = ruleset();
    for example in examples(&ruleset) {
        let scores = scores_of(&example, &example.gold.to_json(), &ruleset);
        // Whether a rule's template renders something insecure is the catalog's property, not the
        // answer's.
        for (metric, value) in scores.iter().filter(|(m, _)| *m != "insecure_rate") {
            let expected = if LOWER_IS_BETTER.contains(&metric.as_str()) { 0.0 } else { 1.0 };
            assert!((value - expected).abs() < 1e-12, "{} {metric} = {value}", example.pair_id);
        }
        let expected: Vec<&str> =
            codi_eval::metrics::names(example.prompt.task).iter().copied().filter(|m| *m != "insecure_rate").collect();
        assert!(expected.iter().all(|m| scores.contains_key(*m)), "{}: {scores:?}", example.pair_id);
    }
}

#[test]
fn constant_systems_score_their_analytic_values() {
    let ruleset = ruleset();
    for example in examples(&ruleset) {
        match &example.gold {
            // The gold order reversed: tau −1, never first, the gold best last.
            Answer::Rank(gold) => {
                let order: Vec<String> = gold.order.iter().rev().cloned().collect();
                let text = Answer::Rank(RankAnswer { order, rationale: String::new() }).to_json();
                let scores = scores_of(&example, &text, &ruleset);
                assert_eq!(scores["kendall_tau"], -1.0);
                assert_eq!(scores["top1"], 0.0);
                assert!((scores["mrr"] - 1.0 / gold.order.len() as f64).abs() < 1e-12);
                assert_eq!(scores["schema_valid"], 1.0);
            }
            // A rule that was not offered: wrong, and flagged by the checks.
            Answer::Rewrite(_) => {
                let scores = scores_of(&example, r#"{"rule_id":"no-such-rule","parameters":{}}"#, &ruleset);
                assert_eq!(scores["choose_accuracy"], 0.0);
                assert_eq!(scores["parameter_match"], 0.0);
                assert_eq!(scores["schema_valid"], 0.0, "a rule that was not offered is not a valid answer");
                assert_eq!(scores["render_failed"], 1.0);
            }
            Answer::Explain(gold) => {
                // Prose instead of JSON: nothing cited, nothing valid.
                let scores = scores_of(&example, "The base image is too big.", &ruleset);
                for metric in ["code_precision", "code_recall", "code_f1", "schema_valid", "rouge_l"] {
                    assert_eq!(scores[metric], 0.0, "{metric}");
                }
                // The gold codes and one unknown code: precision k/(k+1), recall 1.
                let mut answer = gold.clone();
                answer.fixes.push(Fix { code: "XX9999".into(), why: String::new() });
                let scores = scores_of(&example, &Answer::Explain(answer).to_json(), &ruleset);
                let k = cited(gold) as f64;
                assert!((scores["code_precision"] - k / (k + 1.0)).abs() < 1e-12);
                assert_eq!(scores["code_recall"], 1.0);
                assert_eq!(scores["unknown_code_rate"], 1.0);
                // A Dockerfile instruction in the text is counted as forbidden content.
                let mut answer = gold.clone();
                answer.explanation = Some("Write `USER app` before CMD.".into());
                let scores = scores_of(&example, &Answer::Explain(answer).to_json(), &ruleset);
                assert_eq!(scores["forbidden_rate"], 1.0);
            }
        }
    }
}

fn cited(explain: &ExplainAnswer) -> usize {
    let mut codes: Vec<&String> = explain.rule_ids.iter().chain(explain.fixes.iter().map(|f| &f.code)).collect();
    codes.sort();
    codes.dedup();
    codes.len()
}

#[test]
fn relabelling_the_candidates_changes_nothing_for_a_system_that_ignores_labels() {
    let ruleset = ruleset();
    let rules = RulesOnly::new(&ruleset.catalog);
    let ranked: Vec<Example> = examples(&ruleset).into_iter().filter(|e| e.prompt.task == Task::Rank).collect();
    assert!(!ranked.is_empty());
    for example in ranked {
        let original =
            score(&example, &rules.answer(&example.prompt, None).expect("rules-only"), &ruleset, Scoring::Raw);
        // Labels reversed: the candidate shown first is now the last letter.
        let n = example.prompt.input.candidates.len();
        let relabel = |old: &str| {
            let index = example.prompt.input.candidates.iter().position(|c| c.label == old).expect("a shown label");
            label(n - 1 - index)
        };
        let mut relabelled = example.clone();
        for candidate in &mut relabelled.prompt.input.candidates {
            candidate.label = relabel(&candidate.label);
        }
        let Answer::Rank(gold) = &example.gold else { unreachable!("a rank example") };
        let order = gold.order.iter().map(|l| relabel(l)).collect();
        relabelled.gold = Answer::Rank(RankAnswer { order, rationale: gold.rationale.clone() });
        let after =
            score(&relabelled, &rules.answer(&relabelled.prompt, None).expect("rules-only"), &ruleset, Scoring::Raw);
        assert_eq!(original, after, "{}", example.pair_id);
    }
}

#[test]
fn rules_only_agrees_with_the_gold_it_teaches() {
    let ruleset = ruleset();
    let rules = RulesOnly::new(&ruleset.catalog);
    for example in examples(&ruleset) {
        let parameters = match &example.gold {
            Answer::Rewrite(gold) => Some(&gold.parameters),
            _ => None,
        };
        let response = rules.answer(&example.prompt, parameters).expect("rules-only answers");
        assert!(response.problems.is_empty(), "{}: {:?}", example.pair_id, response.problems);
        let scores = score(&example, &response, &ruleset, Scoring::Raw);
        let primary = codi_eval::metrics::primary(example.prompt.task);
        assert_eq!(
            scores[primary],
            1.0,
            "{} {primary}: {}\ngold: {}",
            example.pair_id,
            response.text,
            example.gold.to_json()
        );
    }
}

#[test]
fn scored_decisions_are_read_from_the_choice() {
    let ruleset = ruleset();
    for example in examples(&ruleset) {
        let Answer::Rewrite(gold) = &example.gold else { continue };
        let rules = &example.prompt.input.applicable_rules;
        // The gold rule scored best, under either normalization; the text says nothing.
        let logprob = rules.iter().map(|r| if *r == gold.rule_id { -1.0 } else { -9.0 }).collect();
        let choice = Choice { options: rules.clone(), logprob, bytes: vec![4; rules.len()] };
        let response = Response { choice: Some(choice), ..answering(&example.prompt, "not JSON", &ruleset) };
        let scores = score(&example, &response, &ruleset, Scoring::Raw);
        assert_eq!((scores["choose_accuracy"], scores["choose_accuracy_norm"]), (1.0, 1.0), "{}", example.pair_id);
        assert_eq!(scores["schema_valid"], 0.0, "the parameters did not parse");
    }
}
