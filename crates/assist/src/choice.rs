//! The scores behind a decision among known options, and how they are compared.

use serde::{Deserialize, Serialize};

/// How options of different lengths are compared: by their log-likelihood (lm-eval-harness'
/// `acc`) or by it divided by the option's length in bytes (`acc_norm`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scoring {
    #[default]
    Raw,
    PerByte,
}

/// Each option of one decision with its log-likelihood as a continuation of the answer so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// The options as shown (labels or rule ids).
    pub options: Vec<String>,
    /// Sum of the option tokens' log-probabilities (nats).
    pub logprob: Vec<f64>,
    /// Bytes of the text each option's scored tokens spell.
    pub bytes: Vec<usize>,
}

impl Choice {
    pub fn scores(&self, scoring: Scoring) -> Vec<f64> {
        match scoring {
            Scoring::Raw => self.logprob.clone(),
            Scoring::PerByte => self.logprob.iter().zip(&self.bytes).map(|(lp, &b)| lp / b.max(1) as f64).collect(),
        }
    }

    /// The index of the best option (the first of equals).
    pub fn best(&self, scoring: Scoring) -> usize {
        let scores = self.scores(scoring);
        (0..scores.len()).fold(0, |best, i| if scores[i] > scores[best] { i } else { best })
    }

    /// The options' probabilities: a softmax over the scores at `temperature` (fitted on the
    /// validation split by the eval suite).
    pub fn probabilities(&self, scoring: Scoring, temperature: f64) -> Vec<f64> {
        softmax(&self.scores(scoring), temperature)
    }
}

/// Softmax of `scores / temperature`.
pub fn softmax(scores: &[f64], temperature: f64) -> Vec<f64> {
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exp: Vec<f64> = scores.iter().map(|s| ((s - max) / temperature).exp()).collect();
    let total: f64 = exp.iter().sum();
    exp.into_iter().map(|e| e / total).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_byte_scoring_favours_the_longer_option_of_equal_likelihood() {
        let choice = Choice { options: vec!["a".into(), "bbbb".into()], logprob: vec![-2.0, -2.0], bytes: vec![1, 4] };
        assert_eq!(choice.best(Scoring::Raw), 0);
        assert_eq!(choice.best(Scoring::PerByte), 1);
        let p = choice.probabilities(Scoring::Raw, 1.0);
        assert!((p[0] - 0.5).abs() < 1e-12 && (p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
}
