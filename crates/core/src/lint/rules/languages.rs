//! Language package managers: pip, npm, yarn, gem, go.

use std::collections::HashMap;

use super::{Check, Sink, check_runs, mounted_over, report_shipped};
use crate::lint::{Context, Item, declare_rule};
use crate::shell::Command;
use crate::syntax::InstructionKind;

/// `pip install …`, `pip3 install …`, `python -m pip install …` (hadolint's `isPipInstall`).
/// `pipenv install` is not pip: it installs from the Pipfile.
fn is_pip_install(cmd: &Command) -> bool {
    let contiguous =
        |needle: &[&str]| cmd.args.windows(needle.len()).any(|w| w.iter().zip(needle).all(|(a, b)| a == b));
    (cmd.name.starts_with("pip") && !cmd.name.starts_with("pipenv") && contiguous(&["install"]))
        || (cmd.name.starts_with("python") && contiguous(&["-m", "pip", "install"]))
}

/// pipx and pipenv manage their own environments and caches.
fn is_pip_wrapper(cmd: &Command) -> bool {
    ["pipx", "pipenv"].iter().any(|w| {
        cmd.name.contains(w)
            || (cmd.name.starts_with("python") && cmd.args.windows(2).any(|a| a[0] == "-m" && a[1] == *w))
    })
}

const PIP_VALUE_FLAGS: &[&str] = &[
    "abi",
    "b",
    "build",
    "e",
    "editable",
    "extra-index-url",
    "f",
    "find-links",
    "i",
    "index-url",
    "implementation",
    "no-binary",
    "only-binary",
    "platform",
    "prefix",
    "progress-bar",
    "proxy",
    "python",
    "python-version",
    "root",
    "root-user-action",
    "src",
    "t",
    "target",
    "trusted-host",
    "upgrade-strategy",
];

const VCS_SCHEMES: &[&str] = &[
    "git+file",
    "git+https",
    "git+ssh",
    "git+http",
    "git+git",
    "git",
    "hg+file",
    "hg+http",
    "hg+https",
    "hg+ssh",
    "hg+static-http",
    "svn",
    "svn+svn",
    "svn+http",
    "svn+https",
    "svn+ssh",
    "bzr+http",
    "bzr+https",
    "bzr+ssh",
    "bzr+sftp",
    "bzr+ftp",
    "bzr+lp",
];

fn pip_requirement_pinned(package: &str) -> bool {
    let vcs = VCS_SCHEMES.iter().any(|s| package.starts_with(s));
    ["==", ">=", "<=", ">", "<", "!=", "~=", "==="].iter().any(|s| package.contains(s))
        || (vcs && package.contains('@'))
        || package.ends_with(".whl")
        || package.ends_with(".tar.gz")
        || (!vcs && package.contains('/'))
}

declare_rule! {
    /// ## What it does
    /// Flags `pip install` of a package without a version specifier (`flask==3.0.3`). Installs
    /// from a requirements file (`-r`), with a constraints file (`-c`), of the local project
    /// (`.`), of a path, wheel or sdist, or of a VCS URL pinned with `@ref` are fine.
    ///
    /// ## Why it matters
    /// An unpinned package is resolved on build day; a new release with a breaking change or a
    /// compromised upload lands in the image without review.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// RUN pip install --no-cache-dir flask gunicorn
    /// # after
    /// RUN pip install --no-cache-dir flask==3.0.3 gunicorn==22.0.0
    /// ```
    pub(crate) struct PipPinVersions {
        code: "DL3013",
        name: "pip-pin-versions",
        hadolint: true,
        severity: Warning,
        category: Reproducibility,
        message: "Pin versions in pip. Instead of `pip install <package>` use `pip install <package>==<version>` or `pip install --requirement <requirements file>`",
    }
}

impl Check for PipPinVersions {
    const TRIGGERS: bool = true;

    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        check_runs(items, sink, |script| {
            script.commands.iter().any(|cmd| {
                let from_file = cmd.has_any_arg(&["--requirement", "-r", "."]);
                let constrained = cmd.has_any_flag(&["constraint", "c"]);
                let operands = cmd.operands_skipping(PIP_VALUE_FLAGS);
                let packages = operands.iter().skip_while(|a| **a != "install").skip_while(|a| **a == "install");
                let unpinned = packages.clone().any(|p| !pip_requirement_pinned(p));
                is_pip_install(cmd) && !from_file && !constrained && unpinned
            })
        });
    }
}

const TRUTHY: &[&str] = &["1", "true", "True", "TRUE", "on", "On", "ON", "yes", "Yes", "YES"];

