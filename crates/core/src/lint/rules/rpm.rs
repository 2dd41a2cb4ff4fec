//! RPM-based distributions: yum, dnf / microdnf, zypper.

use super::{Check, Sink, check_runs};
use crate::lint::{Context, Item, declare_rule};
use crate::shell::{Command, Script};

const DNF: &[&str] = &["dnf", "microdnf"];

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

/// An install with no clean-up after it in the same RUN.
fn install_not_cleaned(script: &Script, program: &str, cache_dir: &str) -> bool {
    let Some(install) = script.position(|c| c.name == program && c.has_arg("install")) else { return false };
    let clean = script.position(|c| {
        (c.name == program && c.has_any_arg(&["clean", "all"]))
            || (c.name == "rm" && c.has_any_arg(&["-rf", cache_dir]))
    });
    clean.is_none_or(|clean| clean < install)
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
    /// the same RUN.
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
        check_runs(items, sink, |s| install_not_cleaned(s, "yum", "/var/cache/yum/*"));
    }
}

declare_rule! {
    /// ## What it does
    /// Flags `yum install` of a package without a version (`httpd-2.4.6`), or of a module without
    /// a stream (`nodejs:20`).
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
        check_runs(items, sink, |s| {
            installed(s, &["yum"]).any(|(cmd, p)| {
                if cmd.has_arg("module") { !p.contains(':') } else { !(p.contains('-') || p.ends_with(".rpm")) }
            })
        });
    }
}

declare_rule! {
    /// ## What it does
    /// Flags zypper package commands (`install`, `remove`, `patch`, …) without `-y` /
    /// `--no-confirm`.
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
            s.named("zypper").any(|c| c.has_any_arg(SUBCOMMANDS) && !c.has_any_flag(&["no-confirm", "y"]))
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
    /// Flags `zypper install` with no `zypper clean` in the same RUN.
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
        check_runs(items, sink, |s| {
            s.named("zypper").any(|c| c.has_any_arg(&["install", "in"]))
                && !s.named("zypper").any(|c| c.has_any_arg(&["clean", "cc"]))
        });
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
    /// Flags `dnf install` / `microdnf install` not followed by `dnf clean all` (or removing
    /// `/var/cache/yum/*`) in the same RUN.
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
        check_runs(items, sink, |s| DNF.iter().any(|program| install_not_cleaned(s, program, "/var/cache/yum/*")));
    }
}

declare_rule! {
    /// ## What it does
    /// Flags `dnf install` / `microdnf install` of a package without a version
    /// (`name-version[-release]`), or of a module without a stream (`nodejs:20`).
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
        check_runs(items, sink, |s| {
            installed(s, DNF).any(|(cmd, p)| match (cmd.has_arg("module"), cmd.has_arg("group")) {
                (true, _) => !p.contains(':'),
                (false, true) => false,
                (false, false) => !dnf_versioned(p),
            })
        });
    }
}

/// `name-1.2.3`, `name-1.2-3.el9`: some dash-separated part after the name starts with a digit
/// and all of them are version characters.
fn dnf_versioned(package: &str) -> bool {
    if package.ends_with(".rpm") {
        return true;
    }
    let mut parts = package.split('-');
    parts.next();
    let rest: Vec<&str> = parts.collect();
    !rest.is_empty()
        && rest.iter().all(|p| p.chars().all(|c| c.is_ascii_alphanumeric() || ".~^_:+".contains(c)))
        && rest.iter().any(|p| p.starts_with(|c: char| c.is_ascii_digit()))
}
