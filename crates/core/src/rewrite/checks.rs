//! The verdict on a candidate's text: its estimate, or why it cannot be a candidate. It depends
//! only on the text and the project's files and context size, and a catalog renders the same
//! text for every project of one shape (the same facts), so a [`Ruleset`](super::Ruleset)
//! remembers the verdicts it reached.

use std::collections::HashMap;
use std::sync::Mutex;

use xxhash_rust::xxh3::{Xxh3, xxh3_128_with_seed};

use super::{Checked, Estimate, estimate};
use crate::project::Project;

/// A candidate's estimate, or the problems that keep it from being one.
pub type Verdict = Result<Estimate, Vec<String>>;

/// Verdicts remembered by (text, project files); cleared when full, so memory stays bounded.
#[derive(Debug, Default)]
pub struct Checks {
    seen: Mutex<HashMap<u128, Verdict>>,
}

/// Verdicts kept at most (an estimate is a few hundred bytes).
const CAPACITY: usize = 1 << 14;

impl Checks {
    /// The verdicts for the candidates of `project`.
    pub fn of<'a>(&'a self, project: &'a Project) -> ProjectChecks<'a> {
        ProjectChecks { checks: self, project, key: project_key(project) }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, HashMap<u128, Verdict>> {
        self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// [`Checks`] for one project, whose part of the key is computed once.
#[derive(Debug)]
pub struct ProjectChecks<'a> {
    checks: &'a Checks,
    project: &'a Project,
    key: u128,
}

impl ProjectChecks<'_> {
    /// The verdict on `text` as a candidate for the project: remembered, or checked now.
    pub fn verdict(&self, text: &str) -> Verdict {
        let key = xxh3_128_with_seed(text.as_bytes(), self.key as u64) ^ self.key;
        if let Some(known) = self.checks.seen().get(&key) {
            return known.clone();
        }
        let verdict = verdict(text, self.project);
        let mut seen = self.checks.seen();
        if seen.len() >= CAPACITY {
            seen.clear();
        }
        seen.insert(key, verdict.clone());
        verdict
    }
}

/// Checks `text` (it must parse, pass policy and be lint-clean at warning level) and estimates it.
pub(super) fn verdict(text: &str, project: &Project) -> Verdict {
    let checked = Checked::new(text, project);
    let problems = checked.problems();
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(estimate(&checked.file, &checked.analysis, Some(project), 0))
}

/// What a verdict depends on besides the text: the project's file paths and manifests, and its
/// context size.
fn project_key(project: &Project) -> u128 {
    let mut hasher = Xxh3::new();
    let mut field = |bytes: &[u8]| {
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    field(&project.context_bytes.to_le_bytes());
    for path in &project.files.paths {
        field(path.as_bytes());
    }
    field(b"");
    for (name, content) in &project.files.manifests {
        field(name.as_bytes());
        field(content.as_bytes());
    }
    hasher.digest128()
}
