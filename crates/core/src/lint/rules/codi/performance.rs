//! codi's rules on build performance: the layer cache and what the shipped image carries.

use std::borrow::Cow;

use super::line_span;
use crate::analysis::Base;
use crate::lint::rules::{Check, Sink};
use crate::lint::{Context, Item, declare_rule};
use crate::shell::Command;
use crate::syntax::InstructionKind;

/// Dependency manifests and lockfiles, by file name.
fn is_manifest(path: &str) -> bool {
    const NAMES: &[&str] = &[
        "package.json",
        "package-lock.json",
        "npm-shrinkwrap.json",
        "yarn.lock",
        ".yarnrc.yml",
        "pnpm-lock.yaml",
        "pnpm-workspace.yaml",
        "pyproject.toml",
        "poetry.lock",
        "uv.lock",
        "Pipfile",
        "Pipfile.lock",
        "setup.py",
        "setup.cfg",
        "Gemfile",
        "Gemfile.lock",
        "composer.json",
        "composer.lock",
        "go.mod",
        "go.sum",
        "Cargo.toml",
        "Cargo.lock",
        "pom.xml",
        "build.gradle",
        "build.gradle.kts",
        "settings.gradle",
        "settings.gradle.kts",
        "gradle.properties",
        "packages.config",
        "Directory.Packages.props",
        "nuget.config",
    ];
    let name = path.trim_end_matches('/').rsplit('/').next().unwrap_or(path);
    NAMES.contains(&name)
        || (name.starts_with("requirements") && name.ends_with(".txt"))
        || (name.starts_with("package") && name.ends_with(".json"))
        || [".csproj", ".fsproj", ".vbproj", ".sln"].iter().any(|ext| name.ends_with(ext))
}

/// A step that downloads dependencies (or builds in a way that does).
fn installs_dependencies(cmd: &Command) -> bool {
    let sub = |s: &[&str]| cmd.has_any_arg(s);
    match cmd.basename() {
        "npm" | "pnpm" => sub(&["install", "i", "ci"]),
        "yarn" => sub(&["install"]) || cmd.args.iter().all(|a| a.starts_with('-')),
        "poetry" | "bundle" | "composer" | "pipenv" => sub(&["install"]),
        "uv" => sub(&["sync"]) || (sub(&["pip"]) && sub(&["install"])),
        "go" => sub(&["mod", "build", "install"]),
        "cargo" => sub(&["build", "fetch", "install"]),
        "mvn" | "mvnw" | "./mvnw" | "gradle" | "gradlew" | "./gradlew" => true,
        "dotnet" => sub(&["restore", "publish", "build"]),
        n if n.starts_with("pip") => sub(&["install"]) && sub(&["-r", "--requirement", "."]),
        _ => false,
    }
}

/// `COPY . .`, `COPY ./ /app/`, `COPY * ./`: the whole build context.
fn copies_whole_context(item: &Item<'_>) -> bool {
    match &item.instruction.kind {
        InstructionKind::Copy(list) | InstructionKind::Add(list) => {
            item.instruction.flag_value("from").is_none()
                && list.sources().iter().any(|s| matches!(s.raw.as_str(), "." | "./" | "*" | "./*"))
        }
        _ => false,
    }
}

fn copies_manifest(item: &Item<'_>) -> bool {
    match &item.instruction.kind {
        InstructionKind::Copy(list) | InstructionKind::Add(list) => {
            item.instruction.flag_value("from").is_none() && list.sources().iter().any(|s| is_manifest(&s.raw))
        }
        InstructionKind::Run(_) => {
            item.instruction.mounts().any(|m| m.kind == "bind" && m.source.as_deref().is_some_and(is_manifest))
        }
        _ => false,
    }
}

declare_rule! {
    /// ## What it does
    /// Flags a `COPY . …` of the whole build context that comes before the RUN installing the
    /// dependencies, when the dependency manifest (package.json, requirements.txt, go.mod,
    /// pom.xml, Gemfile …) was not copied on its own first. An install with a BuildKit cache
    /// mount (`RUN --mount=type=cache,…`) is not flagged: its cache survives.
    ///
    /// ## Why it matters
    /// Any change to any source file invalidates the cache of the install layer, so every build
    /// downloads and installs all dependencies again: minutes per build instead of seconds.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// COPY . .
    /// RUN npm ci
    /// # after
    /// COPY package.json package-lock.json ./
    /// RUN npm ci
    /// COPY . .
    /// ```
    pub(crate) struct InstallAfterSourceCopy {
        code: "CD001",
        name: "install-after-source-copy",
        hadolint: false,
        severity: Warning,
        category: Performance,
        message: "Dependencies are installed after the whole build context is copied: copy the dependency manifest and lockfile first, install, then copy the rest",
    }
}

