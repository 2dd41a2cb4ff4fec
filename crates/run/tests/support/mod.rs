//! What the run tests share: the repository's sample projects and catalog, and a run over them
//! with the rules alone (`--skip-llm`), its telemetry kept in the test's directory.
#![allow(dead_code)] // each test binary uses part of it

use std::path::{Path, PathBuf};

use codi_dataset::pipeline::Quiet;
use codi_run::{RunOptions, RunOutcome};
use codi_serve::ServeConfig;

pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub(crate) fn sample(name: &str) -> PathBuf {
    repo().join("data/samples").join(name)
}

/// The serving configuration with the model disabled, the repository's catalog, and the
/// server's own telemetry under `dir`.
fn heuristic_config(dir: &Path) -> ServeConfig {
    let mut config = ServeConfig::load(None).expect("the default serving configuration");
    config.enabled = false;
    config.catalog = repo().join("patterns/rules.yml");
    config.telemetry = dir.join("metadata/llm_metrics.json");
    config
}

/// `codi run --skip-llm --out <dir>/runs PATHS…`.
pub(crate) fn heuristic_run(dir: &Path, paths: &[PathBuf]) -> RunOutcome {
    codi_run::run(&heuristic_options(dir, paths), &Quiet).expect("a heuristic run")
}

/// The options of [`heuristic_run`].
pub(crate) fn heuristic_options(dir: &Path, paths: &[PathBuf]) -> RunOptions {
    RunOptions {
        paths: paths.to_vec(),
        out: dir.join("runs"),
        skip_llm: true,
        endpoint: None,
        serve: heuristic_config(dir),
        patch: false,
        apply: false,
    }
}

/// Copies a sample project (a small tree of files and directories).
pub(crate) fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}
