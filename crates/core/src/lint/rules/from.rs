//! Rules on FROM and build stages.

use std::collections::HashSet;

use super::{Check, Sink};
use crate::lint::{Context, Item, declare_rule};
use crate::syntax::{FromArgs, Instruction, InstructionKind};

/// An image reference as written (variables unexpanded), split like hadolint splits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawImage<'a> {
    pub(crate) name: &'a str,
    pub(crate) tag: Option<&'a str>,
    pub(crate) digest: Option<&'a str>,
}

impl<'a> RawImage<'a> {
    pub(crate) fn split(raw: &'a str) -> Self {
        let (rest, digest) = match raw.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (raw, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        match rest[last_slash..].rfind(':') {
            Some(i) => Self { name: &rest[..last_slash + i], tag: Some(&rest[last_slash + i + 1..]), digest },
            None => Self { name: rest, tag: None, digest },
        }
    }

    /// The registry host as written (none means Docker Hub): a first path component with a
    /// `.` or `:`, or `localhost`. Those inside `${…}` do not count: such a registry is decided
    /// by a build argument, and hadolint does not see one there either.
    pub(crate) fn registry(&self) -> Option<&'a str> {
        let (first, _) = self.name.split_once('/')?;
        let mut depth = 0usize;
        let host = first.chars().any(|c| {
            match c {
                '{' => depth += 1,
                '}' => depth = depth.saturating_sub(1),
                '.' | ':' => return depth == 0,
                _ => {}
            }
            false
        });
        (host || first == "localhost").then_some(first)
    }

    /// The name without its registry (hadolint's image name).
    pub(crate) fn path(&self) -> &'a str {
        match self.registry() {
            Some(registry) => &self.name[registry.len() + 1..],
            None => self.name,
        }
    }
}

/// The FROM instructions of a stream.
fn froms<'i, 'a>(items: &'i [Item<'a>]) -> impl Iterator<Item = (&'i Item<'a>, &'a FromArgs)> {
    items.iter().filter_map(|item| match &item.instruction.kind {
        InstructionKind::From(from) => Some((item, from)),
        _ => None,
    })
}

fn platform(instruction: &Instruction) -> Option<&str> {
    instruction.flag_value("platform")
}

declare_rule! {
    /// ## What it does
    /// Flags a `FROM` image without a tag or digest (`FROM ubuntu`), unless it names an earlier
    /// build stage or `scratch`, or is given entirely by a build argument (`FROM $BASE_IMAGE`).
    ///
    /// ## Why it matters
    /// An untagged image means `latest`, which moves: the same Dockerfile builds different
    /// images on different days, and a new major version can break the build or the app.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// FROM python
    /// # after
    /// FROM python:3.12-slim
    /// ```
    pub(crate) struct UntaggedImage {
        code: "DL3006",
        name: "untagged-image",
        hadolint: true,
        severity: Warning,
        category: Reproducibility,
        message: "Always tag the version of an image explicitly",
    }
}

impl Check for UntaggedImage {
    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        let mut stages = HashSet::new();
        for (item, from) in froms(items) {
            let image = RawImage::split(&from.image.raw);
            let is_stage = stages.contains(image.name);
            let from_argument = image.name.starts_with('$');
            if !is_stage && !from_argument && image.name != "scratch" && image.tag.is_none() && image.digest.is_none() {
                sink.report(item.span);
            }
            if let Some(alias) = &from.alias {
                stages.insert(alias.raw.as_str());
            }
        }
    }
}

declare_rule! {
    /// ## What it does
    /// Flags `FROM image:latest`, unless a digest pins it (`image:latest@sha256:…`).
    ///
    /// ## Why it matters
    /// `latest` is whatever was pushed last. Builds stop being reproducible, and a rebuild for a
    /// security fix can silently pull a new major version.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// FROM node:latest
    /// # after
    /// FROM node:20.11-bookworm-slim
    /// ```
    pub(crate) struct LatestTag {
        code: "DL3007",
        name: "latest-tag",
        hadolint: true,
        severity: Warning,
        category: Reproducibility,
        message: "Using latest is prone to errors if the image will ever update. Pin the version explicitly to a release tag",
    }
}

impl Check for LatestTag {
    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        for (item, from) in froms(items) {
            let image = RawImage::split(&from.image.raw);
            if image.tag == Some("latest") && image.digest.is_none() {
                sink.report(item.span);
            }
        }
    }
}

