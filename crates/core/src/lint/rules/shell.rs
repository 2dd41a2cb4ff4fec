//! General rules on RUN scripts.

use super::{Check, Sink, check_runs};
use crate::lint::{Context, Item, declare_rule};
use crate::shell::{Command, Script, parse_script};
use crate::syntax::{Flag, InstructionKind};

declare_rule! {
    /// ## What it does
    /// Flags commands that make no sense while building an image: `ssh`, `vim`, `shutdown`,
    /// `service`, `ps`, `free`, `top`, `kill`, `mount`.
    ///
    /// ## Why it matters
    /// A build step has no services, no interactive user and no host to manage; these commands
    /// either do nothing useful, hang waiting for input, or hide a design problem (starting a
    /// daemon in a RUN does not keep it running in the container).
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// RUN service nginx start
    /// # after: start it when the container starts
    /// CMD ["nginx", "-g", "daemon off;"]
    /// ```
    pub(crate) struct PointlessCommand {
        code: "DL3001",
        name: "pointless-command",
        hadolint: true,
        severity: Info,
        category: Correctness,
        message: "For some bash commands it makes no sense running them in a Docker container like `ssh`, `vim`, `shutdown`, `service`, `ps`, `free`, `top`, `kill`, `mount`, `ifconfig`",
    }
}

impl Check for PointlessCommand {
    const TRIGGERS: bool = true;

    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        const POINTLESS: &[&str] = &["free", "kill", "mount", "ps", "service", "shutdown", "ssh", "top", "vim"];
        check_runs(items, sink, |s| s.commands.iter().any(|c| POINTLESS.contains(&c.name.as_str())));
    }
}

declare_rule! {
    /// ## What it does
    /// Flags `cd` in a RUN.
    ///
    /// ## Why it matters
    /// `cd` lasts for one RUN only, which makes the following instructions' working directory
    /// easy to misread; `WORKDIR` states it once, creates it if needed, and applies to RUN, CMD,
    /// COPY and ENTRYPOINT alike.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// RUN cd /src && make install
    /// # after
    /// WORKDIR /src
    /// RUN make install
    /// ```
    pub(crate) struct CdInRun {
        code: "DL3003",
        name: "cd-in-run",
        hadolint: true,
        severity: Warning,
        category: Style,
        message: "Use WORKDIR to switch to a directory",
    }
}

impl Check for CdInRun {
    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        check_runs(items, sink, |s| s.named("cd").next().is_some());
    }
}

declare_rule! {
    /// ## What it does
    /// Flags `sudo` in a RUN.
    ///
    /// ## Why it matters
    /// Build steps already run as the current `USER`; sudo needs a TTY or a sudoers entry,
    /// behaves differently across distributions and keeps a privilege-escalation tool in the
    /// image. Switch with `USER`, or use `gosu`/`su-exec` at run time.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// USER app
    /// RUN sudo apt-get update
    /// # after
    /// USER root
    /// RUN apt-get update
    /// USER app
    /// ```
    pub(crate) struct Sudo {
        code: "DL3004",
        name: "sudo",
        hadolint: true,
        severity: Error,
        category: Security,
        message: "Do not use sudo as it leads to unpredictable behavior. Use a tool like gosu to enforce root",
    }
}

impl Check for Sudo {
    const TRIGGERS: bool = true;

    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        check_runs(items, sink, |s| s.named("sudo").next().is_some());
    }
}

/// The word after a `-u`-style short flag (`-u 123456`, `-ou 123456`).
fn short_flag_value(cmd: &Command, flag: char) -> Option<&str> {
    let at = cmd.args.iter().position(|a| a.starts_with('-') && !a.starts_with("--") && a.ends_with(flag))?;
    cmd.args.get(at + 1).map(String::as_str)
}

declare_rule! {
    /// ## What it does
    /// Flags `useradd -u <uid>` with a UID of more than five digits and without `-l`
    /// (`--no-log-init`).
    ///
    /// ## Why it matters
    /// useradd reserves space in `/var/log/lastlog` and `/var/log/faillog` proportional to the
    /// UID; a high UID produces sparse files of gigabytes that Docker stores densely in the layer.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// RUN useradd -u 1000000 app
    /// # after
    /// RUN useradd -l -u 1000000 app
    /// ```
    pub(crate) struct UseraddHighUid {
        code: "DL3046",
        name: "useradd-high-uid",
        hadolint: true,
        severity: Warning,
        category: Performance,
        message: "`useradd` without flag `-l` and high UID will result in excessively large Image.",
    }
}

