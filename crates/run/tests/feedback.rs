//! The feedback loop: decisions on a run's candidates are validated and appended; `codi data
//! feedback` makes them rank pairs whose prompt is the pairs stage's own, in the same cluster as
//! the project's other pairs, which the split then takes in.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use codi_core::project::Project;
use codi_core::rewrite::Ruleset;
use codi_core::syntax::ParseOptions;
use codi_dataset::Layout;
use codi_dataset::pipeline::{Quiet, Shard};
use codi_dataset::records::PairRecord;
use codi_dataset::table::read_all;
use codi_run::{Error, FeedbackOptions, Verdict, feedback_pairs, read_feedback, record_feedback};
use codi_tasks::{Known, Message, Prompt, RankAnswer, Styles, Task, check};
use support::{copy_tree, heuristic_run, repo, sample};

#[test]
fn decisions_are_appended_and_name_a_candidate_of_the_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let outcome = heuristic_run(dir.path(), &[sample("go-cli-alpine"), sample("python-fastapi-pip")]);
    let runs = dir.path().join("runs");
    let run = &outcome.record;
    let go = &run.projects[0];
    let (best, second) = (&go.candidates[0], &go.candidates[1]);

    let accepted =
        record_feedback(&runs, &run.id, &second.id, Verdict::Accept, Some(" smaller image ")).expect("accept");
    assert_eq!((accepted.run_id.as_str(), accepted.dir.as_path()), (run.id.as_str(), outcome.dir.as_path()));
    assert_eq!(
        (accepted.decision.project.as_str(), accepted.decision.reason.as_deref()),
        ("go-cli-alpine", Some("smaller image"))
    );
    let by_dir = outcome.dir.to_string_lossy().into_owned();
    let rejected = record_feedback(&runs, &by_dir, &format!("go-cli-alpine/{}", best.id), Verdict::Reject, None)
        .expect("a run named by its directory, a candidate by project/id");
    let decisions = read_feedback(&outcome.dir).expect("feedback.jsonl");
    assert_eq!(decisions, [accepted.decision, rejected.decision]);
    let text = std::fs::read_to_string(outcome.dir.join("feedback.jsonl")).expect("feedback.jsonl");
    assert_eq!(text.lines().count(), 2);

    let unknown = record_feedback(&runs, &run.id, "no-such-rule", Verdict::Reject, None).expect_err("unknown");
    assert!(matches!(unknown, Error::Candidate { .. }));
    let message = unknown.to_string();
    assert!(message.contains(&run.id) && message.contains("no-such-rule"), "{message}");
    for project in &run.projects {
        for c in &project.candidates {
            assert!(message.contains(&format!("{}/{}", project.name, c.id)), "{message} lists {}", c.id);
        }
    }
    let wrong_project =
        record_feedback(&runs, &run.id, &format!("python-fastapi-pip/{}", best.id), Verdict::Accept, None);
    assert!(matches!(wrong_project, Err(Error::Candidate { .. })), "{wrong_project:?}");
    let no_run = record_feedback(&runs, "19990101_000000", &best.id, Verdict::Accept, None).expect_err("no run");
    assert!(matches!(no_run, Error::NoRun { .. }) && no_run.to_string().contains(&run.id), "{no_run}");
    assert_eq!(read_feedback(&outcome.dir).expect("feedback.jsonl").len(), 2, "refused decisions are not recorded");

    let twice = heuristic_run(dir.path(), &[sample("go-cli-alpine"), sample("go-cli-alpine")]);
    let ambiguous = record_feedback(&runs, &twice.record.id, &best.id, Verdict::Accept, None).expect_err("ambiguous");
    assert!(ambiguous.to_string().contains("go-cli-alpine, go-cli-alpine-2"), "{ambiguous}");
}

/// The rank prompt a server builds for the project at `path` (crates/cli/tests/prompts.rs).
fn served_prompt(path: &Path, rules: &Ruleset) -> Prompt {
    let loaded = Project::load(path, &ParseOptions::default()).expect("project");
    let text = codi_standardize::standardized_text(&loaded.source, &mut BTreeMap::new());
    let project = Project::in_memory(&loaded.name(), "Dockerfile", &text, loaded.files.clone(), loaded.context_bytes);
    Prompt::new(Task::Rank, &project.source, &rules.rewrite(&project)).expect("a rank prompt")
}

