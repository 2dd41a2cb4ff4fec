//! What runs the decoder for generation and scoring: one call is a [`Step`] (new tokens after a
//! cache, and what to read out). The transformer runs its steps one by one; a server's batcher
//! runs the steps of concurrent requests together with [`run_steps`], and each gets back what it
//! would have got alone (to float rounding: the linear layers' rows are independent).

use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor, TensorData};

use rayon::prelude::*;

use crate::host::log_softmax_at;
use crate::linear::host_kernels;
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

/// Runs `steps` as one forward: their tokens go through every linear layer together, and each
/// attends over its own cache ([`Transformer::forward_many`]), so each gets back what it would
/// alone. The last positions that `LastLogits` steps read go through the LM head (the largest
/// matrix) together too.
pub fn run_steps(model: &Transformer, mut steps: Vec<Step>) -> Vec<Stepped> {
    let hidden: Vec<Tensor<3>> = if let [step] = steps.as_mut_slice() {
        vec![model.forward(&step.ids, step.valid.as_deref(), &mut step.cache)]
    } else {
        model.forward_many(&mut steps)
    };
    let lasts: Vec<Tensor<3>> = steps
        .iter()
        .zip(&hidden)
        .filter(|(step, _)| step.readout == Readout::LastLogits)
        .flat_map(|(step, hidden)| last_positions(step, hidden))
        .collect();
    let mut last_logits = rows_of(model, lasts).into_iter();
    steps
        .into_iter()
        .zip(hidden)
        .map(|(step, hidden)| {
            let values = match &step.readout {
                Readout::Cache => Vec::new(),
                Readout::LastLogits => last_logits.by_ref().take(hidden.dims()[0]).collect(),
                Readout::Logprobs(targets) => logprobs(model, &hidden, targets),
            };
            Stepped { cache: step.cache, values }
        })
        .collect()
}

/// Each row's hidden state `[1, 1, hidden]` at its last valid position.
fn last_positions(step: &Step, hidden: &Tensor<3>) -> Vec<Tensor<3>> {
    let [rows, width, size] = hidden.dims();
    (0..rows)
        .map(|r| {
            let last = step.valid.as_ref().map_or(width - 1, |v| v[r].iter().rposition(|&x| x).unwrap_or(0));
            hidden.clone().narrow(0, r, 1).narrow(1, last, 1).reshape([1, 1, size])
        })
        .collect()
}

/// The logits of hidden states `[1, 1, hidden]`, in one LM-head call.
fn rows_of(model: &Transformer, lasts: Vec<Tensor<3>>) -> Vec<Vec<f32>> {
    if lasts.is_empty() {
        return Vec::new();
    }
    let rows = lasts.len();
    let logits = model.logits(Tensor::cat(lasts, 0)).into_data().convert::<f32>().try_into_vec::<f32>();
    let logits = logits.expect("f32 logits");
    logits.chunks(logits.len() / rows).map(<[f32]>::to_vec).collect()
}

/// Positions whose logits are computed at once when scoring: a chunk's logits (48 MiB for the
/// default model; and their log-softmax off the host) are all that is held, instead of those of
/// every position of every candidate (hundreds of MiB). Each chunk decodes the packed LM head again, so chunks
/// much smaller than this make scoring slower (64 positions: +15–25% on `codi bench model`).
const LOGPROB_CHUNK: usize = 256;

/// Each row's log-probability of its targets, from its hidden states `[rows, seq, hidden]`: the
/// positions that have a target (padding has none) go through the LM head a chunk at a time.
fn logprobs(model: &Transformer, hidden: &Tensor<3>, targets: &[Vec<u32>]) -> Vec<Vec<f32>> {
    let [rows, width, size] = hidden.dims();
    assert!(targets.iter().all(|t| t.len() <= width), "a row has more targets than positions");
    let device = hidden.device();
    let index = |values: &[i64]| Tensor::<1, Int>::from_data(TensorData::new(values.to_vec(), [values.len()]), &device);
    let position = |r: usize, i: usize| i64::try_from(r * width + i).expect("a position fits in i64");
    let positions: Vec<i64> =
        targets.iter().enumerate().flat_map(|(r, t)| (0..t.len()).map(move |i| position(r, i))).collect();
    let ids: Vec<i64> = targets.iter().flatten().map(|&id| i64::from(id)).collect();
    let flat = hidden.clone().reshape([rows * width, size]);
    let mut picked = Vec::with_capacity(ids.len());
    for (positions, ids) in positions.chunks(LOGPROB_CHUNK).zip(ids.chunks(LOGPROB_CHUNK)) {
        let n = positions.len();
        let states = flat.clone().select(0, index(positions)).reshape([1, n, size]);
        let logits = model.logits(states);
        if host_kernels(&device) {
            // The target's log-probability straight from each row of logits, in lanes.
            let mut logits = logits.into_data().try_into_vec::<f32>().expect("f32 logits");
            let vocab = logits.len() / n;
            let rows = logits.par_chunks_exact_mut(vocab).zip(ids.par_iter());
            picked.par_extend(rows.map(|(row, &id)| log_softmax_at(row, usize::try_from(id).expect("a token id"))));
        } else {
            let chosen = log_softmax(logits, 2).gather(2, index(ids).reshape([1, n, 1]));
            picked.extend(chosen.into_data().convert::<f32>().try_into_vec::<f32>().expect("f32 log-probabilities"));
        }
    }
    let mut picked = picked.into_iter();
    targets.iter().map(|target| picked.by_ref().take(target.len()).collect()).collect()
}
