//! The statistics of the eval suite: bootstrap intervals, paired tests, ranking, overlap and
//! calibration metrics. Pure functions on slices; the only randomness is a seeded SplitMix64, so
//! a report recomputed from the same run store gives the same numbers.

use std::collections::{HashMap, HashSet};

use codi_model::SplitMix64;
use serde::{Deserialize, Serialize};

/// A value with its 95% interval and the number of examples behind it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub value: f64,
    pub ci95: [f64; 2],
    pub n: usize,
}

/// Bootstrap settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bootstrap {
    pub resamples: usize,
    pub seed: u64,
}

impl Bootstrap {
    /// Mean with a percentile-bootstrap 95% interval; empty gives NaN with n 0, zero resamples a NaN interval.
    pub fn mean(&self, values: &[f64]) -> Estimate {
        let [ci95] = self.intervals([values]);
        Estimate { value: mean(values), ci95, n: values.len() }
    }

    /// Paired (win rate, mean a - b), intervals from shared resamples; ties win half; panics on unequal lengths.
    pub fn paired(&self, a: &[f64], b: &[f64]) -> (Estimate, Estimate) {
        assert_eq!(a.len(), b.len(), "paired scores must cover the same examples");
        let wins: Vec<f64> = a
            .iter()
            .zip(b)
            .map(|(x, y)| {
                if x > y {
                    1.0
                } else if x < y {
                    0.0
                } else {
                    0.5
                }
            })
            .collect();
        let diffs: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
        let [win_ci, diff_ci] = self.intervals([&wins, &diffs]);
        let n = a.len();
        (Estimate { value: mean(&wins), ci95: win_ci, n }, Estimate { value: mean(&diffs), ci95: diff_ci, n })
    }

    /// The 2.5th and 97.5th percentiles of the resampled means of each column; every resample
    /// draws one set of example indices shared by all columns, which is what makes it paired.
    fn intervals<const K: usize>(&self, columns: [&[f64]; K]) -> [[f64; 2]; K] {
        let n = columns.first().map_or(0, |c| c.len());
        if n == 0 {
            return [[f64::NAN; 2]; K];
        }
        let mut rng = SplitMix64(self.seed);
        let mut means: [Vec<f64>; K] = std::array::from_fn(|_| Vec::with_capacity(self.resamples));
        let mut sums = [0.0; K];
        for _ in 0..self.resamples {
            sums.fill(0.0);
            for _ in 0..n {
                let i = index(&mut rng, n);
                for (sum, column) in sums.iter_mut().zip(&columns) {
                    *sum += column[i];
                }
            }
            for (column_means, sum) in means.iter_mut().zip(&sums) {
                column_means.push(sum / n as f64);
            }
        }
        means.map(|m| [quantile(&m, 0.025), quantile(&m, 0.975)])
    }
}

/// Uniform index in `0..n` by multiply-shift (Lemire), free of modulo bias for any realistic `n`.
fn index(rng: &mut SplitMix64, n: usize) -> usize {
    ((u128::from(rng.next_u64()) * n as u128) >> 64) as usize
}

/// Arithmetic mean; NaN when empty.
fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// Exact two-sided McNemar p-value (doubled binomial tail of the discordant pairs, capped at 1); 1.0 with none.
pub fn mcnemar_exact(only_a: usize, only_b: usize) -> f64 {
    let n = only_a + only_b;
    if n == 0 {
        return 1.0;
    }
    let k = only_a.min(only_b);
    // ln C(n, i) by the recurrence C(n, i+1) = C(n, i) (n-i)/(i+1): no factorial overflows.
    let mut log_terms = Vec::with_capacity(k + 1);
    let mut log_c = 0.0;
    log_terms.push(log_c);
    for i in 0..k {
        log_c += ((n - i) as f64 / (i + 1) as f64).ln();
        log_terms.push(log_c);
    }
    // k <= n/2, so the terms grow with i and the last one is the largest.
    let max = log_c;
    let log_tail =
        max + log_terms.iter().map(|t| (t - max).exp()).sum::<f64>().ln() - n as f64 * std::f64::consts::LN_2;
    (2.0 * log_tail.exp()).min(1.0)
}

