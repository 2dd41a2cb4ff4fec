//! What the model is asked. Every prompt is built from the Dockerfile text and the project's
//! [`Rewrite`] alone — what the pairs stage and the server both have — so training and serving
//! ask the same bytes.
//!
//! Prompts are compact text, not JSON: the project in a few lines, the Dockerfile as numbered
//! lines without comments or blank lines (cut at [`MAX_DOCKERFILE_CHARS`]), findings grouped by
//! code, and each candidate as its rule and estimates (never its full text: the template wrote
//! it, the model only orders it).

use std::fmt::Write as _;

use codi_core::lint::{Finding, Severity, find_rule};
use codi_core::rewrite::{Candidate, Estimate, Rewrite};
use codi_files::sha256_hex;
use serde::{Deserialize, Serialize};

use crate::answer::{Answer, ExplainAnswer, Fix, RankAnswer, RewriteAnswer};
use crate::check::contains_instruction;
use crate::styles::Message;
use crate::task::Task;

pub const SYSTEM: &str = "You assist a rules-first Dockerfile optimizer. Rules and templates write every Dockerfile; \
you choose which rule fits, rank the candidates they rendered, and explain why, citing rule ids. You never write \
Dockerfile instructions yourself.";

const REWRITE: &str =
    "Choose the rule from the catalog that best rewrites this Dockerfile, and the parameters to render it with.";
const RANK: &str = "Rank these candidate Dockerfiles, rendered from the catalog's rules for this project, best first.";
const EXPLAIN: &str = "Explain which problems of this Dockerfile the chosen rule fixes, and why they matter.";
const EXPLAIN_FINDINGS: &str =
    "No rule of the catalog applies to this Dockerfile. Explain its problems and why they matter.";

/// The Dockerfile excerpt stops before the line that would take it past this many characters.
pub const MAX_DOCKERFILE_CHARS: usize = 800;
/// Distinct finding codes shown at most: the ones an explanation cites, then the most severe.
const MAX_FINDING_CODES: usize = 8;
/// Lint codes an explanation cites at most.
pub const MAX_EXPLAINED: usize = 4;

/// A lint code the linter raised on the original, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingView {
    pub code: String,
    pub severity: String,
    pub lines: Vec<u32>,
}

/// The project as the model sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectView {
    pub stack: Option<String>,
    pub framework: Option<String>,
    pub package_manager: Option<String>,
    pub features: Vec<String>,
    pub findings: Vec<FindingView>,
    /// Finding codes beyond [`MAX_FINDING_CODES`], not shown.
    pub more_findings: usize,
    /// `line: text` for each instruction line, comments and blank lines left out.
    pub dockerfile: Vec<String>,
    /// Lines of the excerpt cut for length.
    pub more_lines: usize,
}

/// A candidate's size, layers and build times.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Measures {
    pub image_mb: f64,
    pub layers: u32,
    pub build_seconds: f64,
    pub rebuild_seconds: f64,
}

/// A candidate as shown: its label, its rule, its estimates and their change from the original.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateView {
    pub label: String,
    pub rule_id: String,
    #[serde(flatten)]
    pub measures: Measures,
    /// Reductions against the original, as fractions (`0.8` is 80% smaller).
    pub size_reduction: f64,
    pub layer_reduction: f64,
    pub build_time_reduction: f64,
}

/// Everything a prompt shows, as the pairs' `input` column stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskInput {
    #[serde(flatten)]
    pub project: ProjectView,
    /// Rewrite: the rules that apply.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applicable_rules: Vec<String>,
    /// Explain: the chosen rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<String>,
    /// Rank: the original's estimates and the candidates, in label order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<Measures>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<CandidateView>,
}

/// One question to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    pub task: Task,
    pub instruction: &'static str,
    pub input: TaskInput,
}

/// A prompt with its gold answer: what the pairs stage writes.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub prompt: Prompt,
    pub answer: Answer,
    /// The rules (or, for explanations of findings, the lint codes) the example is about.
    pub rule_ids: Vec<String>,
}

/// The label of the `index`-th candidate shown: A, B, C …
pub fn label(index: usize) -> String {
    char::from(b'A' + (index % 26) as u8).to_string()
}

