//! Rust: the binary's name and rust-version from Cargo.toml, whether it builds a binary.

use super::{Facts, base_tag_version, leading_version, minor, toml_value};
use crate::analysis::Analysis;
use crate::project::Project;

impl Facts {
    pub(super) fn detect_rust(&mut self, project: &Project, analysis: &Analysis) {
        if let Some(cargo) = project.manifest("Cargo.toml") {
            if let Some(name) = toml_value(cargo, "name") {
                self.set("binary_name", name, "Cargo.toml package.name");
            }
            let version = toml_value(cargo, "rust-version").and_then(|v| leading_version(&v)).map(|v| minor(&v));
            self.set_if_absent("rust_version", version, "Cargo.toml rust-version");
            let has_package = cargo.lines().any(|l| l.trim() == "[package]");
            if has_package && (project.has_file("src/main.rs") || cargo.contains("[[bin]]")) {
                self.features.insert("rust:binary".into());
            }
        }
        self.set_if_absent(
            "rust_version",
            base_tag_version(analysis, &["rust"]).map(|v| minor(&v)),
            "the original base image",
        );
    }
}
