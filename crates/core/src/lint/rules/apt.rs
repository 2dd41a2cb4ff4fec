//! Debian and Ubuntu packages: apt-get.

use super::{Check, Sink, check_runs, mounted_over, report_shipped};
use crate::lint::{Context, Item, declare_rule};
use crate::shell::{Command, Script};

fn apt_get_installs(script: &Script) -> impl Iterator<Item = &Command> {
    script.commands.iter().filter(|c| c.is("apt-get", "install"))
}

declare_rule! {
    /// ## What it does
    /// Flags `apt-get install` of a package without a pinned version (`pkg=version`). Local
    /// `.deb` files and `pkg/release` selections count as pinned.
    ///
    /// ## Why it matters
    /// Unpinned packages resolve to whatever the mirror has on build day, so two builds of the
    /// same Dockerfile differ, and a regression in a dependency arrives unannounced.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// RUN apt-get update && apt-get install -y --no-install-recommends curl
    /// # after
    /// RUN apt-get update && apt-get install -y --no-install-recommends curl=7.88.1-10+deb12u8
    /// ```
    pub(crate) struct AptGetPinVersions {
        code: "DL3008",
        name: "apt-get-pin-versions",
        hadolint: true,
        severity: Warning,
        category: Reproducibility,
        message: "Pin versions in apt get install. Instead of `apt-get install <package>` use `apt-get install <package>=<version>`",
    }
}

impl Check for AptGetPinVersions {
    const TRIGGERS: bool = true;

    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        check_runs(items, sink, |script| {
            apt_get_installs(script).any(|cmd| {
                cmd.operands_skipping(&["t", "target-release"])
                    .into_iter()
                    .filter(|p| *p != "install")
                    .any(|p| !(p.contains('=') || p.contains('/') || p.ends_with(".deb")))
            })
        });
    }
}

declare_rule! {
    /// ## What it does
    /// Flags a RUN that runs `apt-get update` (or `apt update`, `aptitude update`) without
    /// removing `/var/lib/apt/lists/*` in the same layer, in a stage that ships in the final
    /// image. A cache or tmpfs mount on the lists directory (or on both `/var/lib/apt` and
    /// `/var/cache/apt`) is fine too.
    ///
    /// ## Why it matters
    /// The package lists are tens of megabytes that nothing needs at run time; once committed in
    /// a layer, deleting them in a later RUN does not shrink the image.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// RUN apt-get update && apt-get install -y --no-install-recommends curl=7.88.1-10+deb12u8
    /// # after
    /// RUN apt-get update && apt-get install -y --no-install-recommends curl=7.88.1-10+deb12u8 \
    ///     && rm -rf /var/lib/apt/lists/*
    /// ```
    pub(crate) struct AptListsNotRemoved {
        code: "DL3009",
        name: "apt-lists-not-removed",
        hadolint: true,
        severity: Info,
        category: Performance,
        message: "Delete the apt lists (/var/lib/apt/lists) after installing something",
    }
}

impl Check for AptListsNotRemoved {
    const TRIGGERS: bool = true;

    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        report_shipped(items, sink, |item| {
            let Some(script) = &item.script else { return false };
            let updates =
                script.commands.iter().any(|c| ["apt-get", "apt", "aptitude"].iter().any(|p| c.is(p, "update")));
            let cleans =
                script.commands.iter().any(|c| c.name == "rm" && c.has_any_arg(&["-rf", "/var/lib/apt/lists/*"]));
            let mounted = |dir: &str| mounted_over(item, dir);
            let cached = mounted("/var/lib/apt/lists") || (mounted("/var/lib/apt") && mounted("/var/cache/apt"));
            updates && !cleans && !cached
        });
    }
}

declare_rule! {
    /// ## What it does
    /// Flags `apt-get install` without `-y` (or `--yes`, `--assume-yes`), or the quiet level 2
    /// that implies it (`-qq`, `-q -q`, `--quiet --quiet`, `-q=2`). A single `-q` does not.
    ///
    /// ## Why it matters
    /// Without it apt asks for confirmation; with no terminal the answer is "no" and the build
    /// fails, or, with some frontends, hangs.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// RUN apt-get install curl=7.88.1-10+deb12u8
    /// # after
    /// RUN apt-get install -y curl=7.88.1-10+deb12u8
    /// ```
    pub(crate) struct AptGetNoYes {
        code: "DL3014",
        name: "apt-get-no-yes",
        hadolint: true,
        severity: Warning,
        category: Correctness,
        message: "Use the `-y` switch to avoid manual input `apt-get -y install <package>`",
    }
}

impl Check for AptGetNoYes {
    const TRIGGERS: bool = true;

    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        check_runs(items, sink, |script| apt_get_installs(script).any(|c| !assumes_yes(c)));
    }
}

/// `-y`, or quiet level 2, which implies it. hadolint counts exactly two `q` (or two `quiet`)
/// flags, so `-qqq` and `-q --quiet` do not count.
fn assumes_yes(cmd: &Command) -> bool {
    let count = |flag: &str| cmd.flags().filter(|f| *f == flag).count();
    cmd.has_any_flag(&["y", "yes", "assume-yes"]) || count("q") == 2 || count("quiet") == 2 || cmd.has_arg("-q=2")
}

declare_rule! {
    /// ## What it does
    /// Flags `apt-get install` without `--no-install-recommends` (or
    /// `-o APT::Install-Recommends=false`).
    ///
    /// ## Why it matters
    /// Recommended packages are not needed to run the software but often double the installed
    /// size, and each one adds attack surface and CVEs to scan.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// RUN apt-get install -y python3=3.11.2-1+b1
    /// # after
    /// RUN apt-get install -y --no-install-recommends python3=3.11.2-1+b1
    /// ```
    pub(crate) struct AptGetRecommends {
        code: "DL3015",
        name: "apt-get-recommends",
        hadolint: true,
        severity: Info,
        category: Performance,
        message: "Avoid additional packages by specifying `--no-install-recommends`",
    }
}

impl Check for AptGetRecommends {
    const TRIGGERS: bool = true;

    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        check_runs(items, sink, |script| {
            apt_get_installs(script)
                .any(|c| !c.has_flag("no-install-recommends") && !c.has_arg("APT::Install-Recommends=false"))
        });
    }
}

declare_rule! {
    /// ## What it does
    /// Flags the `apt` command in RUN.
    ///
    /// ## Why it matters
    /// `apt` is the interactive front end: its output and options are not a stable interface
    /// and it warns that it should not be used in scripts. `apt-get` and `apt-cache` are.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// RUN apt update && apt install -y git
    /// # after
    /// RUN apt-get update && apt-get install -y --no-install-recommends git=1:2.39.5-0+deb12u1
    /// ```
    pub(crate) struct AptInScripts {
        code: "DL3027",
        name: "apt-in-scripts",
        hadolint: true,
        severity: Warning,
        category: Correctness,
        message: "Do not use apt as it is meant to be an end-user tool, use apt-get or apt-cache instead",
    }
}

impl Check for AptInScripts {
    const TRIGGERS: bool = true;

    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        check_runs(items, sink, |script| script.named("apt").next().is_some());
    }
}
