//! Rules-first candidates. The catalog's rules are matched against a project; each that applies
//! is rendered, and the result is kept only if it parses, passes policy and is lint-clean at
//! warning level. Candidates are estimated and ranked against the original with the catalog's
//! ranking weights. The model never writes Dockerfile text: it ranks these.

mod checks;
mod docker;
mod estimate;
mod facts;
mod policy;
mod render;
mod report;

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

pub use checks::{Checks, ProjectChecks, Verdict};
pub use docker::Engine;
pub use estimate::{Deltas, Estimate, estimate};
pub use facts::Facts;
pub use policy::{Violation, check as check_policy};
pub use render::{Templates, parameters};
pub use report::{CandidateRow, markdown, rows, write_outputs};

use crate::analysis::{Analysis, analyze_project};
use crate::catalog::{Catalog, RuleSpec};
use crate::lint::{Finding, LintConfig, Severity, lint_analyzed};
use crate::project::Project;
use crate::syntax::{Dockerfile, parse};

#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub rule_id: String,
    pub rule_name: String,
    pub dockerfile: String,
    pub parameters: Map<String, Value>,
    /// Where each parameter value came from.
    pub parameter_sources: std::collections::BTreeMap<String, String>,
    pub rationale: String,
    /// Lint codes the original is flagged for that this rule fixes.
    pub fixes: Vec<String>,
    pub estimate: Estimate,
    pub deltas: Deltas,
    /// Unified diff from the original.
    pub diff: String,
}

/// A rule that applied but whose output failed a check (a defect in the rule).
#[derive(Debug, Clone, Serialize)]
pub struct Rejected {
    pub rule_id: String,
    pub reasons: Vec<String>,
}

/// A rule that does not apply to the project, and the first reason why.
#[derive(Debug, Clone, Serialize)]
pub struct NotApplicable {
    pub rule_id: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Rewrite {
    pub project: String,
    pub facts: Facts,
    pub original: Estimate,
    pub original_violations: Vec<Violation>,
    pub original_findings: Vec<Finding>,
    /// Best first (by the weighted score of their deltas).
    pub candidates: Vec<Candidate>,
    pub rejected: Vec<Rejected>,
    pub not_applicable: Vec<NotApplicable>,
}

/// A checked Dockerfile: what a candidate must be.
#[derive(Debug)]
pub struct Checked {
    pub file: Dockerfile,
    pub analysis: Analysis,
    pub violations: Vec<Violation>,
    /// Lint findings at warning level or above.
    pub warnings: Vec<Finding>,
}

impl Checked {
    pub fn new(text: &str, project: &Project) -> Self {
        let file = parse(text);
        let analysis = analyze_project(&file, &project.files);
        let findings = lint_analyzed(&file, &LintConfig::default(), &analysis);
        let violations = check_policy(&file, &analysis, &findings);
        let warnings = findings.into_iter().filter(|f| f.severity <= Severity::Warning).collect();
        Self { file, analysis, violations, warnings }
    }

    /// Why this cannot be a candidate (empty when it can).
    pub fn problems(&self) -> Vec<String> {
        let policy = self.violations.iter().map(|v| format!("line {}: {} ({})", v.line, v.message, v.check));
        let lint = self.warnings.iter().map(|f| format!("line {}: {} {}", f.line(), f.code, f.message));
        policy.chain(lint).collect()
    }
}

/// The rules catalog with its compiled templates: what every caller of [`rewrite`] loads.
#[derive(Debug)]
pub struct Ruleset {
    pub catalog: Catalog,
    pub templates: Templates,
    pub templates_dir: PathBuf,
    /// The candidates checked so far, for the projects rewritten after them.
    pub checks: Checks,
}

impl Ruleset {
    /// Loads the catalog at `catalog` and the templates in `templates` (default: `templates/`
    /// beside the catalog).
    pub fn load(catalog: &Path, templates: Option<&Path>) -> crate::Result<Self> {
        let templates_dir = templates.map_or_else(|| templates_dir(catalog), Path::to_owned);
        let loaded = Catalog::load(catalog, Some(&templates_dir))?;
        let templates = Templates::load(&templates_dir, &loaded)?;
        Ok(Self { catalog: loaded, templates, templates_dir, checks: Checks::default() })
    }

