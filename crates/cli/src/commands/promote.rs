//! `codi promote`: the gate from an eval run into `patterns/rules.yml`, with every reason for a
//! refusal listed.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args as ClapArgs;
use codi_eval::promote::{Request, promote};
use codi_eval::{EvalConfig, Store};

use super::Format;

#[derive(Debug, ClapArgs)]
pub(crate) struct Args {
    /// The eval run (its id under the store's `runs/`).
    #[arg(long)]
    run: String,
    /// Promote for this rule only (its examples only).
    #[arg(long)]
    rule: Option<String>,
    /// The adapter (`name@version`), when the run evaluated several.
    #[arg(long)]
    adapter: Option<String>,
    /// Say what would be promoted; change nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    store: super::eval::StoreArgs,
    #[arg(short, long, value_enum, default_value_t = Format::Tty)]
    format: Format,
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let config = EvalConfig::load(&args.store.config)?;
    let request = Request {
        run_id: &args.run,
        adapter: args.adapter.as_deref(),
        rule: args.rule.as_deref(),
        catalog: args.store.catalog.as_ref().unwrap_or(&config.catalog),
        gate: config.gate,
        dry_run: args.dry_run,
    };
    let verdict = promote(&Store::new(&config.out), &request)?;
    if args.format == Format::Json {
        anstream::println!("{}", serde_json::to_string_pretty(&verdict)?);
    } else {
        anstream::println!(
            "{} from run {} ({} examples{}): beats the base on {} of {} stacks",
            verdict.adapter,
            verdict.run_id,
            verdict.sample_size,
            verdict.rule.as_deref().map_or_else(String::new, |r| format!(" about {r}")),
            verdict.stacks_won,
            verdict.stacks_total
        );
        for (stack, s) in &verdict.by_stack {
            anstream::println!(
                "  {stack:<10} win rate {:.3} [{:.3}, {:.3}], difference {:+.3} [{:+.3}, {:+.3}], n = {}{}",
                s.win_rate.value,
                s.win_rate.ci95[0],
                s.win_rate.ci95[1],
                s.difference.value,
                s.difference.ci95[0],
                s.difference.ci95[1],
                s.win_rate.n,
                if s.won {
                    "  won"
                } else if s.counted {
                    ""
                } else {
                    "  (too few examples)"
                }
            );
        }
        for note in &verdict.notes {
            anstream::println!("note: {note}");
        }
        for refusal in &verdict.refusals {
            anstream::println!("refused: {refusal}");
        }
        for promotion in &verdict.promotions {
            let verb = if verdict.applied { "promoted" } else { "would promote" };
            anstream::println!("{verb}: {} for {} ({})", promotion.id, promotion.rule_id, promotion.adapter_version);
        }
        if verdict.promoted() && verdict.promotions.is_empty() {
            anstream::println!("nothing to promote: no stack won names a rule of the catalog");
        }
    }
    Ok(if verdict.promoted() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
