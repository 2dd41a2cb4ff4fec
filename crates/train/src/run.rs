//! A whole run: steps, logging every `logging_steps`, validation every `eval_steps`,
//! checkpoints every `save_steps`, and a final evaluation and checkpoint.

use std::path::Path;

use crate::checkpoint;
use crate::error::Result;
use crate::logging::RunLog;
use crate::trainer::{StepReport, Trainer};

/// What a run reports as it goes (the CLI draws its progress bar from these).
#[derive(Debug)]
pub enum Event<'a> {
    Step(&'a StepReport),
    Eval { step: usize, val_loss: f64 },
    Saved(&'a Path),
}

/// Trains until the schedule ends or, with `stop_after`, until that step (checkpointing there).
/// Returns the steps this call ran; the whole run's curves live in the trainer's state.
pub fn run(
    trainer: &mut Trainer,
    run_dir: &Path,
    stop_after: Option<usize>,
    observer: &mut dyn FnMut(Event<'_>),
) -> Result<Vec<StepReport>> {
    let mut log = RunLog::open(&run_dir.join("logs"))?;
    let mut steps = Vec::new();
    let cadence = trainer.config.training.clone();
    if trainer.state.step == 0
        && let Some(val_loss) = trainer.evaluate()
    {
        log.scalars(0, &[("val/loss", val_loss)])?;
        observer(Event::Eval { step: 0, val_loss });
    }
    let mut window: Vec<StepReport> = Vec::new();
    while !trainer.is_done() && stop_after.is_none_or(|stop| trainer.state.step < stop) {
        let report = trainer.step();
        observer(Event::Step(&report));
        window.push(report);
        steps.push(report);
        let step = report.step;
        let last = trainer.is_done() || stop_after == Some(step);
        if step.is_multiple_of(cadence.logging_steps) || last {
            let n = window.len() as f64;
            let tokens: usize = window.iter().map(|r| r.tokens).sum();
            let seconds: f64 = window.iter().map(|r| r.seconds).sum();
            log.scalars(
                step,
                &[
                    ("train/loss", window.iter().map(|r| r.loss).sum::<f64>() / n),
                    ("train/lr", report.lr),
                    ("train/grad_norm", window.iter().map(|r| r.grad_norm).sum::<f64>() / n),
                    ("train/tokens_per_second", tokens as f64 / seconds.max(1e-9)),
                    ("train/epoch", report.epoch),
                ],
            )?;
            window.clear();
        }
        let save = step.is_multiple_of(cadence.save_steps) || last;
        if (step.is_multiple_of(cadence.eval_steps) || save)
            && let Some(val_loss) = trainer.evaluate()
        {
            log.scalars(step, &[("val/loss", val_loss)])?;
            observer(Event::Eval { step, val_loss });
        }
        if save {
            if let Some((at, loss)) = trainer.state.val_loss()
                && at == step
                && trainer.state.best.is_none_or(|(_, best)| loss < best)
            {
                trainer.state.best = Some((step, loss));
            }
            let dir = checkpoint::save(trainer, run_dir)?;
            observer(Event::Saved(&dir));
        }
    }
    Ok(steps)
}
