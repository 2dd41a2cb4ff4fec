//! Training examples: split rows → the base model's chat template → token ids, with the
//! position where the completion starts (the loss covers the completion only); batches grouped
//! by length instead of padded to the maximum; every row that cannot be used is a reject with a
//! reason.

use std::collections::BTreeMap;
use std::path::Path;

use codi_dataset::records::PairRecord;
use codi_model::{Message, SplitMix64, Tokenizer};
use serde::Serialize;

use crate::config::Style;
use crate::error::{Error, Result};

/// Batches are sorted by length within windows of this many batches, as the Hugging Face
/// trainer's `group_by_length` does: little padding, yet a shuffled order.
const MEGABATCH: usize = 50;

/// One tokenized example: the loss covers `ids[completion_start..]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    pub id: String,
    pub ids: Vec<u32>,
    pub completion_start: usize,
}

impl Example {
    /// Tokens the loss is computed on.
    pub fn label_count(&self) -> usize {
        self.ids.len() - self.completion_start.max(1)
    }
}

/// A split row that cannot be trained on, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedRow {
    pub id: String,
    pub reason: String,
    pub detail: String,
}

/// What reading a split did: counts reconcile (`rows = kept + filtered + rejected`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DataStats {
    pub rows: usize,
    pub kept: usize,
    /// Rows of tasks the configuration does not train on.
    pub filtered_by_task: usize,
    /// Kept rows cut to `max_seq_length` (their completion lost its tail).
    pub truncated: usize,
    pub rejected: Vec<RejectedRow>,
    pub tokens: usize,
    pub label_tokens: usize,
    pub max_length: usize,
    pub by_task: BTreeMap<String, usize>,
}

#[derive(Debug, Clone, Default)]
pub struct Dataset {
    pub examples: Vec<Example>,
    pub stats: DataStats,
}

/// How split rows become examples.
#[derive(Debug, Clone)]
pub struct Encoding<'t> {
    pub tokenizer: &'t Tokenizer,
    pub style: Style,
    pub tasks: &'t [String],
    pub max_seq_length: usize,
}

impl Dataset {
    /// Reads and tokenizes a split (a pairs Parquet file).
    pub fn load(path: &Path, encoding: &Encoding<'_>) -> Result<Self> {
        if !path.is_file() {
            return Err(Error::Data {
                path: path.to_owned(),
                message: "no such split (run `make data-prepare` first)".into(),
            });
        }
        let rows: Vec<PairRecord> = codi_dataset::table::read_all(path)?;
        Ok(Self::from_rows(&rows, encoding))
    }

    pub fn from_rows(rows: &[PairRecord], encoding: &Encoding<'_>) -> Self {
        let mut stats = DataStats { rows: rows.len(), ..DataStats::default() };
        let mut examples = Vec::new();
        for row in rows {
            if !encoding.tasks.contains(&row.task) {
                stats.filtered_by_task += 1;
                continue;
            }
            match encoding.encode(row) {
                Ok(mut example) => {
                    if example.ids.len() > encoding.max_seq_length {
                        example.ids.truncate(encoding.max_seq_length);
                        if example.completion_start >= example.ids.len() {
                            let detail = format!("the prompt alone has {} tokens", example.completion_start);
                            stats.rejected.push(reject(row, "prompt-exceeds-max-seq-length", detail));
                            continue;
                        }
                        stats.truncated += 1;
                    }
                    *stats.by_task.entry(row.task.clone()).or_default() += 1;
                    stats.tokens += example.ids.len();
                    stats.label_tokens += example.label_count();
                    stats.max_length = stats.max_length.max(example.ids.len());
                    examples.push(example);
                }
                Err((reason, detail)) => stats.rejected.push(reject(row, reason, detail)),
            }
        }
        stats.kept = examples.len();
        Self { examples, stats }
    }

    /// Synthetic examples (the training benchmark): loss on every token.
    pub fn from_examples(examples: Vec<Example>) -> Self {
        let stats = DataStats {
            rows: examples.len(),
            kept: examples.len(),
            tokens: examples.iter().map(|e| e.ids.len()).sum(),
            label_tokens: examples.iter().map(Example::label_count).sum(),
            max_length: examples.iter().map(|e| e.ids.len()).max().unwrap_or(0),
            ..DataStats::default()
        };
        Self { examples, stats }
    }

    pub fn batches_per_epoch(&self, batch_size: usize) -> usize {
        self.examples.len().div_ceil(batch_size)
    }

