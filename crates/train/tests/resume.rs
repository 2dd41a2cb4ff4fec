//! A run interrupted by a checkpoint and resumed in a new trainer continues exactly: the same
//! losses, gradient norms, loss curves and final adapter as an uninterrupted run. (Its own
//! test binary: the CPU backend's random generator is process-wide.)

mod support;

use std::sync::atomic::AtomicBool;

use codi_model::cpu;
use codi_train::{OutputSection, ResumeFrom, Stop, TrainConfig, Trainer};

#[test]
fn an_interrupted_and_resumed_run_matches_an_uninterrupted_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = support::setup(dir.path());
    assert!(config.lora.dropout > 0.0, "the check covers the dropout stream");
    let in_runs = |name: &str| TrainConfig {
        output: OutputSection { runs: dir.path().join(name), ..config.output.clone() },
        ..config.clone()
    };
    let go = AtomicBool::new(false);

    let mut whole = Trainer::from_config(in_runs("whole"), cpu()).expect("trainer");
    let total = whole.total_steps();
    let uninterrupted = whole.run(None, &go, &mut |_| {}).expect("run");
    assert_eq!((uninterrupted.steps.len(), uninterrupted.stop), (total, Stop::Done));

    // Stop mid-epoch (step 5 of 6 per epoch), then continue in a fresh process-like trainer.
    let mut first = Trainer::from_config(in_runs("interrupted"), cpu()).expect("trainer");
    let before = first.run(Some(5), &go, &mut |_| {}).expect("first part");
    assert_eq!(before.stop, Stop::AtStep);
    assert_eq!(first.state().batch_in_epoch, 10, "stopped inside an epoch");
    drop(first);
    let mut second = Trainer::from_config(in_runs("interrupted"), cpu()).expect("trainer");
    let resumed_from = second.resume(&ResumeFrom::Latest).expect("resume");
    assert_eq!(Some(resumed_from), before.checkpoint);
    let after = second.run(None, &go, &mut |_| {}).expect("second part");

    let resumed: Vec<_> = before.steps.iter().chain(&after.steps).collect();
    assert_eq!(resumed.len(), total);
    for (a, b) in uninterrupted.steps.iter().zip(resumed) {
        eprintln!(
            "step {:2}: loss {:.6} vs {:.6}, lr {:.3e}, grad norm {:.4}",
            a.step, a.loss, b.loss, a.lr, a.grad_norm
        );
        assert_eq!((a.step, a.loss, a.lr, a.grad_norm), (b.step, b.loss, b.lr, b.grad_norm));
    }
    // The curves in the state (what the adapter's metadata reports) came through the checkpoint;
    // the interrupted run also evaluated where it stopped.
    assert_eq!(whole.state().losses, second.state().losses);
    let mut resumed_val = second.state().val_losses.clone();
    resumed_val.retain(|&(step, _)| step != 5);
    assert_eq!(whole.state().val_losses, resumed_val);
    assert_eq!(resumed_val.first().map(|&(step, _)| step), Some(0), "the baseline survives");
    let weights = |t: &mut Trainer| t.parameters().into_iter().map(|p| p.into_data()).collect::<Vec<_>>();
    assert_eq!(weights(&mut whole), weights(&mut second), "final adapters differ");

    // A checkpoint refuses a run whose hyperparameters differ.
    let mut other = in_runs("interrupted");
    other.training.learning_rate *= 2.0;
    let mut different = Trainer::from_config(other, cpu()).expect("trainer");
    let error = different.resume(&ResumeFrom::Latest).expect_err("refused");
    assert!(error.to_string().contains("another model, adapter shape, hyperparameters or data"), "{error}");
}