/// Kendall's tau-a of the predicted against the gold order over the items in both; 1.0 with fewer than two such.
pub fn kendall_tau(predicted: &[String], gold: &[String]) -> f64 {
    let predicted_rank = first_positions(predicted);
    // Common items in gold order, each with its predicted position.
    let mut seen = HashSet::new();
    let common: Vec<usize> = gold
        .iter()
        .filter(|item| seen.insert(item.as_str()))
        .filter_map(|item| predicted_rank.get(item.as_str()).copied())
        .collect();
    let m = common.len();
    if m < 2 {
        return 1.0;
    }
    // Gold order is the vector order, so a pair is concordant when the predicted positions rise.
    let mut score = 0i64;
    for i in 0..m {
        for j in i + 1..m {
            score += if common[i] < common[j] { 1 } else { -1 };
        }
    }
    score as f64 / (m * (m - 1) / 2) as f64
}

/// Position of each item's first occurrence.
fn first_positions(items: &[String]) -> HashMap<&str, usize> {
    let mut positions = HashMap::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        positions.entry(item.as_str()).or_insert(i);
    }
    positions
}

/// Reciprocal rank 1/(1+position) of `gold[0]` in `predicted`; 0 when absent or gold is empty.
pub fn reciprocal_rank(predicted: &[String], gold: &[String]) -> f64 {
    gold.first().and_then(|best| predicted.iter().position(|p| p == best)).map_or(0.0, |pos| 1.0 / (1 + pos) as f64)
}

/// Set precision, recall and F1 of predicted against gold codes; both empty (1, 1, 1), either alone (0, 0, 0).
pub fn precision_recall_f1(predicted: &[String], gold: &[String]) -> (f64, f64, f64) {
    let predicted: HashSet<&str> = predicted.iter().map(String::as_str).collect();
    let gold: HashSet<&str> = gold.iter().map(String::as_str).collect();
    match (predicted.is_empty(), gold.is_empty()) {
        (true, true) => return (1.0, 1.0, 1.0),
        (true, false) | (false, true) => return (0.0, 0.0, 0.0),
        (false, false) => {}
    }
    let hits = predicted.intersection(&gold).count() as f64;
    let precision = hits / predicted.len() as f64;
    let recall = hits / gold.len() as f64;
    (precision, recall, f1(precision, recall))
}

/// Harmonic mean of precision and recall; 0 when both are 0.
fn f1(precision: f64, recall: f64) -> f64 {
    if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) }
}

/// ROUGE-L F1 on lower-cased alphanumeric word tokens; both without tokens 1.0, only one without 0.0.
pub fn rouge_l(candidate: &str, reference: &str) -> f64 {
    let candidate = words(candidate);
    let reference = words(reference);
    match (candidate.is_empty(), reference.is_empty()) {
        (true, true) => return 1.0,
        (true, false) | (false, true) => return 0.0,
        (false, false) => {}
    }
    let lcs = lcs_len(&candidate, &reference) as f64;
    f1(lcs / candidate.len() as f64, lcs / reference.len() as f64)
}

/// Lower-cased runs of alphanumeric characters ("DL3025" stays one token).
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

/// Length of the longest common subsequence, two DP rows.
fn lcs_len(a: &[String], b: &[String]) -> usize {
    let mut prev = vec![0; b.len() + 1];
    let mut row = vec![0; b.len() + 1];
    for x in a {
        for (j, y) in b.iter().enumerate() {
            row[j + 1] = if x == y { prev[j] + 1 } else { row[j].max(prev[j + 1]) };
        }
        std::mem::swap(&mut prev, &mut row);
    }
    prev[b.len()]
}

/// Softmax of `scores / temperature`: the one definition, the assistant's confidence.
pub use codi_assist::softmax;

/// Log-probability of option `gold` under softmax(scores / temperature).
fn log_softmax_at(scores: &[f64], gold: usize, temperature: f64) -> f64 {
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let log_total = scores.iter().map(|s| ((s - max) / temperature).exp()).sum::<f64>().ln();
    (scores[gold] - max) / temperature - log_total
}

