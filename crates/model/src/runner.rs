//! What runs the decoder for generation and scoring: one call is a [`Step`] (new tokens after a
//! cache, and what to read out). The transformer runs its steps one by one; a server's batcher
//! runs the steps of concurrent requests together with [`run_steps`], and each gets back what it
//! would have got alone (to float rounding: padding only adds exact zeros).

use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor, TensorData};

use crate::model::{KvCache, Transformer};

/// What a step reads out after its forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readout {
    /// Only the cache (a prompt run in).
    Cache,
    /// Each row's logits after its last valid position.
    LastLogits,
    /// Each row's log-probability of a target token at each position (`targets[row][i]` after
    /// position `i`; rows may be shorter than the step).
    Logprobs(Vec<Vec<u32>>),
}

/// New tokens after a cache.
#[derive(Debug, Clone)]
pub struct Step {
    /// Rows of equal length.
    pub ids: Vec<Vec<u32>>,
    /// `valid[row][i]` false marks padding (`None`: no padding).
    pub valid: Option<Vec<Vec<bool>>>,
    /// The rows' cache (empty, or one row per row of `ids`).
    pub cache: KvCache,
    pub readout: Readout,
}

/// A step's result: the cache grown by its tokens, and per row what was read out.
#[derive(Debug, Clone)]
pub struct Stepped {
    pub cache: KvCache,
    pub values: Vec<Vec<f32>>,
}

/// Runs steps on the decoder. Implemented by [`Transformer`] (each step on its own) and by a
/// server's batcher (concurrent steps together).
pub trait Runner: Sync + std::fmt::Debug {
    fn step(&self, step: Step) -> Stepped;
}

impl Runner for Transformer {
    fn step(&self, step: Step) -> Stepped {
        run_steps(self, vec![step]).pop().expect("one result per step")
    }
}

/// Runs `steps` as one forward: their rows stacked, their caches padded to the longest, their
/// tokens to the widest, with the padding masked. The steps must all have empty caches or all
/// filled ones.
pub fn run_steps(model: &Transformer, steps: Vec<Step>) -> Vec<Stepped> {
    if steps.is_empty() {
        return Vec::new();
    }
    let width = steps.iter().flat_map(|s| s.ids.iter().map(Vec::len)).max().unwrap_or(0);
    let mut parts = Vec::with_capacity(steps.len());
    let mut ids = Vec::new();
    let mut valid = Vec::new();
    let mut caches = Vec::with_capacity(steps.len());
    let mut readouts = Vec::with_capacity(steps.len());
    let mut lasts = Vec::new();
    let padded = steps.len() > 1 || steps.iter().any(|s| s.valid.is_some());
    for step in steps {
        let seq = step.ids.first().map_or(0, Vec::len);
        parts.push((step.ids.len(), step.cache.len(), seq));
        for (row, tokens) in step.ids.iter().enumerate() {
            let flags: Vec<bool> =
                (0..width).map(|i| i < seq && step.valid.as_ref().is_none_or(|v| v[row][i])).collect();
            lasts.push(flags.iter().rposition(|&v| v).unwrap_or(0));
            valid.push(flags);
            ids.push(tokens.iter().copied().chain(std::iter::repeat(0)).take(width).collect());
        }
        caches.push(step.cache);
        readouts.push(step.readout);
    }
    let mut cache = if caches.len() == 1 { caches.pop().expect("one cache") } else { KvCache::stack(caches) };
    let hidden = model.forward(&ids, padded.then_some(valid.as_slice()), &mut cache);
    let caches = if parts.len() == 1 && parts[0].2 == width { vec![cache] } else { cache.split(&parts) };
    let needs_logits = readouts.iter().any(|r| *r != Readout::Cache);
    let rows_values = if needs_logits { read(model, &hidden, &readouts, &parts, &lasts) } else { Vec::new() };
    let mut row = 0;
    caches
        .into_iter()
        .zip(&parts)
        .map(|(cache, &(rows, _, _))| {
            let values = if rows_values.is_empty() { Vec::new() } else { rows_values[row..row + rows].to_vec() };
            row += rows;
            Stepped { cache, values }
        })
        .collect()
}

/// Each row's readout from the final hidden states `[rows, width, hidden]`.
fn read(
    model: &Transformer,
    hidden: &Tensor<3>,
    readouts: &[Readout],
    parts: &[(usize, usize, usize)],
    lasts: &[usize],
) -> Vec<Vec<f32>> {
    let [rows, width, size] = hidden.dims();
    let device = hidden.device();
    let mut out = vec![Vec::new(); rows];
    let mut row = 0;
    for (readout, &(count, _, _)) in readouts.iter().zip(parts) {
        let mine = hidden.clone().narrow(0, row, count);
        match readout {
            Readout::Cache => {}
            Readout::LastLogits => {
                for r in 0..count {
                    let last = mine.clone().narrow(0, r, 1).narrow(1, lasts[row + r], 1).reshape([1, 1, size]);
                    out[row + r] =
                        model.logits(last).into_data().convert::<f32>().try_into_vec::<f32>().expect("f32 logits");
                }
            }
            Readout::Logprobs(targets) => {
                let flat: Vec<i64> = targets
                    .iter()
                    .flat_map(|t| (0..width).map(move |i| t.get(i).map_or(0, |&id| i64::from(id))))
                    .collect();
                let logprobs = log_softmax(model.logits(mine), 2);
                let targets_tensor = Tensor::<3, Int>::from_data(TensorData::new(flat, [count, width, 1]), &device);
                let picked = logprobs
                    .gather(2, targets_tensor)
                    .into_data()
                    .convert::<f32>()
                    .try_into_vec::<f32>()
                    .expect("f32 log-probabilities");
                for (r, target) in targets.iter().enumerate() {
                    out[row + r] = picked[r * width..r * width + target.len()].to_vec();
                }
            }
        }
        row += count;
    }
    out
}