impl Prompt {
    /// The prompt for `task` on a project, or `None` when the task does not apply to it: rewrite
    /// needs a candidate, rank two; explain needs the best candidate to fix a finding or, when
    /// no rule applies, a finding at warning level or above.
    pub fn new(task: Task, dockerfile: &str, rewrite: &Rewrite) -> Option<Self> {
        let project = project_view(dockerfile, rewrite);
        let mut input =
            TaskInput { project, applicable_rules: Vec::new(), rule_id: None, original: None, candidates: Vec::new() };
        let best = rewrite.candidates.first();
        match task {
            Task::Rewrite => {
                best?;
                input.applicable_rules = rewrite.candidates.iter().map(|c| c.rule_id.clone()).collect();
            }
            Task::Rank => {
                if rewrite.candidates.len() < 2 {
                    return None;
                }
                input.original = Some(measures(&rewrite.original));
                input.candidates = shown(dockerfile, rewrite)
                    .iter()
                    .enumerate()
                    .map(|(i, c)| CandidateView {
                        label: label(i),
                        rule_id: c.rule_id.clone(),
                        measures: measures(&c.estimate),
                        size_reduction: c.deltas.size_reduction,
                        layer_reduction: c.deltas.layer_reduction,
                        build_time_reduction: c.deltas.build_time,
                    })
                    .collect();
            }
            Task::Explain => match best {
                Some(best) if !best.fixes.is_empty() => input.rule_id = Some(best.rule_id.clone()),
                Some(_) => return None,
                None if finding_codes(rewrite).is_empty() => return None,
                None => {}
            },
        }
        Some(Self::from_input(task, input))
    }

    /// The prompt a pair's `task` and `input` columns stored: what the eval suite asks, and
    /// checks against the pair's chat messages.
    pub fn from_input(task: Task, input: TaskInput) -> Self {
        let instruction = match task {
            Task::Rewrite => REWRITE,
            Task::Rank => RANK,
            Task::Explain if input.rule_id.is_some() => EXPLAIN,
            Task::Explain => EXPLAIN_FINDINGS,
        };
        Self { task, instruction, input }
    }

    /// The user turn: the instruction, then the project and what the task needs.
    pub fn text(&self) -> String {
        let input = &self.input;
        let project = &input.project;
        let mut out = format!("{}\n\n", self.instruction);
        let or_unknown = |value: &Option<String>| value.as_deref().unwrap_or("unknown").to_owned();
        let _ = writeln!(
            out,
            "Stack: {}; framework: {}; package manager: {}",
            or_unknown(&project.stack),
            or_unknown(&project.framework),
            or_unknown(&project.package_manager)
        );
        if !project.features.is_empty() {
            let _ = writeln!(out, "Features: {}", project.features.join(", "));
        }
        let findings: Vec<String> = project
            .findings
            .iter()
            .map(|f| {
                let lines: Vec<String> = f.lines.iter().map(u32::to_string).collect();
                let noun = if f.lines.len() == 1 { "line" } else { "lines" };
                format!("{} {} {noun} {}", f.code, f.severity, lines.join(", "))
            })
            .collect();
        let more =
            if project.more_findings > 0 { format!("; {} more codes", project.more_findings) } else { String::new() };
        let findings = if findings.is_empty() { "none".to_owned() } else { findings.join("; ") };
        let _ = writeln!(out, "Findings: {findings}{more}");
        if !input.applicable_rules.is_empty() {
            let _ = writeln!(out, "Applicable rules: {}", input.applicable_rules.join(", "));
        }
        if let Some(rule) = &input.rule_id {
            let _ = writeln!(out, "Chosen rule: {rule}");
        }
        if let Some(original) = &input.original {
            let _ = writeln!(out, "Original: {}", describe(original));
            let _ = writeln!(out, "Candidates:");
            for c in &input.candidates {
                let _ = writeln!(
                    out,
                    "{} {}: {} (size {}, layers {}, build time {})",
                    c.label,
                    c.rule_id,
                    describe(&c.measures),
                    percent(c.size_reduction),
                    percent(c.layer_reduction),
                    percent(c.build_time_reduction)
                );
            }
        }
        let _ = writeln!(out, "Dockerfile:");
        for line in &project.dockerfile {
            let _ = writeln!(out, "{line}");
        }
        if project.more_lines > 0 {
            let _ = writeln!(out, "… {} more lines", project.more_lines);
        }
        out.truncate(out.trim_end().len());
        out
    }

    /// The system and user turns, as the chat template renders them before the answer.
    pub fn messages(&self) -> [Message; 2] {
        [Message::new("system", SYSTEM), Message::new("user", self.text())]
    }

    /// The pairs' `input` column.
    pub fn input_json(&self) -> String {
        serde_json::to_string(&self.input).unwrap_or_default()
    }
}

/// Every task that applies to the project, in task order, with its gold answer: the best
/// candidate is the rule to choose, the candidates' estimated scores (the catalog's ranking
/// weights over their estimates) give the order, and the
/// lint rules' own documentation the explanation.
pub fn examples(dockerfile: &str, rewrite: &Rewrite) -> Vec<Example> {
    Task::ALL
        .into_iter()
        .filter_map(|task| Prompt::new(task, dockerfile, rewrite))
        .filter_map(|prompt| {
            let (answer, rule_ids) = gold(&prompt, rewrite)?;
            Some(Example { prompt, answer, rule_ids })
        })
        .collect()
}