impl Check for InstallAfterSourceCopy {
    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        for stage in split_stages(items) {
            let Some(copy) = stage.iter().position(copies_whole_context) else { continue };
            let manifest_first = stage[..copy].iter().any(copies_manifest);
            // With a cache mount, the package cache outlives the invalidated layer: nothing is
            // downloaded or compiled again.
            let install = stage[copy + 1..].iter().find(|i| {
                i.script.as_ref().is_some_and(|s| s.commands.iter().any(installs_dependencies))
                    && !i.instruction.mounts().any(|m| m.kind == "cache")
            });
            if let (false, Some(install)) = (manifest_first, install) {
                let message = format!("{} (the install runs at line {})", Self::META.message, install.line());
                sink.report_with(stage[copy].span, Cow::Owned(message));
            }
        }
    }
}

/// The items of each stage (what precedes the first FROM counts as a stage of its own).
fn split_stages<'i, 'a>(items: &'i [Item<'a>]) -> Vec<&'i [Item<'a>]> {
    let mut stages = Vec::new();
    let mut start = 0;
    for (i, item) in items.iter().enumerate() {
        if matches!(item.instruction.kind, InstructionKind::From(_)) && i > start {
            stages.push(&items[start..i]);
            start = i;
        }
    }
    stages.push(&items[start..]);
    stages
}

/// Base images that carry a compiler or SDK.
fn is_toolchain_image(base: &Base) -> bool {
    let Base::Image { reference } = base else { return false };
    let tag = reference.tag.as_deref().unwrap_or_default();
    match reference.family() {
        "golang" | "rust" | "maven" | "gradle" | "sdk" => true,
        "openjdk" | "eclipse-temurin" | "amazoncorretto" => !tag.contains("jre"),
        _ => reference.path.contains("dotnet/sdk"),
    }
}

/// Compiles or bundles the application.
fn builds(cmd: &Command) -> bool {
    let sub = |s: &[&str]| cmd.has_any_arg(s);
    match cmd.basename() {
        "go" | "cargo" | "npm" | "pnpm" | "yarn" => sub(&["build"]),
        "mvn" | "mvnw" => sub(&["package", "install", "verify"]),
        "gradle" | "gradlew" => sub(&["build", "assemble", "bootJar", "installDist", "shadowJar"]),
        "dotnet" => sub(&["publish", "build"]),
        "tsc" | "next" | "vite" | "webpack" => true,
        _ => false,
    }
}

declare_rule! {
    /// ## What it does
    /// Flags a single-stage build that compiles the application on a toolchain image (golang,
    /// rust, maven, gradle, a JDK, the .NET SDK) or bundles it with a build script.
    ///
    /// ## Why it matters
    /// The compiler, SDK, caches and sources ship with the application: images of a gigabyte
    /// instead of tens of megabytes, and far more packages with vulnerabilities to patch. A
    /// builder stage followed by a slim runtime stage ships only the result.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// FROM golang:1.22
    /// COPY . .
    /// RUN go build -o /app .
    /// CMD ["/app"]
    /// # after
    /// FROM golang:1.22 AS build
    /// COPY . .
    /// RUN CGO_ENABLED=0 go build -o /app .
    /// FROM gcr.io/distroless/static-debian12:nonroot
    /// COPY --from=build /app /app
    /// CMD ["/app"]
    /// ```
    pub(crate) struct SingleStageToolchain {
        code: "CD007",
        name: "single-stage-toolchain",
        hadolint: false,
        severity: Warning,
        category: Performance,
        message: "The application is built in the image it ships in: build in a builder stage and copy the result into a slim runtime stage",
    }
}

impl Check for SingleStageToolchain {
    fn check(&self, cx: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        let analysis = cx.analysis();
        let [stage] = analysis.stages.as_slice() else { return };
        let compiles = items.iter().any(|i| i.script.as_ref().is_some_and(|s| s.commands.iter().any(builds)));
        let node_bundle = items.iter().any(|i| {
            i.script.as_ref().is_some_and(|s| {
                s.commands
                    .iter()
                    .any(|c| matches!(c.basename(), "npm" | "pnpm" | "yarn" | "next" | "tsc" | "vite") && builds(c))
            })
        });
        if compiles && (is_toolchain_image(&stage.base) || node_bundle) {
            sink.report(line_span(cx, stage.line));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests() {
        assert!(is_manifest("package*.json") && is_manifest("./requirements-dev.txt") && is_manifest("src/App.csproj"));
        assert!(!is_manifest("src/") && !is_manifest("main.go"));
    }
}
