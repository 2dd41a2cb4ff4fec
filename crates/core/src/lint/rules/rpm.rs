//! RPM-based distributions: yum, dnf / microdnf, zypper.

use std::collections::HashSet;

use super::{Check, Sink, check_runs, mounted_over, variable_references};
use crate::lint::{Context, Item, declare_rule};
use crate::shell::{Command, Script};
use crate::syntax::InstructionKind;

const DNF: &[&str] = &["dnf", "microdnf"];

/// dnf verbs that download packages into its cache (hadolint's DL3040; DL3038 and DL3041 look
/// at `install` only).
const DNF_INSTALLS: &[&str] = &["install", "in", "upgrade", "up", "upgrade-minimal", "up-min", "reinstall", "rei"];

fn is_install(cmd: &Command, programs: &[&str]) -> bool {
    programs.contains(&cmd.name.as_str()) && cmd.has_any_arg(&["install", "groupinstall", "localinstall"])
}

/// The operands of `<program> [module|group] install …` commands, with their command.
fn installed<'s>(script: &'s Script, programs: &'s [&str]) -> impl Iterator<Item = (&'s Command, &'s str)> {
    script
        .commands
        .iter()
        .filter(move |c| programs.contains(&c.name.as_str()) && c.has_arg("install"))
        .flat_map(|cmd| cmd.operands().filter(|a| *a != "install" && *a != "module").map(move |a| (cmd, a)))
}

/// `<program> clean all`, or removing the cache. Like hadolint, either word will do: any
/// `rm -rf` counts.
fn cleans(cmd: &Command, program: &str, cache_dir: &str) -> bool {
    (cmd.name == program && cmd.has_any_arg(&["clean", "all"]))
        || (cmd.name == "rm" && cmd.has_any_arg(&["-rf", cache_dir]))
}

/// The variables a version may come from, as hadolint tracks them for DL3033 and DL3041: the
/// ENV keys of the current stage (a stage built `FROM <stage>` starts with that stage's), and
/// every ARG declared so far, in any stage.
#[derive(Default)]
struct Variables<'a> {
    /// Per stage: its name and its ENV keys.
    stages: Vec<(Option<&'a str>, HashSet<&'a str>)>,
    args: HashSet<&'a str>,
}

impl<'a> Variables<'a> {
    fn see(&mut self, kind: &'a InstructionKind) {
        match kind {
            InstructionKind::From(from) => {
                let image = super::from::RawImage::split(&from.image.raw).name;
                let parent = self.stages.iter().find(|(name, _)| *name == Some(image));
                let env = parent.map(|(_, env)| env.clone()).unwrap_or_default();
                self.stages.push((from.alias.as_ref().map(|a| a.raw.as_str()), env));
            }
            InstructionKind::Env(env) => {
                if self.stages.is_empty() {
                    self.stages.push((None, HashSet::new()));
                }
                if let Some((_, keys)) = self.stages.last_mut() {
                    keys.extend(env.pairs.iter().map(|p| p.key.raw.as_str()));
                }
            }
            InstructionKind::Arg(args) => self.args.extend(args.iter().map(|a| a.name.raw.as_str())),
            _ => {}
        }
    }

    fn defined(&self, name: &str) -> bool {
        self.args.contains(name) || self.stages.last().is_some_and(|(_, env)| env.contains(name))
    }
}

/// hadolint's `packageVersionFixed`: `name-version[-release]`, where the parts after the name
/// are version characters and one starts with a digit, or a variable defined by ENV or ARG
/// gives them. A local `.rpm` file is pinned by its contents (hadolint wants a dash in it too).
fn rpm_pinned(package: &str, variables: &Variables<'_>) -> bool {
    if package.ends_with(".rpm") {
        return true;
    }
    let Some((_, version)) = package.split_once('-') else { return false };
    if package.contains('$') {
        return variable_references(package).any(|name| variables.defined(name));
    }
    let parts: Vec<&str> = version.split('-').collect();
    parts.iter().all(|p| p.chars().all(|c| c.is_ascii_alphanumeric() || ".~^_:+".contains(c)))
        && parts.iter().any(|p| p.starts_with(|c: char| c.is_ascii_digit()))
}