declare_rule! {
    /// ## What it does
    /// Flags two build stages with the same name (`FROM … AS build` twice).
    ///
    /// ## Why it matters
    /// BuildKit refuses the file; older builders silently used the last stage of that name, so
    /// `COPY --from=build` copied from a stage nobody meant.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// FROM node:20 AS build
    /// FROM golang:1.22 AS build
    /// # after
    /// FROM node:20 AS web-build
    /// FROM golang:1.22 AS api-build
    /// ```
    pub(crate) struct DuplicateStageName {
        code: "DL3024",
        name: "duplicate-stage-name",
        hadolint: true,
        severity: Error,
        category: Correctness,
        message: "FROM aliases (stage names) must be unique",
    }
}

impl Check for DuplicateStageName {
    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        let mut seen = HashSet::new();
        for (item, from) in froms(items) {
            if let Some(alias) = &from.alias
                && !seen.insert(alias.raw.as_str())
            {
                sink.report(item.span);
            }
        }
    }
}

declare_rule! {
    /// ## What it does
    /// Flags an image from a registry that is not in the configured list of trusted registries:
    /// in `FROM`, `COPY --from=<image>` and `RUN --mount=…,from=<image>`. It runs only when that
    /// list is given (`codi lint --trusted-registry …`). An entry is a host, `*` (any),
    /// `*.example.com` (a suffix) or `registry.*` (a prefix); an image without a registry comes
    /// from `docker.io` (also `hub.docker.com`). Stage names, stage numbers and `scratch` are fine.
    ///
    /// ## Why it matters
    /// Organisations mirror and scan base images in their own registries; pulling from anywhere
    /// else bypasses that review and the supply chain it protects.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before (trusted: registry.example.com)
    /// FROM docker.io/library/nginx:1.27
    /// # after
    /// FROM registry.example.com/mirror/nginx:1.27
    /// ```
    pub(crate) struct UntrustedRegistry {
        code: "DL3026",
        name: "untrusted-registry",
        hadolint: true,
        severity: Error,
        category: Security,
        message: "Use only an allowed registry in the FROM image",
    }
}

/// hadolint's trusted-registry patterns: `*` (any), `*suffix`, `prefix*`, or the exact host.
fn registry_matches(pattern: &str, registry: &str) -> bool {
    if pattern == "*" {
        true
    } else if let Some(suffix) = pattern.strip_prefix('*') {
        registry.ends_with(suffix)
    } else if let Some(prefix) = pattern.strip_suffix('*') {
        registry.starts_with(prefix)
    } else {
        pattern == registry
    }
}

impl Check for UntrustedRegistry {
    fn check(&self, cx: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        let trusted = &cx.config.trusted_registries;
        if trusted.is_empty() {
            return;
        }
        let allowed = |registry: &str| trusted.iter().any(|t| registry_matches(t, registry));
        let mut stages = HashSet::new();
        for item in items {
            let instruction = item.instruction;
            let images: Vec<String> = match &instruction.kind {
                InstructionKind::From(from) => vec![from.image.raw.clone()],
                InstructionKind::Copy(_) => instruction.flag_value("from").map(str::to_owned).into_iter().collect(),
                InstructionKind::Run(_) => instruction
                    .mounts()
                    .filter(|m| matches!(m.kind.as_str(), "bind" | "cache"))
                    .filter_map(|m| m.from)
                    .collect(),
                _ => continue,
            };
            let untrusted = images.iter().map(|raw| RawImage::split(raw)).any(|image| {
                // A stage number (`--from=0`) is a stage too; hadolint checks it as an image.
                let stage = stages.contains(image.name) || image.name.parse::<usize>().is_ok();
                !stage
                    && match image.registry() {
                        Some(registry) => !allowed(registry),
                        None => image.name != "scratch" && !allowed("docker.io") && !allowed("hub.docker.com"),
                    }
            });
            if untrusted {
                sink.report(item.span);
            }
            if let InstructionKind::From(from) = &instruction.kind
                && let Some(alias) = &from.alias
            {
                stages.insert(alias.raw.as_str());
            }
        }
    }
}

