//! `codi lineage`: the chain dataset → adapter → eval run → promotion, every hash checked.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args as ClapArgs;
use codi_eval::lineage::lineage;
use codi_eval::{EvalConfig, Store};

use super::Format;

#[derive(Debug, ClapArgs)]
pub(crate) struct Args {
    /// An adapter directory, an eval run id, or a promotion id.
    target: String,
    #[command(flatten)]
    store: super::eval::StoreArgs,
    #[arg(short, long, value_enum, default_value_t = Format::Tty)]
    format: Format,
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let config = EvalConfig::load(&args.store.config)?;
    let chain =
        lineage(&args.target, &Store::new(&config.out), args.store.catalog.as_ref().unwrap_or(&config.catalog))?;
    if args.format == Format::Json {
        anstream::println!("{}", serde_json::to_string_pretty(&chain)?);
    } else {
        for link in &chain.links {
            let status = if link.ok { "ok" } else { "BROKEN" };
            let path = link.path.as_ref().map_or_else(String::new, |p| format!(" {}", p.display()));
            let actual = match (&link.actual, link.ok) {
                (_, true) => String::new(),
                (Some(actual), false) => format!(" (recorded {}, now {actual})", link.expected),
                (None, false) => format!(" (recorded {}, missing)", link.expected),
            };
            anstream::println!("{status:>6}  {:<13} {}{path}{actual}", link.kind, link.name);
        }
        let verdict = if chain.is_intact() { "intact" } else { "broken" };
        anstream::println!("lineage of {}: {} links, {verdict}", chain.target, chain.links.len());
    }
    Ok(if chain.is_intact() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
