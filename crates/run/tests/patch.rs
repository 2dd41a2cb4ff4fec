//! `codi run --patch` and `--apply`: the recommendation as a git-format patch and a commit
//! message. git itself is the oracle: `git apply` must turn the original into exactly the
//! candidate, and `git am` must commit it with the suggested message.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use codi_run::{COMMIT_MESSAGE_FILE, PATCH_FILE, ProjectRecord, RunOutcome, Status};
use support::{copy_tree, heuristic_options, sample};

/// Two projects: one with candidates to rank, one with a single candidate.
const PROJECTS: [&str; 2] = ["go-cli-alpine", "node-clean-service"];

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Reviewer")
        .env("GIT_AUTHOR_EMAIL", "reviewer@example.com")
        .env("GIT_COMMITTER_NAME", "Reviewer")
        .env("GIT_COMMITTER_EMAIL", "reviewer@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("git output is UTF-8")
}

/// Copies the sample projects under `<dir>/services/`.
fn copy_samples(dir: &Path) -> Vec<PathBuf> {
    PROJECTS
        .iter()
        .map(|name| {
            let to = dir.join("services").join(name);
            copy_tree(&sample(name), &to);
            to
        })
        .collect()
}

fn run(dir: &Path, paths: &[PathBuf], apply: bool) -> RunOutcome {
    let mut options = heuristic_options(dir, paths);
    options.patch = true;
    options.apply = apply;
    codi_run::run(&options, &codi_dataset::pipeline::Quiet).expect("a run with patches")
}

fn recommended(outcome: &RunOutcome, project: &ProjectRecord) -> String {
    let candidate = project.selected_candidate().expect("a recommendation");
    std::fs::read_to_string(outcome.dir.join(&candidate.dockerfile)).expect("the candidate's Dockerfile")
}

#[test]
fn git_applies_the_patch_and_commits_it_with_the_suggested_message() {
    let work = tempfile::tempdir().expect("tempdir");
    let repo = work.path().join("repo");
    let paths = copy_samples(&repo);
    git(&repo, &["init", "--quiet", "--initial-branch=main"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "--quiet", "-m", "The services"]);
    let originals: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p.join("Dockerfile")).expect("read")).collect();

    let outcome = run(work.path(), &paths, false);
    let statuses: Vec<Status> = outcome.record.projects.iter().map(|p| p.status).collect();
    assert_eq!(statuses, [Status::Ranked, Status::OneCandidate]);
    for (path, original) in paths.iter().zip(&originals) {
        assert_eq!(
            &std::fs::read(path.join("Dockerfile")).expect("read"),
            original,
            "--patch leaves the project alone"
        );
    }
    assert!(git(&repo, &["status", "--porcelain"]).is_empty(), "nothing written into the repository");

    for project in &outcome.record.projects {
        let patch = project.patch.as_ref().expect("a patch for every recommendation");
        assert_eq!(patch.root, repo, "{}: the patch applies at the repository's root", project.name);
        assert_eq!(patch.path, format!("services/{}/Dockerfile", project.name));
        assert!(!patch.applied);
        let out = outcome.dir.join(&project.name);
        let patch_file = out.join(PATCH_FILE);
        let message = std::fs::read_to_string(out.join(COMMIT_MESSAGE_FILE)).expect("commit message");
        let candidate = project.selected_candidate().expect("selected");
        let subject = message.lines().next().expect("subject");
        let full = format!("Apply codi rule {} to {}", candidate.rule_id, patch.path);
        let short = format!("Apply codi rule {} to Dockerfile", candidate.rule_id);
        assert_eq!(subject, if full.len() <= 72 { full } else { short });
        assert!(subject.len() <= 72 && message.lines().all(|l| l.len() <= 72), "{message}");
        assert!(message.contains("Estimated by codi") && message.contains("- image: "), "{message}");

        // `git apply`: the original becomes exactly the candidate.
        let target = repo.join(&patch.path);
        git(&repo, &["apply", "--check", patch_file.to_str().expect("utf-8 path")]);
        git(&repo, &["apply", patch_file.to_str().expect("utf-8 path")]);
        assert_eq!(std::fs::read_to_string(&target).expect("patched"), recommended(&outcome, project));
        git(&repo, &["checkout", "--", "."]);

        // `git am`: committed with the suggested message, and the same result.
        git(&repo, &["am", "--quiet", patch_file.to_str().expect("utf-8 path")]);
        assert_eq!(git(&repo, &["log", "-1", "--format=%B"]).trim_end(), message.trim_end());
        assert_eq!(std::fs::read_to_string(&target).expect("committed"), recommended(&outcome, project));
        // The patch's index line names the blobs git has for both sides.
        let text = std::fs::read_to_string(&patch_file).expect("patch");
        let blobs = format!(
            "index {}..{}",
            git(&repo, &["rev-parse", &format!("HEAD~1:{}", patch.path)]).trim(),
            git(&repo, &["rev-parse", &format!("HEAD:{}", patch.path)]).trim()
        );
        assert!(text.contains(&blobs), "{blobs} in\n{text}");
        git(&repo, &["reset", "--quiet", "--hard", "HEAD~1"]);
    }

    // The ranked project's message lists each code the candidate fixes, with why.
    let ranked = &outcome.record.projects[0];
    let message = std::fs::read_to_string(outcome.dir.join(&ranked.name).join(COMMIT_MESSAGE_FILE)).expect("message");
    let rewrite: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(outcome.dir.join(&ranked.name).join("rewrite.json")).expect("rewrite.json"),
    )
    .expect("rewrite json");
    let selected = ranked.selected.as_deref().expect("selected");
    let fixes = rewrite["candidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .find(|c| c["rule_id"] == selected)
        .and_then(|c| c["fixes"].as_array())
        .expect("fixes")
        .clone();
    assert!(!fixes.is_empty(), "the ranked sample's recommendation fixes findings");
    for code in fixes {
        let code = code.as_str().expect("code");
        assert!(message.contains(&format!("- {code}: ")), "{code} in\n{message}");
    }
    assert!(message.contains("Ranked first of 2 candidates"), "{message}");
    let report = std::fs::read_to_string(outcome.dir.join("report.md")).expect("report.md");
    assert!(report.contains(&format!("{}/{PATCH_FILE}", ranked.name)), "{report}");
}

#[test]
fn apply_writes_the_candidate_into_a_project_outside_git() {
    let work = tempfile::tempdir().expect("tempdir");
    let paths = copy_samples(work.path());
    let outcome = run(work.path(), &paths, true);
    for (project, path) in outcome.record.projects.iter().zip(&paths) {
        let patch = project.patch.as_ref().expect("patch");
        assert!(patch.applied, "{}", project.name);
        assert_eq!((patch.root.as_path(), patch.path.as_str()), (path.as_path(), "Dockerfile"));
        assert_eq!(std::fs::read_to_string(path.join("Dockerfile")).expect("read"), recommended(&outcome, project));
    }
    assert_eq!(outcome.record.failed(), 0, "{:#?}", outcome.record.projects);
}
