//! Element-wise host kernels in vector lanes for the CPU backend without a gradient graph: `eˣ`
//! without libm's scalar call, shifted exponentials and their sum (softmax), a row's log-softmax
//! at its target, and the MLP's SwiGLU in one pass.

#![expect(
    clippy::inline_always,
    reason = "the kernels are inlined into `vectorized` closures, to be compiled for their vector unit"
)]

use crate::packed::vectorized;

/// `eˣ` for `x ≤ 0` without branches, so that a loop of it vectorizes: `x = n·ln 2 + r` with
/// `|r| ≤ ln 2 / 2`, Cephes' degree-6 polynomial for `eʳ` (about 1 ulp), and `2ⁿ` built in the
/// exponent bits. Below −87.3 (where `eˣ` leaves f32's normal range) and for −∞ it is 0.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOWEST: f32 = -87.33;
    // 1.5·2²³: adding and subtracting it rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    let clamped = if x < LOWEST { LOWEST } else { x };
    let n = (clamped * std::f32::consts::LOG2_E + ROUND) - ROUND;
    let r = clamped - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let mut p = 1.987_569_1e-4;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 0.166_666_65;
    p = p * r + 0.5;
    let e_r = p * r * r + r + 1.0;
    let two_n = f32::from_bits((n as i32 + 127).cast_unsigned() << 23);
    if x < LOWEST { 0.0 } else { e_r * two_n }
}

/// The largest value, in 16 lanes (−∞ for an empty or fully masked slice).
#[inline(always)]
pub(crate) fn lanes_max(values: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; 16];
    let chunks = values.chunks_exact(16);
    let tail = chunks.remainder().iter().fold(f32::NEG_INFINITY, |m, &x| if x > m { x } else { m });
    for chunk in chunks {
        for i in 0..16 {
            lanes[i] = if chunk[i] > lanes[i] { chunk[i] } else { lanes[i] };
        }
    }
    lanes.iter().fold(tail, |m, &x| if x > m { x } else { m })
}

/// Each value replaced by `e^(x − max)`, in 16 lanes; returns their sum. Softmax numerators
/// (the host attention) and the normalizer of a log-softmax (scoring) both come from here.
#[inline(always)]
pub(crate) fn exp_shifted_sum(values: &mut [f32], max: f32) -> f32 {
    let mut lanes = [0f32; 16];
    let mut chunks = values.chunks_exact_mut(16);
    for chunk in &mut chunks {
        for i in 0..16 {
            chunk[i] = exp(chunk[i] - max);
            lanes[i] += chunk[i];
        }
    }
    let mut tail = 0.0;
    for value in chunks.into_remainder() {
        *value = exp(*value - max);
        tail += *value;
    }
    lanes.iter().sum::<f32>() + tail
}

/// `log softmax(row)[target]`: `row[target] − max − ln Σ e^(x − max)`, without allocating the
/// distribution (the row is overwritten by its exponentials).
pub(crate) fn log_softmax_at(row: &mut [f32], target: usize) -> f32 {
    vectorized(
        #[inline(always)]
        || {
            let max = lanes_max(row);
            let chosen = row[target];
            chosen - max - exp_shifted_sum(row, max).ln()
        },
    )
}

/// `silu(gate)·up` into `gate`: `g·σ(g)·u`, with `σ(g)` from `e^(−|g|)` so that no
/// exponential overflows.
pub(crate) fn swiglu(gate: &mut [f32], up: &[f32]) {
    assert_eq!(gate.len(), up.len(), "gate and up");
    vectorized(
        #[inline(always)]
        || {
            for (g, &u) in gate.iter_mut().zip(up) {
                let e = exp(-g.abs());
                let sigmoid = if *g >= 0.0 { 1.0 / (1.0 + e) } else { e / (1.0 + e) };
                *g = *g * sigmoid * u;
            }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[expect(clippy::float_cmp, reason = "below f32's normal range the result is exactly 0, and e⁰ exactly 1")]
    fn exp_is_within_two_ulps_of_libm_over_its_range() {
        let mut x = -87.0f32;
        while x <= 0.0 {
            let (ours, libm) = (exp(x), x.exp());
            let ulps = (i64::from(ours.to_bits()) - i64::from(libm.to_bits())).abs();
            assert!(ulps <= 2, "exp({x}) = {ours}, libm {libm}: {ulps} ulps");
            x += 0.001_3;
        }
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(-100.0), 0.0);
        assert_eq!(exp(0.0), 1.0);
    }

    #[test]
    fn log_softmax_at_matches_its_definition_in_f64() {
        let row: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.37).sin() * 20.0).collect();
        let max = row.iter().copied().fold(f64::NEG_INFINITY, |m, x| m.max(f64::from(x)));
        let sum: f64 = row.iter().map(|&x| (f64::from(x) - max).exp()).sum();
        for target in [0, 17, 999] {
            let expected = f64::from(row[target]) - max - sum.ln();
            let got = f64::from(log_softmax_at(&mut row.clone(), target));
            assert!((got - expected).abs() < 1e-5, "target {target}: {got} vs {expected}");
        }
    }

    #[test]
    fn swiglu_matches_its_definition_in_f64() {
        let gate: Vec<f32> = (-2000..2000).map(|i| i as f32 * 0.05).chain([-1e4, 1e4, 0.0]).collect();
        let up: Vec<f32> = gate.iter().map(|g| 1.5 - g.sin()).collect();
        let mut ours = gate.clone();
        swiglu(&mut ours, &up);
        for ((&g, &u), &got) in gate.iter().zip(&up).zip(&ours) {
            let (g64, u64) = (f64::from(g), f64::from(u));
            let expected = g64 / (1.0 + (-g64).exp()) * u64;
            assert!((f64::from(got) - expected).abs() <= 1e-6 * expected.abs().max(1.0), "g {g}: {got} vs {expected}");
        }
    }
}
