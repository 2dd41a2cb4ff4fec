//! Lint rules over the parsed Dockerfile: hadolint's DL rules (same codes, same messages) and
//! codi's own smells, with inline pragmas and JSON, SARIF and terminal output.

pub mod agreement;
mod context;
mod finding;
pub mod format;
mod pragma;
mod rule;
pub(crate) mod rules;

pub use context::{Context, Item};
pub use finding::Finding;
pub(crate) use rule::declare_rule;
pub use rule::{Category, Rule, RuleMeta, Severity};

use crate::analysis::Analysis;
use crate::syntax::Dockerfile;

/// The linter's behaviour: bump it when any rule's findings change (a rule added, fixed or
/// removed). The data stages put it in their fingerprints, so that labels, curated rows and
/// pairs made by an older linter are recomputed instead of reused.
pub const VERSION: &str = "lint-2";

/// Which rules run and how their findings are filtered.
#[derive(Debug, Clone, Default)]
pub struct LintConfig {
    /// Codes or names of rules to skip.
    pub ignore: Vec<String>,
    /// Codes or names of off-by-default rules to run (e.g. DL3057).
    pub enable: Vec<String>,
    /// Per-rule severity overrides (hadolint's `--error CODE`, `--warning CODE` …).
    pub severity_overrides: Vec<(String, Severity)>,
    /// Registries allowed in FROM; DL3026 runs only when this is not empty.
    pub trusted_registries: Vec<String>,
    /// Ignore `# hadolint ignore=` and `# codi ignore=` pragmas.
    pub disable_pragmas: bool,
}

impl LintConfig {
    fn runs(&self, meta: &RuleMeta) -> bool {
        let named = |list: &[String]| list.iter().any(|c| meta.is(c));
        !named(&self.ignore) && (meta.default_enabled || named(&self.enable))
    }
}

/// Every rule, in code order.
pub fn all_rules() -> &'static [&'static dyn Rule] {
    rules::ALL
}

/// The rule with this code (any case) or name.
pub fn find_rule(code_or_name: &str) -> Option<&'static dyn Rule> {
    // Every finding of every labeled file is looked up: a table, not a scan of the rules.
    static BY_KEY: std::sync::LazyLock<std::collections::HashMap<String, &'static dyn Rule>> =
        std::sync::LazyLock::new(|| {
            let by_code = rules::ALL.iter().map(|r| (r.meta().code.to_ascii_uppercase(), *r));
            by_code.chain(rules::ALL.iter().map(|r| (r.meta().name.to_owned(), *r))).collect()
        });
    BY_KEY.get(code_or_name).or_else(|| BY_KEY.get(&code_or_name.to_ascii_uppercase())).copied()
}

/// Lints a parsed file. Parse diagnostics come out as DL1000 findings; findings are ordered by
/// position, then by rule code.
pub fn lint(file: &Dockerfile, config: &LintConfig) -> Vec<Finding> {
    lint_analyzed(file, config, &crate::analysis::analyze(file))
}

/// [`lint`], with the analysis of `file` the caller already made (saves analysing it again).
pub fn lint_analyzed(file: &Dockerfile, config: &LintConfig, analysis: &Analysis) -> Vec<Finding> {
    run_rules(&Context::new(file, config, analysis))
}

fn run_rules(cx: &Context<'_>) -> Vec<Finding> {
    let (file, config) = (cx.file, cx.config);
    let pragmas = (!config.disable_pragmas).then(|| pragma::Pragmas::new(file));
    let mut findings = Vec::new();
    for rule in rules::ALL.iter().filter(|r| config.runs(r.meta())) {
        let meta = rule.meta();
        let start = findings.len();
        rule.check(cx, &mut findings);
        let severity = config.severity_overrides.iter().rev().find(|(c, _)| meta.is(c)).map(|(_, s)| *s);
        let mut kept = start;
        for i in start..findings.len() {
            let silenced = pragmas.as_ref().is_some_and(|p| p.suppresses(&findings[i], meta.name));
            if !silenced {
                if let Some(severity) = severity {
                    findings[i].severity = severity;
                }
                findings.swap(kept, i);
                kept += 1;
            }
        }
        findings.truncate(kept);
    }
    findings.sort_by(|a, b| (a.span.start, a.code).cmp(&(b.span.start, b.code)));
    findings
}