/// DL3033 and DL3041: a RUN installing, with one of `programs`, a package with no version or
/// a module with no stream (`name:stream`). Groups are names, not packages, for `skip_group`.
fn check_pins(items: &[Item<'_>], sink: &mut Sink<'_>, programs: &[&str], skip_group: bool) {
    let mut variables = Variables::default();
    for item in items {
        variables.see(&item.instruction.kind);
        let Some(script) = &item.script else { continue };
        let unpinned = installed(script, programs).any(|(cmd, p)| {
            match (cmd.has_arg("module"), skip_group && cmd.has_arg("group")) {
                (true, _) => !p.contains(':'),
                (false, true) => false,
                (false, false) => !rpm_pinned(p, &variables),
            }
        });
        if unpinned {
            sink.report(item.span);
        }
    }
}

declare_rule! {
    /// ## What it does
    /// Flags `yum install` without `-y` (or `--assumeyes`).
    ///
    /// ## Why it matters
    /// yum asks for confirmation; without a terminal the build aborts.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// RUN yum install httpd-2.4.6 && yum clean all
    /// # after
    /// RUN yum install -y httpd-2.4.6 && yum clean all
    /// ```
    pub(crate) struct YumNoYes {
        code: "DL3030",
        name: "yum-no-yes",
        hadolint: true,
        severity: Warning,
        category: Correctness,
        message: "Use the -y switch to avoid manual input `yum install -y <package>`",
    }
}

impl Check for YumNoYes {
    const TRIGGERS: bool = true;

    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        check_runs(items, sink, |s| {
            s.commands.iter().any(|c| is_install(c, &["yum"]) && !c.has_any_flag(&["y", "assumeyes"]))
        });
    }
}

declare_rule! {
    /// ## What it does
    /// Flags `yum install` not followed by `yum clean all` (or removing `/var/cache/yum/*`) in
    /// the same RUN; a clean-up before the install does not count.
    ///
    /// ## Why it matters
    /// yum keeps metadata and downloaded RPMs under `/var/cache/yum`; left in the layer they add
    /// tens to hundreds of megabytes that a later RUN cannot take back.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// RUN yum install -y httpd-2.4.6
    /// # after
    /// RUN yum install -y httpd-2.4.6 && yum clean all
    /// ```
    pub(crate) struct YumNoClean {
        code: "DL3032",
        name: "yum-no-clean",
        hadolint: true,
        severity: Warning,
        category: Performance,
        message: "`yum clean all` missing after yum command.",
    }
}

impl Check for YumNoClean {
    const TRIGGERS: bool = true;

    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        check_runs(items, sink, |s| {
            s.not_followed_by(|c| c.is("yum", "install"), |c| cleans(c, "yum", "/var/cache/yum/*"))
        });
    }
}

declare_rule! {
    /// ## What it does
    /// Flags `yum install` of a package without a version (`httpd-2.4.6`), or of a module without
    /// a stream (`nodejs:20`). A version from a variable (`httpd-${HTTPD_VERSION}`) counts when an
    /// ENV of the stage (or of the stage it is built on) or an earlier ARG defines it; a local
    /// `.rpm` file counts as pinned.
    ///
    /// ## Why it matters
    /// The repository decides what an unversioned name means on build day; builds drift and are
    /// hard to reproduce when something breaks.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// RUN yum install -y httpd && yum clean all
    /// # after
    /// RUN yum install -y httpd-2.4.6 && yum clean all
    /// ```
    pub(crate) struct YumPinVersions {
        code: "DL3033",
        name: "yum-pin-versions",
        hadolint: true,
        severity: Warning,
        category: Reproducibility,
        message: "Specify version with `yum install -y <package>-<version>`.",
    }
}

impl Check for YumPinVersions {
    const TRIGGERS: bool = true;

    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        check_pins(items, sink, &["yum"], false);
    }
}

