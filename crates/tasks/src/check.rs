//! How a model's answer is parsed and checked. The eval suite counts these problems; the server
//! refuses an answer that has any.

use std::collections::BTreeSet;
use std::fmt;

use codi_core::catalog::Catalog;
use codi_core::lint::all_rules;
use serde_json::Value;

use crate::answer::{Answer, ExplainAnswer, Fix};
use crate::prompt::Prompt;

/// The codes an answer may cite: the catalog's rule ids and every lint rule's code.
#[derive(Debug, Clone, Default)]
pub struct Known {
    codes: BTreeSet<String>,
}

impl Known {
    pub fn new(catalog: &Catalog) -> Self {
        let rules = catalog.rules.iter().map(|r| r.id.clone());
        let lint = all_rules().iter().map(|r| r.meta().code.to_owned());
        Self { codes: rules.chain(lint).collect() }
    }

    pub fn contains(&self, code: &str) -> bool {
        self.codes.contains(code)
    }
}

/// What is wrong with an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Not one JSON value (the parser's message).
    InvalidJson(String),
    /// JSON, but not this task's answer format.
    Schema(String),
    /// A rank label that was not shown, or one given twice.
    UnknownLabel(String),
    /// A ranking that leaves shown candidates out.
    MissingLabels(Vec<String>),
    /// A rewrite rule that is not among the applicable ones.
    RuleNotOffered(String),
    /// A code that is neither a catalog rule nor a lint rule.
    UnknownCode(String),
    /// Text that reads as a Dockerfile instruction, at this JSON path.
    Instruction(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidJson(message) => write!(f, "invalid JSON: {message}"),
            Self::Schema(message) => write!(f, "not the answer format: {message}"),
            Self::UnknownLabel(label) => write!(f, "label `{label}` was not shown or is repeated"),
            Self::MissingLabels(labels) => write!(f, "the ranking leaves out {}", labels.join(", ")),
            Self::RuleNotOffered(rule) => write!(f, "rule `{rule}` is not among the applicable rules"),
            Self::UnknownCode(code) => write!(f, "`{code}` is neither a catalog rule nor a lint code"),
            Self::Instruction(path) => write!(f, "{path} contains a Dockerfile instruction"),
        }
    }
}

/// An answer as read, and what is wrong with it (nothing, for a valid one).
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub answer: Option<Answer>,
    pub problems: Vec<Problem>,
}

impl Checked {
    pub fn is_valid(&self) -> bool {
        self.answer.is_some() && self.problems.is_empty()
    }
}

/// Parses `text` as the answer to `prompt` and checks it against what the prompt offered.
pub fn check(prompt: &Prompt, text: &str, known: &Known) -> Checked {
    let value: Value = match serde_json::from_str(text.trim()) {
        Ok(value) => value,
        Err(error) => return Checked { answer: None, problems: vec![Problem::InvalidJson(error.to_string())] },
    };
    let mut problems = Vec::new();
    instructions_in(&value, "$", &mut problems);
    let answer = match Answer::from_value(prompt.task, value) {
        Ok(answer) => answer,
        Err(error) => {
            problems.insert(0, Problem::Schema(error.to_string()));
            return Checked { answer: None, problems };
        }
    };
    match &answer {
        Answer::Rewrite(rewrite) => {
            if !prompt.input.applicable_rules.contains(&rewrite.rule_id) {
                problems.push(Problem::RuleNotOffered(rewrite.rule_id.clone()));
            }
        }
        Answer::Rank(rank) => {
            let shown: Vec<&str> = prompt.input.candidates.iter().map(|c| c.label.as_str()).collect();
            let mut seen = BTreeSet::new();
            for label in &rank.order {
                if !shown.contains(&label.as_str()) || !seen.insert(label.as_str()) {
                    problems.push(Problem::UnknownLabel(label.clone()));
                }
            }
            let missing: Vec<String> = shown.iter().filter(|l| !seen.contains(*l)).map(|l| (*l).to_owned()).collect();
            if !missing.is_empty() {
                problems.push(Problem::MissingLabels(missing));
            }
        }
        Answer::Explain(explain) => {
            let cited = explain.rule_ids.iter().chain(explain.fixes.iter().map(|f| &f.code));
            let mut unknown: Vec<&String> = cited.filter(|code| !known.contains(code)).collect();
            unknown.dedup();
            problems.extend(unknown.into_iter().map(|code| Problem::UnknownCode(code.clone())));
        }
    }
    Checked { answer: Some(answer), problems }
}

