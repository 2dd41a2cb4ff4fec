//! `codi run` with the rules alone (`--skip-llm`) over small sample projects: one of each kind
//! (two candidates ranked, one candidate, no rule), then a project that does not load.

mod support;

use std::path::Path;

use codi_run::{RankerKind, RunRecord, Status, Step};
use codi_serve::api::Mode;
use codi_serve::telemetry::Telemetry;
use support::{heuristic_run, sample};

const PROJECTS: [&str; 4] = ["go-cli-alpine", "python-fastapi-pip", "node-clean-service", "python-django-libpq"];

#[test]
fn a_run_writes_every_file_and_its_record_reads_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let paths: Vec<_> = PROJECTS.iter().map(|p| sample(p)).collect();
    let outcome = heuristic_run(dir.path(), &paths);
    let run = &outcome.record;
    assert_eq!(outcome.dir, dir.path().join("runs").join(&run.id));
    for file in ["run.json", "report.md", "report.html", "llm_metrics.json"] {
        assert!(outcome.dir.join(file).is_file(), "{file}");
    }
    assert_eq!(&RunRecord::read(&outcome.dir).expect("run.json"), run);
    assert_eq!(run.failed(), 0, "{:#?}", run.projects);
    assert_eq!(run.ranker.kind, RankerKind::SkipLlm);
    assert_eq!(run.ranker.mode, Some(Mode::Heuristic));

    let statuses: Vec<(&str, Status)> = run.projects.iter().map(|p| (p.name.as_str(), p.status)).collect();
    assert_eq!(
        statuses,
        [
            ("go-cli-alpine", Status::Ranked),
            ("python-fastapi-pip", Status::Ranked),
            ("node-clean-service", Status::OneCandidate),
            ("python-django-libpq", Status::NoRule),
        ]
    );
    for project in &run.projects {
        let out = outcome.dir.join(&project.name);
        assert!(out.join("report.md").is_file() && out.join("rewrite.json").is_file(), "{}", project.name);
        for c in &project.candidates {
            assert!(outcome.dir.join(&c.dockerfile).is_file() && outcome.dir.join(&c.diff).is_file(), "{c:?}");
        }
        let ranks: Vec<usize> = project.candidates.iter().map(|c| c.rank).collect();
        assert_eq!(ranks, (1..=project.candidates.len()).collect::<Vec<_>>(), "best first");
        let sha = codi_files::sha256_hex(&std::fs::read(sample(&project.name).join("Dockerfile")).expect("read"));
        assert_eq!(project.dockerfile_sha256.as_deref(), Some(sha.as_str()));
    }
    let [ranked, _, single, none] = &run.projects[..] else { panic!("four projects") };
    assert_eq!(ranked.selected.as_deref(), Some(ranked.candidates[0].id.as_str()));
    assert!(ranked.candidates.iter().all(|c| c.confidence.is_some() && c.score.is_some()));
    assert_eq!(ranked.ranking.as_ref().map(|r| r.mode), Some(Mode::Heuristic));
    assert!(ranked.explanation.as_ref().is_some_and(|e| !e.summary.is_empty()), "{:?}", ranked.explanation);
    assert_eq!(single.selected.as_deref(), Some(single.candidates[0].id.as_str()));
    assert!(single.ranking.is_none() && single.candidates[0].confidence.is_none(), "one candidate is not ranked");
    assert!(single.explanation.is_none(), "node-clean-service's candidate fixes no finding: nothing to explain");
    assert!(none.explanation.as_ref().is_some_and(|e| e.rule_id.is_none()), "the findings are explained");
    assert!(none.candidates.is_empty() && none.selected.is_none());

    // The run's telemetry: one record per ranking, as the server records them.
    let records = Telemetry::new(outcome.dir.join("llm_metrics.json")).read().expect("llm_metrics.json");
    let ranked_projects: Vec<_> = run.projects.iter().filter(|p| p.status == Status::Ranked).collect();
    assert_eq!(records.len(), ranked_projects.len());
    for (record, project) in records.iter().zip(ranked_projects) {
        assert_eq!(record.project, project.name);
        assert_eq!(record.order, project.candidates.iter().map(|c| c.id.clone()).collect::<Vec<_>>());
        assert_eq!(Some(&record.selected), project.selected.as_ref());
        assert_eq!(record.rules_version, run.rules_version);
        assert_eq!(record.mode, Mode::Heuristic);
    }

    let markdown = std::fs::read_to_string(outcome.dir.join("report.md")).expect("report.md");
    for project in PROJECTS {
        assert!(markdown.contains(&format!("## {project}")), "{project}");
    }
    for said in ["No rule of the catalog applies", "nothing to rank", "nothing to explain"] {
        assert!(markdown.contains(said), "{said}: {markdown}");
    }
}

#[test]
fn the_html_report_is_self_contained() {
    let dir = tempfile::tempdir().expect("tempdir");
    let outcome = heuristic_run(dir.path(), &[sample("go-cli-alpine"), sample("node-clean-service")]);
    let html = std::fs::read_to_string(outcome.dir.join("report.html")).expect("report.html");
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    for fetches in ["src=", "<script", "<link", "url(", "@import"] {
        assert!(!html.contains(fetches), "report.html has {fetches}");
    }
    let ids: Vec<&str> = html.split("id=\"").skip(1).filter_map(|s| s.split('"').next()).collect();
    for href in html.split("href=\"").skip(1).filter_map(|s| s.split('"').next()) {
        let target = href.strip_prefix('#').unwrap_or_else(|| panic!("a link off the page: {href}"));
        assert!(ids.contains(&target), "#{target} names no section");
    }
    let ranked = &outcome.record.projects[0];
    let best = &ranked.candidates[0];
    assert!(html.contains("<h3>LLM</h3>") && html.contains(&format!("Recommended: {}", best.id)), "{html}");
    assert!(html.contains(&format!("{:.0}%", 100.0 * best.confidence.expect("ranked"))));
    assert!(html.contains("<details>"), "the diffs are on the page");
}

#[test]
fn a_project_that_fails_is_recorded_and_the_run_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-such-project");
    let outcome = heuristic_run(dir.path(), &[missing, sample("go-cli-alpine"), sample("go-cli-alpine")]);
    let run = &outcome.record;
    assert_eq!(run.failed(), 1);
    let [lost, first, second] = &run.projects[..] else { panic!("three projects") };
    assert_eq!((lost.name.as_str(), lost.status), ("no-such-project", Status::LoadFailed));
    assert_eq!(lost.problems.iter().map(|p| p.step).collect::<Vec<_>>(), [Step::Load]);
    assert_eq!((first.status, second.status), (Status::Ranked, Status::Ranked));
    assert_eq!((first.name.as_str(), second.name.as_str()), ("go-cli-alpine", "go-cli-alpine-2"));
    assert!(outcome.dir.join("go-cli-alpine-2/report.md").is_file());
    let html = std::fs::read_to_string(outcome.dir.join("report.html")).expect("report.html");
    assert!(
        html.contains("not loaded (problems)") && html.contains("load: ") && html.contains("no-such-project: "),
        "{html}"
    );

    // A second run of the same second gets a directory of its own.
    let again = heuristic_run(dir.path(), &[sample("node-clean-service")]);
    assert_ne!(again.dir, outcome.dir);
    assert_eq!(codi_run::run_ids(&dir.path().join("runs")).expect("runs").len(), 2);
    assert!(Path::new(&again.dir).join("run.json").is_file());
}
