//! Agreement with hadolint: our findings against hadolint's labels, per code, as precision,
//! recall and F1 of (file, code, line) matches.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Finding, all_rules};
use crate::{Error, Result};

/// hadolint's findings for one file (a line of `hadolint.jsonl`).
#[derive(Debug, Clone, Deserialize)]
pub struct LabeledFile {
    pub file: String,
    pub findings: Vec<Label>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Label {
    pub code: String,
    pub line: u32,
}

/// Reads `hadolint.jsonl`, naming the line of any record that does not parse.
pub fn read_labels(path: &Path) -> Result<Vec<LabeledFile>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| Error::Json {
                path: path.to_owned(),
                line: i + 1,
                message: e.to_string(),
            })
        })
        .collect()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub true_positives: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
}

impl Counts {
    pub fn precision(&self) -> f64 {
        ratio(self.true_positives, self.true_positives + self.false_positives)
    }

    pub fn recall(&self) -> f64 {
        ratio(self.true_positives, self.true_positives + self.false_negatives)
    }

    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) }
    }

    fn add(&mut self, other: Self) {
        self.true_positives += other.true_positives;
        self.false_positives += other.false_positives;
        self.false_negatives += other.false_negatives;
    }
}

/// An empty ratio (nothing found, nothing to find) counts as perfect agreement.
fn ratio(n: usize, d: usize) -> f64 {
    if d == 0 { 1.0 } else { n as f64 / d as f64 }
}

/// One disagreement: (file, code, line), and whether only we (true) or only hadolint found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Disagreement {
    pub file: String,
    pub code: String,
    pub line: u32,
    pub only_codi: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Agreement {
    /// Files compared, and files left out because hadolint could not parse them (DL1000).
    pub files: usize,
    pub unparsed_by_hadolint: Vec<String>,
    /// Per hadolint code we implement (DL1000 excluded).
    pub by_code: BTreeMap<String, Counts>,
    pub micro: Counts,
    pub disagreements: Vec<Disagreement>,
}

/// Compares `lint(file name)` with hadolint's labels on every labeled file.
pub fn compare(labels: &[LabeledFile], mut lint: impl FnMut(&str) -> Vec<Finding>) -> Agreement {
    let implemented: Vec<&str> =
        all_rules().iter().filter_map(|r| r.meta().hadolint_code()).filter(|c| *c != "DL1000").collect();
    let mut agreement = Agreement::default();
    for code in &implemented {
        agreement.by_code.insert((*code).to_owned(), Counts::default());
    }
    for labeled in labels {
        if labeled.findings.iter().any(|l| l.code == "DL1000") {
            agreement.unparsed_by_hadolint.push(labeled.file.clone());
            continue;
        }
        agreement.files += 1;
        // (code, line) → hadolint's count minus ours.
        let mut balance: HashMap<(&str, u32), i64> = HashMap::new();
        for label in labeled.findings.iter().filter(|l| implemented.contains(&l.code.as_str())) {
            *balance.entry((label.code.as_str(), label.line)).or_default() += 1;
        }
        let ours = lint(&labeled.file);
        for finding in ours.iter().filter(|f| implemented.contains(&f.code)) {
            let matched = balance.get(&(finding.code, finding.line())).is_some_and(|n| *n > 0);
            let counts = agreement.by_code.entry(finding.code.to_owned()).or_default();
            if matched {
                counts.true_positives += 1;
                *balance.entry((finding.code, finding.line())).or_default() -= 1;
            } else {
                counts.false_positives += 1;
                agreement.disagreements.push(Disagreement {
                    file: labeled.file.clone(),
                    code: finding.code.to_owned(),
                    line: finding.line(),
                    only_codi: true,
                });
            }
        }
        for ((code, line), missing) in balance.into_iter().filter(|(_, n)| *n > 0) {
            agreement.by_code.entry(code.to_owned()).or_default().false_negatives +=
                usize::try_from(missing).unwrap_or(0);
            for _ in 0..missing {
                agreement.disagreements.push(Disagreement {
                    file: labeled.file.clone(),
                    code: code.to_owned(),
                    line,
                    only_codi: false,
                });
            }
        }
    }
    for counts in agreement.by_code.values() {
        agreement.micro.add(*counts);
    }
    agreement.disagreements.sort_by(|a, b| (&a.code, &a.file, a.line).cmp(&(&b.code, &b.file, b.line)));
    agreement
}