impl Check for UseraddHighUid {
    const TRIGGERS: bool = true;

    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        check_runs(items, sink, |s| {
            s.named("useradd").any(|c| {
                !c.has_any_flag(&["l", "no-log-init"])
                    && c.has_any_flag(&["u", "uid"])
                    && short_flag_value(c, 'u').is_some_and(|uid| uid.chars().count() > 5)
            })
        });
    }
}

declare_rule! {
    /// ## What it does
    /// Flags `wget` without `--progress=…`, `-q`/`--quiet`, `-nv`/`--no-verbose` or an output
    /// log (`-o`, `-a`).
    ///
    /// ## Why it matters
    /// wget's default progress bar prints a line per chunk when there is no terminal: a large
    /// download turns into megabytes of build log that hide the real errors.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// RUN wget https://example.com/tool.tar.gz
    /// # after
    /// RUN wget --progress=dot:giga https://example.com/tool.tar.gz
    /// ```
    pub(crate) struct WgetProgress {
        code: "DL3047",
        name: "wget-progress",
        hadolint: true,
        severity: Info,
        category: Style,
        message: "Avoid use of wget without progress bar. Use `wget --progress=dot:giga <url>`. Or consider using `-q` or `-nv` (shorthands for `--quiet` or `--no-verbose`).",
    }
}

impl Check for WgetProgress {
    const TRIGGERS: bool = true;

    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        const QUIET: &[&str] = &["progress", "q", "quiet", "o", "output-file", "a", "append-output", "no-verbose"];
        check_runs(items, sink, |s| s.named("wget").any(|c| !c.has_any_flag(QUIET) && !c.has_arg("-nv")));
    }
}

declare_rule! {
    /// ## What it does
    /// Flags RUN instructions that use `curl` in a stage where `wget` is also used, or the other
    /// way round (each RUN after the second tool appears).
    ///
    /// ## Why it matters
    /// Two download tools do one job: both get installed, both need their options and TLS
    /// settings reviewed, and the image carries both.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// RUN wget -q https://example.com/a.tar.gz
    /// RUN curl -fsSLO https://example.com/b.tar.gz
    /// # after
    /// RUN curl -fsSLO https://example.com/a.tar.gz && curl -fsSLO https://example.com/b.tar.gz
    /// ```
    pub(crate) struct CurlAndWget {
        code: "DL4001",
        name: "curl-and-wget",
        hadolint: true,
        severity: Warning,
        category: Style,
        message: "Either use Wget or Curl but not both",
    }
}

impl Check for CurlAndWget {
    const TRIGGERS: bool = true;

    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        let (mut curl, mut wget) = (false, false);
        for item in items {
            if matches!(item.instruction.kind, InstructionKind::From(_)) {
                (curl, wget) = (false, false);
            }
            let Some(script) = &item.script else { continue };
            let uses_curl = script.named("curl").next().is_some();
            let uses_wget = script.named("wget").next().is_some();
            curl |= uses_curl;
            wget |= uses_wget;
            if (uses_curl || uses_wget) && curl && wget {
                sink.report(item.span);
            }
        }
    }
}

declare_rule! {
    /// ## What it does
    /// Flags `ln … /bin/sh` in a RUN (relinking the default shell).
    ///
    /// ## Why it matters
    /// Replacing `/bin/sh` changes every script in the image, including the distribution's own
    /// maintainer scripts; the `SHELL` instruction changes the shell of RUN alone, visibly.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// RUN ln -sf /bin/bash /bin/sh
    /// # after
    /// SHELL ["/bin/bash", "-c"]
    /// ```
    pub(crate) struct RelinkShell {
        code: "DL4005",
        name: "relink-shell",
        hadolint: true,
        severity: Warning,
        category: Correctness,
        message: "Use SHELL to change the default shell",
    }
}

