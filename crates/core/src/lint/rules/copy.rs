//! Rules on COPY and ADD.

use std::collections::{HashMap, HashSet};

use super::{Check, Sink, is_archive, is_url, strip_quotes};
use crate::lint::{Context, Item, declare_rule};
use crate::syntax::{InstructionKind, WordList};

fn copies<'i, 'a>(items: &'i [Item<'a>]) -> impl Iterator<Item = (&'i Item<'a>, &'a WordList)> {
    items.iter().filter_map(|item| match &item.instruction.kind {
        InstructionKind::Copy(list) => Some((item, list)),
        _ => None,
    })
}

fn copy_from<'a>(item: &Item<'a>) -> Option<&'a str> {
    item.instruction.flag_value("from")
}

declare_rule! {
    /// ## What it does
    /// Flags `ADD` of local files or folders; ADD is for URLs and for archives it should unpack.
    ///
    /// ## Why it matters
    /// ADD silently unpacks archives and fetches URLs, so a reader cannot tell what a line does
    /// without knowing the file; COPY does exactly one thing.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// ADD requirements.txt /app/
    /// # after
    /// COPY requirements.txt /app/
    /// ```
    pub(crate) struct AddForCopy {
        code: "DL3020",
        name: "add-for-copy",
        hadolint: true,
        severity: Error,
        category: Correctness,
        message: "Use COPY instead of ADD for files and folders",
    }
}

impl Check for AddForCopy {
    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        for item in items {
            if let InstructionKind::Add(list) = &item.instruction.kind
                && list.sources().iter().any(|s| !is_archive(&s.raw) && !is_url(&s.raw))
            {
                sink.report(item.span);
            }
        }
    }
}

declare_rule! {
    /// ## What it does
    /// Flags `COPY` of several sources to a destination that does not end in `/`.
    ///
    /// ## Why it matters
    /// With more than one source the destination must be a directory; BuildKit refuses the
    /// instruction otherwise.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// COPY package.json package-lock.json /app
    /// # after
    /// COPY package.json package-lock.json /app/
    /// ```
    pub(crate) struct CopyManyToFile {
        code: "DL3021",
        name: "copy-many-to-file",
        hadolint: true,
        severity: Error,
        category: Correctness,
        message: "COPY with more than 2 arguments requires the last argument to end with /",
    }
}

impl Check for CopyManyToFile {
    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        for (item, list) in copies(items) {
            let to_dir = list.destination().is_some_and(|d| strip_quotes(&d.raw).ends_with('/'));
            if list.sources().len() > 1 && !to_dir {
                sink.report(item.span);
            }
        }
    }
}

declare_rule! {
    /// ## What it does
    /// Flags `COPY --from=<name>` where `<name>` is not a stage defined earlier in the file
    /// (image references with a tag, like `--from=nginx:1.27`, and stage numbers are fine).
    ///
    /// ## Why it matters
    /// An unknown name is pulled as an image from a registry: a typo in a stage name copies from
    /// whatever image happens to have that name, or fails late.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// FROM golang:1.22 AS build
    /// FROM gcr.io/distroless/static-debian12:nonroot
    /// COPY --from=builder /out/app /app
    /// # after
    /// COPY --from=build /out/app /app
    /// ```
    pub(crate) struct CopyFromUnknownStage {
        code: "DL3022",
        name: "copy-from-unknown-stage",
        hadolint: true,
        severity: Warning,
        category: Correctness,
        message: "`COPY --from` should reference a previously defined `FROM` alias",
    }
}

impl Check for CopyFromUnknownStage {
    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        let mut stages = HashSet::new();
        for item in items {
            if let InstructionKind::From(from) = &item.instruction.kind
                && let Some(alias) = &from.alias
            {
                stages.insert(alias.raw.as_str());
            }
            if let (InstructionKind::Copy(_), Some(source)) = (&item.instruction.kind, copy_from(item)) {
                let image_or_index = source.contains(':') || source.chars().all(|c| c.is_ascii_digit());
                if !image_or_index && !stages.contains(source) {
                    sink.report(item.span);
                }
            }
        }
    }
}

declare_rule! {
    /// ## What it does
    /// Flags `COPY --from=<name>` inside the stage called `<name>`.
    ///
    /// ## Why it matters
    /// A stage cannot copy from itself; the builder reports a dependency cycle.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// FROM node:20 AS build
    /// COPY --from=build /app/dist /srv
    /// # after: copy in the next stage
    /// FROM nginx:1.27-alpine
    /// COPY --from=build /app/dist /usr/share/nginx/html
    /// ```
    pub(crate) struct CopyFromSelf {
        code: "DL3023",
        name: "copy-from-self",
        hadolint: true,
        severity: Error,
        category: Correctness,
        message: "`COPY --from` cannot reference its own `FROM` alias",
    }
}

impl Check for CopyFromSelf {
    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        let mut current: Option<&str> = None;
        for item in items {
            if let InstructionKind::From(from) = &item.instruction.kind {
                current = from.alias.as_ref().map(|a| a.raw.as_str());
            }
            if let (InstructionKind::Copy(_), Some(source)) = (&item.instruction.kind, copy_from(item))
                && current == Some(source)
            {
                sink.report(item.span);
            }
        }
    }
}

declare_rule! {
    /// ## What it does
    /// Flags `COPY` to a relative destination in a stage (or the stages it builds on) where no
    /// `WORKDIR` has been set.
    ///
    /// ## Why it matters
    /// A relative destination is resolved against the base image's working directory, which is
    /// `/` for most images but not all, and can change when the base image changes.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// FROM python:3.12-slim
    /// COPY app.py .
    /// # after
    /// FROM python:3.12-slim
    /// WORKDIR /app
    /// COPY app.py .
    /// ```
    pub(crate) struct CopyRelativeWithoutWorkdir {
        code: "DL3045",
        name: "copy-relative-without-workdir",
        hadolint: true,
        severity: Warning,
        category: Correctness,
        message: "`COPY` to a relative destination without `WORKDIR` set.",
    }
}

