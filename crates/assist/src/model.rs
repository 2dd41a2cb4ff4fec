//! A model answering the three tasks: scored decisions, generated parameters and explanations.

use std::collections::BTreeSet;
use std::time::Instant;

use codi_core::catalog::Catalog;
use codi_model::{GenerateOptions, Model, Prefix, Runner, Tokenizer};
use codi_tasks::{Answer, Known, Problem, Prompt, RankAnswer, Task, check, first_offense};
use serde::{Deserialize, Serialize};

use crate::choice::{Choice, Scoring};
use crate::error::{Error, Result};
use crate::{Response, Usage};

/// How an [`Assistant`] decides and generates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AssistOptions {
    /// How options of different lengths are compared.
    pub scoring: Scoring,
    /// Options scored in one batch from the shared prompt cache.
    pub batch: usize,
    /// Most tokens of a generated explanation.
    pub max_explain_tokens: usize,
    /// Most tokens of a chosen rule's generated parameters.
    pub max_parameter_tokens: usize,
    /// Score the options from one shared prompt cache; off, each option runs the whole prompt
    /// again (lm-eval-harness' plain way, for `codi bench eval`'s ratio).
    pub shared_prefix: bool,
}

impl Default for AssistOptions {
    fn default() -> Self {
        Self {
            scoring: Scoring::Raw,
            batch: 8,
            max_explain_tokens: 256,
            max_parameter_tokens: 128,
            shared_prefix: true,
        }
    }
}

/// A model (a base, or a base with its adapter) answering prompts.
#[derive(Debug)]
pub struct Assistant {
    /// What runs the decoder: the transformer itself, or a server's batcher.
    runner: Box<dyn Runner + Send>,
    tokenizer: Tokenizer,
    known: Known,
    /// The catalog's rules that take no parameters.
    without_parameters: BTreeSet<String>,
    options: AssistOptions,
}

/// The prompt's tokens as the trainer encodes them: the system and user turns rendered with the
/// model's chat template, the assistant's turn opened.
pub fn chat_prompt(tokenizer: &Tokenizer, prompt: &Prompt) -> Result<Vec<u32>> {
    let messages = prompt.messages().map(|m| codi_model::Message::new(&m.role, &m.content));
    let text = tokenizer.apply_chat_template(&messages, true)?;
    Ok(tokenizer.encode(&text)?)
}

/// The answer so far, its tokens and the cache after them.
struct Answering<'m> {
    runner: &'m dyn Runner,
    tokenizer: &'m Tokenizer,
    prompt: Vec<u32>,
    /// The prompt and `committed` run into a KV cache, built when first needed.
    prefix: Option<Prefix<'m>>,
    /// The answer's tokens so far.
    committed: Vec<u32>,
    batch: usize,
    shared_prefix: bool,
    usage: Usage,
}

impl<'m> Answering<'m> {
    fn new(assistant: &'m Assistant, prompt: &Prompt) -> Result<Self> {
        let (runner, tokenizer, options) =
            (assistant.runner.as_ref() as &dyn Runner, &assistant.tokenizer, &assistant.options);
        let ids = chat_prompt(tokenizer, prompt)?;
        let usage = Usage { prompt_tokens: ids.len(), ..Usage::default() };
        let (batch, shared_prefix) = (options.batch, options.shared_prefix);
        Ok(Self { runner, tokenizer, prompt: ids, prefix: None, committed: Vec::new(), batch, shared_prefix, usage })
    }

