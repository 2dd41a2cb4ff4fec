//! Every real Dockerfile in the dev corpus parses without a panic, and only the really
//! malformed one gets a diagnostic.

mod support;

use codi_core::syntax::{ParseOptions, parse_bytes};

#[test]
fn corpus_parses_with_diagnostics_only_where_malformed() {
    let Some(files) = support::corpus_files() else { return };
    let mut malformed = Vec::new();
    for (name, bytes) in &files {
        let dockerfile = parse_bytes(bytes, &ParseOptions::default());
        for d in &dockerfile.diagnostics {
            eprintln!("{name}:{}:{}: {:?} {}", d.span.start.line, d.span.start.column, d.kind, d.message);
        }
        if dockerfile.is_malformed() {
            malformed.push(name.as_str());
        }
        assert!(!dockerfile.instructions.is_empty(), "{name}: no instructions");
    }
    assert_eq!(files.len(), 493);
    assert_eq!(malformed, ["GoogleCloudPlatform__kubernetes-engine-samples__hpc__mpi__Dockerfile"]);
}