declare_rule! {
    /// ## What it does
    /// Flags `FROM --platform=` with a literal platform such as `linux/amd64`. Platforms given
    /// through build arguments (`$BUILDPLATFORM`) are fine.
    ///
    /// ## Why it matters
    /// A hard-coded platform makes multi-platform builds produce the wrong architecture, or run
    /// everything under emulation on machines of another architecture.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// FROM --platform=linux/amd64 golang:1.22 AS build
    /// # after: build natively, cross-compile for the target
    /// FROM --platform=$BUILDPLATFORM golang:1.22 AS build
    /// ```
    pub(crate) struct LiteralPlatform {
        code: "DL3029",
        name: "literal-platform",
        hadolint: true,
        severity: Warning,
        category: Reproducibility,
        message: "Do not use --platform flag with FROM",
    }
}

impl Check for LiteralPlatform {
    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        for (item, _) in froms(items) {
            if platform(item.instruction).is_some_and(|p| !p.is_empty() && !p.starts_with('$')) {
                sink.report(item.span);
            }
        }
    }
}

declare_rule! {
    /// ## What it does
    /// Flags an instruction other than `ARG` before the first `FROM`.
    ///
    /// ## Why it matters
    /// Only `ARG` (and parser directives and comments) may precede the first stage; BuildKit
    /// refuses anything else because there is no image yet to apply it to.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// ENV LANG=C.UTF-8
    /// FROM debian:12
    /// # after
    /// FROM debian:12
    /// ENV LANG=C.UTF-8
    /// ```
    pub(crate) struct InstructionBeforeFrom {
        code: "DL3061",
        name: "instruction-before-from",
        hadolint: true,
        severity: Error,
        category: Correctness,
        message: "Invalid instruction order. Dockerfile must begin with `FROM`, `ARG` or comment.",
    }
}

impl Check for InstructionBeforeFrom {
    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        for item in items {
            match item.instruction.kind {
                InstructionKind::From(_) => return,
                InstructionKind::Arg(_) => {}
                _ => sink.report(item.span),
            }
        }
    }
}

declare_rule! {
    /// ## What it does
    /// Flags a build stage named `scratch` or `context`.
    ///
    /// ## Why it matters
    /// Both names already mean something to the builder (the empty image, the build context);
    /// `FROM scratch` or `COPY --from=context` then refer to something else than the reader
    /// expects, or the builder refuses the name.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// FROM alpine:3.20 AS scratch
    /// # after
    /// FROM alpine:3.20 AS tools
    /// ```
    pub(crate) struct ReservedStageName {
        code: "DL3063",
        name: "reserved-stage-name",
        hadolint: true,
        severity: Warning,
        category: Correctness,
        message: "stage name should not be a reserved word",
    }
}

impl Check for ReservedStageName {
    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        for (item, from) in froms(items) {
            if from.alias.as_ref().is_some_and(|a| matches!(a.raw.to_ascii_lowercase().as_str(), "scratch" | "context"))
            {
                sink.report(item.span);
            }
        }
    }
}

declare_rule! {
    /// ## What it does
    /// Flags `FROM --platform=$TARGETPLATFORM`.
    ///
    /// ## Why it matters
    /// Stages are built for the target platform by default; the flag adds noise and suggests a
    /// cross-compilation setup that is not there (`$BUILDPLATFORM` is the useful one).
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// FROM --platform=$TARGETPLATFORM alpine:3.20
    /// # after
    /// FROM alpine:3.20
    /// ```
    pub(crate) struct RedundantTargetPlatform {
        code: "DL3065",
        name: "redundant-target-platform",
        hadolint: true,
        severity: Warning,
        category: Style,
        message: "Setting `FROM --platform` to predefined `$TARGETPLATFORM` in is redundant as this is the default behavior",
    }
}

impl Check for RedundantTargetPlatform {
    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        for (item, _) in froms(items) {
            if matches!(platform(item.instruction), Some("$TARGETPLATFORM" | "${TARGETPLATFORM}")) {
                sink.report(item.span);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RawImage;

    #[test]
    fn raw_image_split() {
        let i = RawImage::split("localhost:5000/a/b:${TAG}@sha256:x");
        assert_eq!((i.name, i.tag, i.digest), ("localhost:5000/a/b", Some("${TAG}"), Some("sha256:x")));
        assert_eq!((i.registry(), i.path()), (Some("localhost:5000"), "a/b"));
        assert_eq!(RawImage::split("$BASE").tag, None);
        assert_eq!(RawImage::split("python").registry(), None);
        assert_eq!(RawImage::split("library/python").path(), "library/python");
        assert_eq!(RawImage::split("${REGISTRY:-docker.io}/library/python").registry(), None);
        assert_eq!(RawImage::split("${REGISTRY}.example.com/python").registry(), Some("${REGISTRY}.example.com"));
    }
}
