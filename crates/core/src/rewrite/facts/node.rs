//! Node: package.json (scripts, engines, main), .nvmrc, the lockfile's package manager, the build
//! script's output directory, Next.js standalone output.

use serde_json::Value;

use super::{Facts, SYSTEM_LIBS, base_tag_version, base_tags, leading_version, major, quoted_after};
use crate::analysis::Analysis;
use crate::project::Project;
use crate::shell::parse_script;

impl Facts {
    pub(super) fn detect_node(&mut self, project: &Project, analysis: &Analysis) {
        let package: Option<Value> = project.manifest("package.json").and_then(|t| serde_json::from_str(t).ok());
        if let Some(package) = &package {
            let scripts = &package["scripts"];
            for script in ["build", "start"] {
                if scripts[script].is_string() {
                    self.features.insert(format!("script:{script}"));
                }
            }
            self.set("has_build", scripts["build"].is_string(), "package.json scripts.build");
            let engine = package["engines"]["node"].as_str().and_then(leading_version).map(|v| major(&v).to_owned());
            self.set_if_absent("node_version", engine, "package.json engines.node");
            if let Some(main) = package["main"].as_str() {
                self.set("node_entrypoint", main, "package.json main");
            }
            if ["canvas", "node-canvas"].iter().any(|m| package["dependencies"][m].is_string()) {
                self.features.insert(SYSTEM_LIBS.into());
            }
            self.set("has_public", project.files.paths.iter().any(|p| p.starts_with("public/")), "the project's files");
        }
        for file in [".nvmrc", ".node-version"] {
            let version = project.manifest(file).and_then(|t| leading_version(t.trim_start_matches('v')));
            self.set_if_absent("node_version", version.map(|v| major(&v).to_owned()), file);
        }
        self.set_if_absent(
            "node_version",
            base_tag_version(analysis, &["node"]).map(|v| major(&v).to_owned()),
            "the original base image",
        );
        if base_tags(analysis, "node").any(|tag| tag.contains("alpine")) {
            self.set("node_variant", "alpine", "the original base image");
        }
        let manager = if project.has_file("pnpm-lock.yaml") {
            Some("pnpm")
        } else if project.has_file("yarn.lock") {
            Some("yarn")
        } else if project.has_file("package-lock.json") || project.has_file("package.json") {
            Some("npm")
        } else {
            None
        };
        self.set_if_absent("node_package_manager", manager, "the project's lockfile");
        if let Some(script) = package.as_ref().and_then(|p| p["scripts"]["build"].as_str()) {
            let (dir, source) = build_output(project, script);
            self.set("build_output", dir, source);
        }
        let standalone = ["next.config.js", "next.config.mjs", "next.config.ts"]
            .iter()
            .filter_map(|f| project.manifest(f))
            .any(|t| t.contains("standalone"));
        if standalone {
            self.features.insert("nextjs:standalone".into());
        }
    }
}

/// The build script's output directory: its `--outDir`/`--out-dir`/`-o` flag, else the default
/// of the tool it runs, else a directory the project already has.
fn build_output(project: &Project, script: &str) -> (String, &'static str) {
    let commands = parse_script(script).commands;
    for command in &commands {
        let flag =
            command.args.iter().position(|a| matches!(a.as_str(), "--outDir" | "--out-dir" | "-o" | "--output-path"));
        if let Some(dir) = flag.and_then(|i| command.args.get(i + 1)) {
            return (dir.trim_start_matches("./").trim_end_matches('/').to_owned(), "the build script's output flag");
        }
    }
    let tool_default = commands.iter().find_map(|c| match c.basename() {
        "vite" | "parcel" | "webpack" | "astro" | "rollup" | "ng" => Some("dist"),
        "react-scripts" => Some("build"),
        "gatsby" => Some("public"),
        "next" => Some("out"),
        _ => None,
    });
    if let Some(dir) = tool_default {
        return (dir.to_owned(), "the build tool's default output directory");
    }
    let out_dir = project.manifest("tsconfig.json").and_then(|t| quoted_after(t, "\"outDir\""));
    if let Some(dir) = out_dir.filter(|_| commands.iter().any(|c| c.basename() == "tsc")) {
        return (dir.trim_start_matches("./").trim_end_matches('/').to_owned(), "tsconfig.json compilerOptions.outDir");
    }
    match ["dist", "build", "out"]
        .into_iter()
        .find(|dir| project.files.paths.iter().any(|p| p.starts_with(&format!("{dir}/"))))
    {
        Some(dir) => (dir.to_owned(), "the project's files"),
        None => ("dist".to_owned(), "the most common output directory"),
    }
}
