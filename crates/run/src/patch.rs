//! `codi run --patch`: the recommended candidate as a patch against the project's Dockerfile,
//! in the format `git format-patch` writes (`git am` commits it with its message, `git apply`
//! applies it), and the suggested commit message beside it. The human stays in control: nothing
//! is written into the project unless `--apply` asks for it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use codi_core::project::Project;
use codi_core::rewrite::{Candidate, Estimate, Rewrite, unified_diff};
use sha1::{Digest as _, Sha1};

use crate::error::{Error, Result};
use crate::record::{PatchRecord, RankingInfo};

/// The patch, in the project's output directory of the run.
pub const PATCH_FILE: &str = "recommended.patch";
/// The suggested commit message (`git commit -F`), in the same directory.
pub const COMMIT_MESSAGE_FILE: &str = "commit-message.txt";

/// Commit messages wrap their prose here, as git's own conventions ask.
const WRAP: usize = 72;

/// How the candidate came first, for the message.
pub(crate) struct Choice<'a> {
    pub(crate) ranking: Option<&'a RankingInfo>,
    pub(crate) confidence: Option<f64>,
    pub(crate) candidates: usize,
    pub(crate) run_id: &'a str,
    pub(crate) date: DateTime<Utc>,
}

/// Writes `<out>/recommended.patch` and `<out>/commit-message.txt` for `candidate` (one of
/// `rewrite`'s) against the project's Dockerfile and, with `apply`, writes the candidate into the
/// project — only if the Dockerfile is still the one that was ranked.
pub(crate) fn write(
    out: &Path,
    project: &Project,
    rewrite: &Rewrite,
    candidate: &Candidate,
    choice: &Choice<'_>,
    apply: bool,
) -> Result<PatchRecord> {
    let project_dir = std::path::absolute(&project.root).map_err(|e| Error::io(&project.root, e))?;
    let (root, path) = target(&project_dir, &project.dockerfile_path);
    let file = project_dir.join(&project.dockerfile_path);
    let message = commit_message(&path, candidate, &rewrite.original, choice);
    let patch = format_patch(&message, &path, &project.source, &candidate.dockerfile, file_mode(&file), choice.date);
    let write = |name: &str, text: &str| {
        let at = out.join(name);
        codi_files::write_atomically(&at, text.as_bytes()).map_err(|e| Error::io(at, e))
    };
    write(PATCH_FILE, &patch)?;
    write(COMMIT_MESSAGE_FILE, &message)?;
    if apply {
        let now = std::fs::read_to_string(&file).map_err(|e| Error::io(&file, e))?;
        if now != project.source {
            return Err(Error::Changed { path: file });
        }
        codi_files::write_atomically(&file, candidate.dockerfile.as_bytes()).map_err(|e| Error::io(&file, e))?;
    }
    Ok(PatchRecord { root, path, applied: apply })
}

/// Where the patch applies: the git work tree holding the project (the nearest directory with
/// a `.git`), and the Dockerfile's path from there; the project directory when it is in none.
fn target(project_dir: &Path, dockerfile: &Path) -> (PathBuf, String) {
    let root = project_dir.ancestors().find(|dir| dir.join(".git").exists()).unwrap_or(project_dir);
    let inside = project_dir.strip_prefix(root).unwrap_or(Path::new("")).join(dockerfile);
    let path = inside.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
    (root.to_owned(), path)
}

/// The suggested commit message: a subject naming the rule (and the Dockerfile's path, when it
/// fits); the rule's name and rationale; each
/// code it fixes with one line of why, from the lint rule's own documentation; the estimated
/// deltas; how it came first.
pub(crate) fn commit_message(path: &str, candidate: &Candidate, original: &Estimate, choice: &Choice<'_>) -> String {
    let mut subject = format!("Apply codi rule {} to {path}", candidate.rule_id);
    if subject.len() > WRAP {
        let file = path.rsplit('/').next().unwrap_or(path);
        subject = format!("Apply codi rule {} to {file}", candidate.rule_id);
    }
    let mut out = format!("{subject}\n\n");
    let _ = writeln!(out, "{}\n", wrap(&format!("{}: {}", candidate.rule_name, candidate.rationale.trim())));
    let fixes = codi_tasks::fixes(&candidate.fixes);
    if !fixes.is_empty() {
        out.push_str("Fixes:\n");
        for fix in fixes {
            let _ = writeln!(out, "{}", wrap(&format!("- {}: {}", fix.code, fix.why)).replace('\n', "\n  "));
        }
        out.push('\n');
    }
    let after = &candidate.estimate;
    let _ = writeln!(out, "Estimated by codi (not a measured build):");
    let _ = writeln!(
        out,
        "- image: {:.0} MB -> {:.0} MB ({})",
        original.image_mb,
        after.image_mb,
        change(original.image_mb, after.image_mb)
    );
    let _ = writeln!(out, "- layers: {} -> {}", original.layers, after.layers);
    let _ = writeln!(out, "- cold build: {:.0} s -> {:.0} s", original.build_seconds, after.build_seconds);
    let _ = writeln!(
        out,
        "- rebuild after a source change: {:.0} s -> {:.0} s\n",
        original.rebuild_seconds, after.rebuild_seconds
    );
    let chosen = match (choice.ranking, choice.confidence) {
        (Some(ranking), confidence) => {
            let by = match &ranking.adapter_version {
                Some(adapter) => format!("{} with adapter {adapter}", ranking.base_model),
                None => ranking.base_model.clone(),
            };
            let confidence = confidence.map_or_else(String::new, |c| format!(", confidence {:.0}%", 100.0 * c));
            format!("Ranked first of {} candidates by {by} ({}{confidence}).", choice.candidates, ranking.mode.as_str())
        }
        (None, _) => "The only candidate the rules rendered for this project.".to_owned(),
    };
    let _ = writeln!(out, "{}\n", wrap(&chosen));
    let _ = writeln!(out, "Generated-by: codi run {}", choice.run_id);
    out
}