/// Every string of `value` that reads as a Dockerfile instruction, by JSON path.
fn instructions_in(value: &Value, path: &str, problems: &mut Vec<Problem>) {
    match value {
        Value::String(text) if contains_instruction(text) => problems.push(Problem::Instruction(path.to_owned())),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                instructions_in(item, &format!("{path}[{i}]"), problems);
            }
        }
        Value::Object(fields) => {
            for (key, item) in fields {
                instructions_in(item, &format!("{path}.{key}"), problems);
            }
        }
        _ => {}
    }
}

const KEYWORDS: &[&str] = &[
    "FROM",
    "RUN",
    "CMD",
    "LABEL",
    "EXPOSE",
    "ENV",
    "ADD",
    "COPY",
    "ENTRYPOINT",
    "VOLUME",
    "USER",
    "WORKDIR",
    "ARG",
    "ONBUILD",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
    "MAINTAINER",
];

/// Whether `text` holds something that reads as a Dockerfile instruction: a line, or a
/// backquoted span, that starts with an upper-case keyword and an argument.
pub fn contains_instruction(text: &str) -> bool {
    // A keyword and an argument other than flags (`COPY --from` names an instruction, it is
    // not one).
    let starts_with_instruction = |s: &str| {
        let mut words = s.split_whitespace();
        words.next().is_some_and(|keyword| KEYWORDS.contains(&keyword)) && words.any(|w| !w.starts_with("--"))
    };
    text.lines().any(starts_with_instruction) || text.split('`').skip(1).step_by(2).any(starts_with_instruction)
}

/// Where in an answer's raw text the first thing [`check`] would flag as unsafe begins: a code
/// that is neither a rule nor a lint code, or the keyword of a line or backquoted span that reads
/// as a Dockerfile instruction. What a retry steers away from.
pub fn first_offense(text: &str, known: &Known) -> Option<usize> {
    let instruction = KEYWORDS
        .iter()
        .flat_map(|keyword| text.match_indices(keyword).map(|(at, _)| at))
        .filter(|&at| {
            let before = &text[..at];
            let starts_span = before.ends_with('"') || before.ends_with("\\n") || before.ends_with('`');
            starts_span && contains_instruction(&text[at..text[at..].find(['"', '`']).map_or(text.len(), |n| at + n)])
        })
        .min();
    let unknown_code = code_pattern().find_iter(text).filter(|m| !known.contains(m.as_str())).map(|m| m.start()).min();
    instruction.into_iter().chain(unknown_code).min()
}

/// Codes as answers cite them: `DL3008`, `SC2086`, `CD001`, or a catalog rule id in quotes.
fn code_pattern() -> &'static regex::Regex {
    static PATTERN: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    PATTERN.get_or_init(|| regex::Regex::new(r"\b(?:DL|SC|CD)[0-9]{3,4}\b").expect("a valid pattern"))
}

impl ExplainAnswer {
    /// The answer with what [`check`] flags removed: unknown codes, and the lines (or
    /// backquoted spans) that read as Dockerfile instructions. `None` when nothing was removed.
    pub fn without_offenses(&self, known: &Known) -> Option<Self> {
        let clean = |text: &str| {
            let lines: Vec<String> = text
                .lines()
                .filter(|line| !contains_instruction(line))
                .map(|line| {
                    let spans: Vec<&str> = line.split('`').collect();
                    spans
                        .iter()
                        .enumerate()
                        .filter(|(i, span)| i % 2 == 0 || !contains_instruction(span))
                        .map(|(_, span)| *span)
                        .collect::<Vec<_>>()
                        .join("`")
                })
                .collect();
            lines.join("\n")
        };
        let filtered = Self {
            rule_ids: self.rule_ids.iter().filter(|code| known.contains(code)).cloned().collect(),
            fixes: self
                .fixes
                .iter()
                .filter(|fix| known.contains(&fix.code))
                .map(|fix| Fix { code: fix.code.clone(), why: clean(&fix.why) })
                .collect(),
            explanation: self.explanation.as_deref().map(clean),
        };
        (filtered != *self).then_some(filtered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_are_recognised() {
        assert!(contains_instruction("then `COPY . .` copies everything"));
        assert!(contains_instruction("RUN apt-get update"));
        assert!(!contains_instruction("every RUN is a layer, and USER matters"));
        assert!(!contains_instruction("`COPY --from` should reference a previously defined `FROM` alias"));
    }
}
