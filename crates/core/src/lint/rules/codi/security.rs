//! codi's security rules on the build: credentials in the file, unverified downloads, TLS
//! checks turned off, world-writable files, steps outside the sandbox.

use std::borrow::Cow;

use crate::analysis::is_posix_shell;
use crate::analysis::secrets::find_secrets;
use crate::lint::rules::{Check, Sink, check_runs, is_url};
use crate::lint::{Context, Item, declare_rule};
use crate::shell::{Command, Script};
use crate::syntax::{Instruction, InstructionKind, Word};

declare_rule! {
    /// ## What it does
    /// Flags credentials written into the Dockerfile: a value in a known token format (AWS
    /// access key, GitHub, GitLab, Slack, Stripe, npm, Google API key, JWT), a private key,
    /// a password in a URL, or a literal value given to an ARG or ENV whose name says it is a
    /// secret. Unlike DL3064, which looks at names only, this looks at values.
    ///
    /// ## Why it matters
    /// The value is in the image config or history of every copy of the image, in the build
    /// cache and in the repository: it must be considered leaked and rotated.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// ENV DB_PASSWORD=hunter2
    /// # after: give it at run time (orchestrator secret), or to one build step
    /// RUN --mount=type=secret,id=db_password,env=DB_PASSWORD ./seed-database
    /// ```
    pub(crate) struct SecretValue {
        code: "CD004",
        name: "secret-value",
        hadolint: false,
        severity: Error,
        category: Security,
        message: "A credential is written into the Dockerfile",
    }
}

impl Check for SecretValue {
    const TRIGGERS: bool = true;

    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        for item in items {
            if let Some(reason) = secret_in(item.instruction) {
                sink.report_with(item.span, Cow::Owned(format!("{}: {reason}", Self::META.message)));
            }
        }
    }
}

/// A name for a credential itself (not for where it is kept, or for a user name).
fn names_secret(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let secret =
        ["password", "passwd", "secret", "token", "api_key", "apikey", "private_key", "access_key", "credential"]
            .iter()
            .any(|s| lower.contains(s));
    let metadata = ["_file", "_path", "_dir", "_url", "_host", "_port", "_length", "_ttl", "_expiry", "_name", "_id"]
        .iter()
        .any(|s| lower.ends_with(s));
    secret && !metadata
}

/// A value written in the file: not empty, not a variable, not a path.
fn literal(value: &Word) -> bool {
    let value = value.raw.trim_matches(['"', '\'']);
    !value.is_empty() && !value.starts_with('$') && !value.starts_with('/')
}

fn secret_in(instruction: &Instruction) -> Option<String> {
    let named = match &instruction.kind {
        InstructionKind::Env(env) => {
            env.pairs.iter().find(|p| names_secret(&p.key.raw) && literal(&p.value)).map(|p| p.key.raw.clone())
        }
        InstructionKind::Arg(decls) => decls
            .iter()
            .find(|d| names_secret(&d.name.raw) && d.default.as_ref().is_some_and(literal))
            .map(|d| d.name.raw.clone()),
        _ => None,
    };
    if let Some(name) = named {
        return Some(format!("{name} is given a literal value"));
    }
    let mut text = instruction.to_string();
    for heredoc in &instruction.heredocs {
        text.push('\n');
        text.push_str(&heredoc.content);
    }
    find_secrets(&text).first().map(|m| format!("it contains {}", m.kind.description()))
}

fn is_download(cmd: &Command) -> bool {
    matches!(cmd.basename(), "curl" | "wget")
}

/// `curl … | sh`, `wget -O- … | sudo bash`, `sh -c "$(curl …)"`.
fn pipes_download_to_shell(script: &Script) -> bool {
    let piped = script.pipelines().any(|pipeline| {
        let download = pipeline.iter().position(|c| is_download(c));
        let shell = pipeline
            .iter()
            .rposition(|c| is_posix_shell(&c.name) || (c.name == "sudo" && c.args.iter().any(|a| is_posix_shell(a))));
        matches!((download, shell), (Some(d), Some(s)) if d < s)
    });
    let substituted = script
        .commands
        .iter()
        .any(|c| is_posix_shell(&c.name) && c.args.iter().any(|a| a.contains("$(curl") || a.contains("$(wget")));
    piped || substituted
}

