//! `codi lint`: hadolint-compatible linting.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::ValueEnum;
use codi_core::lint::format::{FileReport, to_json, to_sarif};
use codi_core::lint::{Finding, LintConfig, Severity, find_rule, lint};
use codi_core::syntax::ParseOptions;
use owo_colors::OwoColorize;
use rayon::prelude::*;

use super::{emit, read_dockerfile};
use crate::discover::dockerfiles;

/// How `codi lint` reports: hadolint's terminal lines, its JSON, or SARIF 2.1.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LintFormat {
    Tty,
    Json,
    Sarif,
}

/// The least severe level that fails the run (hadolint's `--failure-threshold`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Threshold {
    Error,
    Warning,
    Info,
    Style,
    Ignore,
    None,
}

impl Threshold {
    fn fails(self, severity: Severity) -> bool {
        let least = match self {
            Self::Error => Severity::Error,
            Self::Warning => Severity::Warning,
            Self::Info => Severity::Info,
            Self::Style | Self::Ignore => Severity::Style,
            Self::None => return false,
        };
        severity <= least
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Dockerfiles, or directories to search for them; `-` reads standard input.
    #[arg(default_value = ".")]
    paths: Vec<PathBuf>,
    #[arg(short, long, value_enum, default_value_t = LintFormat::Tty)]
    format: LintFormat,
    /// Write the report to this file instead of standard output.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Exit with 1 only for findings at this level or above.
    #[arg(short = 't', long, value_enum, default_value_t = Threshold::Info)]
    failure_threshold: Threshold,
    /// Exit with 0 whatever is found.
    #[arg(long)]
    no_fail: bool,
    /// Skip a rule (code or name); repeatable.
    #[arg(long, value_name = "RULE")]
    ignore: Vec<String>,
    /// Run an off-by-default rule such as DL3057; repeatable.
    #[arg(long, value_name = "RULE")]
    enable: Vec<String>,
    /// Report a rule at level error (likewise --warning, --info, --style).
    #[arg(long, value_name = "RULE")]
    error: Vec<String>,
    #[arg(long, value_name = "RULE")]
    warning: Vec<String>,
    #[arg(long, value_name = "RULE")]
    info: Vec<String>,
    #[arg(long, value_name = "RULE")]
    style: Vec<String>,
    /// Allow FROM images only from these registries (enables DL3026); repeatable, `*.` wildcards.
    #[arg(long, value_name = "REGISTRY")]
    trusted_registry: Vec<String>,
    /// Ignore `# hadolint ignore=` and `# codi ignore=` pragmas.
    #[arg(long)]
    disable_ignore_pragma: bool,
    /// Refuse Dockerfiles larger than this many bytes.
    #[arg(long, default_value_t = ParseOptions::default().max_bytes)]
    max_bytes: usize,
}

impl Args {
    fn config(&self) -> Result<LintConfig> {
        let named = [&self.ignore, &self.enable, &self.error, &self.warning, &self.info, &self.style];
        for rule in named.iter().flat_map(|list| list.iter()) {
            if find_rule(rule).is_none() {
                bail!("unknown rule {rule:?} (see `codi rules`)");
            }
        }
        let overrides = [
            (&self.error, Severity::Error),
            (&self.warning, Severity::Warning),
            (&self.info, Severity::Info),
            (&self.style, Severity::Style),
        ];
        Ok(LintConfig {
            ignore: self.ignore.clone(),
            enable: self.enable.clone(),
            severity_overrides: overrides.iter().flat_map(|(codes, s)| codes.iter().map(|c| (c.clone(), *s))).collect(),
            trusted_registries: self.trusted_registry.clone(),
            disable_pragmas: self.disable_ignore_pragma,
        })
    }
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let config = args.config()?;
    let files = dockerfiles(&args.paths)?;
    let options = ParseOptions { max_bytes: args.max_bytes };
    let results: Vec<(String, Result<Vec<Finding>>)> = files
        .par_iter()
        .map(|path| {
            let findings = read_dockerfile(path, options).map(|file| lint(&file, &config));
            (display(path), findings)
        })
        .collect();
    let mut reports = Vec::new();
    let mut unreadable = 0;
    for (path, result) in &results {
        match result {
            Ok(findings) => reports.push(FileReport { path, findings }),
            Err(error) => {
                unreadable += 1;
                anstream::eprintln!("codi: error: {error:#}");
            }
        }
    }
    let text = match args.format {
        LintFormat::Tty => tty(&reports),
        LintFormat::Json => to_json(&reports) + "\n",
        LintFormat::Sarif => serde_json::to_string_pretty(&to_sarif(&reports))? + "\n",
    };
    emit(args.output.as_deref(), &text)?;
    let failed = reports.iter().flat_map(|r| r.findings).any(|f| args.failure_threshold.fails(f.severity));
    Ok(if unreadable > 0 {
        ExitCode::from(2)
    } else if failed && !args.no_fail {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn display(path: &Path) -> String {
    let text = path.display().to_string();
    text.strip_prefix("./").map(str::to_owned).unwrap_or(text)
}

/// `path:line:col CODE level: message`, then a summary line.
fn tty(reports: &[FileReport<'_>]) -> String {
    let mut out = String::new();
    let mut counts = [0usize; 4];
    for report in reports {
        for f in report.findings {
            counts[f.severity as usize] += 1;
            let level = match f.severity {
                Severity::Error => f.severity.red().bold().to_string(),
                Severity::Warning => f.severity.yellow().bold().to_string(),
                Severity::Info => f.severity.cyan().to_string(),
                Severity::Style => f.severity.magenta().to_string(),
            };
            let location = format!("{}:{}:{}", report.path, f.line(), f.column());
            let _ = writeln!(out, "{} {} {level}: {}", location.bold(), f.code.bold(), f.message);
        }
    }
    let total: usize = counts.iter().sum();
    let files = reports.len();
    if total == 0 {
        let _ = writeln!(out, "No findings in {files} file{}.", plural(files));
    } else {
        let parts: Vec<String> = Severity::ALL
            .iter()
            .zip(counts)
            .filter(|(_, n)| *n > 0)
            .map(|(s, n)| {
                let plural = if matches!(s, Severity::Error | Severity::Warning) { plural(n) } else { "" };
                format!("{n} {s}{plural}")
            })
            .collect();
        let _ = writeln!(
            out,
            "Found {total} finding{} ({}) in {files} file{}.",
            plural(total),
            parts.join(", "),
            plural(files)
        );
    }
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