declare_rule! {
    /// ## What it does
    /// Flags `pip install` without `--no-cache-dir`, unless `PIP_NO_CACHE_DIR` is set to a true
    /// value (by ENV in the stage or one it builds on, or in the RUN itself) or the RUN mounts a
    /// cache or tmpfs on `~/.cache/pip`.
    ///
    /// ## Why it matters
    /// pip keeps every downloaded wheel in `~/.cache/pip`; in an image that cache is dead weight,
    /// often larger than the installed packages.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// RUN pip install -r requirements.txt
    /// # after
    /// RUN pip install --no-cache-dir -r requirements.txt
    /// ```
    pub(crate) struct PipNoCacheDir {
        code: "DL3042",
        name: "pip-no-cache-dir",
        hadolint: true,
        severity: Warning,
        category: Performance,
        message: "Avoid use of cache directory with pip. Use `pip install --no-cache-dir <package>`",
    }
}

impl Check for PipNoCacheDir {
    const TRIGGERS: bool = true;

    fn check(&self, cx: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        // Stage name (alias, or image for an unnamed stage) → PIP_NO_CACHE_DIR set there.
        let mut no_cache: HashMap<String, bool> = HashMap::new();
        let mut stage = String::new();
        for item in items {
            match &item.instruction.kind {
                InstructionKind::From(from) => {
                    let image = super::from::RawImage::split(&from.image.raw).name.to_owned();
                    let inherited = no_cache.get(&image).copied().unwrap_or(false);
                    stage = from.alias.as_ref().map_or(image, |a| a.raw.clone());
                    no_cache.insert(stage.clone(), inherited);
                }
                InstructionKind::Env(env) => {
                    let set = env.pairs.iter().any(|p| {
                        p.key.raw == "PIP_NO_CACHE_DIR" && TRUTHY.contains(&p.value.value(cx.escape()).as_str())
                    });
                    if set {
                        no_cache.insert(stage.clone(), true);
                    }
                }
                InstructionKind::Run(arguments) => {
                    let Some(script) = &item.script else { continue };
                    let stage_set = no_cache.get(&stage).copied().unwrap_or(false);
                    let inline_set = arguments
                        .joined()
                        .split("PIP_NO_CACHE_DIR=")
                        .skip(1)
                        .any(|v| TRUTHY.iter().any(|t| v.starts_with(t)));
                    let cached = mounted_over(item, ".cache/pip");
                    let forgot = script
                        .commands
                        .iter()
                        .any(|c| is_pip_install(c) && !c.has_arg("--no-cache-dir") && !is_pip_wrapper(c));
                    if forgot && !stage_set && !inline_set && !cached {
                        sink.report(item.span);
                    }
                }
                _ => {}
            }
        }
    }
}

declare_rule! {
    /// ## What it does
    /// Flags `npm install <package>` without a version (`express@4.19.2`). A bare `npm install`
    /// (from package.json), local folders, tarballs and git URLs with `#ref` are fine; the values
    /// of `--loglevel` and `--registry` are not packages.
    ///
    /// ## Why it matters
    /// npm resolves an unpinned name to the newest release at build time, bypassing the lockfile
    /// that pins the rest of the tree.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// RUN npm install -g pm2
    /// # after
    /// RUN npm install -g pm2@5.4.2
    /// ```
    pub(crate) struct NpmPinVersions {
        code: "DL3016",
        name: "npm-pin-versions",
        hadolint: true,
        severity: Warning,
        category: Reproducibility,
        message: "Pin versions in npm. Instead of `npm install <package>` use `npm install <package>@<version>`",
    }
}

impl Check for NpmPinVersions {
    const TRIGGERS: bool = true;

    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        check_runs(items, sink, |script| {
            script.commands.iter().filter(|c| c.is("npm", "install")).any(|cmd| {
                let operands = cmd.operands_skipping(&["loglevel", "registry"]);
                operands.first() == Some(&"install")
                    && operands.iter().skip_while(|a| **a == "install").any(|p| !npm_package_pinned(p))
            })
        });
    }
}

fn npm_package_pinned(package: &str) -> bool {
    if ["git://", "git+ssh://", "git+http://", "git+https://"].iter().any(|p| package.starts_with(p)) {
        return package.contains('#');
    }
    if [".tar", ".tar.gz", ".tgz"].iter().any(|s| package.ends_with(s))
        || ["/", "./", "../", "~/"].iter().any(|p| package.starts_with(p))
    {
        return true;
    }
    // A scoped name `@scope/name` has its own '@': look after the scope.
    let name = if package.starts_with('@') { package.split_once('/').map_or("", |(_, n)| n) } else { package };
    name.contains('@')
}

