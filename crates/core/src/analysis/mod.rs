//! The analyzer: stage graph, base images, stack/framework/package-manager detection with
//! evidence, CMD/ENTRYPOINT analysis, and secret patterns.

mod command;
pub mod secrets;
mod stack;
mod stages;

use serde::Serialize;

pub use command::{CommandAnalysis, Form, is_migration, is_package_install};
pub(crate) use command::{script_of, unwrap as unwrap_init};
pub use stack::{Evidence, Framework, PackageManager, ProjectFiles, Source, Stack, StackDetection, Target};
pub use stages::{Base, Stage, stages};

use crate::shell::{Script, parse_script};
use crate::syntax::{Arguments, Dockerfile, Heredoc, Instruction, InstructionKind};

/// Everything the analyzer knows about one Dockerfile.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    pub stages: Vec<Stage>,
    /// What the final stage is built on, followed through `FROM <stage>` to an image.
    pub base_image: Option<Base>,
    pub stack: StackDetection,
    /// The final stage's command, if any stage sets one.
    pub command: Option<CommandAnalysis>,
    /// The shell script of every RUN, parsed once for the stack detection, the linter, the
    /// estimate and the policy check alike.
    #[serde(skip)]
    pub scripts: Scripts,
}

impl Analysis {
    pub fn final_stage(&self) -> Option<&Stage> {
        self.stages.last()
    }

    pub fn is_multi_stage(&self) -> bool {
        self.stages.len() > 1
    }
}

/// Analyses a Dockerfile on its own.
pub fn analyze(file: &Dockerfile) -> Analysis {
    analyze_project(file, &ProjectFiles::default())
}

/// Analyses a Dockerfile with the files of the project it builds.
pub fn analyze_project(file: &Dockerfile, project: &ProjectFiles) -> Analysis {
    let stages = stages(file);
    let base_image = stages.last().map(|last| {
        let mut base = &last.base;
        while let Base::Stage { index } = base {
            base = &stages[*index].base;
        }
        base.clone()
    });
    let scripts = Scripts::of(file);
    let stack = stack::detect(file, &stages, &scripts, project);
    let command = command::analyze(file, &stages);
    Analysis { stages, base_image, stack, command, scripts }
}

/// The shell script of each instruction that runs one, by instruction index: a RUN's, or an
/// ONBUILD's RUN trigger's.
#[derive(Debug, Clone, Default)]
pub struct Scripts(Vec<Option<Script>>);

impl Scripts {
    pub fn of(file: &Dockerfile) -> Self {
        let script = |instruction: &Instruction| match &instruction.kind {
            InstructionKind::Onbuild(trigger) => run_script(trigger),
            _ => run_script(instruction),
        };
        Self(file.instructions.iter().map(script).collect())
    }

    /// The script of instruction `index` (a RUN, or an ONBUILD whose trigger is a RUN).
    pub fn get(&self, index: usize) -> Option<&Script> {
        self.0.get(index).and_then(Option::as_ref)
    }
}

/// The shell script a RUN executes. Exec form is joined with spaces, as hadolint does. With a
/// heredoc, the body is the script when the line only hands it to a shell (`RUN <<EOF`,
/// `RUN <<EOF bash`) and the body names no other interpreter in a shebang; otherwise the body is
/// data and the line is the script.
pub fn run_script(instruction: &Instruction) -> Option<Script> {
    let InstructionKind::Run(arguments) = &instruction.kind else { return None };
    if let (Arguments::Shell { text, .. }, [heredoc, ..]) = (arguments, instruction.heredocs.as_slice())
        && heredoc_is_script(text, heredoc)
    {
        return Some(parse_script(&heredoc.text()));
    }
    Some(parse_script(&arguments.joined()))
}

fn heredoc_is_script(line: &str, heredoc: &Heredoc) -> bool {
    let mut words = line.split_whitespace();
    let first = words.next().map(|w| w.trim_start_matches(|c: char| c.is_ascii_digit()));
    let marker_first = first.is_some_and(|w| w.starts_with("<<"));
    // `RUN << EOF` (BuildKit ≥ 0.22): the marker's name is the next word.
    if first.is_some_and(|w| w.trim_start_matches('<').trim_start_matches('-').is_empty()) {
        words.next();
    }
    let fed_to_shell = match words.next() {
        None => true,
        Some(shell) => is_posix_shell(shell) && words.all(|w| w.starts_with('-')),
    };
    let shebang_ok = match heredoc.content.lines().next().and_then(|l| l.strip_prefix("#!")) {
        None => true,
        Some(interpreter) => interpreter.split_whitespace().any(is_posix_shell),
    };
    marker_first && fed_to_shell && shebang_ok
}

/// `sh`, `/bin/bash`, `ash`, `dash`, `zsh`, `ksh`.
pub fn is_posix_shell(program: &str) -> bool {
    let name = program.rsplit('/').next().unwrap_or(program);
    matches!(name, "sh" | "bash" | "ash" | "dash" | "zsh" | "ksh" | "mksh")
}
