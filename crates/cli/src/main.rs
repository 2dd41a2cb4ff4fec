//! `codi`: the command-line entry point of every stage.

mod commands;
mod discover;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Parsing and linting allocate many small strings; mimalloc keeps that fast and lets threads
/// scale (glibc's allocator cost ~20% of the time and much of the multi-thread scaling).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (the `mi_option_e` enum of mimalloc.h, v2 and v3); the
/// Rust bindings name no constant for it.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps freed pages committed for reuse instead of returning them to the OS. A training step
/// frees and re-allocates gigabytes of activations; with mimalloc's default purge after 1 s
/// every step re-faulted and zeroed them (41% of a CPU step in `perf`; `codi bench train` went
/// from 86 to 163 tokens/s). The peak RSS is the same either way.
#[allow(unsafe_code)]
fn keep_freed_memory() {
    // SAFETY: `mi_option_set` stores an integer option; it is called once, before any other
    // thread exists, with a valid option id and value (-1: never purge).
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

#[derive(Debug, Parser)]
#[command(
    name = "codi",
    version,
    about = "Rules-first Dockerfile optimizer: lint, analyze, and the model toolkit behind it"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Lint Dockerfiles (hadolint-compatible codes, JSON and SARIF output).
    Lint(commands::lint::Args),
    /// List the lint rules, or show one rule's documentation.
    Rules(commands::rules::Args),
    /// Parse a Dockerfile and print its syntax tree or its canonical form.
    Parse(commands::parse::Args),
    /// Analyze a Dockerfile or project: stages, stack, command, findings.
    Analyze(commands::analyze::Args),
    /// Rules-first candidates for a project: rendered, checked, estimated, ranked and diffed.
    Rewrite(commands::rewrite::Args),
    /// Generate text with a model (default: the embedded SmolLM2-135M-Instruct).
    Generate(commands::generate::Args),
    /// Train a QLoRA adapter from a configuration (`configs/train/*.yaml`).
    Train(commands::train::Args),
    /// Adapter directories: verify one, or merge one into its base model.
    #[command(subcommand)]
    Adapter(commands::adapter::Adapter),
    /// Model directories: synthesize a random-initialized one of a real model's shape.
    #[command(subcommand)]
    Model(commands::model::ModelCommand),
    /// Evaluate rules-only, the base model and adapters on held-out pairs, into a run and the report.
    Eval(commands::eval::Args),
    /// Promote an adapter from an eval run into `patterns/rules.yml`, if it passes the gate.
    Promote(commands::promote::Args),
    /// The chain dataset → adapter → eval run → promotion, with every hash checked.
    Lineage(commands::lineage::Args),
    /// The main job: analyze, render, rank and explain projects into runs/<id>/ with reports.
    Run(commands::run::Args),
    /// Accept or reject a candidate of a run; `codi data feedback` makes training pairs of it.
    Feedback(commands::feedback::Args),
    /// The model server: /healthz, /llm/rank, /llm/explain, /v1/*, /metrics, /adapters.
    Serve(commands::serve::Args),
    /// The data pipeline: collect, extract, label, standardize, pairs, split, prepare.
    #[command(subcommand)]
    Data(commands::data::Data),
    /// Benchmarks and agreement measurements that print figures.
    #[command(subcommand)]
    Bench(commands::bench::Bench),
}

fn main() -> ExitCode {
    keep_freed_memory();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Lint(args) => commands::lint::run(&args),
        Command::Rules(args) => commands::rules::run(&args),
        Command::Parse(args) => commands::parse::run(&args),
        Command::Analyze(args) => commands::analyze::run(&args),
        Command::Rewrite(args) => commands::rewrite::run(&args),
        Command::Generate(args) => commands::generate::run(&args),
        Command::Train(args) => commands::train::run(&args),
        Command::Adapter(adapter) => commands::adapter::run(&adapter),
        Command::Model(command) => commands::model::run(&command),
        Command::Eval(args) => commands::eval::run(&args),
        Command::Promote(args) => commands::promote::run(&args),
        Command::Lineage(args) => commands::lineage::run(&args),
        Command::Run(args) => commands::run::run(&args),
        Command::Feedback(args) => commands::feedback::run(&args),
        Command::Serve(args) => commands::serve::run(&args),
        Command::Data(data) => commands::data::run(&data),
        Command::Bench(bench) => commands::bench::run(&bench),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            anstream::eprintln!("codi: error: {error:#}");
            ExitCode::from(2)
        }
    }
}