declare_rule! {
    /// ## What it does
    /// Flags zypper package commands (`install`, `remove`, `patch`, …) without `-y` /
    /// `--no-confirm` or `-n` / `--non-interactive` (taken anywhere on the command line, as
    /// hadolint does).
    ///
    /// ## Why it matters
    /// zypper prompts; a build has no one to answer and fails.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// RUN zypper install curl=8.0.1
    /// # after
    /// RUN zypper install -y curl=8.0.1 && zypper clean
    /// ```
    pub(crate) struct ZypperNoYes {
        code: "DL3034",
        name: "zypper-no-yes",
        hadolint: true,
        severity: Warning,
        category: Correctness,
        message: "Non-interactive switch missing from `zypper` command: `zypper install -y`",
    }
}

impl Check for ZypperNoYes {
    const TRIGGERS: bool = true;

    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        const SUBCOMMANDS: &[&str] = &["install", "in", "remove", "rm", "source-install", "si", "patch"];
        check_runs(items, sink, |s| {
            s.named("zypper")
                .any(|c| c.has_any_arg(SUBCOMMANDS) && !c.has_any_flag(&["non-interactive", "n", "no-confirm", "y"]))
        });
    }
}

declare_rule! {
    /// ## What it does
    /// Flags `zypper dist-upgrade` (`zypper dup`).
    ///
    /// ## Why it matters
    /// A distribution upgrade inside an image replaces the base image's packages with whatever is
    /// newest, defeating the pinned base tag; use a newer base image instead.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// FROM opensuse/leap:15.5
    /// RUN zypper dist-upgrade -y
    /// # after
    /// FROM opensuse/leap:15.6
    /// ```
    pub(crate) struct ZypperDistUpgrade {
        code: "DL3035",
        name: "zypper-dist-upgrade",
        hadolint: true,
        severity: Warning,
        category: Reproducibility,
        message: "Do not use `zypper dist-upgrade`.",
    }
}

impl Check for ZypperDistUpgrade {
    const TRIGGERS: bool = true;

    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        check_runs(items, sink, |s| s.named("zypper").any(|c| c.has_any_arg(&["dist-upgrade", "dup"])));
    }
}

declare_rule! {
    /// ## What it does
    /// Flags `zypper install` with no `zypper clean` after it in the same RUN, unless the RUN
    /// mounts a cache or tmpfs on `/var/cache/zypp`.
    ///
    /// ## Why it matters
    /// zypper caches repository metadata and packages under `/var/cache/zypp`; committed to the
    /// layer they only make the image bigger.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// RUN zypper install -y curl=8.0.1
    /// # after
    /// RUN zypper install -y curl=8.0.1 && zypper clean
    /// ```
    pub(crate) struct ZypperNoClean {
        code: "DL3036",
        name: "zypper-no-clean",
        hadolint: true,
        severity: Warning,
        category: Performance,
        message: "`zypper clean` missing after zypper use.",
    }
}

impl Check for ZypperNoClean {
    const TRIGGERS: bool = true;

    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        for item in items {
            let Some(script) = &item.script else { continue };
            let install = |c: &Command| c.name == "zypper" && c.has_any_arg(&["install", "in"]);
            let clean = |c: &Command| c.name == "zypper" && c.has_any_arg(&["clean", "cc"]);
            if script.not_followed_by(install, clean) && !mounted_over(item, "/var/cache/zypp") {
                sink.report(item.span);
            }
        }
    }
}

declare_rule! {
    /// ## What it does
    /// Flags `zypper install` of a package without a version constraint (`=`, `>=`, `<` …) or an
    /// `.rpm` file.
    ///
    /// ## Why it matters
    /// Unconstrained names follow the repository, so the image changes between builds.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// RUN zypper install -y curl && zypper clean
    /// # after
    /// RUN zypper install -y curl=8.0.1 && zypper clean
    /// ```
    pub(crate) struct ZypperPinVersions {
        code: "DL3037",
        name: "zypper-pin-versions",
        hadolint: true,
        severity: Warning,
        category: Reproducibility,
        message: "Specify version with `zypper install -y <package>=<version>`.",
    }
}

