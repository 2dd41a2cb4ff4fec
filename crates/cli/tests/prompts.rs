//! The one rule of the model's job: the prompt the server builds for a project (from its
//! directory) equals, byte for byte, the prompt the model was trained on for the same project
//! (from the data pipeline's pairs).

use std::collections::BTreeMap;
use std::path::PathBuf;

use codi_core::project::Project;
use codi_core::rewrite::Ruleset;
use codi_core::syntax::ParseOptions;
use codi_dataset::Layout;
use codi_dataset::pipeline::{Quiet, Shard};
use codi_dataset::records::{CuratedRecord, PairRecord};
use codi_dataset::table::read_all;
use codi_tasks::{Message, Prompt, Task};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn serving_prompts_equal_the_training_prompts_of_the_sample_projects() {
    let samples = repo().join("data/samples");
    let catalog = repo().join("patterns/rules.yml");
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = Layout::new(dir.path());
    let collect = codi_collect::LocalOptions { root: samples.clone(), provenance: None, shard: Shard::ALL };
    codi_collect::collect_local(&collect, &layout.raw(), &Quiet).expect("collect");
    codi_collect::extract(&layout.raw(), None, &Quiet).expect("extract");
    codi_label::run(&codi_label::Options::in_layout(&layout), &Quiet).expect("label");
    codi_standardize::run(&codi_standardize::Options::in_layout(&layout), &Quiet).expect("standardize");
    codi_pairs::run(&codi_pairs::Options::in_layout(&layout, &catalog), &Quiet).expect("pairs");

    let curated: Vec<CuratedRecord> = read_all(&layout.curated().join("curated.parquet")).expect("curated");
    let path_of: BTreeMap<&str, &str> = curated.iter().map(|r| (r.id.as_str(), r.path.as_str())).collect();
    let pairs: Vec<PairRecord> = read_all(&layout.pairs().join("pairs.parquet")).expect("pairs");
    let rules = Ruleset::load(&catalog, None).expect("rules");
    // The server's own path: a project as a client sends it (raw Dockerfile, files by path).
    let heuristic = codi_serve::ServeConfig {
        enabled: false,
        catalog: catalog.clone(),
        telemetry: dir.path().join("llm_metrics.json"),
        ..codi_serve::ServeConfig::default()
    };
    let service = codi_serve::Service::start(&heuristic).expect("the service starts");
    let mut compared: BTreeMap<String, usize> = BTreeMap::new();
    for pair in &pairs {
        let path = samples.join(path_of[pair.source_id.as_str()]);
        let loaded = Project::load(&path, &ParseOptions::default()).expect("the sample project");
        let text = codi_standardize::standardized_text(&loaded.source, &mut BTreeMap::new());
        let project =
            Project::in_memory(&loaded.name(), "Dockerfile", &text, loaded.files.clone(), loaded.context_bytes);
        let task: Task = pair.task.parse().expect("a task");
        let served = Prompt::new(task, &project.source, &rules.rewrite(&project))
            .unwrap_or_else(|| panic!("{}: no {task} prompt at serving time", path.display()));
        let trained: Vec<Message> = serde_json::from_str(&pair.chat).expect("chat");
        assert_eq!(trained[..2], served.messages(), "{} {task}", path.display());
        let sent = codi_serve::api::ProjectInput::from_project(&loaded, &loaded.name());
        let asked = service.prompt(task, &sent).expect("a project").expect("the task applies");
        assert_eq!(trained[..2], asked.messages(), "{} {task}: the server's prompt", path.display());
        assert_eq!(pair.input, served.input_json(), "{} {task}", path.display());
        *compared.entry(pair.task.clone()).or_default() += 1;
    }
    assert!(Task::ALL.iter().all(|t| compared.contains_key(t.as_str())), "every task compared: {compared:?}");
}