#[test]
fn feedback_pairs_rank_the_accepted_first_and_the_rejected_last_with_the_training_prompt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let projects = dir.path().join("projects");
    let names = ["go-cli-alpine", "python-fastapi-pip"];
    for name in names {
        copy_tree(&sample(name), &projects.join(name));
    }
    let paths: Vec<PathBuf> = names.iter().map(|n| projects.join(n)).collect();
    let outcome = heuristic_run(dir.path(), &paths);
    let runs = dir.path().join("runs");
    let run = &outcome.record;
    let (go, python) = (&run.projects[0], &run.projects[1]);
    let accepted = &go.candidates[1];
    let rejected = &python.candidates[0];
    record_feedback(&runs, &run.id, &accepted.id, Verdict::Accept, Some("The smaller image wins.")).expect("accept");
    record_feedback(
        &runs,
        &run.id,
        &format!("python-fastapi-pip/{}", rejected.id),
        Verdict::Reject,
        Some("RUN pip install --user breaks it"),
    )
    .expect("reject");

    // The data pipeline over the same projects, up to the pairs stage.
    let catalog = repo().join("patterns/rules.yml");
    let layout = Layout::new(dir.path().join("data"));
    let collect = codi_collect::LocalOptions { root: projects.clone(), provenance: None, shard: Shard::ALL };
    codi_collect::collect_local(&collect, &layout.raw(), &Quiet).expect("collect");
    codi_collect::extract(&layout.raw(), None, &Quiet).expect("extract");
    codi_label::run(&codi_label::Options::in_layout(&layout), &Quiet).expect("label");
    codi_standardize::run(&codi_standardize::Options::in_layout(&layout), &Quiet).expect("standardize");
    codi_pairs::run(&codi_pairs::Options::in_layout(&layout, &catalog), &Quiet).expect("pairs");

    let options = FeedbackOptions::in_layout(&layout, &runs, &catalog);
    let stats = feedback_pairs(&options).expect("feedback pairs");
    assert_eq!((stats.input, stats.output, stats.rejected), (2, 2, 0), "{stats:?}");
    let pairs: Vec<PairRecord> = read_all(&options.table()).expect("pairs.feedback.parquet");
    let gold: Vec<PairRecord> = read_all(&layout.pairs().join("pairs.parquet")).expect("pairs.parquet");
    let rules = Ruleset::load(&catalog, None).expect("rules");
    let known = Known::new(&rules.catalog);
    assert_eq!(pairs.len(), 2);
    for (pair, project) in pairs.iter().zip([go, python]) {
        let path = projects.join(&project.name);
        let prompt = served_prompt(&path, &rules);
        let chat: Vec<Message> = serde_json::from_str(&pair.chat).expect("chat");
        assert_eq!(chat[..2], prompt.messages(), "{}", project.name);
        assert_eq!(pair.input, prompt.input_json());
        assert_eq!(pair.chat, Styles::render(&prompt, &pair.output).chat);
        assert_eq!((pair.task.as_str(), pair.instruction.as_str()), ("rank", prompt.instruction));
        assert!(check(&prompt, &pair.output, &known).problems.is_empty(), "{}", pair.output);
        let answer: RankAnswer = serde_json::from_str(&pair.output).expect("a rank answer");
        let rule_of =
            |label: &String| prompt.input.candidates.iter().find(|c| &c.label == label).map(|c| c.rule_id.clone());
        let order: Vec<String> = answer.order.iter().filter_map(rule_of).collect();
        assert_eq!(order, pair.rule_ids);
        assert_eq!(pair.source_id, format!("run:{}:{}", run.id, project.path.display()));

        // The pairs stage's rank pair of the same file: the same question, in the same cluster.
        let sha = project.dockerfile_sha256.clone().expect("loaded");
        let trained = gold.iter().find(|g| g.source_id == sha && g.task == "rank").expect("a gold rank pair");
        assert_eq!((&trained.input, &trained.instruction), (&pair.input, &pair.instruction));
        let trained_chat: Vec<Message> = serde_json::from_str(&trained.chat).expect("chat");
        assert_eq!(trained_chat[..2], chat[..2]);
        assert_eq!(trained.cluster_id, pair.cluster_id);
    }
    assert_eq!(pairs[0].rule_ids.first(), Some(&accepted.rule_id), "accepted first");
    assert_eq!(pairs[1].rule_ids.last(), Some(&rejected.rule_id), "rejected last");
    let rationale: RankAnswer = serde_json::from_str(&pairs[1].output).expect("answer");
    assert!(rationale.rationale.contains("rejected in review") && !rationale.rationale.contains("pip install"));

    // The split takes them in, each beside the pairs of its project.
    let split = codi_pairs::SplitOptions::in_layout(&layout);
    codi_pairs::split(&split, &Quiet).expect("split");
    let mut split_of = BTreeMap::new();
    for name in codi_pairs::SPLITS {
        let rows: Vec<PairRecord> = read_all(&layout.splits().join(format!("{name}.parquet"))).expect("split");
        for row in rows {
            split_of.insert(row.pair_id, name);
        }
    }
    for pair in &pairs {
        let trained = gold.iter().find(|g| g.cluster_id == pair.cluster_id).expect("gold");
        assert_eq!(split_of.get(&pair.pair_id), split_of.get(&trained.pair_id), "{}", pair.source_id);
    }

    // A project changed since its run: its decisions no longer make a pair.
    let dockerfile = projects.join("go-cli-alpine/Dockerfile");
    let text = std::fs::read_to_string(&dockerfile).expect("read");
    std::fs::write(&dockerfile, format!("{text}\n# edited\n")).expect("write");
    let stats = feedback_pairs(&options).expect("feedback pairs");
    assert_eq!((stats.input, stats.output), (2, 1));
    assert_eq!(stats.rejected_by_reason.get("dockerfile-changed"), Some(&1), "{stats:?}");
}

#[test]
fn without_decisions_the_feedback_part_is_empty_and_the_split_still_reads_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = Layout::new(dir.path().join("data"));
    let options = FeedbackOptions::in_layout(&layout, &dir.path().join("runs"), &repo().join("patterns/rules.yml"));
    let stats = feedback_pairs(&options).expect("no runs yet");
    assert_eq!((stats.input, stats.output, stats.rejected), (0, 0, 0));
    assert!(read_all::<PairRecord>(&options.table()).expect("an empty table").is_empty());
    let stats = codi_pairs::split(&codi_pairs::SplitOptions::in_layout(&layout), &Quiet).expect("split");
    assert_eq!(stats.output, 0);
}
