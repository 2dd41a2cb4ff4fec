//! `codi feedback RUN --accept|--reject CANDIDATE [--reason TEXT]`: a reviewer's decision on a
//! candidate of a `codi run`, appended to the run's `feedback.jsonl`; `codi data feedback` makes
//! training pairs of them.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use codi_run::Verdict;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("decision").required(true).args(["accept", "reject"])))]
pub(crate) struct Args {
    /// The run: its id under --runs, or its directory.
    run: String,
    /// The candidate to accept: `<project>/<candidate>`, or the candidate's id when only one
    /// project of the run has it.
    #[arg(long, value_name = "CANDIDATE")]
    accept: Option<String>,
    /// The candidate to reject (named as for --accept).
    #[arg(long, value_name = "CANDIDATE")]
    reject: Option<String>,
    /// Why; kept with the decision (and in the pair's rationale unless it quotes an instruction).
    #[arg(long)]
    reason: Option<String>,
    /// Where the runs are.
    #[arg(long, default_value = "runs")]
    runs: PathBuf,
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let (verdict, candidate) = match (&args.accept, &args.reject) {
        (Some(candidate), None) => (Verdict::Accept, candidate),
        (None, Some(candidate)) => (Verdict::Reject, candidate),
        _ => bail!("give one of --accept or --reject"),
    };
    let recorded = codi_run::record_feedback(&args.runs, &args.run, candidate, verdict, args.reason.as_deref())?;
    let d = &recorded.decision;
    anstream::println!(
        "run {}: {} {}/{} → {}",
        recorded.run_id,
        d.verdict.as_str(),
        d.project,
        d.candidate,
        recorded.dir.join(codi_run::FEEDBACK_FILE).display()
    );
    Ok(ExitCode::SUCCESS)
}
