//! `codi analyze`: stages, base image, stack with evidence, the container's command, findings.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use codi_core::analysis::{Analysis, Base, ProjectFiles, analyze_project};
use codi_core::lint::{Category, Finding, LintConfig, find_rule, lint};
use codi_core::project::Project;
use codi_core::syntax::ParseOptions;
use owo_colors::OwoColorize;
use serde_json::json;

use super::{Format, emit, read_dockerfile};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A Dockerfile, or a project directory containing one.
    path: PathBuf,
    #[arg(short, long, value_enum, default_value_t = Format::Tty)]
    format: Format,
    #[arg(long, default_value_t = ParseOptions::default().max_bytes)]
    max_bytes: usize,
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let options = ParseOptions { max_bytes: args.max_bytes };
    // A directory is a build context whose files tell the stack; a lone Dockerfile is read alone.
    let (dockerfile_path, file, files) = if args.path.is_dir() {
        let project = Project::load(&args.path, &options)?;
        (project.root.join(&project.dockerfile_path), project.dockerfile, project.files)
    } else {
        (args.path.clone(), read_dockerfile(&args.path, options)?, ProjectFiles::default())
    };
    let analysis = analyze_project(&file, &files);
    let findings = lint(&file, &LintConfig::default());
    let path = dockerfile_path.display().to_string();
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(&report(&path, &analysis, &findings))? + "\n",
        Format::Tty => tty(&path, &analysis, &findings),
    };
    emit(None, &text)?;
    Ok(ExitCode::SUCCESS)
}

fn category(finding: &Finding) -> Option<Category> {
    find_rule(finding.code).map(|r| r.meta().category)
}

fn finding_json(f: &Finding) -> serde_json::Value {
    json!({
        "code": f.code,
        "name": find_rule(f.code).map(|r| r.meta().name),
        "severity": f.severity,
        "line": f.line(),
        "message": f.message,
    })
}

fn report(path: &str, analysis: &Analysis, findings: &[Finding]) -> serde_json::Value {
    let (security, smells): (Vec<&Finding>, Vec<&Finding>) =
        findings.iter().partition(|f| category(f) == Some(Category::Security));
    json!({
        "path": path,
        "stack": analysis.stack,
        "base_image": analysis.base_image,
        "multi_stage": analysis.is_multi_stage(),
        "stages": analysis.stages,
        "command": analysis.command,
        "smells": smells.iter().map(|f| finding_json(f)).collect::<Vec<_>>(),
        "security": security.iter().map(|f| finding_json(f)).collect::<Vec<_>>(),
    })
}

fn describe_base(base: &Base) -> String {
    match base {
        Base::Stage { index } => format!("stage #{index}"),
        Base::Image { reference } => reference.to_string(),
        Base::Scratch => "scratch".into(),
        Base::Unresolved { text } => format!("{text} (unresolved)"),
    }
}

fn tty(path: &str, analysis: &Analysis, findings: &[Finding]) -> String {
    let mut out = String::new();
    let stack = &analysis.stack;
    let _ = writeln!(out, "{} {path}", "Dockerfile".bold());
    let named = [stack.framework.map(|f| f.to_string()), stack.package_manager.map(|m| m.to_string())];
    let extra: Vec<String> = named.into_iter().flatten().collect();
    let _ = writeln!(
        out,
        "{}      {}{} (confidence {:.2})",
        "Stack".bold(),
        stack.stack.map_or_else(|| "unknown".to_owned(), |s| s.to_string()),
        if extra.is_empty() { String::new() } else { format!(" [{}]", extra.join(", ")) },
        stack.confidence
    );
    for e in stack.evidence.iter().take(5) {
        let line = e.line.map_or_else(String::new, |l| format!(" (line {l})"));
        let _ = writeln!(out, "  {:.2} {}: {}{line}", e.weight, e.target, e.signal);
    }
    let _ = writeln!(out, "{}     {}", "Stages".bold(), analysis.stages.len());
    for s in &analysis.stages {
        let name = s.name.as_deref().unwrap_or("-");
        let _ = writeln!(out, "  #{} {name:<12} line {:<4} from {}", s.index, s.line, describe_base(&s.base));
    }
    if let Some(base) = &analysis.base_image {
        let _ = writeln!(out, "{} {}", "Base image".bold(), describe_base(base));
    }
    match &analysis.command {
        Some(c) => {
            let _ = writeln!(
                out,
                "{}    {} ({:?} form, line {}): {}",
                "Command".bold(),
                c.keyword,
                c.form,
                c.line,
                c.argv.join(" ")
            );
            let _ = writeln!(
                out,
                "  program {}, shell wrapper {}, exec {}, chain {}, scripts {:?}, installs {:?}, migrations {:?}, background {:?}",
                c.program.as_deref().unwrap_or("?"),
                c.shell_wrapper,
                c.uses_exec,
                c.inline_chain,
                c.scripts,
                c.runtime_installs,
                c.migrations,
                c.background
            );
        }
        None => {
            let _ = writeln!(out, "{}    none", "Command".bold());
        }
    }
    let _ = writeln!(out, "{}   {}", "Findings".bold(), findings.len());
    for f in findings {
        let _ = writeln!(out, "  {}:{} {} {}: {}", f.line(), f.column(), f.code.bold(), f.severity, f.message);
    }
    out
}
