//! The local source: Dockerfiles found in a directory tree (`.gitignore` respected), each with
//! its directory as build context; or exactly the files a provenance table lists, with the
//! repository, path, commit and licence it gives (files taken out of their trees have no
//! context).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use codi_core::project::is_dockerfile_name;
use codi_dataset::records::RawRecord;

use codi_dataset::pipeline::{Progress, Shard, Stats};

use crate::context::{ContextSource, Fetched, MAX_RELATED_BYTES, manifests};
use crate::run::{Run, timestamp};
use crate::{Error, RawStore, Result};

#[derive(Debug, Clone)]
pub struct LocalOptions {
    pub root: PathBuf,
    /// A CSV with a header naming `file` (relative to `root`) and any of `repo`, `path`,
    /// `commit`, `license`: collect exactly those files, with that provenance.
    pub provenance: Option<PathBuf>,
    /// The files whose path falls in this shard.
    pub shard: Shard,
}

/// A file to collect and what is known of its origin.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub path: PathBuf,
    pub relative: String,
    pub repo: String,
    pub git_ref: String,
    pub url: String,
    pub license: String,
    /// The build context, when the file is still in its tree.
    pub context: Option<PathBuf>,
}

/// One row of a provenance table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provenance {
    pub file: String,
    pub repo: String,
    pub path: String,
    pub commit: String,
    pub license: String,
}

/// Splits one CSV line (RFC 4180 quoting).
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                fields.last_mut().expect("one field").push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(String::new()),
            (c, _) => fields.last_mut().expect("one field").push(c),
        }
    }
    fields
}

/// Reads a provenance table; errors name the file and line.
pub fn read_provenance(path: &Path) -> Result<Vec<Provenance>> {
    let text =
        std::fs::read_to_string(path).map_err(|source| codi_dataset::Error::Io { path: path.to_owned(), source })?;
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let problem = |line: usize, message: String| Error::Provenance { path: path.to_owned(), line, message };
    let (_, header) = lines.next().ok_or_else(|| problem(1, "empty provenance table".into()))?;
    let columns = csv_fields(header);
    let column = |name: &str| columns.iter().position(|c| c.trim() == name);
    let file = column("file").ok_or_else(|| problem(1, "no `file` column".into()))?;
    let mut rows = Vec::new();
    for (index, line) in lines {
        let fields = csv_fields(line);
        if fields.len() != columns.len() {
            return Err(problem(index + 1, format!("{} fields, the header has {}", fields.len(), columns.len())));
        }
        let get = |name: &str| column(name).map(|i| fields[i].trim().to_owned()).unwrap_or_default();
        rows.push(Provenance {
            file: fields[file].trim().to_owned(),
            repo: get("repo"),
            path: get("path"),
            commit: get("commit"),
            license: get("license"),
        });
    }
    Ok(rows)
}

/// The SPDX id of the licence file at or above `dir` (a few levels), by its well-known text.
pub fn detect_license(dir: &Path) -> String {
    let names = ["LICENSE", "LICENSE.md", "LICENSE.txt", "COPYING", "LICENCE"];
    for ancestor in dir.ancestors().take(4) {
        for name in names {
            let Ok(text) = std::fs::read_to_string(ancestor.join(name)) else { continue };
            let spdx = if text.contains("Apache License") && text.contains("Version 2.0") {
                "Apache-2.0"
            } else if text.contains("Permission is hereby granted, free of charge") {
                "MIT"
            } else if text.contains("Redistribution and use in source and binary forms")
                && text.contains("Neither the name")
            {
                "BSD-3-Clause"
            } else if text.contains("Redistribution and use in source and binary forms") {
                "BSD-2-Clause"
            } else if text.contains("Mozilla Public License Version 2.0") {
                "MPL-2.0"
            } else if text.contains("GNU GENERAL PUBLIC LICENSE") && text.contains("Version 3") {
                "GPL-3.0-only"
            } else {
                "NOASSERTION"
            };
            return spdx.to_owned();
        }
    }
    "NOASSERTION".to_owned()
}

/// The files to collect, sorted by path.
pub(crate) fn candidates(options: &LocalOptions) -> Result<Vec<Candidate>> {
    let root =
        options.root.canonicalize().map_err(|source| codi_dataset::Error::Io { path: options.root.clone(), source })?;
    let root_name = root.file_name().map_or_else(|| "local".to_owned(), |n| n.to_string_lossy().into_owned());
    if let Some(table) = &options.provenance {
        let rows = read_provenance(table)?;
        return Ok(rows
            .into_iter()
            .map(|row| {
                let url = if row.repo.contains('/') && !row.commit.is_empty() {
                    format!("https://github.com/{}/blob/{}/{}", row.repo, row.commit, row.path)
                } else {
                    String::new()
                };
                Candidate {
                    path: root.join(&row.file),
                    relative: if row.path.is_empty() { row.file.clone() } else { row.path },
                    repo: if row.repo.is_empty() { root_name.clone() } else { row.repo },
                    git_ref: row.commit,
                    url,
                    license: if row.license.is_empty() { "NOASSERTION".into() } else { row.license },
                    context: None,
                }
            })
            .collect());
    }
    let license = detect_license(&root);
    let mut found = Vec::new();
    for entry in ignore::WalkBuilder::new(&root).hidden(false).filter_entry(|e| e.file_name() != ".git").build() {
        let entry = entry.map_err(|e| Error::Store { path: root.clone(), message: format!("walking: {e}") })?;
        let name = entry.file_name().to_string_lossy();
        if !entry.file_type().is_some_and(|t| t.is_file()) || !is_dockerfile_name(&name) {
            continue;
        }
        let path = entry.into_path();
        let relative = path.strip_prefix(&root).unwrap_or(&path).to_string_lossy().replace('\\', "/");
        found.push(Candidate {
            url: format!("file://{}", path.display()),
            context: path.parent().map(Path::to_owned),
            path,
            relative,
            repo: root_name.clone(),
            git_ref: String::new(),
            license: license.clone(),
        });
    }
    found.sort_by(|a, b| a.relative.cmp(&b.relative));
    Ok(found)
}

