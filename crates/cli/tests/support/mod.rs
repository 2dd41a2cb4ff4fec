//! What the CLI's test binaries share.

use std::path::{Path, PathBuf};

/// The default model, when `make model` has fetched it (required in CI).
pub(crate) fn default_model() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/base/SmolLM2-135M-Instruct.Q4_1.gguf");
    if path.is_file() {
        return Some(path);
    }
    assert!(std::env::var_os("CODI_REQUIRE_ORACLES").is_none(), "{} is missing: run `make model`", path.display());
    None
}
