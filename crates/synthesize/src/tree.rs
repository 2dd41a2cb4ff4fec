//! A project held in memory: its text files by path, relative to the build context. The
//! variants are edits of it, and the collector reads its context from it as from a directory.

use std::collections::BTreeMap;
use std::path::Path;

use codi_collect::{ContextSource, Fetched, LOCKFILES, MAX_RELATED_BYTES};

use crate::{Error, Result};

/// The Dockerfile's path in every tree.
pub const DOCKERFILE: &str = "Dockerfile";

/// Directories a seed's files are not read from: build outputs and dependencies.
const SKIPPED_DIRS: [&str; 5] = [".git", "node_modules", "target", "vendor", "dist"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    /// Text by path (`/`-separated, relative to the build context).
    pub files: BTreeMap<String, String>,
}

impl Tree {
    /// The text files under `dir` (a seed project): a file that is not UTF-8 or is larger than
    /// the collector would read is an error, since a variant could not carry it.
    pub fn read(dir: &Path) -> Result<Self> {
        let mut files = BTreeMap::new();
        let walk = ignore::WalkBuilder::new(dir)
            .hidden(false)
            .filter_entry(|e| !e.file_name().to_str().is_some_and(|name| SKIPPED_DIRS.contains(&name)))
            .build();
        for entry in walk {
            let entry = entry.map_err(|e| Error::Seed { path: dir.to_owned(), message: e.to_string() })?;
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                continue;
            }
            let path = entry.into_path();
            let relative = path.strip_prefix(dir).unwrap_or(&path).to_string_lossy().replace('\\', "/");
            let bytes = std::fs::read(&path).map_err(|e| Error::Seed { path: path.clone(), message: e.to_string() })?;
            if bytes.len() > MAX_RELATED_BYTES {
                return Err(Error::Seed { path, message: format!("{} bytes, over {MAX_RELATED_BYTES}", bytes.len()) });
            }
            let text = String::from_utf8(bytes)
                .map_err(|e| Error::Seed { path: path.clone(), message: format!("not UTF-8: {e}") })?;
            files.insert(relative, text);
        }
        if !files.contains_key(DOCKERFILE) {
            return Err(Error::Seed { path: dir.to_owned(), message: "no Dockerfile".into() });
        }
        Ok(Self { files })
    }

    pub fn dockerfile(&self) -> &str {
        self.files.get(DOCKERFILE).map_or("", String::as_str)
    }

    pub(crate) fn set_dockerfile(&mut self, text: String) {
        self.files.insert(DOCKERFILE.to_owned(), text);
    }

    pub(crate) fn has(&self, path: &str) -> bool {
        self.files.contains_key(path)
    }

    /// Moves a file; false when `from` is missing or `to` exists.
    pub(crate) fn rename(&mut self, from: &str, to: &str) -> bool {
        if self.has(to) {
            return false;
        }
        match self.files.remove(from) {
            Some(text) => {
                self.files.insert(to.to_owned(), text);
                true
            }
            None => false,
        }
    }

    /// Replaces `from` as a whole word in every file's text but the lockfiles' (which the
    /// collector does not record) and in every path; true when anything changed.
    pub(crate) fn replace_word_everywhere(&mut self, from: &str, to: &str) -> bool {
        let mut changed = false;
        let files = std::mem::take(&mut self.files);
        for (path, text) in files {
            let path = replace_word(&path, from, to).unwrap_or(path);
            let lockfile = LOCKFILES.iter().any(|name| path.rsplit('/').next() == Some(*name));
            let text = match replace_word(&text, from, to) {
                Some(edited) if !lockfile => {
                    changed = true;
                    edited
                }
                _ => text,
            };
            self.files.insert(path, text);
        }
        changed
    }
}

/// `text` with every whole-word `from` replaced by `to` (a word ends where a letter, digit or
/// `_` does not follow); `None` when there is none.
pub(crate) fn replace_word(text: &str, from: &str, to: &str) -> Option<String> {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    replace_where(text, from, to, |before, after| !word(before) && !word(after.chars().next()))
}

/// `text` with each `from` replaced by `to` where `fits(the character before, the text after)`
/// holds; `None` when none fits.
pub(crate) fn replace_where(
    text: &str,
    from: &str,
    to: &str,
    fits: impl Fn(Option<char>, &str) -> bool,
) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut found = false;
    while let Some(at) = rest.find(from) {
        let before = rest[..at].chars().last().or_else(|| out.chars().last());
        let after = &rest[at + from.len()..];
        out.push_str(&rest[..at]);
        if fits(before, after) {
            out.push_str(to);
            found = true;
        } else {
            out.push_str(from);
        }
        rest = after;
    }
    out.push_str(rest);
    found.then_some(out)
}

impl ContextSource for Tree {
    fn read(&mut self, relative: &str) -> Fetched {
        match self.files.get(relative.trim_start_matches("./")) {
            Some(text) => Fetched::Text(text.clone()),
            None => Fetched::Missing,
        }
    }

    fn list(&mut self) -> Vec<String> {
        self.files.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_replaced_whole() {
        assert_eq!(replace_word("EXPOSE 8000\n", "8000", "9000").as_deref(), Some("EXPOSE 9000\n"));
        assert_eq!(replace_word("port 18000 80001", "8000", "9000"), None);
        assert_eq!(
            replace_word("axum-api target/release/axum-api", "axum-api", "ledger").as_deref(),
            Some("ledger target/release/ledger")
        );
        assert_eq!(
            replace_word("com.example.pricing.PricingServer", "pricing", "billing").as_deref(),
            Some("com.example.billing.PricingServer")
        );
        assert_eq!(replace_word("pricing_x", "pricing", "billing"), None);
    }

    #[test]
    fn renames_reach_paths_but_not_lockfiles() {
        let mut tree = Tree {
            files: [
                ("Dockerfile", "CMD [\"node\", \"server.js\"]"),
                ("package.json", "{\"main\": \"server.js\"}"),
                ("package-lock.json", "server.js"),
                ("server.js", "listen()"),
            ]
            .into_iter()
            .map(|(p, t)| (p.to_owned(), t.to_owned()))
            .collect(),
        };
        assert!(tree.replace_word_everywhere("server.js", "app.js"));
        assert_eq!(
            tree.files.keys().collect::<Vec<_>>(),
            ["Dockerfile", "app.js", "package-lock.json", "package.json"]
        );
        assert_eq!(tree.files["package-lock.json"], "server.js");
        assert_eq!(tree.files["Dockerfile"], "CMD [\"node\", \"app.js\"]");
    }
}