/// The context directory of a record collected from a local tree, if it is still there.
pub(crate) fn context_of(record: &RawRecord) -> Option<PathBuf> {
    let path = PathBuf::from(record.url.strip_prefix("file://")?);
    path.parent().filter(|dir| dir.is_dir()).map(Path::to_owned)
}

/// Files of a build context on disk; nothing outside it is read.
#[derive(Debug)]
pub(crate) struct LocalContext {
    dir: PathBuf,
    cache: HashMap<String, Fetched>,
}

impl LocalContext {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self { dir, cache: HashMap::new() }
    }
}

impl ContextSource for LocalContext {
    fn list(&mut self) -> Vec<String> {
        let walk = ignore::WalkBuilder::new(&self.dir)
            .hidden(false)
            .max_depth(Some(4))
            .add_custom_ignore_filename(".dockerignore")
            .filter_entry(|e| !matches!(e.file_name().to_str(), Some(".git" | "node_modules" | "target" | "vendor")))
            .build();
        let mut paths: Vec<String> = walk
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
            .filter_map(|e| e.path().strip_prefix(&self.dir).ok().map(|p| p.to_string_lossy().replace('\\', "/")))
            .take(crate::context::MAX_LISTED)
            .collect();
        paths.sort();
        paths
    }

    fn read(&mut self, relative: &str) -> Fetched {
        if let Some(known) = self.cache.get(relative) {
            return known.clone();
        }
        let fetched = if relative.starts_with('/') || relative.split('/').any(|c| c == "..") {
            Fetched::Missing
        } else {
            let path = self.dir.join(relative);
            match std::fs::metadata(&path) {
                Ok(meta) if !meta.is_file() => Fetched::Missing,
                Ok(meta) if meta.len() > MAX_RELATED_BYTES as u64 => Fetched::TooLarge,
                Ok(_) => match std::fs::read(&path) {
                    Ok(bytes) => String::from_utf8(bytes).map_or(Fetched::NotText, Fetched::Text),
                    Err(e) => Fetched::Failed(e.to_string()),
                },
                Err(_) => Fetched::Missing,
            }
        };
        self.cache.insert(relative.to_owned(), fetched.clone());
        fetched
    }
}

/// Collects the Dockerfiles of a local tree into `raw`.
pub fn collect_local(options: &LocalOptions, raw: &Path, progress: &dyn Progress) -> Result<Stats> {
    let mut run = Run::new(RawStore::open(raw)?, "collect", options.shard);
    let mut candidates = candidates(options)?;
    candidates.retain(|c| options.shard.owns(&c.relative));
    progress.phase("collect: local files", Some(candidates.len() as u64));
    let fetched_at = timestamp();
    for candidate in candidates {
        let origin = candidate.path.display().to_string();
        match std::fs::read(&candidate.path) {
            Ok(bytes) => {
                let record = |id: String, content: String| RawRecord {
                    id,
                    source: "local".into(),
                    repo: candidate.repo.clone(),
                    path: candidate.relative.clone(),
                    git_ref: candidate.git_ref.clone(),
                    url: candidate.url.clone(),
                    license: candidate.license.clone(),
                    fetched_at: fetched_at.clone(),
                    bytes: content.len() as u64,
                    content,
                    stack_hint: None,
                    related: Vec::new(),
                    group: None,
                };
                let context = candidate.context.clone();
                run.admit(&origin, &bytes, record, |_| {
                    context.map_or_else(Vec::new, |dir| manifests(&mut LocalContext::new(dir)))
                })?;
            }
            Err(e) => run.reject("", &origin, "unreadable", e.to_string()),
        }
        progress.advance(1);
    }
    run.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quoting() {
        assert_eq!(csv_fields("a,\"b,c\",\"d \"\"e\"\"\""), vec!["a", "b,c", "d \"e\""]);
        assert_eq!(csv_fields(""), vec![""]);
    }

    #[test]
    fn provenance_errors_name_the_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let table = dir.path().join("p.csv");
        std::fs::write(&table, "file,repo\na,o/r\nb\n").expect("write");
        let error = read_provenance(&table).expect_err("short row").to_string();
        assert!(error.ends_with(":3: 1 fields, the header has 2"), "{error}");
        std::fs::write(&table, "name,repo\n").expect("write");
        assert!(read_provenance(&table).expect_err("no file column").to_string().contains("no `file` column"));
    }

    #[test]
    fn context_reads_stay_inside() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("package.json"), "{}").expect("write");
        let mut context = LocalContext::new(dir.path().to_owned());
        assert_eq!(context.read("package.json"), Fetched::Text("{}".into()));
        assert_eq!(context.read("../package.json"), Fetched::Missing);
        assert_eq!(context.read("/etc/passwd"), Fetched::Missing);
    }
}
