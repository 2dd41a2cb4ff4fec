//! Causal grouped-query attention on the host, for the CPU backend without a gradient graph
//! (prompts and scoring). Beside the tensor path it skips what the mask hides: each block of
//! queries multiplies only the keys it may see (about half of a prompt's products), and the
//! softmax exponentiates only visible scores, in vector lanes. The two products per block are
//! gemm calls (burn's CPU GEMM); blocks run in parallel.

#![expect(
    clippy::inline_always,
    reason = "the row kernels are inlined into `vectorized` closures, to be compiled for their vector unit"
)]
#![allow(unsafe_code, reason = "gemm's entry point takes raw pointers and strides; each call says why it is sound")]

use rayon::prelude::*;

use crate::host::{exp_shifted_sum, lanes_max};
use crate::packed::vectorized;

/// Queries per block: the block's scores (`QUERY_BLOCK × keys`) stay in the L2 cache.
const QUERY_BLOCK: usize = 64;

/// Which keys the new queries of a call may see: key `j` of row `b` is visible to new token `i`
/// when it is not padding (`valid[b][j]`) and comes no later (`j <= past + i`).
#[derive(Debug, Clone)]
pub(crate) struct Visibility {
    /// Per row, every position's flag: the cache's, then the new tokens'.
    pub valid: Vec<Vec<bool>>,
    /// Positions before the new tokens.
    pub past: usize,
}

/// The sizes of one attention call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AttentionShape {
    pub batch: usize,
    pub heads: usize,
    pub kv_heads: usize,
    /// New tokens.
    pub seq: usize,
    pub head_dim: usize,
}

