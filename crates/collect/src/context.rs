//! What a Dockerfile reaches in its build context (the Dockerfile's directory): the manifests
//! and lockfiles that decide its stack, and the scripts it copies and runs. Paths are resolved
//! through the COPY instructions and WORKDIR, never guessed: a script the context does not
//! provide is recorded as missing.

use codi_core::analysis::analyze;
pub use codi_core::project::{LOCKFILES, MANIFESTS};
use codi_core::shell::parse_script;
use codi_core::syntax::{Arguments, Dockerfile, InstructionKind};
use codi_dataset::records::RelatedFile;

/// Text files larger than this are recorded as `too-large`, without their content.
pub const MAX_RELATED_BYTES: usize = 256 * 1024;

/// Files of a context listed (paths only) at most: enough to see a project's layout.
pub(crate) const MAX_LISTED: usize = 500;

/// Where context files come from.
pub trait ContextSource {
    /// The file at `relative` (to the build context): its text, or why there is none.
    fn read(&mut self, relative: &str) -> Fetched;

    /// Paths of the context's files, as far as the source can list them cheaply (at most
    /// [`MAX_LISTED`]).
    fn list(&mut self) -> Vec<String> {
        Vec::new()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    Text(String),
    Missing,
    TooLarge,
    NotText,
    /// The source could not answer (network, rate limit exhausted …): recorded, not invented.
    Failed(String),
}

fn related(path: &str, role: &str, fetched: Fetched) -> RelatedFile {
    let (status, content) = match fetched {
        Fetched::Text(text) => ("found", (role != "lockfile").then_some(text)),
        Fetched::Missing => ("missing", None),
        Fetched::TooLarge => ("too-large", None),
        Fetched::NotText => ("not-text", None),
        Fetched::Failed(_) => ("unavailable", None),
    };
    RelatedFile { path: path.to_owned(), role: role.to_owned(), status: status.to_owned(), content }
}

/// The manifests and lockfiles of the context that exist (those a source reports missing are
/// left out: absence of a manifest is the normal case), project files found by listing the
/// context (`*.csproj`, `*.fsproj`), and the listing itself (role `file`, paths only).
pub fn manifests(source: &mut dyn ContextSource) -> Vec<RelatedFile> {
    let mut out = Vec::new();
    for (names, role) in [(MANIFESTS, "manifest"), (LOCKFILES, "lockfile")] {
        for name in names {
            match source.read(name) {
                Fetched::Missing => {}
                fetched => out.push(related(name, role, fetched)),
            }
        }
    }
    for path in source.list().into_iter().take(MAX_LISTED) {
        if out.iter().any(|r| r.path == path) {
            continue;
        }
        if path.ends_with(".csproj") || path.ends_with(".fsproj") {
            let fetched = source.read(&path);
            out.push(related(&path, "manifest", fetched));
        } else {
            out.push(RelatedFile { path, role: "file".into(), status: "found".into(), content: None });
        }
    }
    out
}

/// A COPY or ADD from the context: where each source lands in the image.
#[derive(Debug)]
struct Placement {
    /// Context-relative source (`.` for the whole context).
    source: String,
    /// Absolute path in the image: the file itself, or the directory the source's content
    /// lands in when the source is a directory.
    target: String,
    directory: bool,
}

fn absolute(path: &str, workdir: &str) -> String {
    let joined =
        if path.starts_with('/') { path.to_owned() } else { format!("{}/{path}", workdir.trim_end_matches('/')) };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

fn clean_source(raw: &str) -> String {
    let path = raw.trim_matches('"').trim_start_matches("./").trim_end_matches('/');
    if path.is_empty() { ".".to_owned() } else { path.to_owned() }
}

/// A source that names one file (not a directory, a glob, a URL or a variable).
fn looks_like_file(source: &str) -> bool {
    let name = source.rsplit('/').next().unwrap_or(source);
    !source.contains(['*', '?', '[', '$'])
        && !source.contains("://")
        && name.contains('.')
        && name != "."
        && name != ".."
}

fn placements(file: &Dockerfile) -> (Vec<Placement>, String) {
    let mut out = Vec::new();
    let mut workdir = "/".to_owned();
    for instruction in &file.instructions {
        match &instruction.kind {
            InstructionKind::From(_) => "/".clone_into(&mut workdir),
            InstructionKind::Workdir(word) => workdir = absolute(&word.raw, &workdir),
            InstructionKind::Copy(list) | InstructionKind::Add(list) if instruction.flag_value("from").is_none() => {
                let Some(dest) = list.destination() else { continue };
                let sources = list.sources();
                let into_directory = dest.raw.ends_with('/') || sources.len() > 1;
                for source in sources.iter().filter(|s| !s.raw.contains("://")) {
                    let clean = clean_source(&source.raw);
                    let directory = !looks_like_file(&clean);
                    let target = if directory || !into_directory {
                        absolute(&dest.raw, &workdir)
                    } else {
                        absolute(&format!("{}/{}", dest.raw, clean.rsplit('/').next().unwrap_or(&clean)), &workdir)
                    };
                    out.push(Placement { source: clean, target, directory });
                }
            }
            _ => {}
        }
    }
    (out, workdir)
}

/// The context path of a file the image has at `path` (relative paths against `workdir`).
fn context_path(path: &str, workdir: &str, placements: &[Placement]) -> Option<String> {
    let wanted = absolute(path, workdir);
    placements.iter().rev().find_map(|p| {
        if !p.directory && p.target == wanted {
            Some(p.source.clone())
        } else if p.directory {
            let rest = wanted.strip_prefix(&p.target)?.strip_prefix('/')?;
            Some(if p.source == "." { rest.to_owned() } else { format!("{}/{rest}", p.source) })
        } else {
            None
        }
    })
}

const SCRIPT_EXTENSIONS: &[&str] = &[".sh", ".bash", ".py", ".rb", ".pl", ".js", ".ps1"];

fn is_script(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    SCRIPT_EXTENSIONS.iter().any(|e| name.ends_with(e)) || name.contains("entrypoint")
}

/// The scripts a Dockerfile copies from its context or runs (RUN, CMD, ENTRYPOINT), as
/// context paths when they can be traced through COPY, else as referenced.
pub fn script_references(file: &Dockerfile) -> Vec<(String, bool)> {
    let (placements, final_workdir) = placements(file);
    let mut out: Vec<(String, bool)> = Vec::new();
    let mut add = |path: String, in_context: bool| {
        if !out.iter().any(|(p, _)| *p == path) {
            out.push((path, in_context));
        }
    };
    for p in placements.iter().filter(|p| !p.directory && is_script(&p.source)) {
        add(p.source.clone(), true);
    }
    let mut workdir = "/".to_owned();
    for instruction in &file.instructions {
        match &instruction.kind {
            InstructionKind::From(_) => "/".clone_into(&mut workdir),
            InstructionKind::Workdir(word) => workdir = absolute(&word.raw, &workdir),
            InstructionKind::Run(Arguments::Shell { text, .. }) => {
                for command in parse_script(text).commands {
                    let words = std::iter::once(command.name.as_str()).chain(command.args.iter().map(String::as_str));
                    for word in words.filter(|w| is_script(w) && !w.contains('$') && !w.starts_with('-')) {
                        // A script that no COPY brought in came with the base image or a download.
                        if let Some(path) = context_path(word, &workdir, &placements) {
                            add(path, true);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let analysis = analyze(file);
    if let Some(command) = &analysis.command {
        for script in &command.scripts {
            match context_path(script, &final_workdir, &placements) {
                Some(path) => add(path, true),
                None => add(script.clone(), false),
            }
        }
    }
    out
}

/// The scripts of `file`, fetched from `source` where the context holds them.
pub fn scripts(file: &Dockerfile, source: &mut dyn ContextSource) -> Vec<RelatedFile> {
    script_references(file)
        .into_iter()
        .map(|(path, in_context)| {
            if in_context {
                related(&path, "script", source.read(&path))
            } else {
                RelatedFile { path, role: "script".into(), status: "outside-context".into(), content: None }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use codi_core::syntax::parse;

    use super::*;

    struct Files(BTreeMap<&'static str, &'static str>);

    impl ContextSource for Files {
        fn read(&mut self, relative: &str) -> Fetched {
            self.0.get(relative).map_or(Fetched::Missing, |t| Fetched::Text((*t).to_owned()))
        }
    }

    #[test]
    fn scripts_are_traced_through_copy_and_workdir() {
        let file = parse(
            "FROM node:20\nWORKDIR /app\nCOPY docker/entrypoint.sh /usr/local/bin/\nCOPY scripts/ ./scripts/\nCOPY . .\n\
             RUN ./scripts/install.sh && bash tools/check.sh\nENTRYPOINT [\"/usr/local/bin/entrypoint.sh\"]\nCMD [\"/opt/run.sh\"]\n",
        );
        let refs = script_references(&file);
        assert!(refs.contains(&("docker/entrypoint.sh".to_owned(), true)), "{refs:?}");
        assert!(refs.contains(&("scripts/install.sh".to_owned(), true)), "{refs:?}");
        assert!(refs.contains(&("tools/check.sh".to_owned(), true)), "{refs:?}");
        let mut files = Files(BTreeMap::from([("docker/entrypoint.sh", "#!/bin/sh\nexec \"$@\"\n")]));
        let found = scripts(&file, &mut files);
        let status = |path: &str| found.iter().find(|r| r.path == path).map(|r| r.status.as_str());
        assert_eq!(status("docker/entrypoint.sh"), Some("found"));
        assert_eq!(status("scripts/install.sh"), Some("missing"), "never invented");
    }

    #[test]
    fn manifests_found_and_lockfiles_without_text() {
        let mut files =
            Files(BTreeMap::from([("package.json", "{}"), ("package-lock.json", "{\"lockfileVersion\": 3}")]));
        let found = manifests(&mut files);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].content.as_deref(), Some("{}"));
        assert_eq!(
            (found[1].role.as_str(), found[1].status.as_str(), found[1].content.as_deref()),
            ("lockfile", "found", None)
        );
    }
}
