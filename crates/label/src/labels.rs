//! One raw record's labels: what the analyzer and the linter find, and a quality score.

use codi_core::analysis::{Base, ProjectFiles, analyze_project};
use codi_core::lint::{Category, Finding, LintConfig, Severity, find_rule, lint_analyzed};
use codi_core::syntax::parse;
use codi_dataset::records::{CmdFlags, DiagnosticRow, LabeledRecord, RawRecord, SmellRow, StageRow, found_files};

fn smell_row(finding: &Finding) -> SmellRow {
    SmellRow {
        rule_id: find_rule(finding.code).map_or_else(|| finding.code.to_owned(), |r| r.meta().name.to_owned()),
        code: finding.code.to_owned(),
        severity: finding.severity.to_string(),
        line: finding.line(),
        message: finding.message.to_string(),
    }
}

/// The analyzer's labels for one raw Dockerfile.
pub fn label(raw: &RawRecord) -> LabeledRecord {
    let file = parse(&raw.content);
    let analysis = analyze_project(&file, &ProjectFiles::from_found(found_files(&raw.related)));
    let findings = lint_analyzed(&file, &LintConfig::default(), &analysis);
    let (security, smells): (Vec<&Finding>, Vec<&Finding>) =
        findings.iter().partition(|f| find_rule(f.code).is_some_and(|r| r.meta().category == Category::Security));
    let stages = analysis
        .stages
        .iter()
        .map(|s| StageRow { index: s.index as u32, name: s.name.clone(), line: s.line, base: s.image.clone() })
        .collect();
    let base_images = analysis
        .stages
        .iter()
        .filter_map(|s| match &s.base {
            Base::Image { reference } => Some(reference.to_string()),
            Base::Scratch => Some("scratch".to_owned()),
            _ => None,
        })
        .collect();
    let cmd = analysis.command.as_ref().map(|c| CmdFlags {
        keyword: c.keyword.to_owned(),
        form: format!("{:?}", c.form).to_lowercase(),
        program: c.program.clone(),
        shell_wrapper: c.shell_wrapper,
        inline_chain: c.inline_chain,
        uses_exec: c.uses_exec,
        scripts: c.scripts.clone(),
        runtime_installs: c.runtime_installs.clone(),
        migrations: c.migrations.clone(),
        background: c.background.clone(),
    });
    let diagnostics: Vec<DiagnosticRow> = file
        .diagnostics
        .iter()
        .map(|d| DiagnosticRow { line: d.span.start.line, column: d.span.start.column, message: d.message.clone() })
        .collect();
    let quality = quality(file.instructions.len(), diagnostics.len(), &findings);
    LabeledRecord {
        id: raw.id.clone(),
        source: raw.source.clone(),
        repo: raw.repo.clone(),
        path: raw.path.clone(),
        license: raw.license.clone(),
        content: raw.content.clone(),
        related: raw.related.clone(),
        diagnostics,
        stages,
        base_images,
        stack: analysis.stack.stack.map(|s| s.to_string()),
        framework: analysis.stack.framework.map(|f| f.to_string()),
        package_manager: analysis.stack.package_manager.map(|m| m.to_string()),
        confidence: analysis.stack.confidence,
        smells: smells.into_iter().map(smell_row).collect(),
        cmd,
        security: security.into_iter().map(smell_row).collect(),
        quality,
        hadolint: None,
        group: raw.group.clone(),
    }
}

/// 0–1: how good an example of a Dockerfile this is. A file that does not parse scores 0; each
/// finding costs by severity (error 0.15, warning 0.05, info 0.01), and a file of fewer than
/// three instructions is capped at 0.3.
pub fn quality(instructions: usize, diagnostics: usize, findings: &[Finding]) -> f32 {
    if diagnostics > 0 || instructions == 0 {
        return 0.0;
    }
    let cost: f32 = findings
        .iter()
        .map(|f| match f.severity {
            Severity::Error => 0.15,
            Severity::Warning => 0.05,
            Severity::Info => 0.01,
            Severity::Style => 0.0,
        })
        .sum();
    let score = (1.0 - cost).clamp(0.0, 1.0);
    let rounded = (score * 1000.0).round() / 1000.0;
    if instructions < 3 { rounded.min(0.3) } else { rounded }
}