impl Check for CopyRelativeWithoutWorkdir {
    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        // Stage key (alias, else image name, as hadolint keys them) → WORKDIR set.
        let mut workdir: HashMap<&str, bool> = HashMap::new();
        let mut stage = "";
        for item in items {
            match &item.instruction.kind {
                InstructionKind::From(from) => {
                    let image = super::from::RawImage::split(&from.image.raw).name;
                    let inherited = workdir.get(image).copied().unwrap_or(false);
                    stage = from.alias.as_ref().map_or(image, |a| a.raw.as_str());
                    workdir.insert(stage, inherited);
                }
                InstructionKind::Workdir(_) => {
                    workdir.insert(stage, true);
                }
                InstructionKind::Copy(list) => {
                    let set = workdir.get(stage).copied().unwrap_or(false);
                    let relative = list.destination().is_some_and(|d| !is_absolute(strip_quotes(&d.raw)));
                    if !set && relative {
                        sink.report(item.span);
                    }
                }
                _ => {}
            }
        }
    }
}

/// `/x`, `C:\x`, `C:/x`, or a variable (unknown, so not flagged).
pub(crate) fn is_absolute(path: &str) -> bool {
    let windows = path.get(1..3).is_some_and(|s| s == ":\\" || s == ":/");
    path.starts_with('/') || path.starts_with('$') || windows
}

declare_rule! {
    /// ## What it does
    /// Flags `COPY --from=<stage> / /`: copying another stage's whole filesystem.
    ///
    /// ## Why it matters
    /// It drags the other image's package databases, caches and shells along, defeating the
    /// multi-stage build; copy the directories you need.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// COPY --from=build / /
    /// # after
    /// COPY --from=build /app/dist /app/dist
    /// ```
    pub(crate) struct CopyWholeFilesystem {
        code: "DL3067",
        name: "copy-whole-filesystem",
        hadolint: true,
        severity: Warning,
        category: Performance,
        message: "Do not copy an entire filesystem from another stage",
    }
}

impl Check for CopyWholeFilesystem {
    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        for (item, list) in copies(items) {
            let root = |w: &crate::syntax::Word| strip_quotes(&w.raw) == "/";
            let to_root = list.destination().is_some_and(root);
            if copy_from(item).is_some() && to_root && list.sources().iter().any(root) {
                sink.report(item.span);
            }
        }
    }
}

declare_rule! {
    /// ## What it does
    /// Flags a `COPY` of a local archive that a later RUN in the same stage unpacks with `tar -x`
    /// or `unzip` (and friends).
    ///
    /// ## Why it matters
    /// The archive stays in its own layer even after extraction; `ADD` extracts local archives
    /// in one step and ships only the contents.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// COPY vendor.tar.gz /tmp/
    /// RUN tar -xzf /tmp/vendor.tar.gz -C /opt
    /// # after
    /// ADD vendor.tar.gz /opt/
    /// ```
    pub(crate) struct CopyThenExtract {
        code: "DL3010",
        name: "copy-then-extract",
        hadolint: true,
        severity: Info,
        category: Performance,
        message: "Use `ADD` for extracting archives into an image.",
    }
}

impl Check for CopyThenExtract {
    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        // Archives copied in this stage: (basename, COPY item), and whether one was extracted.
        let mut archives: Vec<(&str, &Item<'_>, bool)> = Vec::new();
        let flush = |archives: &mut Vec<(&str, &Item<'_>, bool)>, sink: &mut Sink<'_>| {
            let mut reported = HashSet::new();
            for (_, item, extracted) in archives.drain(..) {
                if extracted && reported.insert(item.span.start) {
                    sink.report(item.span);
                }
            }
        };
        for item in items {
            match &item.instruction.kind {
                InstructionKind::From(_) => flush(&mut archives, sink),
                InstructionKind::Copy(list) if copy_from(item).is_none() => {
                    let target = list.destination().map(|d| basename(&d.raw));
                    match target {
                        Some(t) if is_archive(t) => archives.push((t, item, false)),
                        _ => archives.extend(
                            list.sources()
                                .iter()
                                .map(|s| basename(&s.raw))
                                .filter(|s| is_archive(s))
                                .map(|s| (s, item, false)),
                        ),
                    }
                }
                _ => {}
            }
            if let Some(script) = &item.script {
                for command in script.commands.iter().filter(|c| extracts(c)) {
                    let operands: HashSet<&str> = command.operands().map(basename).collect();
                    for archive in archives.iter_mut().filter(|a| operands.contains(a.0)) {
                        archive.2 = true;
                    }
                }
            }
        }
        flush(&mut archives, sink);
    }
}

fn basename(path: &str) -> &str {
    strip_quotes(path).rsplit(['/', '\\']).next().unwrap_or_default()
}

/// `tar -x…`, `tar --extract`, `unzip` and the other decompressors hadolint knows.
fn extracts(cmd: &crate::shell::Command) -> bool {
    const DECOMPRESSORS: &[&str] =
        &["unzip", "gunzip", "bunzip2", "unlzma", "unxz", "zgz", "uncompress", "zcat", "gzcat"];
    let tar_extract = cmd.name == "tar"
        && cmd.args.iter().any(|a| {
            a == "--extract" || a == "--get" || (a.starts_with('-') && !a.starts_with("--") && a.contains('x'))
        });
    tar_extract || DECOMPRESSORS.contains(&cmd.name.as_str())
}