declare_rule! {
    /// ## What it does
    /// Flags `yarn install` with no `yarn cache clean` after it in the same RUN, in a stage that
    /// ships in the final image. A cache or tmpfs mount on `~/.cache/yarn` stands in for a missing
    /// clean-up, not for one run before the install.
    ///
    /// ## Why it matters
    /// Yarn's offline cache holds a copy of every package tarball; in the image it roughly
    /// doubles the size of `node_modules`.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// RUN yarn install --frozen-lockfile --production
    /// # after
    /// RUN yarn install --frozen-lockfile --production && yarn cache clean
    /// ```
    pub(crate) struct YarnCacheNotCleaned {
        code: "DL3060",
        name: "yarn-cache-not-cleaned",
        hadolint: true,
        severity: Info,
        category: Performance,
        message: "`yarn cache clean` missing after `yarn install` was run.",
    }
}

impl Check for YarnCacheNotCleaned {
    const TRIGGERS: bool = true;

    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        report_shipped(items, sink, |item| {
            item.script.is_some_and(|s| {
                let clean = |c: &Command| c.name == "yarn" && c.has_any_arg(&["cache", "clean"]);
                let mounted = mounted_over(item, ".cache/yarn");
                s.not_followed_by(|c| c.is("yarn", "install"), clean) && (s.commands.iter().any(clean) || !mounted)
            })
        });
    }
}

/// `gem install` options that take a value as the next word. Options with an optional value
/// (`--document [TYPES]`) take it only as `--document=rdoc`, and flags take none: hadolint
/// skips the word after every option, so it misses `rails` in `gem install --no-document rails`.
const GEM_VALUE_FLAGS: &[&str] = &[
    "B",
    "bindir",
    "build-root",
    "bulk-threshold",
    "config-file",
    "i",
    "install-dir",
    "n",
    "P",
    "platform",
    "s",
    "source",
    "trust-policy",
    "without",
];

declare_rule! {
    /// ## What it does
    /// Flags `gem install <gem>` without a version (`rails:7.1.3` or `-v 7.1.3`). The values of
    /// options that take one (`--install-dir DIR`, `--source URL`) and build flags after `--`
    /// are not gems.
    ///
    /// ## Why it matters
    /// RubyGems installs the newest release on build day; the image changes under you and
    /// dependency conflicts appear in CI rather than in review.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// RUN gem install bundler
    /// # after
    /// RUN gem install bundler:2.5.11
    /// ```
    pub(crate) struct GemPinVersions {
        code: "DL3028",
        name: "gem-pin-versions",
        hadolint: true,
        severity: Warning,
        category: Reproducibility,
        message: "Pin versions in gem install. Instead of `gem install <gem>` use `gem install <gem>:<version>`",
    }
}

impl Check for GemPinVersions {
    const TRIGGERS: bool = true;

    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        check_runs(items, sink, |script| {
            script
                .named("gem")
                .filter(|c| c.has_any_arg(&["install", "i"]))
                .filter(|c| !c.has_any_arg(&["-v", "--version"]) && !c.args.iter().any(|a| a.starts_with("--version=")))
                .flat_map(|c| {
                    let operands = c.operands_skipping(GEM_VALUE_FLAGS);
                    operands.into_iter().take_while(|a| *a != "--").filter(|a| !matches!(*a, "install" | "i"))
                })
                .any(|gem| !gem.contains(':'))
        });
    }
}

declare_rule! {
    /// ## What it does
    /// Flags `go install` / `go get` / `go run` of a remote package without an explicit version
    /// (`@v1.2.3`); `@latest` and `@none` do not count. Local paths are fine.
    ///
    /// ## Why it matters
    /// Without a version Go resolves whatever is newest in the module proxy, so the tool inside
    /// the image changes between builds.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// RUN go install github.com/go-delve/delve/cmd/dlv@latest
    /// # after
    /// RUN go install github.com/go-delve/delve/cmd/dlv@v1.23.1
    /// ```
    pub(crate) struct GoPinVersions {
        code: "DL3062",
        name: "go-pin-versions",
        hadolint: true,
        severity: Warning,
        category: Reproducibility,
        message: "Pin versions in go. Instead of `go install <package>` use `go install <package>@<version>`",
    }
}

impl Check for GoPinVersions {
    const TRIGGERS: bool = true;

    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        const SUBCOMMANDS: &[&str] = &["install", "get", "run"];
        check_runs(items, sink, |script| {
            script
                .named("go")
                .filter(|c| c.has_any_arg(SUBCOMMANDS))
                // After the package come the program's own arguments.
                .flat_map(|c| c.operands().take(2).filter(|a| !SUBCOMMANDS.contains(a)))
                .any(|p| !go_package_pinned(p))
        });
    }
}

fn go_package_pinned(package: &str) -> bool {
    let local = package == "." || package.starts_with('/') || package.starts_with('.');
    local || (package.contains('@') && !package.ends_with("@latest") && !package.ends_with("@none"))
}