    /// The cache of the prompt and the answer so far.
    fn cache(&mut self) -> Result<&mut Prefix<'m>> {
        if self.prefix.is_none() {
            let ids: Vec<u32> = self.prompt.iter().chain(&self.committed).copied().collect();
            self.prefix = Some(Prefix::new(self.runner, &ids)?);
        }
        Ok(self.prefix.as_mut().expect("built above"))
    }

    /// Scores each option as the continuation of the answer text `so_far`. The answer is
    /// tokenized as a whole, as the trainer tokenized it; the options' common tokens join the
    /// shared cache.
    fn score(&mut self, so_far: &str, options: &[String]) -> Result<(Choice, Vec<Vec<u32>>)> {
        if options.is_empty() {
            return Err(Error::NothingToChoose("options"));
        }
        let tokenizer = self.tokenizer;
        let encoded = options
            .iter()
            .map(|option| tokenizer.encode(&format!("{so_far}{option}")))
            .collect::<Result<Vec<_>, _>>()?;
        let first = &encoded[0];
        let common =
            encoded.iter().fold(first.len(), |n, ids| n.min(ids.iter().zip(first).take_while(|(a, b)| a == b).count()));
        // Every option keeps at least one token of its own to be scored.
        let common = common.min(encoded.iter().map(Vec::len).min().unwrap_or(0).saturating_sub(1));
        self.force(&first[..common]);
        let continuations: Vec<Vec<u32>> = encoded.iter().map(|ids| ids[common..].to_vec()).collect();
        let scores = if self.shared_prefix {
            let batch = self.batch;
            self.cache()?.score(&continuations, batch)
        } else {
            let mut scores = Vec::with_capacity(continuations.len());
            for continuation in &continuations {
                let ids: Vec<u32> = self.prompt.iter().chain(&first[..common]).copied().collect();
                scores.extend(Prefix::new(self.runner, &ids)?.score(std::slice::from_ref(continuation), 1));
            }
            scores
        };
        self.usage.scored_tokens += continuations.iter().map(Vec::len).sum::<usize>();
        // Per-byte scores divide by the text the scored tokens spell: the tokens every option
        // shares are forced, in no option's score.
        let bytes = continuations.iter().map(|ids| spelled_bytes(self.tokenizer, ids)).collect::<Result<_>>()?;
        let choice = Choice { options: options.to_vec(), logprob: scores.iter().map(|s| s.logprob).collect(), bytes };
        Ok((choice, continuations))
    }

    /// Scores `shown` (labels or rule ids) as the next value of the trained answer after
    /// `so_far`; each is followed by `","`, as every value but the last is in the answer, so
    /// that the option ends where the tokenizer splits.
    fn decide(&mut self, so_far: &str, shown: &[String]) -> Result<(Choice, Vec<Vec<u32>>)> {
        let options: Vec<String> = shown.iter().map(|value| format!("{value}\",\"")).collect();
        let (mut choice, continuations) = self.score(so_far, &options)?;
        choice.options = shown.to_vec();
        Ok((choice, continuations))
    }

    /// Makes the answer so far `answer`: the cache grows when it extends what it holds, and is
    /// dropped (to be rebuilt from the prompt) when a longer text tokenized differently.
    fn force(&mut self, answer: &[u32]) {
        if answer.starts_with(&self.committed) {
            if let Some(prefix) = &mut self.prefix {
                prefix.extend(&answer[self.committed.len()..]);
            }
        } else {
            self.prefix = None;
        }
        self.committed = answer.to_vec();
    }

    /// Commits the tokens of the option chosen.
    fn commit(&mut self, continuation: &[u32]) {
        let mut answer = self.committed.clone();
        answer.extend_from_slice(continuation);
        self.force(&answer);
    }

    /// Generates the rest of the answer.
    fn generate(&mut self, options: &GenerateOptions) -> Result<String> {
        let tokenizer = self.tokenizer;
        let generation = self.cache()?.clone().generate(tokenizer, options, |_| {})?;
        self.usage.generated_tokens += generation.ids.len();
        Ok(generation.text)
    }
}

impl Assistant {
    pub fn new(model: Model, catalog: &Catalog, options: AssistOptions) -> Self {
        Self::with_runner(Box::new(model.transformer), model.tokenizer, catalog, options)
    }

