//! The rules' own answers, from what the prompt shows: the baseline every model is compared
//! with, and the answer when no model is loaded.

use std::time::Instant;

use codi_core::catalog::{Catalog, RankingWeights};
use codi_core::lint::Severity;
use codi_tasks::{Answer, CandidateView, ExplainAnswer, Known, MAX_EXPLAINED, Prompt, RankAnswer, RewriteAnswer, Task};
use serde_json::{Map, Value};

use crate::choice::Choice;
use crate::error::{Error, Result};
use crate::{Response, Usage};

/// Answers from the catalog and the lint rules alone.
#[derive(Debug)]
pub struct RulesOnly<'c> {
    catalog: &'c Catalog,
    known: Known,
}

impl<'c> RulesOnly<'c> {
    pub fn new(catalog: &'c Catalog) -> Self {
        Self { catalog, known: Known::new(catalog) }
    }

    /// The rules' answer to `prompt`. A rewrite's parameters are not in the prompt: they are the
    /// ones the rules rendered the candidate with, passed as `parameters`.
    pub fn answer(&self, prompt: &Prompt, parameters: Option<&Map<String, Value>>) -> Result<Response> {
        let started = Instant::now();
        let (answer, choice) = match prompt.task {
            Task::Rank => {
                let (answer, choice) = self.rank(prompt)?;
                (Answer::Rank(answer), Some(choice))
            }
            Task::Rewrite => {
                let rule_id = prompt.input.applicable_rules.first().ok_or(Error::NothingToChoose("rules"))?;
                let answer =
                    RewriteAnswer { rule_id: rule_id.clone(), parameters: parameters.cloned().unwrap_or_default() };
                (Answer::Rewrite(answer), None)
            }
            Task::Explain => (Answer::Explain(self.explain(prompt)), None),
        };
        let text = answer.to_json();
        let checked = codi_tasks::check(prompt, &text, &self.known);
        let usage = Usage { seconds: started.elapsed().as_secs_f64(), ..Usage::default() };
        Ok(Response { answer: checked.answer, text, problems: checked.problems, choice, usage })
    }

    /// The candidates by the catalog's ranking weights over the reductions shown (best first,
    /// then by rule id, as the rewrite orders them). Policy compliance is weighted too but not
    /// shown, so a ranking that turns on it can differ from the rewrite's.
    fn rank(&self, prompt: &Prompt) -> Result<(RankAnswer, Choice)> {
        let candidates = &prompt.input.candidates;
        if candidates.is_empty() {
            return Err(Error::NothingToChoose("candidates"));
        }
        let weights = &self.catalog.llm_assist.ranking_weights;
        let mut ranked: Vec<&CandidateView> = candidates.iter().collect();
        ranked.sort_by(|a, b| score(b, weights).total_cmp(&score(a, weights)).then_with(|| a.rule_id.cmp(&b.rule_id)));
        let choice = Choice {
            options: candidates.iter().map(|c| c.label.clone()).collect(),
            logprob: candidates.iter().map(|c| score(c, weights)).collect(),
            bytes: vec![1; candidates.len()],
        };
        let order = ranked.iter().map(|c| c.label.clone()).collect();
        Ok((RankAnswer { order, rationale: String::new() }, choice))
    }

    /// The chosen rule and the findings it fixes, or, when no rule applies, the findings at
    /// warning level or above; each with the lint rule's own reason.
    fn explain(&self, prompt: &Prompt) -> ExplainAnswer {
        let shown = &prompt.input.project.findings;
        if let Some(rule) = prompt.input.rule_id.as_deref().and_then(|id| self.catalog.rule(id)) {
            let mut codes: Vec<String> =
                rule.fixes.iter().filter(|code| shown.iter().any(|f| &f.code == *code)).cloned().collect();
            codes.dedup();
            codes.truncate(MAX_EXPLAINED);
            ExplainAnswer {
                rule_ids: vec![rule.id.clone()],
                fixes: codi_tasks::fixes(&codes),
                explanation: Some(codi_tasks::rationale(&rule.rationale)),
            }
        } else {
            let codes: Vec<String> = shown
                .iter()
                .filter(|f| f.severity.parse::<Severity>().is_ok_and(|s| s <= Severity::Warning))
                .map(|f| f.code.clone())
                .take(MAX_EXPLAINED)
                .collect();
            ExplainAnswer { rule_ids: codes.clone(), fixes: codi_tasks::fixes(&codes), explanation: None }
        }
    }
}

fn score(candidate: &CandidateView, weights: &RankingWeights) -> f64 {
    weights.size_reduction * candidate.size_reduction
        + weights.layer_reduction * candidate.layer_reduction
        + weights.build_time * candidate.build_time_reduction
}
