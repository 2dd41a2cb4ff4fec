//! Parsing, analysis and every lint rule on arbitrary bytes: no panic.
#![no_main]

use codi_core::analysis::analyze;
use codi_core::lint::{LintConfig, lint};
use codi_core::syntax::{ParseOptions, parse_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let file = parse_bytes(data, &ParseOptions::default());
    let config = LintConfig {
        enable: vec!["DL3057".into()],
        trusted_registries: vec!["docker.io".into()],
        ..LintConfig::default()
    };
    let _ = lint(&file, &config);
    let _ = analyze(&file);
});
