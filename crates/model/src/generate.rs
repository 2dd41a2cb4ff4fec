//! Text generation with a KV cache (greedy or seeded sampling, stop strings, streaming) and
//! scoring of candidate continuations that share one prompt.

use crate::error::{Error, Result};
use crate::model::{KvCache, Transformer};
use crate::rng::SplitMix64;
use crate::runner::{Readout, Runner, Step};
use crate::tokenizer::Tokenizer;

/// How the next token is chosen. `temperature == 0` is greedy (argmax).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    pub temperature: f32,
    /// Keep the `top_k` most likely tokens (0: all).
    pub top_k: usize,
    /// Keep the smallest set whose probability reaches `top_p` (1: all).
    pub top_p: f32,
    pub seed: u64,
}

impl Sampling {
    pub const GREEDY: Self = Self { temperature: 0.0, top_k: 0, top_p: 1.0, seed: 0 };
}

impl Default for Sampling {
    fn default() -> Self {
        Self::GREEDY
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOptions {
    pub max_tokens: usize,
    pub sampling: Sampling,
    /// Generation ends when the text contains one of these (which is cut off).
    pub stop: Vec<String>,
    /// End at the model's end-of-sequence token.
    pub stop_at_eos: bool,
    /// End once the text is one complete JSON object or array (what follows is cut off), or as
    /// soon as it cannot begin one.
    pub stop_at_json_end: bool,
    /// Tokens the first generated token may not be (a retry steering away from a continuation).
    pub ban_first: Vec<u32>,
    /// Record each generated token's log-probability and this many most likely alternatives
    /// (`None`: none recorded).
    pub logprobs: Option<usize>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            max_tokens: 256,
            sampling: Sampling::GREEDY,
            stop: Vec::new(),
            stop_at_eos: true,
            stop_at_json_end: false,
            ban_first: Vec::new(),
            logprobs: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    Eos,
    Stop,
    Length,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    pub ids: Vec<u32>,
    pub text: String,
    pub finish: Finish,
    /// Per generated token, when asked for: its log-probability and the most likely tokens'.
    pub logprobs: Vec<TokenLogprob>,
}

/// A generated token's log-probability under the model (before sampling's temperature and
/// truncation), and the most likely alternatives at its position.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenLogprob {
    pub logprob: f32,
    pub top: Vec<(u32, f32)>,
}

impl TokenLogprob {
    fn of(logits: &[f32], chosen: u32, top: usize) -> Self {
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let total: f32 = logits.iter().map(|&l| (l - max).exp()).sum();
        let norm = max + total.ln();
        let mut best: Vec<u32> = (0..logits.len() as u32).collect();
        let top = top.min(best.len());
        if top > 0 {
            best.select_nth_unstable_by(top - 1, |&a, &b| logits[b as usize].total_cmp(&logits[a as usize]));
        }
        best.truncate(top);
        best.sort_by(|&a, &b| logits[b as usize].total_cmp(&logits[a as usize]));
        Self {
            logprob: logits[chosen as usize] - norm,
            top: best.into_iter().map(|id| (id, logits[id as usize] - norm)).collect(),
        }
    }
}

/// Generates a continuation of `prompt`; `on_text` receives the text as it becomes final.
pub fn generate(
    runner: &dyn Runner,
    tokenizer: &Tokenizer,
    prompt: &[u32],
    options: &GenerateOptions,
    on_text: impl FnMut(&str),
) -> Result<Generation> {
    Prefix::new(runner, prompt)?.generate(tokenizer, options, on_text)
}

/// The last position's logits of the (single) row, after running `ids` into `cache`.
pub fn last_logits(model: &Transformer, ids: &[Vec<u32>], cache: &mut KvCache) -> Vec<f32> {
    let hidden = model.forward(ids, None, cache);
    let [batch, seq, width] = hidden.dims();
    let last = hidden.narrow(1, seq - 1, 1).reshape([batch, 1, width]);
    model.logits(last).into_data().convert::<f32>().try_into_vec::<f32>().expect("f32 logits")
}

/// Chooses the next token from `logits` (modified in place).
pub fn sample(logits: &mut [f32], sampling: Sampling, rng: &mut SplitMix64) -> u32 {
    if sampling.temperature <= 0.0 {
        return argmax(logits);
    }
    let mut order: Vec<u32> = (0..logits.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| logits[b as usize].total_cmp(&logits[a as usize]));
    if sampling.top_k > 0 {
        order.truncate(sampling.top_k);
    }
    let max = logits[order[0] as usize];
    let mut probs: Vec<f64> =
        order.iter().map(|&i| f64::from((logits[i as usize] - max) / sampling.temperature).exp()).collect();
    let total: f64 = probs.iter().sum();
    let mut cumulative = 0.0;
    let mut keep = probs.len();
    for (n, p) in probs.iter_mut().enumerate() {
        *p /= total;
        cumulative += *p;
        if cumulative >= f64::from(sampling.top_p) {
            keep = n + 1;
            break;
        }
    }
    let kept = &probs[..keep];
    let mut target = rng.next_f64() * kept.iter().sum::<f64>();
    for (n, p) in kept.iter().enumerate() {
        target -= p;
        if target <= 0.0 {
            return order[n];
        }
    }
    order[keep - 1]
}

pub fn argmax(values: &[f32]) -> u32 {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best as u32
}

/// The log-likelihood of one candidate continuation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// Sum of the tokens' log-probabilities (nats).
    pub logprob: f64,
    pub tokens: usize,
}

