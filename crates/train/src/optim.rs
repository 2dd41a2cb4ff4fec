//! AdamW over the LoRA parameters with PyTorch's semantics (decoupled weight decay, bias
//! correction, one global gradient norm for clipping), and the learning-rate schedules. The
//! state is plain tensors so that a checkpoint holds it exactly.

use std::f64::consts::PI;

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::config::Scheduler;

pub(crate) const BETA1: f64 = 0.9;
pub(crate) const BETA2: f64 = 0.999;
pub(crate) const EPSILON: f64 = 1e-8;

/// The learning rate of each optimizer step (1-based): a linear warmup that reaches the peak at
/// step `warmup`, then cosine or linear decay towards 0 (reached just after the last step, so
/// that no step is spent at a zero rate), or constant.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub scheduler: Scheduler,
    pub peak: f64,
    pub warmup: usize,
    pub total: usize,
}

impl Schedule {
    pub fn new(scheduler: Scheduler, peak: f64, warmup_ratio: f64, total: usize) -> Self {
        // warmup_ratio is in [0, 1): the product is a non-negative count no larger than `total`.
        #[allow(clippy::cast_sign_loss)]
        let warmup = (warmup_ratio * total as f64).ceil() as usize;
        Self { scheduler, peak, warmup, total }
    }

    pub fn lr(&self, step: usize) -> f64 {
        if step <= self.warmup && self.warmup > 0 {
            return self.peak * step as f64 / self.warmup as f64;
        }
        let progress = step.saturating_sub(self.warmup + 1) as f64 / (self.total - self.warmup).max(1) as f64;
        let progress = progress.clamp(0.0, 1.0);
        match self.scheduler {
            Scheduler::Cosine => self.peak * 0.5 * (1.0 + (PI * progress).cos()),
            Scheduler::Linear => self.peak * (1.0 - progress),
            Scheduler::Constant => self.peak,
        }
    }
}

/// First and second moments of one parameter.
#[derive(Debug, Clone)]
pub struct Moments {
    pub exp_avg: Tensor<2>,
    pub exp_avg_sq: Tensor<2>,
}

#[derive(Debug, Clone)]
pub struct AdamW {
    pub weight_decay: f64,
    /// Updates made so far (the bias corrections' exponent).
    pub steps: usize,
    pub moments: Vec<Moments>,
}

impl AdamW {
    pub fn new(weight_decay: f64, parameters: &[Tensor<2>]) -> Self {
        let moments =
            parameters.iter().map(|p| Moments { exp_avg: p.zeros_like(), exp_avg_sq: p.zeros_like() }).collect();
        Self { weight_decay, steps: 0, moments }
    }

    /// One update of `parameters` with `gradients` (already clipped), as `torch.optim.AdamW`.
    pub fn step(&mut self, lr: f64, parameters: Vec<Tensor<2>>, gradients: Vec<Tensor<2>>) -> Vec<Tensor<2>> {
        self.steps += 1;
        let t = i32::try_from(self.steps).unwrap_or(i32::MAX);
        let correction1 = 1.0 - BETA1.powi(t);
        let correction2_sqrt = (1.0 - BETA2.powi(t)).sqrt();
        let step_size = lr / correction1;
        parameters
            .into_iter()
            .zip(gradients)
            .zip(&mut self.moments)
            .map(|((parameter, gradient), m)| {
                m.exp_avg = m.exp_avg.clone().mul_scalar(BETA1) + gradient.clone().mul_scalar(1.0 - BETA1);
                m.exp_avg_sq = m.exp_avg_sq.clone().mul_scalar(BETA2) + gradient.square().mul_scalar(1.0 - BETA2);
                let denominator = m.exp_avg_sq.clone().sqrt().div_scalar(correction2_sqrt).add_scalar(EPSILON);
                parameter.mul_scalar(1.0 - lr * self.weight_decay)
                    - m.exp_avg.clone().div(denominator).mul_scalar(step_size)
            })
            .collect()
    }
}

/// The global L2 norm of `gradients`, and the factor that clips it to `max_norm`
/// (`torch.nn.utils.clip_grad_norm_`; 0 turns clipping off).
pub fn clip_factor(gradients: &[Tensor<2>], max_norm: f64) -> (f64, f64) {
    let squares: f64 = gradients.iter().map(|g| g.clone().square().sum().into_scalar::<f64>()).sum();
    let norm = squares.sqrt();
    let factor = if max_norm > 0.0 { (max_norm / (norm + 1e-6)).min(1.0) } else { 1.0 };
    (norm, factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_cosine_never_spends_a_step_at_zero() {
        let schedule = Schedule::new(Scheduler::Cosine, 1.0, 0.2, 10);
        let rates: Vec<f64> = (1..=10).map(|step| schedule.lr(step)).collect();
        assert_eq!(schedule.warmup, 2);
        assert_eq!(&rates[..3], [0.5, 1.0, 1.0]);
        assert!(rates.windows(2).skip(2).all(|w| w[1] < w[0]), "{rates:?}");
        assert!(rates[9] > 0.0 && rates[9] < 0.05, "{rates:?}");
        let linear = Schedule::new(Scheduler::Linear, 1.0, 0.0, 4);
        assert_eq!((1..=4).map(|s| linear.lr(s)).collect::<Vec<_>>(), [1.0, 0.75, 0.5, 0.25]);
    }
}
