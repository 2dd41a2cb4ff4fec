//! Go: the Go version, the binary's name from go.mod, the main package, go.sum.

use super::{Facts, app_name, base_tag_version, leading_version, minor};
use crate::analysis::Analysis;
use crate::project::Project;

impl Facts {
    pub(super) fn detect_go(&mut self, project: &Project, analysis: &Analysis) {
        if let Some(go_mod) = project.manifest("go.mod") {
            let version =
                go_mod.lines().find_map(|l| l.strip_prefix("go ")).and_then(leading_version).map(|v| minor(&v));
            self.set_if_absent("go_version", version, "go.mod");
            if let Some(module) = go_mod.lines().find_map(|l| l.strip_prefix("module ")) {
                let name = module.trim().rsplit('/').next().unwrap_or("app");
                self.set("binary_name", app_name(name), "go.mod module");
            }
            let main = project
                .files
                .paths
                .iter()
                .find(|p| p.starts_with("cmd/") && p.ends_with("/main.go"))
                .map(|p| format!("./{}", p.trim_end_matches("/main.go")));
            self.set("main_package", main.unwrap_or_else(|| ".".into()), "the location of package main");
            self.set("has_go_sum", project.has_file("go.sum"), "the project's files");
        }
        self.set_if_absent(
            "go_version",
            base_tag_version(analysis, &["golang"]).map(|v| minor(&v)),
            "the original base image",
        );
    }
}