/// `message` and the diff from `old` to `new` at `path`, as one `git format-patch` mail.
pub(crate) fn format_patch(message: &str, path: &str, old: &str, new: &str, mode: &str, date: DateTime<Utc>) -> String {
    let (subject, body) = message.split_once("\n\n").unwrap_or((message, ""));
    let diff = unified_diff(old, new, path);
    let added = diff.lines().filter(|l| l.starts_with('+') && !l.starts_with("+++")).count();
    let removed = diff.lines().filter(|l| l.starts_with('-') && !l.starts_with("---")).count();
    let mut out = String::new();
    // git's fixed mbox separator line: the patch is of no commit yet.
    let _ = writeln!(out, "From {} Mon Sep 17 00:00:00 2001", "0".repeat(40));
    let _ = writeln!(out, "From: codi <codi@localhost>");
    let _ = writeln!(out, "Date: {}", date.to_rfc2822());
    let _ = writeln!(out, "Subject: [PATCH] {subject}");
    let _ =
        writeln!(out, "MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n");
    let _ = writeln!(out, "{}\n---", body.trim_end());
    let _ = writeln!(out, " {path} | {} {}{}", added + removed, "+".repeat(added.min(40)), "-".repeat(removed.min(40)));
    let _ = writeln!(
        out,
        " 1 file changed, {added} insertion{}(+), {removed} deletion{}(-)\n",
        plural(added),
        plural(removed)
    );
    let _ = writeln!(out, "diff --git a/{path} b/{path}");
    let _ = writeln!(out, "index {}..{} {mode}", blob_id(old), blob_id(new));
    out.push_str(&diff);
    let _ = write!(out, "-- \ncodi {}\n\n", env!("CARGO_PKG_VERSION"));
    out
}

/// git's object id of a file with this content.
fn blob_id(text: &str) -> String {
    let mut hasher = Sha1::new();
    hasher.update(format!("blob {}\0", text.len()));
    hasher.update(text);
    hasher.finalize().iter().fold(String::with_capacity(40), |mut hex, byte| {
        let _ = write!(hex, "{byte:02x}");
        hex
    })
}

/// The git mode of the Dockerfile: executable or not.
fn file_mode(file: &Path) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if std::fs::metadata(file).is_ok_and(|m| m.permissions().mode() & 0o111 != 0) {
            return "100755";
        }
    }
    let _ = file;
    "100644"
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `-80%` for a size that is 80% smaller.
fn change(before: f64, after: f64) -> String {
    if before <= 0.0 {
        return "n/a".to_owned();
    }
    format!("{:+.0}%", 100.0 * (after - before) / before)
}

/// `text` wrapped at [`WRAP`] columns on spaces.
fn wrap(text: &str) -> String {
    let mut out = String::new();
    let mut width = 0;
    for word in text.split_whitespace() {
        if width > 0 && width + 1 + word.len() > WRAP {
            out.push('\n');
            width = 0;
        } else if width > 0 {
            out.push(' ');
            width += 1;
        }
        out.push_str(word);
        width += word.len();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_ids_are_gits() {
        // `printf 'hello\n' | git hash-object --stdin`
        assert_eq!(blob_id("hello\n"), "ce013625030ba8dba906f756967f9e9ca394464a");
        assert_eq!(blob_id(""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
    }

    #[test]
    fn prose_wraps_at_72_columns() {
        let text = "word ".repeat(40);
        let wrapped = wrap(&text);
        assert!(wrapped.lines().all(|l| l.len() <= WRAP), "{wrapped}");
        assert_eq!(wrapped.split_whitespace().count(), 40);
    }

    #[test]
    fn a_project_outside_git_is_its_own_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        let project = dir.path().join("svc");
        std::fs::create_dir_all(project.join("docker")).expect("dirs");
        assert_eq!(target(&project, Path::new("docker/Dockerfile")), (project.clone(), "docker/Dockerfile".into()));
        std::fs::create_dir(dir.path().join(".git")).expect(".git");
        assert_eq!(target(&project, Path::new("Dockerfile")), (dir.path().to_owned(), "svc/Dockerfile".into()));
    }
}
