//! The host's fused matmul (a few input rows against a packed matrix, as in generation): the
//! block dots that multiply Q4_0/Q4_1/Q8_0 codes without decoding them, and the decode-and-dot
//! of the other formats, against an f64 product of the decoded matrix.

mod support;

use codi_model::SplitMix64;
use codi_model::quant::GgmlType;
use support::random_blocks;

#[test]
fn fused_matmul_matches_the_decoded_product_for_every_format() {
    // 40 rows: more than one parallel task of 32 rows; 256 columns: whole K-quant blocks.
    let (rows, cols) = (40, 256);
    for (seed, ty) in [GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q8_0, GgmlType::Q4K, GgmlType::Q5K, GgmlType::Q6K]
        .into_iter()
        .enumerate()
    {
        let packed = random_blocks(ty, rows, cols, 100 + seed as u64);
        let weights = packed.dequantize();
        for m in [1, 3, 8] {
            let x = support::random(&mut SplitMix64(7 + m as u64), m * cols, 1.0);
            let got = packed.matmul_t(&x, m);
            assert_eq!(got.len(), m * rows, "{ty:?}: [m, rows] outputs");
            for (i, input) in x.chunks_exact(cols).enumerate() {
                for (r, row) in weights.chunks_exact(cols).enumerate() {
                    let terms = row.iter().zip(input).map(|(&w, &v)| f64::from(w) * f64::from(v));
                    let (exact, magnitude) = terms.fold((0.0, 0.0), |(s, a), t| (s + t, a + t.abs()));
                    let delta = (f64::from(got[i * rows + r]) - exact).abs();
                    // f32 sums in another order: a few ulps of the terms' total magnitude.
                    assert!(delta <= 1e-5 * magnitude, "{ty:?}, m {m}, input {i}, row {r}: {delta} off {exact}");
                }
            }
        }
    }
}
