//! The stage graph: what each stage builds on, what it copies from, and the image config
//! (ENV, USER, WORKDIR, CMD, ENTRYPOINT, EXPOSE) it ends with, inherited through `FROM <stage>`.
//!
//! Variables follow BuildKit's scoping: ARGs declared before the first FROM are visible in FROM
//! lines and, once redeclared (`ARG NAME`), inside a stage; ENV persists into stages built on
//! this one; ARG values do not.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use serde::Serialize;

use crate::syntax::{Dockerfile, ImageRef, InstructionKind, expand};

/// What a stage starts from, or what it copies from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Base {
    /// An earlier stage of the same file.
    Stage { index: usize },
    /// A registry image.
    Image { reference: ImageRef },
    /// The empty image.
    Scratch,
    /// Unknown variables, or not a valid reference.
    Unresolved { text: String },
}

impl Base {
    /// Images known to default to an unprivileged user (`…:nonroot` distroless tags, Chainguard,
    /// Bitnami, `*-unprivileged`, .NET's chiseled images) or to be Windows images, whose users
    /// work differently.
    pub fn runs_unprivileged_by_default(&self) -> bool {
        let Self::Image { reference } = self else { return false };
        let tag = reference.tag.as_deref().unwrap_or_default();
        let registry = reference.registry.as_deref().unwrap_or_default();
        let path = reference.path.as_str();
        tag.contains("nonroot")
            || tag.contains("chiseled")
            || registry == "cgr.dev"
            || path.starts_with("bitnami/")
            || path.ends_with("-unprivileged")
            || ["windows", "nanoserver", "servercore"].iter().any(|w| path.contains(w) || tag.contains(w))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Stage {
    pub index: usize,
    /// `AS name`, lower-cased as BuildKit does.
    pub name: Option<String>,
    pub line: u32,
    /// The FROM image as written, and with the global ARGs expanded.
    pub image_raw: String,
    pub image: String,
    pub base: Base,
    pub platform: Option<String>,
    /// Stages and images read by `COPY --from` and `RUN --mount=…,from=`.
    pub copies_from: Vec<Base>,
    /// Indexes into `Dockerfile::instructions`, FROM included.
    pub instructions: Range<usize>,
    /// The image config at the end of the stage (inherited from a base stage).
    pub env: BTreeMap<String, String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    /// Instruction indexes (possibly in a base stage) of the CMD and ENTRYPOINT in effect.
    pub cmd: Option<usize>,
    pub entrypoint: Option<usize>,
    pub exposed: Vec<String>,
    pub healthcheck: bool,
}

impl Stage {
    pub fn is_final(&self, stages: &[Self]) -> bool {
        self.index + 1 == stages.len()
    }
}

/// Resolves an image or stage reference against the stages before `current`.
fn resolve(text: &str, stages: &[Stage]) -> Base {
    let lower = text.to_ascii_lowercase();
    if let Some(stage) = stages.iter().find(|s| s.name.as_deref() == Some(lower.as_str())) {
        return Base::Stage { index: stage.index };
    }
    if let Ok(index) = text.parse::<usize>()
        && index < stages.len()
    {
        return Base::Stage { index };
    }
    if text.contains('$') || text.is_empty() {
        return Base::Unresolved { text: text.to_owned() };
    }
    match ImageRef::parse(text) {
        Ok(reference) if reference.is_scratch() => Base::Scratch,
        Ok(reference) => Base::Image { reference },
        Err(_) => Base::Unresolved { text: text.to_owned() },
    }
}

/// Builds the stage list. Instructions before the first FROM belong to no stage.
pub fn stages(file: &Dockerfile) -> Vec<Stage> {
    let escape = file.escape;
    let mut global_args: HashMap<String, String> = HashMap::new();
    let mut stages: Vec<Stage> = Vec::new();
    // Variables visible in the current stage: inherited ENV, then ARG and ENV of the stage.
    let mut vars: HashMap<String, String> = HashMap::new();
    for (index, instruction) in file.instructions.iter().enumerate() {
        if let InstructionKind::From(from) = &instruction.kind {
            if let Some(last) = stages.last_mut() {
                last.instructions.end = index;
            }
            let expanded = expand::expand(&from.image.raw, escape, &global_args);
            let image = if expanded.missing.is_empty() { expanded.value } else { from.image.raw.clone() };
            let base = resolve(&image, &stages);
            let mut stage = Stage {
                index: stages.len(),
                name: from.alias.as_ref().map(|a| a.raw.to_ascii_lowercase()),
                line: instruction.line(),
                image_raw: from.image.raw.clone(),
                image,
                base: base.clone(),
                platform: instruction.flag_value("platform").map(str::to_owned),
                copies_from: Vec::new(),
                instructions: index..file.instructions.len(),
                env: BTreeMap::new(),
                user: None,
                workdir: None,
                cmd: None,
                entrypoint: None,
                exposed: Vec::new(),
                healthcheck: false,
            };
            if let Base::Stage { index: parent } = base {
                let p = &stages[parent];
                stage.env.clone_from(&p.env);
                stage.user.clone_from(&p.user);
                stage.workdir.clone_from(&p.workdir);
                (stage.cmd, stage.entrypoint) = (p.cmd, p.entrypoint);
                stage.exposed.clone_from(&p.exposed);
                stage.healthcheck = p.healthcheck;
            }
            vars = stage.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            stages.push(stage);
            continue;
        }
        let Some(stage_index) = stages.len().checked_sub(1) else {
            // A global `ARG NAME` (or `ARG NAME=`) is given at build time: its value is unknown.
            if let InstructionKind::Arg(decls) = &instruction.kind {
                for decl in decls {
                    if let Some(default) = decl.default.as_ref().filter(|d| !d.raw.is_empty()) {
                        let value = default.expand(escape, &global_args);
                        global_args.insert(decl.name.value(escape), value);
                    }
                }
            }
            continue;
        };
        let resolved_from = |text: &str, stages: &[Stage]| resolve(&expand::expand(text, escape, &vars).value, stages);
        let copies_from: Vec<Base> = instruction
            .flag_value("from")
            .into_iter()
            .map(str::to_owned)
            .chain(instruction.mounts().filter_map(|m| m.from))
            .map(|from| resolved_from(&from, &stages[..stage_index]))
            .collect();
        let stage = &mut stages[stage_index];
        stage.copies_from.extend(copies_from);
        match &instruction.kind {
            InstructionKind::Arg(decls) => {
                for decl in decls {
                    let name = decl.name.value(escape);
                    let value = match &decl.default {
                        Some(default) => Some(default.expand(escape, &vars)),
                        None => global_args.get(&name).cloned(),
                    };
                    if let Some(value) = value {
                        vars.insert(name, value);
                    }
                }
            }
            InstructionKind::Env(env) => {
                // All pairs of one ENV see the values from before it.
                let values: Vec<(String, String)> =
                    env.pairs.iter().map(|p| (p.key.value(escape), p.value.expand(escape, &vars))).collect();
                for (key, value) in values {
                    vars.insert(key.clone(), value.clone());
                    stage.env.insert(key, value);
                }
            }
            InstructionKind::User(user) => stage.user = Some(user.expand(escape, &vars)),
            InstructionKind::Workdir(dir) => {
                let dir = dir.expand(escape, &vars);
                stage.workdir = Some(match &stage.workdir {
                    Some(current) if !dir.starts_with('/') => format!("{}/{dir}", current.trim_end_matches('/')),
                    _ => dir,
                });
            }
            InstructionKind::Cmd(_) => stage.cmd = Some(index),
            InstructionKind::Entrypoint(_) => {
                // Setting ENTRYPOINT resets an inherited CMD.
                if stage.cmd.is_some_and(|c| c < stage.instructions.start) {
                    stage.cmd = None;
                }
                stage.entrypoint = Some(index);
            }
            InstructionKind::Expose(ports) => stage.exposed.extend(ports.iter().map(|p| p.expand(escape, &vars))),
            InstructionKind::Healthcheck(check) => {
                stage.healthcheck = matches!(check, crate::syntax::Healthcheck::Cmd(_));
            }
            _ => {}
        }
    }
    stages
}
