//! Policy and build validity: what every candidate Dockerfile must satisfy before it is shown.

use serde::Serialize;

use crate::analysis::{Analysis, Base};
use crate::lint::Finding;
use crate::syntax::{Dockerfile, InstructionKind};

/// One violated check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// `parse`, `remote-add`, `insecure-run`, `sudo`, `root-user`, `unpinned-base`, `no-command` or
    /// `build` (something no builder accepts).
    pub check: &'static str,
    pub line: u32,
    pub message: String,
}

/// Lint codes for things a builder refuses or does not do as written.
const BUILD_CODES: &[&str] = &["CD008", "DL3021", "DL3022", "DL3023", "DL3024", "DL3061", "DL3000", "DL3043"];

/// Every policy and build-validity violation of a Dockerfile, given its analysis and its lint
/// findings (the build-validity checks are lint rules).
pub fn check(file: &Dockerfile, analysis: &Analysis, findings: &[Finding]) -> Vec<Violation> {
    let mut out: Vec<Violation> = file
        .diagnostics
        .iter()
        .map(|d| Violation { check: "parse", line: d.span.start.line, message: d.message.clone() })
        .collect();
    for (index, instruction) in file.instructions.iter().enumerate() {
        let line = instruction.line();
        match &instruction.kind {
            InstructionKind::Add(list) if list.sources().iter().any(|s| s.raw.contains("://")) => {
                out.push(Violation { check: "remote-add", line, message: "ADD downloads from a URL".into() });
            }
            InstructionKind::Run(_) => {
                let insecure = instruction.flag_value("security") == Some("insecure")
                    || instruction.flag_value("network") == Some("host");
                if insecure {
                    out.push(Violation {
                        check: "insecure-run",
                        line,
                        message: "RUN outside the build sandbox".into(),
                    });
                }
                if analysis.scripts.get(index).is_some_and(|s| s.named("sudo").next().is_some()) {
                    out.push(Violation { check: "sudo", line, message: "sudo in RUN".into() });
                }
            }
            _ => {}
        }
    }
    for stage in &analysis.stages {
        match &stage.base {
            Base::Image { reference }
                if reference.digest.is_none() && matches!(reference.tag.as_deref(), None | Some("latest")) =>
            {
                let message = format!("base image {reference} has no pinned tag");
                out.push(Violation { check: "unpinned-base", line: stage.line, message });
            }
            Base::Unresolved { text } => {
                let message = format!("base image {text} cannot be resolved");
                out.push(Violation { check: "unpinned-base", line: stage.line, message });
            }
            _ => {}
        }
    }
    if let (Some(last), Some(base)) = (analysis.final_stage(), &analysis.base_image) {
        let root = last.user.as_deref().is_none_or(|u| matches!(u.split(':').next(), Some("root" | "0")));
        if root && !(last.user.is_none() && base.runs_unprivileged_by_default()) {
            out.push(Violation { check: "root-user", line: last.line, message: "the final stage runs as root".into() });
        }
        if analysis.command.is_none() {
            out.push(Violation {
                check: "no-command",
                line: last.line,
                message: "the image has no CMD or ENTRYPOINT".into(),
            });
        }
    }
    for finding in findings.iter().filter(|f| BUILD_CODES.contains(&f.code)) {
        out.push(Violation {
            check: "build",
            line: finding.line(),
            message: format!("{}: {}", finding.code, finding.message),
        });
    }
    out.sort_by_key(|v| v.line);
    out
}
