//! Alpine packages: apk.

use super::{Check, Sink, check_runs, mounted_over};
use crate::lint::{Context, Item, declare_rule};
use crate::shell::Command;

fn is_apk_add(cmd: &Command) -> bool {
    cmd.is("apk", "add")
}

declare_rule! {
    /// ## What it does
    /// Flags `apk add` of a package without a version constraint (`pkg=1.2.3-r0`, `pkg~1.2`,
    /// `pkg>=1.2`, `pkg<2`). Local `.apk` files count as pinned; the name given to `--virtual`
    /// is not a package.
    ///
    /// ## Why it matters
    /// Alpine repositories move packages forward within a release; an unpinned build pulls
    /// whatever is current and is not reproducible.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// RUN apk add --no-cache curl
    /// # after
    /// RUN apk add --no-cache curl=8.9.1-r1
    /// ```
    pub(crate) struct ApkPinVersions {
        code: "DL3018",
        name: "apk-pin-versions",
        hadolint: true,
        severity: Warning,
        category: Reproducibility,
        message: "Pin versions in apk add. Instead of `apk add <package>` use `apk add <package>=<version>`",
    }
}

impl Check for ApkPinVersions {
    const TRIGGERS: bool = true;

    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        check_runs(items, sink, |script| {
            script.commands.iter().filter(|c| is_apk_add(c)).any(|cmd| {
                cmd.operands_skipping(&["t", "virtual", "repository", "X"])
                    .into_iter()
                    .filter(|p| *p != "add")
                    .any(|p| !(p.contains(['=', '~', '>', '<']) || p.ends_with(".apk")))
            })
        });
    }
}

declare_rule! {
    /// ## What it does
    /// Flags `apk add` without `--no-cache` (a cache or tmpfs mount on `/var/cache/apk` is fine
    /// too).
    ///
    /// ## Why it matters
    /// Without it the package index and downloaded packages stay in `/var/cache/apk` inside the
    /// layer; `--no-cache` fetches a fresh index and keeps nothing, with no `--update` and no
    /// `rm -rf /var/cache/apk/*` to remember.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// RUN apk add --update curl=8.9.1-r1 && rm -rf /var/cache/apk/*
    /// # after
    /// RUN apk add --no-cache curl=8.9.1-r1
    /// ```
    pub(crate) struct ApkNoCache {
        code: "DL3019",
        name: "apk-no-cache",
        hadolint: true,
        severity: Info,
        category: Performance,
        message: "Use the `--no-cache` switch to avoid the need to use `--update` and remove `/var/cache/apk/*` when done installing packages",
    }
}

impl Check for ApkNoCache {
    const TRIGGERS: bool = true;

    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        for item in items {
            let Some(script) = &item.script else { continue };
            let cached = mounted_over(item, "/var/cache/apk");
            if !cached && script.commands.iter().any(|c| is_apk_add(c) && !c.has_flag("no-cache")) {
                sink.report(item.span);
            }
        }
    }
}