/// Temperature in [0.05, 20] minimizing the mean gold NLL; skips <2 options or bad gold, none left → 1.0.
pub fn fit_temperature(examples: &[(Vec<f64>, usize)]) -> f64 {
    const GRID: usize = 60;
    let usable: Vec<(&[f64], usize)> =
        examples.iter().filter(|(s, g)| s.len() >= 2 && *g < s.len()).map(|(s, g)| (s.as_slice(), *g)).collect();
    if usable.is_empty() {
        return 1.0;
    }
    // Searched in log t: the NLL is far closer to symmetric there than in t.
    let nll = |log_t: f64| {
        let t = log_t.exp();
        -usable.iter().map(|(s, g)| log_softmax_at(s, *g, t)).sum::<f64>() / usable.len() as f64
    };
    let (lo, hi) = (0.05f64.ln(), 20f64.ln());
    let grid: Vec<f64> = (0..GRID).map(|i| lo + (hi - lo) * i as f64 / (GRID - 1) as f64).collect();
    let values: Vec<f64> = grid.iter().map(|&x| nll(x)).collect();
    let best = values.iter().enumerate().min_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i);
    // Golden section over the best grid point's neighbours (clamped to the range ends).
    let inv_phi = (5f64.sqrt() - 1.0) / 2.0;
    let (mut a, mut b) = (grid[best.saturating_sub(1)], grid[(best + 1).min(GRID - 1)]);
    let mut c = b - inv_phi * (b - a);
    let mut d = a + inv_phi * (b - a);
    let (mut fc, mut fd) = (nll(c), nll(d));
    while b - a > 1e-6 {
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - inv_phi * (b - a);
            fc = nll(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + inv_phi * (b - a);
            fd = nll(d);
        }
    }
    // The refinement never returns worse than the grid's best (a flat or odd NLL).
    let refined = a.midpoint(b);
    if nll(refined) <= values[best] { refined.exp() } else { grid[best].exp() }
}

/// One bin of a reliability diagram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    pub lower: f64,
    pub upper: f64,
    pub count: usize,
    pub confidence: f64,
    pub accuracy: f64,
}

/// Equal-width reliability bins over [0, 1] (1.0 in the last; empty bins all 0); panics on 0 bins or unequal lengths.
pub fn calibration_bins(confidence: &[f64], correct: &[bool], bins: usize) -> Vec<CalibrationBin> {
    assert!(bins > 0, "calibration needs at least one bin");
    assert_eq!(confidence.len(), correct.len(), "one correctness flag per confidence");
    let width = bins as f64;
    let mut out: Vec<CalibrationBin> = (0..bins)
        .map(|i| CalibrationBin {
            lower: i as f64 / width,
            upper: (i + 1) as f64 / width,
            count: 0,
            confidence: 0.0,
            accuracy: 0.0,
        })
        .collect();
    for (&c, &ok) in confidence.iter().zip(correct) {
        #[expect(clippy::cast_sign_loss, reason = "clamped to [0, 1] first")]
        let i = ((c.clamp(0.0, 1.0) * width) as usize).min(bins - 1);
        let bin = &mut out[i];
        bin.count += 1;
        bin.confidence += c;
        bin.accuracy += f64::from(u8::from(ok));
    }
    for bin in out.iter_mut().filter(|b| b.count > 0) {
        bin.confidence /= bin.count as f64;
        bin.accuracy /= bin.count as f64;
    }
    out
}

/// Expected calibration error: count-weighted mean |accuracy - confidence| over `calibration_bins`; empty → 0.0.
pub fn expected_calibration_error(confidence: &[f64], correct: &[bool], bins: usize) -> f64 {
    if confidence.is_empty() {
        return 0.0;
    }
    let total = confidence.len() as f64;
    calibration_bins(confidence, correct, bins)
        .iter()
        .map(|b| b.count as f64 / total * (b.accuracy - b.confidence).abs())
        .sum()
}

