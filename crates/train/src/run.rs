//! A whole run: steps, logging every `logging_steps`, validation every `eval_steps`,
//! checkpoints every `save_steps`, and a final evaluation and checkpoint; or a stop, with a
//! checkpoint, at a given step or when interrupted.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};
use crate::logging::RunLog;
use crate::trainer::{StepReport, Trainer};

/// What a run reports as it goes (the CLI draws its progress bar from these).
#[derive(Debug)]
pub enum Event<'a> {
    Step(&'a StepReport),
    Eval { step: usize, val_loss: f64 },
    Saved(&'a Path),
}

/// Why a run returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The schedule is done: the adapter can be packaged.
    Done,
    /// At the requested step.
    AtStep,
    /// The interrupt flag was set: the step under way finished first.
    Interrupted,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    /// The steps this call ran; the whole run's curves live in the trainer's state.
    pub steps: Vec<StepReport>,
    pub stop: Stop,
    /// The last checkpoint this call wrote.
    pub checkpoint: Option<PathBuf>,
}

impl Trainer {
    /// Trains in the configuration's run directory until the schedule ends, until `stop_after`
    /// (checkpointing there), or until `interrupt` is set: the step under way finishes and is
    /// checkpointed, without the evaluation, so that the stop is quick.
    pub fn run(
        &mut self,
        stop_after: Option<usize>,
        interrupt: &AtomicBool,
        observer: &mut dyn FnMut(Event<'_>),
    ) -> Result<RunReport> {
        let run_dir = self.config.run_dir();
        let mut log = RunLog::open(&run_dir.join("logs"))?;
        let cadence = self.config.training.clone();
        if self.state.step == 0
            && let Some(val_loss) = self.evaluate()
        {
            log.scalars(0, &[("val/loss", val_loss)])?;
            observer(Event::Eval { step: 0, val_loss });
        }
        let (mut steps, mut checkpoint) = (Vec::new(), None);
        let mut window: Vec<StepReport> = Vec::new();
        let stop = loop {
            if self.is_done() {
                break Stop::Done;
            }
            if stop_after.is_some_and(|stop| self.state.step >= stop) {
                break Stop::AtStep;
            }
            if interrupt.load(Ordering::SeqCst) {
                break Stop::Interrupted;
            }
            let report = self.step();
            observer(Event::Step(&report));
            window.push(report);
            steps.push(report);
            let step = report.step;
            let interrupted = interrupt.load(Ordering::SeqCst);
            let last = self.is_done() || stop_after == Some(step) || interrupted;
            if step.is_multiple_of(cadence.logging_steps) || last {
                log_window(&mut log, &window)?;
                window.clear();
            }
            let save = step.is_multiple_of(cadence.save_steps) || last;
            if (step.is_multiple_of(cadence.eval_steps) || save)
                && !interrupted
                && let Some(val_loss) = self.evaluate()
            {
                log.scalars(step, &[("val/loss", val_loss)])?;
                observer(Event::Eval { step, val_loss });
            }
            if save {
                let dir = self.save_checkpoint()?;
                observer(Event::Saved(&dir));
                checkpoint = Some(dir);
            }
        };
        Ok(RunReport { steps, stop, checkpoint })
    }
}

/// The means of the steps since the last log line.
fn log_window(log: &mut RunLog, window: &[StepReport]) -> Result<()> {
    let Some(last) = window.last() else { return Ok(()) };
    let n = window.len() as f64;
    let tokens: usize = window.iter().map(|r| r.tokens).sum();
    let seconds: f64 = window.iter().map(|r| r.seconds).sum();
    log.scalars(
        last.step,
        &[
            ("train/loss", window.iter().map(|r| r.loss).sum::<f64>() / n),
            ("train/lr", last.lr),
            ("train/grad_norm", window.iter().map(|r| r.grad_norm).sum::<f64>() / n),
            ("train/tokens_per_second", tokens as f64 / seconds.max(1e-9)),
            ("train/epoch", last.epoch),
        ],
    )
}

/// A flag the first SIGINT or SIGTERM (or SIGHUP) sets, for [`Trainer::run`]'s `interrupt`:
/// `on_first` runs then (to say that the run will stop after its step); a second signal exits
/// at once with status 130. Installed once per process.
pub fn interrupt_on_signals(on_first: impl Fn() + Send + 'static) -> Result<&'static AtomicBool> {
    static INTERRUPTED: AtomicBool = AtomicBool::new(false);
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            ctrlc::set_handler(move || {
                if INTERRUPTED.swap(true, Ordering::SeqCst) {
                    std::process::exit(130);
                }
                on_first();
            })
            .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| Error::Invalid(format!("cannot handle SIGINT/SIGTERM: {e}")))?;
    Ok(&INTERRUPTED)
}
