//! The three tasks over the sample projects: every gold answer passes its own check, broken
//! answers are caught for the right reason, and the prompts look as the snapshots show.

use std::path::PathBuf;

use codi_core::project::Project;
use codi_core::rewrite::Ruleset;
use codi_core::syntax::ParseOptions;
use codi_tasks::{Answer, Example, Known, Problem, Prompt, Styles, Task, check, examples};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rules() -> Ruleset {
    Ruleset::load(&repo().join("patterns/rules.yml"), None).unwrap_or_else(|e| panic!("{e}"))
}

fn sample_examples(rules: &Ruleset) -> Vec<(String, Example)> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(repo().join("data/samples"))
        .expect("data/samples")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let mut out = Vec::new();
    for dir in dirs {
        let project = Project::load(&dir, &ParseOptions::default()).expect("sample project");
        let rewrite = rules.rewrite(&project);
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        for example in examples(&project.source, &rewrite) {
            out.push((name.clone(), example));
        }
    }
    out
}

#[test]
fn every_gold_answer_passes_its_check() {
    let rules = rules();
    let known = Known::new(&rules.catalog);
    let all = sample_examples(&rules);
    for task in Task::ALL {
        assert!(all.iter().any(|(_, e)| e.prompt.task == task), "the samples have a {task} example");
    }
    for (project, example) in &all {
        let checked = check(&example.prompt, &example.answer.to_json(), &known);
        assert!(checked.is_valid(), "{project} {}: {:?}", example.prompt.task, checked.problems);
        assert_eq!(checked.answer.as_ref(), Some(&example.answer), "{project}: the answer reads back as written");
    }
}

/// The first sample project (by name) that `task` applies to, and its example.
fn first(task: Task, rules: &Ruleset) -> (String, Example) {
    sample_examples(rules).into_iter().find(|(_, e)| e.prompt.task == task).expect("a sample has this task")
}

#[test]
fn broken_answers_are_caught_for_the_right_reason() {
    let rules = rules();
    let known = Known::new(&rules.catalog);
    let (_, Example { prompt: rank, .. }) = first(Task::Rank, &rules);
    let problems = |prompt: &Prompt, text: &str| check(prompt, text, &known).problems;
    assert!(matches!(problems(&rank, "{\"order\": [\"A\"").as_slice(), [Problem::InvalidJson(_)]));
    assert!(matches!(problems(&rank, "{\"ranking\": []}").as_slice(), [Problem::Schema(_)]));
    let labels: Vec<String> = rank.input.candidates.iter().map(|c| c.label.clone()).collect();
    let first_only = format!("{{\"order\": [\"{}\", \"{}\", \"Z\"]}}", labels[0], labels[0]);
    let found = problems(&rank, &first_only);
    assert!(found.contains(&Problem::UnknownLabel(labels[0].clone())), "{found:?}");
    assert!(found.contains(&Problem::UnknownLabel("Z".into())), "{found:?}");
    assert!(matches!(found.last(), Some(Problem::MissingLabels(missing)) if missing == &labels[1..]), "{found:?}");
    let quoting = format!("{{\"order\": {labels:?}, \"rationale\": \"first `RUN npm ci --omit=dev` then\"}}");
    assert_eq!(problems(&rank, &quoting), [Problem::Instruction("$.rationale".into())]);

    let (_, Example { prompt: rewrite, .. }) = first(Task::Rewrite, &rules);
    assert_eq!(
        problems(&rewrite, "{\"rule_id\": \"go-static-distroless\"}"),
        [Problem::RuleNotOffered("go-static-distroless".into())]
    );

    let (_, Example { prompt: explain, .. }) = first(Task::Explain, &rules);
    let unknown = "{\"rule_ids\": [\"DL9999\"], \"fixes\": [{\"code\": \"DL3008\"}]}";
    assert_eq!(problems(&explain, unknown), [Problem::UnknownCode("DL9999".into())]);
}

#[test]
fn the_first_prompt_and_answer_of_each_task() {
    let rules = rules();
    let shown: Vec<String> = Task::ALL
        .into_iter()
        .map(|task| {
            let (project, example) = first(task, &rules);
            format!("## {task}: {project}\n\n{}\n\n→ {}\n\n", example.prompt.text(), example.answer.to_json())
        })
        .collect();
    insta::assert_snapshot!(shown.concat());
}

#[test]
fn the_chat_style_carries_the_prompt_messages_and_the_answer() {
    let rules = rules();
    let project =
        Project::load(&repo().join("data/samples/python-flask-pip"), &ParseOptions::default()).expect("sample project");
    let rewrite = rules.rewrite(&project);
    let prompt = Prompt::new(Task::Rewrite, &project.source, &rewrite).expect("a rule applies");
    let best = &rewrite.candidates[0];
    let answer = Answer::Rewrite(codi_tasks::RewriteAnswer {
        rule_id: best.rule_id.clone(),
        parameters: best.parameters.clone(),
    });
    let styles = Styles::render(&prompt, &answer.to_json());
    let chat: Vec<codi_tasks::Message> = serde_json::from_str(&styles.chat).expect("chat JSON");
    assert_eq!(chat[..2], prompt.messages());
    assert_eq!(chat[2].content, answer.to_json());
    assert!(styles.instruct.starts_with(&format!("<INPUT>\n{}\n</INPUT>\n<OUTPUT>\n", prompt.text())));
    assert!(styles.raw.ends_with(&format!("\n\nAnswer: {}\n", answer.to_json())));
}