fn gold(prompt: &Prompt, rewrite: &Rewrite) -> Option<(Answer, Vec<String>)> {
    let rule_order: Vec<String> = rewrite.candidates.iter().map(|c| c.rule_id.clone()).collect();
    Some(match (prompt.task, rewrite.candidates.first()) {
        (Task::Rewrite, Some(best)) => (
            Answer::Rewrite(RewriteAnswer { rule_id: best.rule_id.clone(), parameters: best.parameters.clone() }),
            vec![best.rule_id.clone()],
        ),
        (Task::Rank, _) => {
            let labels = &prompt.input.candidates;
            let order = rule_order
                .iter()
                .filter_map(|rule| labels.iter().find(|c| &c.rule_id == rule).map(|c| c.label.clone()))
                .collect();
            let rationale = rank_rationale(rewrite)?;
            (Answer::Rank(RankAnswer { order, rationale }), rule_order)
        }
        (Task::Explain, Some(best)) => {
            let answer = ExplainAnswer {
                rule_ids: vec![best.rule_id.clone()],
                fixes: fixes(&best.fixes[..best.fixes.len().min(MAX_EXPLAINED)]),
                explanation: Some(rationale(&best.rationale)),
            };
            (Answer::Explain(answer), vec![best.rule_id.clone()])
        }
        (Task::Explain, None) => {
            let codes = finding_codes(rewrite);
            let answer = ExplainAnswer { rule_ids: codes.clone(), fixes: fixes(&codes), explanation: None };
            (Answer::Explain(answer), codes)
        }
        (Task::Rewrite, None) => return None,
    })
}

fn project_view(dockerfile: &str, rewrite: &Rewrite) -> ProjectView {
    let facts = &rewrite.facts;
    let mut codes: Vec<FindingView> = Vec::new();
    for finding in sorted_findings(&rewrite.original_findings) {
        match codes.iter_mut().find(|f| f.code == finding.code) {
            Some(view) => view.lines.push(finding.line()),
            None => codes.push(FindingView {
                code: finding.code.to_owned(),
                severity: finding.severity.to_string(),
                lines: vec![finding.line()],
            }),
        }
    }
    for view in &mut codes {
        view.lines.sort_unstable();
        view.lines.dedup();
    }
    let more_findings = codes.len().saturating_sub(MAX_FINDING_CODES);
    // An explanation cites the best candidate's fixes (or the most severe codes, always kept):
    // the prompt must show every code its answer names.
    let cited: Vec<&String> =
        rewrite.candidates.first().map(|best| best.fixes.iter().take(MAX_EXPLAINED).collect()).unwrap_or_default();
    let mut room =
        MAX_FINDING_CODES - codes.iter().filter(|view| cited.contains(&&view.code)).count().min(MAX_FINDING_CODES);
    codes.retain(|view| {
        let keep = cited.contains(&&view.code) || room > 0;
        if keep && !cited.contains(&&view.code) {
            room -= 1;
        }
        keep
    });
    let (lines, more_lines) = excerpt(dockerfile);
    ProjectView {
        stack: facts.stack.map(|s| s.to_string()),
        framework: facts.framework.map(|f| f.to_string()),
        package_manager: facts.package_manager.map(|p| p.to_string()),
        features: facts.features.iter().cloned().collect(),
        findings: codes,
        more_findings,
        dockerfile: lines,
        more_lines,
    }
}

/// Numbered non-blank, non-comment lines, up to [`MAX_DOCKERFILE_CHARS`]; and how many more
/// there were.
fn excerpt(dockerfile: &str) -> (Vec<String>, usize) {
    let numbered: Vec<String> = dockerfile
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
        .map(|(i, line)| format!("{}: {}", i + 1, line.trim_end()))
        .collect();
    let mut used = 0;
    let kept = numbered
        .iter()
        .take_while(|line| {
            used += line.len() + 1;
            used <= MAX_DOCKERFILE_CHARS
        })
        .count();
    let more = numbered.len() - kept;
    (numbered.into_iter().take(kept).collect(), more)
}

/// Most severe first, then by line.
fn sorted_findings(findings: &[Finding]) -> Vec<&Finding> {
    let mut sorted: Vec<&Finding> = findings.iter().collect();
    sorted.sort_by_key(|f| (f.severity, f.line()));
    sorted
}

/// The candidates in the order they are shown: fixed by the Dockerfile's text and the rule ids,
/// not by the gold order, so a label's position says nothing of its rank.
fn shown<'r>(dockerfile: &str, rewrite: &'r Rewrite) -> Vec<&'r Candidate> {
    let file = sha256_hex(dockerfile.as_bytes());
    let mut shown: Vec<&Candidate> = rewrite.candidates.iter().collect();
    shown.sort_by_key(|c| sha256_hex(format!("{file}:{}", c.rule_id).as_bytes()));
    shown
}

