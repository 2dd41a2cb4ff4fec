//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;

/// `../shared/corpus` next to the checkout (or `$CODI_CORPUS`); `None` when it is absent, so
/// that tests using it skip cleanly.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("CODI_CORPUS")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"), PathBuf::from);
    if dir.join("dockerfiles").is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: no corpus at {} (set CODI_CORPUS)", dir.display());
        None
    }
}

/// Every corpus Dockerfile as (file name, bytes), sorted by name.
pub fn corpus_files() -> Option<Vec<(String, Vec<u8>)>> {
    let dir = corpus_dir()?.join("dockerfiles");
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .expect("corpus dir readable")
        .map(|entry| {
            let path = entry.expect("dir entry").path();
            let name = path.file_name().expect("file name").to_string_lossy().into_owned();
            (name, std::fs::read(&path).expect("corpus file readable"))
        })
        .collect();
    files.sort();
    Some(files)
}

/// True when CI asked for every outside oracle to be present (a missing one then fails the test).
pub fn oracles_required() -> bool {
    std::env::var_os("CODI_REQUIRE_ORACLES").is_some_and(|v| v == "1")
}

/// Runs an oracle command; `None` (skip) when it is not installed, unless oracles are required.
pub fn run_oracle(program: &str, args: &[&std::ffi::OsStr]) -> Option<String> {
    match std::process::Command::new(program).args(args).output() {
        Ok(out) if out.status.success() => Some(String::from_utf8(out.stdout).expect("oracle output is UTF-8")),
        Ok(out) => skip_or_fail(&format!("{program} failed: {}", String::from_utf8_lossy(&out.stderr))),
        Err(e) => skip_or_fail(&format!("{program} not runnable: {e}")),
    }
}

fn skip_or_fail(why: &str) -> Option<String> {
    assert!(!oracles_required(), "oracle required (CODI_REQUIRE_ORACLES=1) but {why}");
    eprintln!("skipping: {why}");
    None
}