    /// An assistant whose decoder calls go through `runner` (a server's batcher).
    pub fn with_runner(
        runner: Box<dyn Runner + Send>,
        tokenizer: Tokenizer,
        catalog: &Catalog,
        options: AssistOptions,
    ) -> Self {
        let without_parameters =
            catalog.rules.iter().filter(|rule| rule.parameters.is_empty()).map(|rule| rule.id.clone()).collect();
        Self { runner, tokenizer, known: Known::new(catalog), without_parameters, options }
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    pub fn runner(&self) -> &dyn Runner {
        self.runner.as_ref()
    }

    pub fn options(&self) -> &AssistOptions {
        &self.options
    }

    pub fn set_options(&mut self, options: AssistOptions) {
        self.options = options;
    }

    /// The model's answer to `prompt`, checked.
    pub fn answer(&self, prompt: &Prompt) -> Result<Response> {
        let started = Instant::now();
        let mut answering = Answering::new(self, prompt)?;
        let (text, choice) = match prompt.task {
            Task::Rank => self.rank(prompt, &mut answering)?,
            Task::Rewrite => self.choose(prompt, &mut answering)?,
            Task::Explain => (self.explain(&mut answering)?, None),
        };
        let checked = check(prompt, &text, &self.known);
        let mut usage = answering.usage;
        usage.seconds = started.elapsed().as_secs_f64();
        Ok(Response { answer: checked.answer, text, problems: checked.problems, choice, usage })
    }

    /// The scores of the first decision alone (rank: the first candidate; rewrite: the rule),
    /// nothing generated: what a confidence temperature is fitted on.
    pub fn first_choice(&self, prompt: &Prompt) -> Result<Option<Choice>> {
        let mut answering = Answering::new(self, prompt)?;
        let choice = match prompt.task {
            Task::Rank => {
                let labels: Vec<String> = prompt.input.candidates.iter().map(|c| c.label.clone()).collect();
                answering.decide(&rank_prefix(&[]), &labels)?.0
            }
            Task::Rewrite => answering.decide(RULE_PREFIX, &prompt.input.applicable_rules)?.0,
            Task::Explain => return Ok(None),
        };
        Ok(Some(choice))
    }

    /// The candidates' labels, best first: at each position the remaining labels are scored as
    /// the next one of the trained `{"order":[…]}` and the best is taken (greedy over the exact
    /// chain-rule probability of the order).
    fn rank(&self, prompt: &Prompt, answering: &mut Answering<'_>) -> Result<(String, Option<Choice>)> {
        let mut remaining: Vec<String> = prompt.input.candidates.iter().map(|c| c.label.clone()).collect();
        if remaining.is_empty() {
            return Err(Error::NothingToChoose("candidates"));
        }
        let mut order: Vec<String> = Vec::new();
        let mut first = None;
        while remaining.len() > 1 {
            let (choice, continuations) = answering.decide(&rank_prefix(&order), &remaining)?;
            let best = choice.best(self.options.scoring);
            answering.commit(&continuations[best]);
            order.push(remaining.remove(best));
            first.get_or_insert(choice);
        }
        order.extend(remaining);
        let text = Answer::Rank(RankAnswer { order, rationale: String::new() }).to_json();
        Ok((text, first))
    }

    /// The rule, scored among the applicable ones as the trained `{"rule_id":…`, then its
    /// parameters, generated.
    fn choose(&self, prompt: &Prompt, answering: &mut Answering<'_>) -> Result<(String, Option<Choice>)> {
        let rules = &prompt.input.applicable_rules;
        if rules.is_empty() {
            return Err(Error::NothingToChoose("rules"));
        }
        let (choice, continuations) = answering.decide(RULE_PREFIX, rules)?;
        let best = choice.best(self.options.scoring);
        if self.without_parameters.contains(&rules[best]) {
            // Nothing to generate: the format's answer for a rule without parameters.
            return Ok((format!("{RULE_PREFIX}{}\",\"parameters\":{{}}}}", rules[best]), Some(choice)));
        }
        answering.commit(&continuations[best]);
        // The key is the format's, the values the model's: `"parameters":{"` is forced (it ends
        // where the tokenizer splits, before the first key's letters), and the parameters are a
        // flat object, so generation ends where the answer closes.
        let so_far = format!("{RULE_PREFIX}{}\",\"parameters\":{{\"", rules[best]);
        answering.force(&self.tokenizer.encode(&so_far)?);
        let options = generation(self.options.max_parameter_tokens, vec!["}}".into()]);
        let parameters = answering.generate(&options)?;
        Ok((format!("{so_far}{parameters}}}}}"), Some(choice)))
    }

    /// An explanation that is safe to show: one whose text cites an unknown code or holds a
    /// Dockerfile instruction is generated once more, greedily, from the text before the first
    /// offense with the token that began it blocked; what is still wrong is then removed from
    /// the answer. The flag says whether anything was removed.
    pub fn explain_clean(&self, prompt: &Prompt) -> Result<(Response, bool)> {
        let mut response = self.answer(prompt)?;
        let unsafe_problem =
            |r: &Response| r.problems.iter().any(|p| matches!(p, Problem::Instruction(_) | Problem::UnknownCode(_)));
        if !unsafe_problem(&response) {
            return Ok((response, false));
        }
        if let Some(at) = first_offense(&response.text, &self.known) {
            let started = Instant::now();
            let kept = &response.text[..at];
            let kept_ids = self.tokenizer.encode(kept)?;
            let all_ids = self.tokenizer.encode(&response.text)?;
            let blocked = match all_ids.strip_prefix(kept_ids.as_slice()) {
                Some([next, ..]) => *next,
                _ => self.tokenizer.encode(&response.text[at..])?.first().copied().unwrap_or_default(),
            };
            let mut answering = Answering::new(self, prompt)?;
            answering.force(&kept_ids);
            let mut options = generation(self.options.max_explain_tokens, Vec::new());
            options.stop_at_json_end = true;
            options.ban_first = vec![blocked];
            let text = format!("{kept}{}", answering.generate(&options)?);
            let checked = check(prompt, &text, &self.known);
            let mut usage = answering.usage;
            usage.generated_tokens += response.usage.generated_tokens;
            usage.seconds = response.usage.seconds + started.elapsed().as_secs_f64();
            response = Response { answer: checked.answer, text, problems: checked.problems, choice: None, usage };
            if !unsafe_problem(&response) {
                return Ok((response, false));
            }
        }
        let filtered = match &response.answer {
            Some(Answer::Explain(answer)) => answer.without_offenses(&self.known),
            _ => None,
        };
        if let Some(clean) = filtered {
            let text = Answer::Explain(clean).to_json();
            let checked = check(prompt, &text, &self.known);
            response = Response { answer: checked.answer, text, problems: checked.problems, ..response };
        } else {
            // Nothing readable to keep: the text goes, the problems stay.
            response.answer = None;
            response.text.clear();
        }
        Ok((response, true))
    }

    fn explain(&self, answering: &mut Answering<'_>) -> Result<String> {
        let mut options = generation(self.options.max_explain_tokens, Vec::new());
        options.stop_at_json_end = true;
        answering.generate(&options)
    }
}

/// Greedy generation of at most `max_tokens`, ending at the end of the turn or a stop string.
fn generation(max_tokens: usize, stop: Vec<String>) -> GenerateOptions {
    GenerateOptions { max_tokens, stop, ..GenerateOptions::default() }
}

/// Bytes of the text `ids` spell.
fn spelled_bytes(tokenizer: &Tokenizer, ids: &[u32]) -> Result<usize> {
    Ok(tokenizer.decode(ids)?.len())
}

/// The trained rewrite answer up to its rule id.
const RULE_PREFIX: &str = "{\"rule_id\":\"";

/// `{"order":["A","B","` : the trained answer up to the next label.
fn rank_prefix(order: &[String]) -> String {
    let mut text = String::from("{\"order\":[\"");
    for label in order {
        text.push_str(label);
        text.push_str("\",\"");
    }
    text
}