fn measures(estimate: &Estimate) -> Measures {
    Measures {
        image_mb: estimate.image_mb,
        layers: estimate.layers,
        build_seconds: estimate.build_seconds,
        rebuild_seconds: estimate.rebuild_seconds,
    }
}

fn describe(m: &Measures) -> String {
    format!(
        "{:.0} MB, {} layers, build {:.0} s, rebuild {:.0} s",
        m.image_mb, m.layers, m.build_seconds, m.rebuild_seconds
    )
}

/// A reduction as the change it is: `0.8` → `-80%`; no change (after rounding) is `0%`.
fn percent(reduction: f64) -> String {
    let change = (-100.0 * reduction).round();
    if change == 0.0 { "0%".to_owned() } else { format!("{change:+.0}%") }
}

/// Why the best candidate ranks first. The catalog's weights are the same for every project,
/// so the rationale states the scores they give, not the weights.
fn rank_rationale(rewrite: &Rewrite) -> Option<String> {
    let [best, next, ..] = rewrite.candidates.as_slice() else { return None };
    Some(format!(
        "{} ranks first, scoring {:+.3} against the original (size {}, layers {}, build time {}); {} follows at {:+.3}.",
        best.rule_id,
        best.deltas.score,
        percent(best.deltas.size_reduction),
        percent(best.deltas.layer_reduction),
        percent(best.deltas.build_time),
        next.rule_id,
        next.deltas.score,
    ))
}

/// A rule's rationale as an explanation cites it: trimmed, without the sentences that quote
/// Dockerfile instructions.
pub fn rationale(text: &str) -> String {
    without_instructions(text.trim())
}

/// Each lint code with the first sentence of why it matters, from the lint rule's own
/// documentation.
pub fn fixes(codes: &[String]) -> Vec<Fix> {
    codes
        .iter()
        .filter_map(|code| {
            let meta = find_rule(code)?.meta();
            Some(Fix { code: meta.code.to_owned(), why: why_it_matters(meta.code).to_owned() })
        })
        .collect()
}

/// The first sentence of a rule's "Why it matters" that quotes no instruction; made once per
/// rule, as every pair and every explain request asks for it.
fn why_it_matters(code: &str) -> &'static str {
    static WHY: std::sync::LazyLock<std::collections::HashMap<&'static str, String>> = std::sync::LazyLock::new(|| {
        codi_core::lint::all_rules()
            .iter()
            .map(|rule| {
                let meta = rule.meta();
                let why = meta.section("Why it matters").map(|t| first_sentence(&without_instructions(&t)));
                (meta.code, why.unwrap_or_default())
            })
            .collect()
    });
    WHY.get(code).map_or("", String::as_str)
}

/// The distinct codes of the findings at warning level or above, most severe first.
fn finding_codes(rewrite: &Rewrite) -> Vec<String> {
    let mut codes: Vec<String> = Vec::new();
    for finding in sorted_findings(&rewrite.original_findings) {
        if finding.severity <= Severity::Warning
            && !codes.iter().any(|c| c == finding.code)
            && codes.len() < MAX_EXPLAINED
        {
            codes.push(finding.code.to_owned());
        }
    }
    codes
}

/// `text` without the sentences that quote Dockerfile instructions.
fn without_instructions(text: &str) -> String {
    text.split_inclusive(". ").filter(|sentence| !contains_instruction(sentence)).collect::<String>().trim().to_owned()
}

fn first_sentence(text: &str) -> String {
    let paragraph = text.split("\n\n").next().unwrap_or_default();
    match paragraph.find(". ") {
        Some(end) => paragraph[..=end].to_owned(),
        None => paragraph.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_excerpt_numbers_instruction_lines_and_stops_at_the_budget() {
        let (lines, more) = excerpt("# syntax=docker/dockerfile:1\nFROM node:20\n\nRUN npm ci\n");
        assert_eq!(lines, ["2: FROM node:20", "4: RUN npm ci"]);
        assert_eq!(more, 0);
        let long = "RUN echo 0123456789012345678901234567890123456789\n".repeat(100);
        let (lines, more) = excerpt(&long);
        assert!(lines.iter().map(|l| l.len() + 1).sum::<usize>() <= MAX_DOCKERFILE_CHARS);
        assert_eq!(lines.len() + more, 100);
    }

    #[test]
    fn first_sentences() {
        assert_eq!(first_sentence("One thing. Another."), "One thing.");
        assert_eq!(first_sentence("Only one"), "Only one");
        assert_eq!(percent(0.8), "-80%");
        assert_eq!(percent(-0.25), "+25%");
        assert_eq!(percent(0.004), "0%");
    }
}