impl Score {
    pub fn mean(&self) -> f64 {
        if self.tokens == 0 { 0.0 } else { self.logprob / self.tokens as f64 }
    }
}

/// Scores each candidate continuation of `prompt`: the prompt runs once, and its KV cache is
/// shared by every candidate, `batch` candidates at a time.
pub fn score(runner: &dyn Runner, prompt: &[u32], candidates: &[Vec<u32>], batch: usize) -> Result<Vec<Score>> {
    Ok(Prefix::new(runner, prompt)?.score(candidates, batch))
}

/// A prompt run once into a KV cache: candidate continuations are scored from it, it grows by
/// the tokens of the one chosen, and generation continues from it — so a multi-step decision
/// (a ranking, a rule and then its parameters) pays for the prompt once.
#[derive(Debug, Clone)]
pub struct Prefix<'m> {
    runner: &'m dyn Runner,
    /// Every token but the last.
    cache: KvCache,
    /// Not yet run: each continuation starts from it, so that every continuation token is
    /// scored by the same batched path.
    last: u32,
}

impl<'m> Prefix<'m> {
    pub fn new(runner: &'m dyn Runner, ids: &[u32]) -> Result<Self> {
        let Some((&last, shared)) = ids.split_last() else {
            return Err(Error::Invalid("the prompt has no tokens".into()));
        };
        let mut cache = KvCache::default();
        if !shared.is_empty() {
            cache = runner.step(Step { ids: vec![shared.to_vec()], valid: None, cache, readout: Readout::Cache }).cache;
        }
        Ok(Self { runner, cache, last })
    }

    /// Appends `ids` to the prefix.
    pub fn extend(&mut self, ids: &[u32]) {
        let Some((&last, _)) = ids.split_last() else { return };
        let run: Vec<u32> = std::iter::once(self.last).chain(ids[..ids.len() - 1].iter().copied()).collect();
        let cache = std::mem::take(&mut self.cache);
        self.cache = self.runner.step(Step { ids: vec![run], valid: None, cache, readout: Readout::Cache }).cache;
        self.last = last;
    }

    /// The log-likelihood of each candidate continuation, `batch` candidates at a time.
    pub fn score(&self, candidates: &[Vec<u32>], batch: usize) -> Vec<Score> {
        let mut scores = Vec::with_capacity(candidates.len());
        for group in candidates.chunks(batch.max(1)) {
            let inputs: Vec<Vec<u32>> = group
                .iter()
                .map(|c| std::iter::once(self.last).chain(c.iter().copied().take(c.len().saturating_sub(1))).collect())
                .collect();
            let width = inputs.iter().map(Vec::len).max().unwrap_or(1);
            // Right padding: a causal mask keeps it from touching the real positions before it.
            let ids: Vec<Vec<u32>> =
                inputs.iter().map(|c| c.iter().copied().chain(std::iter::repeat(0)).take(width).collect()).collect();
            let valid: Vec<Vec<bool>> = inputs.iter().map(|c| (0..width).map(|i| i < c.len()).collect()).collect();
            let step = Step {
                ids,
                valid: Some(valid),
                cache: self.cache.repeat(group.len()),
                readout: Readout::Logprobs(group.to_vec()),
            };
            let picked = self.runner.step(step).values;
            for (candidate, logprobs) in group.iter().zip(picked) {
                let logprob = logprobs.iter().map(|&p| f64::from(p)).sum();
                scores.push(Score { logprob, tokens: candidate.len() });
            }
        }
        scores
    }