impl Check for ZypperPinVersions {
    const TRIGGERS: bool = true;

    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        check_runs(items, sink, |s| {
            s.named("zypper")
                .filter(|c| c.has_any_arg(&["install", "in"]))
                .flat_map(|c| c.operands().filter(|a| *a != "install" && *a != "in"))
                .any(|p| !(p.contains(['=', '>', '<']) || p.ends_with(".rpm")))
        });
    }
}

declare_rule! {
    /// ## What it does
    /// Flags `dnf install` / `microdnf install` without `-y` (or `--assumeyes`).
    ///
    /// ## Why it matters
    /// dnf asks for confirmation; in a build the prompt fails the step.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// RUN dnf install httpd-2.4.57 && dnf clean all
    /// # after
    /// RUN dnf install -y httpd-2.4.57 && dnf clean all
    /// ```
    pub(crate) struct DnfNoYes {
        code: "DL3038",
        name: "dnf-no-yes",
        hadolint: true,
        severity: Warning,
        category: Correctness,
        message: "Use the -y switch to avoid manual input `dnf install -y <package>`",
    }
}

impl Check for DnfNoYes {
    const TRIGGERS: bool = true;

    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        check_runs(items, sink, |s| {
            s.commands.iter().any(|c| is_install(c, DNF) && !c.has_any_flag(&["y", "assumeyes"]))
        });
    }
}

declare_rule! {
    /// ## What it does
    /// Flags `dnf install` / `microdnf install` (or `upgrade`, `reinstall` and their short
    /// forms) not followed by `dnf clean all` (or removing `/var/cache/libdnf5*`) in the same
    /// RUN, unless the RUN mounts a cache or tmpfs on `/var/cache/libdnf5` or
    /// `~/.cache/libdnf5`.
    ///
    /// ## Why it matters
    /// The dnf cache keeps repository metadata and packages in the layer for good.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// RUN dnf install -y httpd-2.4.57
    /// # after
    /// RUN dnf install -y httpd-2.4.57 && dnf clean all
    /// ```
    pub(crate) struct DnfNoClean {
        code: "DL3040",
        name: "dnf-no-clean",
        hadolint: true,
        severity: Warning,
        category: Performance,
        message: "`dnf clean all` missing after dnf command.",
    }
}

impl Check for DnfNoClean {
    const TRIGGERS: bool = true;

    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        for item in items {
            let Some(script) = &item.script else { continue };
            let uncleaned = DNF.iter().any(|program| {
                let install = |c: &Command| c.name == *program && c.has_any_arg(DNF_INSTALLS);
                script.not_followed_by(install, |c| cleans(c, program, "/var/cache/libdnf5*"))
            });
            if uncleaned && !(mounted_over(item, "/var/cache/libdnf5") || mounted_over(item, ".cache/libdnf5")) {
                sink.report(item.span);
            }
        }
    }
}

declare_rule! {
    /// ## What it does
    /// Flags `dnf install` / `microdnf install` of a package without a version
    /// (`name-version[-release]`), or of a module without a stream (`nodejs:20`). Versions from
    /// variables and local `.rpm` files count as for `yum-pin-versions`; groups are not
    /// packages.
    ///
    /// ## Why it matters
    /// Unversioned names resolve to the newest build in the repository on the day of the build.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// RUN dnf install -y httpd && dnf clean all
    /// # after
    /// RUN dnf install -y httpd-2.4.57 && dnf clean all
    /// ```
    pub(crate) struct DnfPinVersions {
        code: "DL3041",
        name: "dnf-pin-versions",
        hadolint: true,
        severity: Warning,
        category: Reproducibility,
        message: "Specify version with `dnf install -y <package>-<version>`.",
    }
}

impl Check for DnfPinVersions {
    const TRIGGERS: bool = true;

    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        check_pins(items, sink, DNF, true);
    }
}