declare_rule! {
    /// ## What it does
    /// Flags a RUN that pipes a download straight into a shell (`curl … | sh`,
    /// `sh -c "$(curl …)"`).
    ///
    /// ## Why it matters
    /// Whatever the server returns is executed as root in the build, with no checksum or
    /// signature: a compromised host, a truncated download or a changed script changes the image
    /// silently. Download, verify a pinned checksum, then run.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// RUN curl -fsSL https://example.com/install.sh | sh
    /// # after
    /// RUN curl -fsSLo /tmp/install.sh https://example.com/install.sh \
    ///     && echo "3f8c…e1  /tmp/install.sh" | sha256sum -c - \
    ///     && sh /tmp/install.sh && rm /tmp/install.sh
    /// ```
    pub(crate) struct CurlPipeShell {
        code: "CD005",
        name: "curl-pipe-shell",
        hadolint: false,
        severity: Warning,
        category: Security,
        message: "A download is piped into a shell without verification: download to a file, check its checksum, then run it",
    }
}

impl Check for CurlPipeShell {
    const TRIGGERS: bool = true;

    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        check_runs(items, sink, pipes_download_to_shell);
    }
}

declare_rule! {
    /// ## What it does
    /// Flags `ADD https://…` without `--checksum=sha256:…`.
    ///
    /// ## Why it matters
    /// The file is fetched at build time from a server you do not control; without a checksum a
    /// changed or compromised download goes straight into the image, and the layer cache cannot
    /// tell that the content changed.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// ADD https://example.com/tool-1.2.3.tar.gz /opt/
    /// # after
    /// ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d \
    ///     https://example.com/tool-1.2.3.tar.gz /opt/
    /// ```
    pub(crate) struct RemoteAddWithoutChecksum {
        code: "CD009",
        name: "remote-add-without-checksum",
        hadolint: false,
        severity: Warning,
        category: Security,
        message: "ADD downloads a URL without --checksum: pin the expected sha256",
    }
}

impl Check for RemoteAddWithoutChecksum {
    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        for item in items {
            if let InstructionKind::Add(list) = &item.instruction.kind
                && item.instruction.flag("checksum").is_none()
                && list.sources().iter().any(|s| is_url(&s.raw) && !s.raw.contains(".git"))
            {
                sink.report(item.span);
            }
        }
    }
}

/// A command that turns off certificate checks.
fn disables_tls(cmd: &Command) -> bool {
    let joined = cmd.args.join(" ").to_ascii_lowercase();
    match cmd.basename() {
        "curl" => cmd.has_any_flag(&["k", "insecure"]),
        "wget" => cmd.has_flag("no-check-certificate"),
        "git" => joined.contains("sslverify=false") || joined.contains("sslverify false"),
        "npm" | "yarn" | "pnpm" => joined.contains("strict-ssl false") || joined.contains("strict-ssl=false"),
        "apk" => cmd.has_flag("allow-untrusted"),
        n if n.starts_with("pip") => cmd.has_flag("trusted-host"),
        _ => false,
    }
}

declare_rule! {
    /// ## What it does
    /// Flags turning off TLS certificate verification: `curl -k`, `wget --no-check-certificate`,
    /// `pip --trusted-host`, `npm config set strict-ssl false`, `git … sslVerify=false`,
    /// `apk --allow-untrusted`, and ENV such as `NODE_TLS_REJECT_UNAUTHORIZED=0` or
    /// `GIT_SSL_NO_VERIFY=1`.
    ///
    /// ## Why it matters
    /// Anyone on the network path can then serve the build (or the running app, for ENV)
    /// modified packages and scripts. Install the right CA certificate instead.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// RUN curl -k -o /tmp/tool.tgz https://internal.example.com/tool.tgz
    /// # after
    /// COPY corp-ca.crt /usr/local/share/ca-certificates/
    /// RUN update-ca-certificates && curl -fsSLo /tmp/tool.tgz https://internal.example.com/tool.tgz
    /// ```
    pub(crate) struct TlsVerificationDisabled {
        code: "CD010",
        name: "tls-verification-disabled",
        hadolint: false,
        severity: Warning,
        category: Security,
        message: "TLS certificate verification is turned off",
    }
}

