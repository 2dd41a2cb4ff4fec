//! The rules, one small type each, grouped by topic.

mod apk;
mod apt;
mod codi;
mod copy;
mod from;
mod instructions;
mod languages;
mod parse;
mod pragmas;
mod rpm;
mod shell;

use std::borrow::Cow;

use super::{Context, Finding, Item, Rule, RuleMeta};
use crate::syntax::Span;

/// A rule's check. `run` folds over the file's instructions and, when `TRIGGERS` is set (hadolint
/// does so for most RUN rules), separately over the ONBUILD triggers.
pub(crate) trait Check {
    const TRIGGERS: bool = false;

    fn check(&self, cx: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>);

    fn run(&self, cx: &Context<'_>, sink: &mut Sink<'_>) {
        self.check(cx, cx.items(), sink);
        if Self::TRIGGERS {
            self.check(cx, cx.triggers(), sink);
        }
    }
}

/// Collects one rule's findings, stamped with its code, severity and message.
pub(crate) struct Sink<'a> {
    meta: &'static RuleMeta,
    out: &'a mut Vec<Finding>,
}

impl<'a> Sink<'a> {
    pub(crate) fn new(meta: &'static RuleMeta, out: &'a mut Vec<Finding>) -> Self {
        Self { meta, out }
    }

    pub(crate) fn report(&mut self, span: Span) {
        self.report_with(span, Cow::Borrowed(self.meta.message));
    }

    pub(crate) fn report_with(&mut self, span: Span, message: Cow<'static, str>) {
        self.out.push(Finding { code: self.meta.code, severity: self.meta.severity, message, span });
    }
}

/// For rules that flag a RUN when `bad` holds for its script.
pub(crate) fn check_runs(items: &[Item<'_>], sink: &mut Sink<'_>, bad: impl Fn(&crate::shell::Script) -> bool) {
    for item in items {
        if item.script.is_some_and(&bad) {
            sink.report(item.span);
        }
    }
}

/// Every rule, in code order.
pub(crate) static ALL: &[&dyn Rule] = &[
    &codi::performance::InstallAfterSourceCopy,
    &codi::runtime::ShellAsPid1,
    &codi::runtime::InstallAtStartup,
    &codi::security::SecretValue,
    &codi::security::CurlPipeShell,
    &codi::runtime::MissingUser,
    &codi::performance::SingleStageToolchain,
    &codi::instructions::ShellOperatorInInstruction,
    &codi::security::RemoteAddWithoutChecksum,
    &codi::security::TlsVerificationDisabled,
    &codi::security::WorldWritable,
    &codi::security::InsecureRunFlags,
    &codi::instructions::LegacyKeyValue,
    &codi::instructions::EmptyContinuation,
    &parse::ParseError,
    &pragmas::InlineIgnorePragma,
    &instructions::RelativeWorkdir,
    &shell::PointlessCommand,
    &instructions::LastUserRoot,
    &shell::CdInRun,
    &shell::Sudo,
    &from::UntaggedImage,
    &from::LatestTag,
    &apt::AptGetPinVersions,
    &apt::AptListsNotRemoved,
    &copy::CopyThenExtract,
    &instructions::InvalidPort,
    &instructions::MultipleHealthchecks,
    &languages::PipPinVersions,
    &apt::AptGetNoYes,
    &apt::AptGetRecommends,
    &languages::NpmPinVersions,
    &apk::ApkPinVersions,
    &apk::ApkNoCache,
    &copy::AddForCopy,
    &copy::CopyManyToFile,
    &copy::CopyFromUnknownStage,
    &copy::CopyFromSelf,
    &from::DuplicateStageName,
    &instructions::ShellFormCommand,
    &from::UntrustedRegistry,
    &apt::AptInScripts,
    &languages::GemPinVersions,
    &from::LiteralPlatform,
    &rpm::YumNoYes,
    &rpm::YumNoClean,
    &rpm::YumPinVersions,
    &rpm::ZypperNoYes,
    &rpm::ZypperDistUpgrade,
    &rpm::ZypperNoClean,
    &rpm::ZypperPinVersions,
    &rpm::DnfNoYes,
    &rpm::DnfNoClean,
    &rpm::DnfPinVersions,
    &languages::PipNoCacheDir,
    &instructions::InvalidOnbuild,
    &instructions::EnvSelfReference,
    &copy::CopyRelativeWithoutWorkdir,
    &shell::UseraddHighUid,
    &shell::WgetProgress,
    &instructions::InvalidLabelKey,
    &instructions::MissingHealthcheck,
    &shell::ConsecutiveRuns,
    &languages::YarnCacheNotCleaned,
    &from::InstructionBeforeFrom,
    &languages::GoPinVersions,
    &from::ReservedStageName,
    &instructions::SensitiveVariableName,
    &from::RedundantTargetPlatform,
    &instructions::NonNumericUser,
    &copy::CopyWholeFilesystem,
    &instructions::Maintainer,
    &shell::CurlAndWget,
    &instructions::MultipleCmd,
    &instructions::MultipleEntrypoint,
    &shell::RelinkShell,
    &shell::PipeWithoutPipefail,
];

/// hadolint's `dropQuotes`: one pair of surrounding quotes removed.
pub(crate) fn strip_quotes(s: &str) -> &str {
    s.trim_matches(|c| c == '"' || c == '\'')
}

/// File suffixes hadolint treats as archives.
const ARCHIVE_EXTENSIONS: &[&str] = &[
    ".tar", ".Z", ".bz2", ".gz", ".lz", ".lzma", ".tZ", ".tb2", ".tbz", ".tbz2", ".tgz", ".tlz", ".tpz", ".txz", ".xz",
];

pub(crate) fn is_archive(path: &str) -> bool {
    let path = strip_quotes(path);
    ARCHIVE_EXTENSIONS.iter().any(|ext| path.ends_with(ext))
}

pub(crate) fn is_url(path: &str) -> bool {
    let path = strip_quotes(path);
    path.starts_with("https://") || path.starts_with("http://")
}

/// The names a word refers to, as hadolint reads references: `${NAME}` exactly, or `$NAME` up to
/// the first character that cannot continue a name (`$A.b` refers to A; `$AB` to AB;
/// `${A:-default}` to nothing).
pub(crate) fn variable_references(word: &str) -> impl Iterator<Item = &str> {
    let is_name_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
    word.split('$').skip(1).filter_map(move |rest| match rest.strip_prefix('{') {
        Some(braced) => {
            braced.split_once('}').map(|(name, _)| name).filter(|n| !n.is_empty() && n.chars().all(is_name_char))
        }
        None => Some(&rest[..rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len())]).filter(|n| !n.is_empty()),
    })
}

