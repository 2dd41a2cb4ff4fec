//! What rules read: the file, its instructions as a stream, and the shell script of every RUN.

use super::LintConfig;
use crate::analysis::Analysis;
use crate::shell::Script;
use crate::syntax::{Dockerfile, Instruction, InstructionKind, Span};

/// One instruction in a stream rules fold over.
#[derive(Debug)]
pub struct Item<'a> {
    /// The instruction (for an ONBUILD trigger, the trigger itself).
    pub instruction: &'a Instruction,
    /// Where findings on it are reported (the ONBUILD line, for a trigger).
    pub span: Span,
    /// The parsed script, for RUN.
    pub script: Option<&'a Script>,
}

impl Item<'_> {
    pub fn line(&self) -> u32 {
        self.span.line()
    }
}

/// The input of every rule.
#[derive(Debug)]
pub struct Context<'a> {
    pub file: &'a Dockerfile,
    pub config: &'a LintConfig,
    items: Vec<Item<'a>>,
    triggers: Vec<Item<'a>>,
    analysis: &'a Analysis,
}

impl<'a> Context<'a> {
    /// `analysis`: the analysis of `file` (with or without the project's files: the rules read
    /// only what the file itself decides), whose parsed scripts the items share.
    pub fn new(file: &'a Dockerfile, config: &'a LintConfig, analysis: &'a Analysis) -> Self {
        let mut items = Vec::with_capacity(file.instructions.len());
        let mut triggers = Vec::new();
        for (index, instruction) in file.instructions.iter().enumerate() {
            let script = analysis.scripts.get(index);
            if let InstructionKind::Onbuild(trigger) = &instruction.kind {
                triggers.push(Item { instruction: trigger, span: instruction.span, script });
                items.push(Item { instruction, span: instruction.span, script: None });
            } else {
                items.push(Item { instruction, span: instruction.span, script });
            }
        }
        Self { file, config, items, triggers, analysis }
    }

    /// The file's instructions in order.
    pub fn items(&self) -> &[Item<'a>] {
        &self.items
    }

    /// The ONBUILD triggers in order, unwrapped (hadolint checks most rules on these separately).
    pub fn triggers(&self) -> &[Item<'a>] {
        &self.triggers
    }

    pub fn escape(&self) -> char {
        self.file.escape
    }

    /// The analyzer's view of the file.
    pub fn analysis(&self) -> &Analysis {
        self.analysis
    }
}