/// `softmax(q·kᵀ/√d + mask)·v` for queries `[batch, heads, seq, d]` and keys and values
/// `[batch, kv_heads, past + seq, d]`; the result is `[batch, heads, seq, d]`. A query that
/// sees no key (padding before any token) gets zeros.
pub(crate) fn causal_attention(
    all_queries: &[f32],
    all_keys: &[f32],
    all_values: &[f32],
    shape: AttentionShape,
    visibility: &Visibility,
) -> Vec<f32> {
    let AttentionShape { batch, heads, kv_heads, seq, head_dim } = shape;
    let total = visibility.past + seq;
    assert_eq!(all_queries.len(), batch * heads * seq * head_dim, "queries");
    assert_eq!(all_keys.len(), batch * kv_heads * total * head_dim, "keys");
    assert_eq!(all_values.len(), all_keys.len(), "values");
    let groups = heads / kv_heads;
    let scale = 1.0 / (head_dim as f32).sqrt();
    // A row without padding sees a prefix of the keys: no flag needs reading.
    let padded: Vec<bool> = visibility.valid.iter().map(|flags| flags.iter().any(|&f| !f)).collect();

    let mut out = vec![0f32; all_queries.len()];
    out.par_chunks_mut(seq * head_dim).enumerate().for_each(|(head_index, head_out)| {
        let (row, head) = (head_index / heads, head_index % heads);
        let kv = (row * kv_heads + head / groups) * total * head_dim;
        let (keys, values) = (&all_keys[kv..kv + total * head_dim], &all_values[kv..kv + total * head_dim]);
        let queries = &all_queries[head_index * seq * head_dim..][..seq * head_dim];
        let valid = padded[row].then_some(visibility.valid[row].as_slice());
        head_out.par_chunks_mut(QUERY_BLOCK * head_dim).enumerate().for_each_init(Vec::new, |scores, (block, out)| {
            let first = block * QUERY_BLOCK;
            let rows = out.len() / head_dim;
            // The keys the block's last query sees; earlier queries see a prefix of them.
            let extent = visibility.past + first + rows;
            scores.resize(rows * extent, 0.0);
            // scores = scale · q_block · keys[..extent]ᵀ
            // SAFETY: every pointer spans the rows × columns its strides describe.
            unsafe {
                gemm::gemm(
                    rows,
                    extent,
                    head_dim,
                    scores.as_mut_ptr(),
                    1,
                    stride(extent),
                    false,
                    queries[first * head_dim..].as_ptr(),
                    1,
                    stride(head_dim),
                    keys.as_ptr(),
                    stride(head_dim),
                    1,
                    0.0,
                    scale,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
            let sums: Vec<f32> = scores
                .chunks_exact_mut(extent)
                .enumerate()
                .map(|(r, row)| {
                    let seen = visibility.past + first + r + 1;
                    vectorized(
                        #[inline(always)]
                        || softmax_numerators(row, seen, valid),
                    )
                })
                .collect();
            // out = numerators · values[..extent], then each row divided by its sum.
            // SAFETY: as above.
            unsafe {
                gemm::gemm(
                    rows,
                    head_dim,
                    extent,
                    out.as_mut_ptr(),
                    1,
                    stride(head_dim),
                    false,
                    scores.as_ptr(),
                    1,
                    stride(extent),
                    values.as_ptr(),
                    1,
                    stride(head_dim),
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
            for (row, sum) in out.chunks_exact_mut(head_dim).zip(sums) {
                let inverse = if sum > 0.0 { 1.0 / sum } else { 0.0 };
                for x in row {
                    *x *= inverse;
                }
            }
        });
    });
    out
}

/// A row stride for gemm.
fn stride(n: usize) -> isize {
    isize::try_from(n).expect("a stride fits in isize")
}

/// Turns a row of scores into softmax numerators `exp(s − max)` over the first `seen` keys
/// that are valid, zero elsewhere, and returns their sum (0 when no key is visible).
#[inline(always)]
fn softmax_numerators(row: &mut [f32], seen: usize, valid: Option<&[bool]>) -> f32 {
    let (visible, hidden) = row.split_at_mut(seen);
    hidden.fill(0.0);
    if let Some(valid) = valid {
        for (score, &v) in visible.iter_mut().zip(valid) {
            if !v {
                *score = f32::NEG_INFINITY;
            }
        }
    }
    let max = lanes_max(visible);
    if max == f32::NEG_INFINITY {
        visible.fill(0.0);
        return 0.0;
    }
    exp_shifted_sum(visible, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Attention in f64, one query at a time, straight from the definition.
    fn reference(q: &[f32], k: &[f32], v: &[f32], shape: AttentionShape, visibility: &Visibility) -> Vec<f32> {
        let AttentionShape { batch, heads, kv_heads, seq, head_dim: d } = shape;
        let total = visibility.past + seq;
        let mut out = vec![0f32; q.len()];
        for b in 0..batch {
            for h in 0..heads {
                let kv = (b * kv_heads + h * kv_heads / heads) * total * d;
                for i in 0..seq {
                    let query = &q[((b * heads + h) * seq + i) * d..][..d];
                    let seen: Vec<usize> = (0..=visibility.past + i).filter(|&j| visibility.valid[b][j]).collect();
                    let scores: Vec<f64> = seen
                        .iter()
                        .map(|&j| {
                            let key = &k[kv + j * d..][..d];
                            query.iter().zip(key).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum::<f64>()
                                / (d as f64).sqrt()
                        })
                        .collect();
                    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                    let sum: f64 = weights.iter().sum();
                    for (&j, w) in seen.iter().zip(&weights) {
                        for (o, &x) in out[((b * heads + h) * seq + i) * d..][..d].iter_mut().zip(&v[kv + j * d..][..d])
                        {
                            *o += (w / sum * f64::from(x)) as f32;
                        }
                    }
                }
            }
        }
        out
    }

    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = crate::rng::SplitMix64(seed);
        (0..n).map(|_| (rng.next_f64() * 4.0 - 2.0) as f32).collect()
    }

    #[test]
    fn matches_the_definition_across_blocks_with_a_cache_and_padding() {
        // 150 new tokens span three query blocks. With a cache: a row with padded keys at the
        // start and in the middle. Without one: a left-padded row, whose first queries see nothing.
        let shape = AttentionShape { batch: 2, heads: 6, kv_heads: 2, seq: 150, head_dim: 16 };
        for (past, padding) in [(37, vec![0, 1, 2, 80]), (0, vec![0, 1, 2])] {
            let total = past + shape.seq;
            let mut padded_row = vec![true; total];
            for at in padding {
                padded_row[at] = false;
            }
            let visibility = Visibility { valid: vec![vec![true; total], padded_row], past };
            let q = values(shape.batch * shape.heads * shape.seq * shape.head_dim, 1);
            let k = values(shape.batch * shape.kv_heads * total * shape.head_dim, 2);
            let v = values(k.len(), 3);
            let ours = causal_attention(&q, &k, &v, shape, &visibility);
            let expected = reference(&q, &k, &v, shape, &visibility);
            let worst = ours.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(worst < 1e-5, "past {past}: largest difference {worst}");
        }
    }
}