impl Check for TlsVerificationDisabled {
    const TRIGGERS: bool = true;

    fn check(&self, cx: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        for item in items {
            let flagged = match (&item.script, &item.instruction.kind) {
                (Some(script), _) => script.commands.iter().any(disables_tls),
                (None, InstructionKind::Env(env)) => env.pairs.iter().any(|p| {
                    let value = p.value.value(cx.escape()).to_ascii_lowercase();
                    match p.key.raw.as_str() {
                        "NODE_TLS_REJECT_UNAUTHORIZED" | "PYTHONHTTPSVERIFY" => value == "0",
                        "GIT_SSL_NO_VERIFY" => matches!(value.as_str(), "1" | "true" | "yes"),
                        "NPM_CONFIG_STRICT_SSL" => value == "false",
                        _ => false,
                    }
                }),
                _ => false,
            };
            if flagged {
                sink.report(item.span);
            }
        }
    }
}

/// A chmod mode that lets everyone write: `777`, `666`, `o+w`, `a+rwx`.
fn world_writable(mode: &str) -> bool {
    if mode.len() >= 3 && mode.chars().all(|c| c.is_ascii_digit()) {
        return mode.chars().last().and_then(|c| c.to_digit(8)).is_some_and(|others| others & 2 != 0);
    }
    mode.split(',').any(|clause| {
        let (who, perms) = clause.split_once(['+', '=']).unwrap_or(("", ""));
        (who.contains('o') || who.contains('a') || who.is_empty() && clause.starts_with(['+', '=']))
            && perms.contains('w')
    })
}

declare_rule! {
    /// ## What it does
    /// Flags files made writable by everyone: `chmod 777`, `chmod -R o+w`, `chmod a+rwx`, or
    /// `COPY --chmod=777`.
    ///
    /// ## Why it matters
    /// Any process in the container, whatever its user, can then replace the application's code
    /// or configuration: a foothold becomes persistence. Give ownership to the app user instead.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// RUN chmod -R 777 /app
    /// # after
    /// RUN chown -R 10001:10001 /app
    /// ```
    pub(crate) struct WorldWritable {
        code: "CD011",
        name: "world-writable",
        hadolint: false,
        severity: Warning,
        category: Security,
        message: "Files are made writable by every user",
    }
}

impl Check for WorldWritable {
    const TRIGGERS: bool = true;

    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        for item in items {
            let by_chmod = item
                .script
                .as_ref()
                .is_some_and(|s| s.named("chmod").any(|c| c.operands().next().is_some_and(world_writable)));
            let by_flag = item.instruction.flag_value("chmod").is_some_and(world_writable);
            if by_chmod || by_flag {
                sink.report(item.span);
            }
        }
    }
}

declare_rule! {
    /// ## What it does
    /// Flags `RUN --security=insecure` and `RUN --network=host`.
    ///
    /// ## Why it matters
    /// The first runs the step with all capabilities and no sandbox, the second on the build
    /// machine's network: a malicious dependency script can reach the host, its services and its
    /// credentials. Both need explicit entitlements for a reason.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// RUN --network=host npm ci
    /// # after
    /// RUN npm ci
    /// ```
    pub(crate) struct InsecureRunFlags {
        code: "CD012",
        name: "insecure-run-flags",
        hadolint: false,
        severity: Warning,
        category: Security,
        message: "The build step runs outside the sandbox (--security=insecure or --network=host)",
    }
}

impl Check for InsecureRunFlags {
    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        for item in items {
            let i = item.instruction;
            if matches!(i.kind, InstructionKind::Run(_))
                && (i.flag_value("security") == Some("insecure") || i.flag_value("network") == Some("host"))
            {
                sink.report(item.span);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn world_writable_modes() {
        for mode in ["777", "0777", "666", "o+w", "a+rwx", "go+w", "+w", "u=rwx,o=rw"] {
            assert!(world_writable(mode), "{mode}");
        }
        for mode in ["755", "0644", "u+x", "g+w", "a+r", "o-w"] {
            assert!(!world_writable(mode), "{mode}");
        }
    }
}