/// The q-th quantile, linear between closest ranks (numpy's default); empty → NaN; panics when q is outside 0..=1.
pub fn quantile(values: &[f64], q: f64) -> f64 {
    assert!((0.0..=1.0).contains(&q), "quantile {q} is outside 0..=1");
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let h = (sorted.len() - 1) as f64 * q;
    #[expect(clippy::cast_sign_loss, reason = "h is in [0, len - 1]")]
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    const B: Bootstrap = Bootstrap { resamples: 2000, seed: 7 };

    #[test]
    #[expect(clippy::float_cmp, reason = "every resampled mean sums the same constant: exactly the value")]
    fn bootstrap_of_a_constant_is_degenerate() {
        let e = B.mean(&[0.1; 10]);
        assert!(close(e.value, 0.1, 1e-12));
        assert_eq!(e.ci95, [e.value, e.value]);
        assert_eq!(e.n, 10);
    }

    #[test]
    fn bootstrap_of_one_value_is_that_value() {
        assert_eq!(B.mean(&[3.5]), Estimate { value: 3.5, ci95: [3.5, 3.5], n: 1 });
    }

    #[test]
    fn bootstrap_of_empty_is_nan() {
        let e = B.mean(&[]);
        assert!(e.value.is_nan() && e.ci95[0].is_nan() && e.ci95[1].is_nan());
        assert_eq!(e.n, 0);
    }

    #[test]
    fn bootstrap_interval_of_coin_flips_is_about_two_standard_errors() {
        // Mean 0.5 over 100: standard error 0.05, so the 95% interval is about 0.5 ± 0.098.
        let values: Vec<f64> = (0..100).map(|i| f64::from(i % 2)).collect();
        let e = B.mean(&values);
        assert!(close(e.value, 0.5, 1e-12));
        assert!(close(e.ci95[0], 0.4, 0.02), "{:?}", e.ci95);
        assert!(close(e.ci95[1], 0.6, 0.02), "{:?}", e.ci95);
    }

    #[test]
    #[expect(clippy::float_cmp, reason = "another seed must change the interval at all")]
    fn bootstrap_is_deterministic_per_seed() {
        let values: Vec<f64> = (0..50).map(|i| f64::from(i * i % 7)).collect();
        assert_eq!(B.mean(&values), B.mean(&values));
        let other = Bootstrap { seed: 8, ..B };
        assert_ne!(B.mean(&values).ci95, other.mean(&values).ci95);
        assert_eq!(B.paired(&values, &[1.0; 50]), B.paired(&values, &[1.0; 50]));
    }

    #[test]
    fn bootstrap_without_resamples_has_no_interval() {
        let e = Bootstrap { resamples: 0, seed: 1 }.mean(&[1.0, 2.0]);
        assert!(close(e.value, 1.5, 1e-12));
        assert!(e.ci95[0].is_nan() && e.ci95[1].is_nan());
    }

    #[test]
    fn paired_against_itself_is_a_tie() {
        let a = [0.2, 0.9, 0.4, 0.4, 1.0];
        let (win, diff) = B.paired(&a, &a);
        assert_eq!(win, Estimate { value: 0.5, ci95: [0.5, 0.5], n: 5 });
        assert_eq!(diff, Estimate { value: 0.0, ci95: [0.0, 0.0], n: 5 });
    }

    #[test]
    fn paired_counts_wins_ties_and_differences() {
        // Wins 1, 0.5, 0, 1 → 0.625; differences 1, 0, -2, 3 → 0.5.
        let (win, diff) = B.paired(&[2.0, 1.0, 0.0, 4.0], &[1.0, 1.0, 2.0, 1.0]);
        assert!(close(win.value, 0.625, 1e-12));
        assert!(close(diff.value, 0.5, 1e-12));
        assert!(win.ci95[0] <= win.value && win.value <= win.ci95[1]);
        assert!(diff.ci95[0] <= diff.value && diff.value <= diff.ci95[1]);
    }

    #[test]
    fn paired_resamples_share_indices() {
        // With a in {0, 1} and b = 0 each example's win is 0.5 + diff / 2, so in every resample
        // that shares its indices the win rate is 0.5 + mean diff / 2; separate draws would break it.
        let a = [1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0];
        let b = [0.0; 8];
        let (win, diff) = B.paired(&a, &b);
        assert!(close(win.ci95[0], 0.5 + diff.ci95[0] / 2.0, 1e-12));
        assert!(close(win.ci95[1], 0.5 + diff.ci95[1] / 2.0, 1e-12));
        assert!(diff.ci95[0] < diff.ci95[1]);
    }

    #[test]
    #[should_panic(expected = "same examples")]
    fn paired_rejects_different_lengths() {
        let _ = B.paired(&[1.0], &[1.0, 2.0]);
    }

    #[test]
    fn mcnemar_matches_the_binomial_formula() {
        assert!(close(mcnemar_exact(0, 0), 1.0, 0.0));
        // 2 * 1/2^5.
        assert!(close(mcnemar_exact(5, 0), 0.0625, 1e-12));
        assert!(close(mcnemar_exact(0, 5), 0.0625, 1e-12));
        // 2 * (C(12,0) + C(12,1) + C(12,2)) / 2^12 = 2 * 79 / 4096.
        assert!(close(mcnemar_exact(10, 2), 158.0 / 4096.0, 1e-12));
        assert!(close(mcnemar_exact(2, 10), 158.0 / 4096.0, 1e-12));
        // A balanced split doubles a tail above 1/2: capped at 1.
        assert!(close(mcnemar_exact(7, 7), 1.0, 0.0));
    }

    #[test]
    fn mcnemar_does_not_overflow_on_large_counts() {
        let balanced = mcnemar_exact(5000, 5000);
        assert!(close(balanced, 1.0, 0.0));
        // 2 * sum_{i<=4800} C(10000, i) / 2^10000 in exact integer arithmetic: 6.593515598672442e-5.
        let skewed = mcnemar_exact(4800, 5200);
        assert!(close(skewed / 6.593_515_598_672_442e-5, 1.0, 1e-9), "{skewed}");
        let extreme = mcnemar_exact(10_000, 0);
        assert!((0.0..1e-300).contains(&extreme), "{extreme}");
    }

    #[test]
    fn kendall_tau_counts_pairs() {
        let gold = strings(&["A", "B", "C"]);
        assert!(close(kendall_tau(&gold, &gold), 1.0, 1e-12));
        assert!(close(kendall_tau(&strings(&["C", "B", "A"]), &gold), -1.0, 1e-12));
        // One adjacent swap: 2 concordant, 1 discordant over 3 pairs.
        assert!(close(kendall_tau(&strings(&["B", "A", "C"]), &gold), 1.0 / 3.0, 1e-12));
    }

    #[test]
    fn kendall_tau_ignores_unshared_items() {
        let gold = strings(&["A", "B", "C"]);
        assert!(close(kendall_tau(&strings(&["X", "C", "Y", "A"]), &gold), -1.0, 1e-12));
        assert!(close(kendall_tau(&strings(&["A"]), &gold), 1.0, 0.0));
        assert!(close(kendall_tau(&[], &gold), 1.0, 0.0));
        assert!(close(kendall_tau(&strings(&["X", "Y"]), &gold), 1.0, 0.0));
    }

    #[test]
    fn reciprocal_rank_of_the_gold_best() {
        let gold = strings(&["B", "A"]);
        assert!(close(reciprocal_rank(&strings(&["B", "A"]), &gold), 1.0, 0.0));
        assert!(close(reciprocal_rank(&strings(&["C", "A", "B"]), &gold), 1.0 / 3.0, 1e-12));
        assert!(close(reciprocal_rank(&strings(&["A", "C"]), &gold), 0.0, 0.0));
        assert!(close(reciprocal_rank(&strings(&["A"]), &[]), 0.0, 0.0));
    }

    #[test]
    fn precision_recall_f1_on_sets() {
        // Predicted {DL3008, DL3025, SC2086}, gold {DL3008, DL3025, DL4006, DL3059}: 2 hits.
        let (p, r, f) = precision_recall_f1(
            &strings(&["DL3008", "DL3025", "SC2086", "DL3008"]),
            &strings(&["DL3008", "DL3025", "DL4006", "DL3059"]),
        );
        assert!(close(p, 2.0 / 3.0, 1e-12));
        assert!(close(r, 0.5, 1e-12));
        assert!(close(f, 4.0 / 7.0, 1e-12));
        assert_eq!(precision_recall_f1(&strings(&["X"]), &strings(&["Y"])), (0.0, 0.0, 0.0));
    }

    #[test]
    fn precision_recall_f1_empty_conventions() {
        assert_eq!(precision_recall_f1(&[], &[]), (1.0, 1.0, 1.0));
        assert_eq!(precision_recall_f1(&[], &strings(&["A"])), (0.0, 0.0, 0.0));
        assert_eq!(precision_recall_f1(&strings(&["A"]), &[]), (0.0, 0.0, 0.0));
    }

    #[test]
    fn rouge_l_on_a_known_pair() {
        // LCS "the cat on the mat" = 5: P = 5/6, R = 5/5, F = 2PR/(P+R) = 10/11.
        assert!(close(rouge_l("the cat sat on the mat", "the cat on the mat"), 10.0 / 11.0, 1e-12));
        assert!(close(rouge_l("The CAT, sat!", "the cat sat"), 1.0, 1e-12));
    }

    #[test]
    fn rouge_l_keeps_codes_whole() {
        // "dl3025" is one token, so "dl3026" shares nothing with it: LCS 1 ("fix") of 2 and 2.
        assert!(close(rouge_l("fix DL3025", "fix dl3026"), 0.5, 1e-12));
        assert!(close(rouge_l("fix DL3025", "dl3025: fix"), 0.5, 1e-12));
    }

    #[test]
    fn rouge_l_empty_conventions() {
        assert!(close(rouge_l("", ""), 1.0, 0.0));
        assert!(close(rouge_l("--", " "), 1.0, 0.0));
        assert!(close(rouge_l("a", ""), 0.0, 0.0));
        assert!(close(rouge_l("", "a"), 0.0, 0.0));
    }

    #[test]
    fn softmax_is_a_stable_distribution() {
        let p = softmax(&[1.0, 2.0, 3.0], 1.0);
        assert!(close(p.iter().sum(), 1.0, 1e-12));
        let e = std::f64::consts::E;
        let z = 1.0 + e + e * e;
        assert!(close(p[0], 1.0 / z, 1e-12) && close(p[2], e * e / z, 1e-12));
        // Huge scores would overflow exp without the max subtracted.
        let big = softmax(&[1000.0, 1000.0], 1.0);
        assert!(close(big[0], 0.5, 1e-12) && close(big[1], 0.5, 1e-12));
        assert!(softmax(&[], 1.0).is_empty());
    }

    #[test]
    fn softmax_temperature_flattens_and_sharpens() {
        let flat = softmax(&[0.0, 5.0, 10.0], 1e6);
        assert!(flat.iter().all(|p| close(*p, 1.0 / 3.0, 1e-4)));
        let sharp = softmax(&[0.0, 5.0, 10.0], 0.01);
        assert!(close(sharp[2], 1.0, 1e-12));
    }

    #[test]
    fn fit_temperature_recovers_the_generating_temperature() {
        let mut rng = SplitMix64(42);
        let examples: Vec<(Vec<f64>, usize)> = (0..4000)
            .map(|_| {
                let scores: Vec<f64> = (0..4).map(|_| 8.0 * rng.next_f64() - 4.0).collect();
                let u = rng.next_f64();
                let mut cumulative = 0.0;
                let probs = softmax(&scores, 2.0);
                let gold = probs
                    .iter()
                    .position(|p| {
                        cumulative += p;
                        u < cumulative
                    })
                    .unwrap_or(probs.len() - 1);
                (scores, gold)
            })
            .collect();
        let t = fit_temperature(&examples);
        assert!((t - 2.0).abs() < 0.4, "fitted {t}");
    }

    #[test]
    fn fit_temperature_stays_in_range_and_skips_uninformative_examples() {
        assert!(close(fit_temperature(&[]), 1.0, 0.0));
        assert!(close(fit_temperature(&[(vec![3.0], 0), (vec![], 0), (vec![1.0, 2.0], 5)]), 1.0, 0.0));
        // Gold always the top option: sharper is always better, so the lower bound.
        let confident = vec![(vec![0.0, 1.0], 1); 10];
        assert!(close(fit_temperature(&confident), 0.05, 1e-4));
        // Gold always the bottom option: flatter is always better, so the upper bound.
        let wrong = vec![(vec![0.0, 1.0], 0); 10];
        assert!(close(fit_temperature(&wrong), 20.0, 1e-3));
    }

    #[test]
    fn calibration_bins_place_and_average() {
        let bins = calibration_bins(&[0.05, 0.15, 0.95, 1.0, 0.9], &[false, true, true, true, false], 10);
        assert_eq!(bins.len(), 10);
        assert_eq!(bins[0], CalibrationBin { lower: 0.0, upper: 0.1, count: 1, confidence: 0.05, accuracy: 0.0 });
        assert_eq!(bins[1].count, 1);
        assert!(close(bins[1].accuracy, 1.0, 0.0));
        assert_eq!(bins[5], CalibrationBin { lower: 0.5, upper: 0.6, count: 0, confidence: 0.0, accuracy: 0.0 });
        // 0.9, 0.95 and exactly 1.0 share the last bin.
        assert_eq!(bins[9].count, 3);
        assert!(close(bins[9].confidence, 2.85 / 3.0, 1e-12));
        assert!(close(bins[9].accuracy, 2.0 / 3.0, 1e-12));
        assert_eq!(bins.iter().map(|b| b.count).sum::<usize>(), 5);
    }

    #[test]
    fn ece_by_hand_and_of_calibrated_data() {
        assert!(close(expected_calibration_error(&[], &[], 10), 0.0, 0.0));
        // Bin [0.8, 0.9): conf 0.8, acc 1 → 2/4 * 0.2; bin [0.2, 0.3): conf 0.2, acc 0 → 2/4 * 0.2.
        let ece = expected_calibration_error(&[0.8, 0.8, 0.2, 0.2], &[true, true, false, false], 10);
        assert!(close(ece, 0.2, 1e-12));
        // Correct with probability equal to the confidence: ECE only from sampling noise.
        let mut rng = SplitMix64(3);
        let confidence: Vec<f64> = (0..20_000).map(|_| rng.next_f64()).collect();
        let correct: Vec<bool> = confidence.iter().map(|c| rng.next_f64() < *c).collect();
        let calibrated = expected_calibration_error(&confidence, &correct, 10);
        assert!(calibrated < 0.02, "{calibrated}");
        // Always wrong at those confidences: ECE is the mean confidence, about 0.5.
        let overconfident = expected_calibration_error(&confidence, &vec![false; confidence.len()], 10);
        assert!(close(overconfident, 0.5, 0.02), "{overconfident}");
    }

    #[test]
    fn quantile_matches_numpy_linear() {
        let values = [4.0, 1.0, 3.0, 2.0];
        assert!(close(quantile(&values, 0.5), 2.5, 1e-12));
        assert!(close(quantile(&values, 0.95), 3.85, 1e-12));
        assert!(close(quantile(&values, 0.0), 1.0, 0.0));
        assert!(close(quantile(&values, 1.0), 4.0, 0.0));
        assert!(close(quantile(&[7.0], 0.3), 7.0, 0.0));
        assert!(quantile(&[], 0.5).is_nan());
    }

    #[test]
    #[should_panic(expected = "outside 0..=1")]
    fn quantile_rejects_percent_scale() {
        let _ = quantile(&[1.0, 2.0], 95.0);
    }

    proptest! {
        #[test]
        fn softmax_sums_to_one(scores in prop::collection::vec(-50.0..50.0f64, 1..20), t in 0.05..20.0f64) {
            let p = softmax(&scores, t);
            prop_assert!(close(p.iter().sum(), 1.0, 1e-9));
            prop_assert!(p.iter().all(|x| (0.0..=1.0).contains(x)));
        }

        #[test]
        fn kendall_tau_is_bounded_and_symmetric(
            gold in Just(strings(&["A", "B", "C", "D", "E"])).prop_shuffle(),
            predicted in Just(strings(&["A", "B", "C", "D", "E"])).prop_shuffle(),
        ) {
            let tau = kendall_tau(&predicted, &gold);
            prop_assert!((-1.0..=1.0).contains(&tau));
            prop_assert!(close(tau, kendall_tau(&gold, &predicted), 1e-12));
        }

        #[test]
        fn quantile_is_monotone_and_within_range(
            values in prop::collection::vec(-1e6..1e6f64, 1..40),
            q1 in 0.0..=1.0f64,
            q2 in 0.0..=1.0f64,
        ) {
            let (lo, hi) = (q1.min(q2), q1.max(q2));
            let min = values.iter().copied().fold(f64::INFINITY, f64::min);
            let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            prop_assert!(quantile(&values, lo) <= quantile(&values, hi));
            prop_assert!(min <= quantile(&values, lo) && quantile(&values, hi) <= max);
        }

        #[test]
        fn bootstrap_interval_lies_within_the_data(values in prop::collection::vec(-10.0..10.0f64, 1..30), seed: u64) {
            let e = Bootstrap { resamples: 200, seed }.mean(&values);
            let min = values.iter().copied().fold(f64::INFINITY, f64::min);
            let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            prop_assert!(min - 1e-9 <= e.ci95[0] && e.ci95[0] <= e.ci95[1] && e.ci95[1] <= max + 1e-9);
        }
    }
}