impl Check for RelinkShell {
    const TRIGGERS: bool = true;

    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        check_runs(items, sink, |s| s.commands.iter().any(|c| c.is("ln", "/bin/sh")));
    }
}

/// `set -o pipefail` (or `set -euo pipefail`) inside the script itself.
fn sets_pipefail(script: &Script) -> bool {
    script.named("set").any(|c| c.has_flag("o") && c.has_arg("pipefail"))
}

declare_rule! {
    /// ## What it does
    /// Flags a RUN with a pipe when neither a prior `SHELL ["/bin/bash", "-o", "pipefail", "-c"]`
    /// (bash, zsh or ash) nor a `set -o pipefail` in the script itself makes the pipe fail when
    /// any command in it fails. Non-POSIX shells (PowerShell, cmd) are exempt.
    ///
    /// ## Why it matters
    /// A pipeline's status is that of its last command: `curl … | tar -x` succeeds when the
    /// download fails, and the image is built without the file.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// RUN curl -fsSL https://example.com/tool.tar.gz | tar -xz -C /opt
    /// # after
    /// SHELL ["/bin/bash", "-o", "pipefail", "-c"]
    /// RUN curl -fsSL https://example.com/tool.tar.gz | tar -xz -C /opt
    /// ```
    pub(crate) struct PipeWithoutPipefail {
        code: "DL4006",
        name: "pipe-without-pipefail",
        hadolint: true,
        severity: Warning,
        category: Correctness,
        message: "Set the SHELL option -o pipefail before RUN with a pipe in it. If you are using /bin/sh in an alpine image or if your shell is symlinked to busybox then consider explicitly setting your SHELL to /bin/ash, or disable this check",
    }
}

impl Check for PipeWithoutPipefail {
    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        let mut safe = false;
        for item in items {
            match &item.instruction.kind {
                InstructionKind::From(_) => safe = false,
                InstructionKind::Shell(arguments) => {
                    let line = arguments.joined();
                    let non_posix = ["pwsh", "powershell", "cmd"].iter().any(|s| line.starts_with(s));
                    let pipefail = parse_script(&line).commands.iter().any(|c| {
                        matches!(c.basename(), "bash" | "zsh" | "ash") && c.has_flag("o") && c.has_arg("pipefail")
                    });
                    safe = non_posix || pipefail;
                }
                _ => {}
            }
            if let Some(script) = &item.script
                && !safe
                && script.has_pipe()
                && !sets_pipefail(script)
            {
                sink.report(item.span);
            }
        }
    }
}

declare_rule! {
    /// ## What it does
    /// Flags a RUN that directly follows another RUN (comments and blank lines in between do not
    /// count) with the same flags, when each of the two runs a single command.
    ///
    /// ## Why it matters
    /// Each RUN is a layer and a cache step; single-command RUNs in a row add layers, metadata
    /// and push time without any caching benefit. Chains were probably split on purpose.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// RUN mkdir -p /app
    /// RUN chown app /app
    /// # after
    /// RUN mkdir -p /app && chown app /app
    /// ```
    pub(crate) struct ConsecutiveRuns {
        code: "DL3059",
        name: "consecutive-runs",
        hadolint: true,
        severity: Info,
        category: Performance,
        message: "Multiple consecutive `RUN` instructions. Consider consolidation.",
    }
}

impl Check for ConsecutiveRuns {
    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        let mut previous: Option<(&[Flag], usize)> = None;
        for item in items {
            let Some(script) = &item.script else {
                previous = None;
                continue;
            };
            let flags = item.instruction.flags.as_slice();
            let commands = script.commands.len();
            if let Some((previous_flags, previous_commands)) = previous
                && same_flags(previous_flags, flags)
                && commands <= 1
                && previous_commands <= 1
            {
                sink.report(item.span);
            }
            previous = Some((flags, commands));
        }
    }
}

/// Flags compared by name and value, ignoring their positions.
fn same_flags(a: &[Flag], b: &[Flag]) -> bool {
    fn key(flags: &[Flag]) -> Vec<(&str, Option<&str>)> {
        let mut k: Vec<_> = flags.iter().map(|f| (f.name.as_str(), f.value.as_deref())).collect();
        k.sort_unstable();
        k
    }
    key(a) == key(b)
}