    /// Generates a continuation of the prefix; `on_text` receives the text as it becomes final.
    pub fn generate(
        mut self,
        tokenizer: &Tokenizer,
        options: &GenerateOptions,
        mut on_text: impl FnMut(&str),
    ) -> Result<Generation> {
        let mut rng = SplitMix64(options.sampling.seed);
        let mut logits = self.next_logits(self.last);
        for &banned in &options.ban_first {
            if let Some(logit) = logits.get_mut(banned as usize) {
                *logit = f32::NEG_INFINITY;
            }
        }
        let mut ids = Vec::new();
        let mut emitted = 0;
        let hold_back = options.stop.iter().map(String::len).max().unwrap_or(0);
        let mut finish = Finish::Length;
        let mut text = String::new();
        let mut logprobs = Vec::new();
        while ids.len() < options.max_tokens {
            let raw = options.logprobs.map(|_| logits.clone());
            let next = sample(&mut logits, options.sampling, &mut rng);
            if let (Some(raw), Some(top)) = (raw, options.logprobs) {
                logprobs.push(TokenLogprob::of(&raw, next, top));
            }
            if options.stop_at_eos && tokenizer.eos_ids().contains(&next) {
                finish = Finish::Eos;
                break;
            }
            ids.push(next);
            text = tokenizer.decode(&ids)?;
            let stop = options.stop.iter().filter_map(|s| text.find(s.as_str())).min();
            let json_end = if options.stop_at_json_end { json_end(&text) } else { None };
            if let Some(at) = stop.into_iter().chain(json_end).min() {
                text.truncate(at);
                finish = Finish::Stop;
                break;
            }
            // Text is final once it is not a partial UTF-8 sequence and can no longer start a
            // stop string.
            if !text.ends_with('\u{FFFD}') {
                let mut safe = text.len().saturating_sub(hold_back);
                while !text.is_char_boundary(safe) {
                    safe -= 1;
                }
                if safe > emitted {
                    on_text(&text[emitted..safe]);
                    emitted = safe;
                }
            }
            if ids.len() < options.max_tokens {
                logits = self.next_logits(next);
            }
        }
        if text.len() > emitted {
            on_text(&text[emitted..]);
        }
        logprobs.truncate(ids.len());
        Ok(Generation { ids, text, finish, logprobs })
    }

    /// Runs `token` into the cache and returns the logits after it.
    fn next_logits(&mut self, token: u32) -> Vec<f32> {
        let cache = std::mem::take(&mut self.cache);
        let stepped =
            self.runner.step(Step { ids: vec![vec![token]], valid: None, cache, readout: Readout::LastLogits });
        self.cache = stepped.cache;
        stepped.values.into_iter().next().unwrap_or_default()
    }
}

/// Where the JSON object or array that `text` starts with ends (after its closing bracket), once
/// it has closed; the end of `text` when it starts with something else.
fn json_end(text: &str) -> Option<usize> {
    let start = text.len() - text.trim_start().len();
    if start == text.len() {
        return None;
    }
    if !text[start..].starts_with(['{', '[']) {
        return Some(text.len());
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, c) in text.char_indices().skip_while(|(i, _)| *i < start) {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '{' | '[' if !in_string => depth += 1,
            '}' | ']' if !in_string => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::json_end;

    #[test]
    fn the_end_of_a_json_value_is_found_outside_strings() {
        assert_eq!(json_end(r#"{"a":"}"}"#), Some(9));
        assert_eq!(json_end(r#" {"a":["x\"]"]} and more"#), Some(15));
        assert_eq!(json_end(r#"{"a":1"#), None);
        assert_eq!(json_end("not json {}"), Some(11), "no JSON can follow");
        assert_eq!(json_end("  "), None);
    }
}
