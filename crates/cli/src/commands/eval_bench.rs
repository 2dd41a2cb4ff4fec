//! `codi bench eval`: the eval's scored decisions with one shared prompt cache against each
//! option scored from scratch, measured as a ratio in one run.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Result, bail};
use codi_assist::{AssistOptions, Assistant, Choice};
use codi_core::rewrite::Ruleset;
use codi_eval::{Dataset, Split};
use codi_tasks::Task;

use super::generate::ModelArgs;

pub(crate) fn run(model_args: &ModelArgs, data: &Path, split: Split, catalog: &Path, runs: usize) -> Result<ExitCode> {
    let ruleset = Ruleset::load(catalog, None)?;
    let dataset = Dataset::load(data, split, &[Task::Rank, Task::Rewrite], 0)?;
    let prompts: Vec<_> = dataset.examples.iter().map(|e| &e.prompt).collect();
    let mut assistant = Assistant::new(model_args.load()?, &ruleset.catalog, AssistOptions::default());
    let options: usize = prompts.iter().map(|p| p.input.candidates.len() + p.input.applicable_rules.len()).sum();
    anstream::println!(
        "{} scored decisions ({} options) from {}, {} threads",
        prompts.len(),
        options,
        data.display(),
        rayon::current_num_threads()
    );
    // Seconds per decision (the median of `runs` after a warm-up) and its scores.
    let mut timed = |shared_prefix: bool| -> Result<(Vec<f64>, Vec<Choice>)> {
        assistant.set_options(AssistOptions { shared_prefix, ..AssistOptions::default() });
        let mut seconds = Vec::with_capacity(prompts.len());
        let mut choices = Vec::with_capacity(prompts.len());
        for prompt in &prompts {
            let mut times = Vec::with_capacity(runs);
            let mut choice = None;
            for run in 0..=runs {
                let started = Instant::now();
                choice = assistant.first_choice(prompt)?;
                if run > 0 {
                    times.push(started.elapsed().as_secs_f64());
                }
            }
            times.sort_by(f64::total_cmp);
            seconds.push(times[times.len() / 2]);
            choices.push(choice.expect("rank and rewrite are scored"));
        }
        Ok((seconds, choices))
    };
    let (shared_s, shared) = timed(true)?;
    let (naive_s, naive) = timed(false)?;
    let gap = shared
        .iter()
        .zip(&naive)
        .flat_map(|(a, b)| a.logprob.iter().zip(&b.logprob).map(|(x, y)| (x - y).abs()))
        .fold(0.0, f64::max);
    if gap > 1e-2 {
        bail!("the two ways disagree by {gap:.4} nats");
    }
    for (label, at_least) in [("all decisions", 1), ("decisions among 2 or more options", 2)] {
        let picked: Vec<usize> = (0..shared.len()).filter(|&i| shared[i].options.len() >= at_least).collect();
        if picked.is_empty() {
            continue;
        }
        let total = |seconds: &[f64]| picked.iter().map(|&i| seconds[i]).sum::<f64>();
        let (a, b) = (total(&shared_s), total(&naive_s));
        let n = picked.len() as f64;
        anstream::println!(
            "{label} ({}): shared prompt cache {a:.2} s = {:.2}/s; each option from scratch {b:.2} s = {:.2}/s; \
             speed-up {:.2}x",
            picked.len(),
            n / a,
            n / b,
            b / a
        );
    }
    anstream::println!("largest log-probability difference between the two: {gap:.2e} nats");
    Ok(ExitCode::SUCCESS)
}