    /// The batches of one epoch: a seeded shuffle, then length-sorted windows of
    /// [`MEGABATCH`] batches. A function of `(seed, epoch)` only, so a resumed run sees the
    /// same order.
    pub fn epoch_batches(&self, batch_size: usize, seed: u64, epoch: usize) -> Vec<Vec<usize>> {
        let mut order: Vec<usize> = (0..self.examples.len()).collect();
        let mut rng = SplitMix64(seed ^ (epoch as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        for i in (1..order.len()).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        let mut batches = Vec::new();
        for window in order.chunks_mut(batch_size * MEGABATCH) {
            window.sort_by_key(|&i| std::cmp::Reverse(self.examples[i].ids.len()));
            batches.extend(window.chunks(batch_size).map(<[usize]>::to_vec));
        }
        batches
    }

    /// Batches for evaluation: longest first, no shuffle.
    pub fn eval_batches(&self, batch_size: usize) -> Vec<Vec<usize>> {
        let mut order: Vec<usize> = (0..self.examples.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(self.examples[i].ids.len()));
        order.chunks(batch_size).map(<[usize]>::to_vec).collect()
    }

    /// Padded inputs and loss targets for the examples `indices`.
    pub fn collate(&self, indices: &[usize], pad_id: u32) -> Batch {
        let seq = indices.iter().map(|&i| self.examples[i].ids.len()).max().unwrap_or(0);
        let mut batch = Batch::default();
        for (row, &i) in indices.iter().enumerate() {
            let example = &self.examples[i];
            let mut ids = example.ids.clone();
            let mut valid = vec![true; ids.len()];
            ids.resize(seq, pad_id);
            valid.resize(seq, false);
            // Position t predicts token t + 1.
            for t in example.completion_start.max(1)..example.ids.len() {
                batch.positions.push(i64::try_from(row * seq + t - 1).expect("a position fits in i64"));
                batch.targets.push(i64::from(example.ids[t]));
            }
            batch.tokens += example.ids.len();
            batch.ids.push(ids);
            batch.valid.push(valid);
        }
        batch
    }
}

/// Model inputs and loss targets of one batch.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub ids: Vec<Vec<u32>>,
    pub valid: Vec<Vec<bool>>,
    /// Flat positions (`row · seq + t`) whose output is scored, and the token each must predict.
    pub positions: Vec<i64>,
    pub targets: Vec<i64>,
    /// Real (unpadded) tokens.
    pub tokens: usize,
}

type Rejection = (&'static str, String);

fn reject(row: &PairRecord, reason: &str, detail: String) -> RejectedRow {
    RejectedRow { id: row.pair_id.clone(), reason: reason.into(), detail }
}

impl Encoding<'_> {
    fn encode(&self, row: &PairRecord) -> Result<Example, Rejection> {
        let (prompt, completion) = match self.style {
            Style::Chat => self.chat(&row.chat)?,
            Style::Instruct => {
                let at =
                    row.instruct.find("<OUTPUT>").ok_or(("no-output-tag", "no `<OUTPUT>` in `instruct`".into()))?;
                let (prompt, completion) = row.instruct.split_at(at + "<OUTPUT>".len());
                (prompt.to_owned(), completion.to_owned())
            }
            Style::Raw => (String::new(), row.raw.clone()),
        };
        let tokenize = |text: &str| self.tokenizer.encode(text).map_err(|e| ("tokenizer", e.to_string()));
        let mut ids = tokenize(&prompt)?;
        let completion_start = ids.len();
        let completion = tokenize(completion.trim_end())?;
        if completion.is_empty() {
            return Err(("empty-completion", "nothing to learn after the prompt".into()));
        }
        ids.extend(completion);
        let eos =
            self.tokenizer.eos_ids().first().copied().ok_or(("no-eos", "the tokenizer has no EOS token".into()))?;
        if ids.last() != Some(&eos) {
            ids.push(eos);
        }
        Ok(Example { id: row.pair_id.clone(), ids, completion_start })
    }

    /// The prompt (every turn before the last, plus the generation prompt) and the completion
    /// (the last, assistant turn as the template renders it).
    fn chat(&self, chat: &str) -> Result<(String, String), Rejection> {
        let messages: Vec<Message> =
            serde_json::from_str(chat).map_err(|e| ("invalid-chat-json", format!("`chat`: {e}")))?;
        match messages.last() {
            Some(last) if last.role == "assistant" => {}
            _ => return Err(("no-assistant-turn", "the last message is not the assistant's".into())),
        }
        let render = |messages: &[Message], generation_prompt: bool| {
            self.tokenizer
                .apply_chat_template(messages, generation_prompt)
                .map_err(|e| ("template-error", e.to_string()))
        };
        let prompt = render(&messages[..messages.len() - 1], true)?;
        let full = render(&messages, false)?;
        let Some(completion) = full.strip_prefix(&prompt) else {
            return Err(("template-not-prefix", "the rendered prompt is not a prefix of the rendered chat".into()));
        };
        Ok((prompt.clone(), completion.to_owned()))
    }
}