    /// Every rule against `project`; a candidate text already checked for a project with the
    /// same files is not checked again.
    pub fn rewrite(&self, project: &Project) -> Rewrite {
        rewrite_with(project, &self.catalog, &self.templates, &self.checks)
    }
}

/// Where a catalog's templates are: `templates/` beside it.
fn templates_dir(catalog: &Path) -> PathBuf {
    catalog.parent().unwrap_or(Path::new(".")).join("templates")
}

/// Every rule of the catalog against `project`.
pub fn rewrite(project: &Project, catalog: &Catalog, templates: &Templates) -> Rewrite {
    rewrite_with(project, catalog, templates, &Checks::default())
}

fn rewrite_with(project: &Project, catalog: &Catalog, templates: &Templates, checks: &Checks) -> Rewrite {
    let checks = checks.of(project);
    let original_analysis = analyze_project(&project.dockerfile, &project.files);
    let facts = Facts::detect(project, &original_analysis, catalog);
    let original_findings = lint_analyzed(&project.dockerfile, &LintConfig::default(), &original_analysis);
    let original_violations = check_policy(&project.dockerfile, &original_analysis, &original_findings);
    let original = estimate(&project.dockerfile, &original_analysis, Some(project), original_violations.len());
    let mut out = Rewrite {
        project: project.name(),
        facts,
        original,
        original_violations,
        original_findings,
        candidates: Vec::new(),
        rejected: Vec::new(),
        not_applicable: Vec::new(),
    };
    for rule in &catalog.rules {
        if let Err(reason) = applies(rule, &out.facts, project) {
            out.not_applicable.push(NotApplicable { rule_id: rule.id.clone(), reason });
            continue;
        }
        let (values, sources) = parameters(rule, &out.facts);
        let text = match templates.render(rule, &values) {
            Ok(text) => text,
            Err(error) => {
                out.rejected.push(Rejected { rule_id: rule.id.clone(), reasons: vec![error.to_string()] });
                continue;
            }
        };
        match checks.verdict(&text).map(|estimate| compare(&out, project, catalog, rule, text, estimate)) {
            Ok(mut candidate) => {
                candidate.parameters = values;
                candidate.parameter_sources = sources;
                out.candidates.push(candidate);
            }
            Err(reasons) => out.rejected.push(Rejected { rule_id: rule.id.clone(), reasons }),
        }
    }
    out.candidates.sort_by(|a, b| b.deltas.score.total_cmp(&a.deltas.score).then_with(|| a.rule_id.cmp(&b.rule_id)));
    out
}

/// `text` as a candidate of `rule` for the project `rewrite` describes: checked (it must parse,
/// pass policy and be lint-clean at warning level), estimated and compared with the original;
/// the reasons when it cannot be one. Rendered candidates and ones a client sends go through it
/// alike. The parameters are left empty for the caller that knows them.
pub fn candidate(
    rewrite: &Rewrite,
    project: &Project,
    catalog: &Catalog,
    rule: &RuleSpec,
    text: String,
) -> Result<Candidate, Vec<String>> {
    let estimate = checks::verdict(&text, project)?;
    Ok(compare(rewrite, project, catalog, rule, text, estimate))
}

/// A checked candidate of `rule`, whose `estimate` is known, compared with the original.
fn compare(
    rewrite: &Rewrite,
    project: &Project,
    catalog: &Catalog,
    rule: &RuleSpec,
    text: String,
    estimate: Estimate,
) -> Candidate {
    let deltas = Deltas::between(&rewrite.original, &estimate, &catalog.llm_assist.ranking_weights);
    let mut fixes: Vec<String> =
        rule.fixes.iter().filter(|c| rewrite.original_findings.iter().any(|f| f.code == c.as_str())).cloned().collect();
    fixes.dedup();
    let diff = unified_diff(&project.source, &text, &project.dockerfile_path.to_string_lossy());
    Candidate {
        rule_id: rule.id.clone(),
        rule_name: rule.name.clone(),
        dockerfile: text,
        parameters: Map::new(),
        parameter_sources: std::collections::BTreeMap::new(),
        rationale: rule.rationale.clone(),
        fixes,
        estimate,
        deltas,
        diff,
    }
}

/// The unified diff (git's `a/` and `b/` prefixes, 3 lines of context) that turns `old` into
/// `new`, both at `path`: a candidate's diff, and the body of `codi run --patch`'s patch.
pub fn unified_diff(old: &str, new: &str, path: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string()
}

/// Whether `rule` applies: the project's stack is the rule's and every predicate holds.
pub fn applies(rule: &RuleSpec, facts: &Facts, project: &Project) -> Result<(), String> {
    if facts.stack != Some(rule.stack) {
        let found = facts.stack.map_or_else(|| "unknown".to_owned(), |s| s.to_string());
        return Err(format!("the project's stack is {found}, not {}", rule.stack));
    }
    let p = &rule.predicates;
    let has_file = |pattern: &String| project.files.paths.iter().any(|path| matches_path(pattern, path));
    let has_lock = |pattern: &String| facts.lockfiles.iter().any(|l| matches_path(pattern, l));
    let has_feature = |f: &String| facts.features.contains(f);
    let checks: [(bool, &str, &[String]); 8] = [
        (p.files_any.is_empty() || p.files_any.iter().any(has_file), "none of the files", &p.files_any),
        (p.files_all.iter().all(has_file), "not all of the files", &p.files_all),
        (p.lockfiles_any.is_empty() || p.lockfiles_any.iter().any(has_lock), "none of the lockfiles", &p.lockfiles_any),
        (p.lockfiles_all.iter().all(has_lock), "not all of the lockfiles", &p.lockfiles_all),
        (p.features_any.is_empty() || p.features_any.iter().any(has_feature), "none of the features", &p.features_any),
        (p.features_all.iter().all(has_feature), "not all of the features", &p.features_all),
        (!p.features_none.iter().any(has_feature), "one of the excluded features", &p.features_none),
        (
            p.base_images.is_empty() || p.base_images.iter().any(|b| facts.base_families.contains(b)),
            "none of the base images",
            &p.base_images,
        ),
    ];
    match checks.iter().find(|(holds, _, _)| !holds) {
        Some((_, what, list)) => Err(format!("the project has {what} {}", list.join(", "))),
        None => Ok(()),
    }
}

/// A file pattern (`*` and `?`) against a project path: the file name when the pattern has no
/// `/`, the whole path otherwise.
fn matches_path(pattern: &str, path: &str) -> bool {
    let target = if pattern.contains('/') { path } else { path.rsplit('/').next().unwrap_or(path) };
    glob(pattern.as_bytes(), target.as_bytes())
}

fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.first(), text.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob(&pattern[1..], text) || (!text.is_empty() && glob(pattern, &text[1..])),
        (Some(b'?'), Some(_)) => glob(&pattern[1..], &text[1..]),
        (Some(p), Some(t)) if p == t => glob(&pattern[1..], &text[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::matches_path;

    #[test]
    fn patterns() {
        assert!(matches_path("*.csproj", "src/Api/Api.csproj"));
        assert!(matches_path("requirements*.txt", "requirements-dev.txt"));
        assert!(matches_path("package.json", "package.json"));
        assert!(!matches_path("package.json", "web/package.json.bak"));
        assert!(matches_path("cmd/*/main.go", "cmd/server/main.go"));
    }
}
