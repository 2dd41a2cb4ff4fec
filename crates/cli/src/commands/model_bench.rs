//! `codi bench model`: load time, prompt processing, decode, candidate scoring and peak RSS of a
//! model, the figures `../shared/reference` has for llama.cpp and PyTorch on the same model.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use codi_model::{GenerateOptions, KvCache, generate, last_logits, score};

use super::bench::{peak_rss_mib, reset_peak_rss};
use super::generate::ModelArgs;

/// Tokens for the prompts and candidates: English prose of our own (the rule documentation).
pub(crate) const TEXT: &str = "docs/rules.md";

pub(crate) fn run(model_args: &ModelArgs, runs: usize, text: &Path) -> Result<ExitCode> {
    reset_peak_rss();
    let started = Instant::now();
    let model = model_args.load()?;
    let load_s = started.elapsed().as_secs_f64();
    let text = std::fs::read_to_string(text).with_context(|| format!("reading {}", text.display()))?;
    let tokens = model.tokenizer.encode(&text)?;
    if tokens.len() < 2_300 {
        bail!("{} tokens of text, the benchmark needs 2,300", tokens.len());
    }
    let transformer = &model.transformer;
    anstream::println!(
        "model {} on {:?}, {} threads",
        model.source.display(),
        model_args.device,
        rayon::current_num_threads()
    );
    anstream::println!("load: {load_s:.2} s, RSS {:.0} MiB", peak_rss_mib());

    // Each figure is the median of `runs` runs after one warm-up run.
    let median = |label: &str, mut f: Box<dyn FnMut() -> Result<()> + '_>| -> Result<f64> {
        f()?;
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let t = Instant::now();
            f()?;
            times.push(t.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        let m = times[times.len() / 2];
        anstream::eprintln!("  {label}: runs {times:.3?} s");
        Ok(m)
    };

    let prompt = tokens[..512].to_vec();
    let prompt_s = median(
        "prompt 512",
        Box::new(|| {
            last_logits(transformer, std::slice::from_ref(&prompt), &mut KvCache::default());
            Ok(())
        }),
    )?;
    anstream::println!("prompt processing, 512 tokens: {prompt_s:.2} s = {:.0} tokens/s", 512.0 / prompt_s);

    // Decode: 128 greedy tokens after a 16-token prompt, the prompt's own time excluded.
    let short = tokens[..16].to_vec();
    let options = GenerateOptions { max_tokens: 128, stop_at_eos: false, ..GenerateOptions::default() };
    let short_s = median(
        "prompt 16",
        Box::new(|| {
            last_logits(transformer, std::slice::from_ref(&short), &mut KvCache::default());
            Ok(())
        }),
    )?;
    let decode_s = median(
        "prompt 16 + decode 128",
        Box::new(|| {
            let generation = generate(transformer, &model.tokenizer, &short, &options, |_| {})?;
            assert_eq!(generation.ids.len(), 128);
            Ok(())
        }),
    )? - short_s;
    anstream::println!("decode, 128 tokens: {decode_s:.2} s = {:.1} tokens/s", 128.0 / decode_s);

    // Scoring: 5 candidates of 200 tokens after a 300-token prompt, the prompt run once.
    let score_prompt = tokens[1_000..1_300].to_vec();
    let candidates: Vec<Vec<u32>> = (0..5).map(|i| tokens[1_300 + 200 * i..1_500 + 200 * i].to_vec()).collect();
    let mut scores = Vec::new();
    let score_s = median(
        "score 5×200 after 300",
        Box::new(|| {
            scores = score(transformer, &score_prompt, &candidates, 5)?;
            Ok(())
        }),
    )?;
    let sums: Vec<String> = scores.iter().map(|s| format!("{:.1}", s.logprob)).collect();
    anstream::println!(
        "score 5 candidates × 200 tokens after a 300-token prompt: {score_s:.2} s (log-probs {})",
        sums.join(", ")
    );
    anstream::println!("peak RSS: {:.0} MiB", peak_rss_mib());
    Ok(ExitCode::SUCCESS)
}