/// Whether a cache or tmpfs mount of the RUN (`--mount=type=cache|tmpfs`) covers `dir`, so that
/// nothing written there stays in the image. As in hadolint, a target covers `dir` when it
/// contains it.
pub(crate) fn mounted_over(item: &Item<'_>, dir: &str) -> bool {
    item.instruction
        .mounts()
        .filter(crate::syntax::Mount::is_cache_or_tmpfs)
        .any(|m| m.target.is_some_and(|t| t.contains(dir)))
}

/// Reports flagged items that ship in the final image: those of the last stage and of the
/// stages it is built on, through `FROM <stage>`. (hadolint also counts a stage that any other
/// stage builds on, even one that does not ship.)
pub(crate) fn report_shipped(items: &[Item<'_>], sink: &mut Sink<'_>, flagged: impl Fn(&Item<'_>) -> bool) {
    // For each stage: its alias and the stage it builds on.
    let mut stages: Vec<(Option<&str>, Option<usize>)> = Vec::new();
    let mut hits = Vec::new();
    for item in items {
        if let crate::syntax::InstructionKind::From(from) = &item.instruction.kind {
            let image = from::RawImage::split(&from.image.raw).name;
            let parent = stages.iter().rposition(|(alias, _)| *alias == Some(image));
            stages.push((from.alias.as_ref().map(|a| a.raw.as_str()), parent));
        } else if flagged(item) {
            hits.push((stages.len().checked_sub(1), item.span));
        }
    }
    let mut shipped = vec![false; stages.len()];
    let mut stage = stages.len().checked_sub(1);
    while let Some(s) = stage {
        shipped[s] = true;
        stage = stages[s].1;
    }
    for (stage, span) in hits {
        // Before any FROM (e.g. ONBUILD triggers): ships when there is no stage at all.
        if stage.map_or(stages.is_empty(), |s| shipped[s]) {
            sink.report(span);
        }
    }
}
