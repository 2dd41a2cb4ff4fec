//! Rules on single instructions and their counts per stage.

use std::collections::{BTreeMap, HashSet};

use super::from::RawImage;
use super::{Check, Sink, strip_quotes, variable_references};
use crate::lint::{Context, Item, declare_rule};
use crate::syntax::{Arguments, Healthcheck, InstructionKind, Span};

declare_rule! {
    /// ## What it does
    /// Flags a relative `WORKDIR` path.
    ///
    /// ## Why it matters
    /// A relative WORKDIR is resolved against the previous one, so its meaning depends on every
    /// WORKDIR before it, in this stage and in the base image.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// WORKDIR app
    /// # after
    /// WORKDIR /app
    /// ```
    pub(crate) struct RelativeWorkdir {
        code: "DL3000",
        name: "relative-workdir",
        hadolint: true,
        severity: Error,
        category: Correctness,
        message: "Use absolute WORKDIR",
    }
}

impl Check for RelativeWorkdir {
    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        for item in items {
            if let InstructionKind::Workdir(dir) = &item.instruction.kind
                && !super::copy::is_absolute(strip_quotes(&dir.raw))
            {
                sink.report(item.span);
            }
        }
    }
}

fn is_root(user: &str) -> bool {
    matches!(user, "root" | "0") || user.starts_with("root:") || user.starts_with("0:")
}

declare_rule! {
    /// ## What it does
    /// Flags a stage whose last `USER` is `root` (or `0`).
    ///
    /// ## Why it matters
    /// Whatever the container runs then runs as root: a compromise of the application is a
    /// compromise of everything the container can reach. Switch back to an unprivileged user
    /// after the steps that need root.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// USER root
    /// RUN apk add --no-cache curl=8.9.1-r1
    /// # after
    /// USER root
    /// RUN apk add --no-cache curl=8.9.1-r1
    /// USER app
    /// ```
    pub(crate) struct LastUserRoot {
        code: "DL3002",
        name: "last-user-root",
        hadolint: true,
        severity: Warning,
        category: Security,
        message: "Last USER should not be root",
    }
}

impl Check for LastUserRoot {
    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        // Stage index → the root USER still in effect at its end.
        let mut last_root = BTreeMap::new();
        let mut stage = 0usize;
        for item in items {
            match &item.instruction.kind {
                InstructionKind::From(_) => stage += 1,
                InstructionKind::User(user) if is_root(&user.raw) => {
                    last_root.insert(stage, item.span);
                }
                InstructionKind::User(_) => {
                    last_root.remove(&stage);
                }
                _ => {}
            }
        }
        for span in last_root.into_values() {
            sink.report(span);
        }
    }
}

declare_rule! {
    /// ## What it does
    /// Flags an `EXPOSE` port (or range end) above 65535.
    ///
    /// ## Why it matters
    /// TCP and UDP ports are 16-bit; such a port can never be reached and usually hides a typo.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// EXPOSE 80800
    /// # after
    /// EXPOSE 8080
    /// ```
    pub(crate) struct InvalidPort {
        code: "DL3011",
        name: "invalid-port",
        hadolint: true,
        severity: Error,
        category: Correctness,
        message: "Valid UNIX ports range from 0 to 65535",
    }
}

impl Check for InvalidPort {
    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        for item in items {
            let InstructionKind::Expose(ports) = &item.instruction.kind else { continue };
            let out_of_range = ports.iter().any(|p| {
                let port = p.raw.split('/').next().unwrap_or_default();
                port.split('-').any(|n| n.parse::<u64>().is_ok_and(|n| n > 65535))
            });
            if out_of_range {
                sink.report(item.span);
            }
        }
    }
}

/// Reports every instruction matching `is` after the first in each stage.
fn report_repeats_per_stage(items: &[Item<'_>], sink: &mut Sink<'_>, is: impl Fn(&InstructionKind) -> bool) {
    let mut seen = false;
    for item in items {
        if matches!(item.instruction.kind, InstructionKind::From(_)) {
            seen = false;
        } else if is(&item.instruction.kind) {
            if seen {
                sink.report(item.span);
            }
            seen = true;
        }
    }
}

declare_rule! {
    /// ## What it does
    /// Flags a second `HEALTHCHECK` in the same stage.
    ///
    /// ## Why it matters
    /// Only the last one takes effect; the others are dead code that a reader may trust.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// HEALTHCHECK CMD ["curl", "-f", "http://localhost/"]
    /// HEALTHCHECK CMD ["curl", "-f", "http://localhost/health"]
    /// # after
    /// HEALTHCHECK CMD ["curl", "-f", "http://localhost/health"]
    /// ```
    pub(crate) struct MultipleHealthchecks {
        code: "DL3012",
        name: "multiple-healthchecks",
        hadolint: true,
        severity: Error,
        category: Correctness,
        message: "Multiple `HEALTHCHECK` instructions",
    }
}

impl Check for MultipleHealthchecks {
    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        report_repeats_per_stage(items, sink, |k| matches!(k, InstructionKind::Healthcheck(_)));
    }
}

declare_rule! {
    /// ## What it does
    /// Flags `CMD`, `ENTRYPOINT` and `HEALTHCHECK CMD` in shell form (`CMD node server.js`).
    ///
    /// ## Why it matters
    /// Shell form runs the command under `/bin/sh -c`: the shell is PID 1, `docker stop`'s
    /// SIGTERM never reaches the application, and the container is killed after the timeout.
    /// With ENTRYPOINT, shell form also ignores the arguments given to `docker run`.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// CMD node server.js
    /// # after
    /// CMD ["node", "server.js"]
    /// ```
    pub(crate) struct ShellFormCommand {
        code: "DL3025",
        name: "shell-form-command",
        hadolint: true,
        severity: Warning,
        category: Correctness,
        message: "Use arguments JSON notation for CMD and ENTRYPOINT arguments",
    }
}

impl Check for ShellFormCommand {
    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        for item in items {
            if let InstructionKind::Cmd(Arguments::Shell { text, .. })
            | InstructionKind::Entrypoint(Arguments::Shell { text, .. })
            | InstructionKind::Healthcheck(Healthcheck::Cmd(Arguments::Shell { text, .. })) = &item.instruction.kind
                && !text.is_empty()
            {
                sink.report(item.span);
            }
        }
    }
}

declare_rule! {
    /// ## What it does
    /// Flags `ONBUILD ONBUILD`, `ONBUILD FROM` and `ONBUILD MAINTAINER`.
    ///
    /// ## Why it matters
    /// These triggers are not allowed: the builder refuses the image built on top of this one.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// ONBUILD ONBUILD RUN make
    /// # after
    /// ONBUILD RUN make
    /// ```
    pub(crate) struct InvalidOnbuild {
        code: "DL3043",
        name: "invalid-onbuild",
        hadolint: true,
        severity: Error,
        category: Correctness,
        message: "`ONBUILD`, `FROM` or `MAINTAINER` triggered from within `ONBUILD` instruction.",
    }
}

impl Check for InvalidOnbuild {
    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        for item in items {
            if let InstructionKind::Onbuild(trigger) = &item.instruction.kind
                && matches!(
                    trigger.kind,
                    InstructionKind::Onbuild(_) | InstructionKind::From(_) | InstructionKind::Maintainer(_)
                )
            {
                sink.report(item.span);
            }
        }
    }
}

/// An ENV value as hadolint reads it: quotes removed, escapes kept (but `\"` inside double
/// quotes is `"`). A `$` that is literal in ENV (single-quoted or escaped) is left out: it refers
/// to nothing, though hadolint still sees a reference there.
fn env_value_text(raw: &str, escape: char) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut quote = None;
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (Some('\''), '$') => {}
            (_, c) if c == escape => match chars.next() {
                Some(next) if Some(next) == quote => out.push(next),
                // The escaped `$` is left out.
                Some('$') | None => out.push(c),
                Some(next) => out.extend([c, next]),
            },
            (_, c) => out.push(c),
        }
    }
    out
}

declare_rule! {
    /// ## What it does
    /// Flags an `ENV` that defines a variable and uses it in another pair of the same
    /// instruction, when it was not defined before.
    ///
    /// ## Why it matters
    /// All pairs of one ENV are expanded with the values from before the instruction, so the
    /// reference does not see the new value: `ENV A=1 B=$A` sets B to the old A (often empty).
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// ENV APP_HOME=/app APP_BIN=${APP_HOME}/bin
    /// # after
    /// ENV APP_HOME=/app
    /// ENV APP_BIN=${APP_HOME}/bin
    /// ```
    pub(crate) struct EnvSelfReference {
        code: "DL3044",
        name: "env-self-reference",
        hadolint: true,
        severity: Error,
        category: Correctness,
        message: "Do not refer to an environment variable within the same `ENV` statement where it is defined.",
    }
}

impl Check for EnvSelfReference {
    fn check(&self, cx: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        let mut defined: HashSet<String> = HashSet::new();
        for item in items {
            match &item.instruction.kind {
                InstructionKind::Env(env) => {
                    let keys: Vec<String> = env.pairs.iter().map(|p| p.key.value(cx.escape())).collect();
                    let values: Vec<String> =
                        env.pairs.iter().map(|p| env_value_text(&p.value.raw, cx.escape())).collect();
                    let self_reference = keys.iter().enumerate().any(|(i, key)| {
                        !defined.contains(key)
                            && values
                                .iter()
                                .enumerate()
                                .any(|(j, v)| i != j && variable_references(v).any(|n| n == key))
                    });
                    if self_reference {
                        sink.report(item.span);
                    }
                    defined.extend(keys);
                }
                InstructionKind::Arg(decls) => defined.extend(decls.iter().map(|d| d.name.raw.clone())),
                _ => {}
            }
        }
    }
}

declare_rule! {
    /// ## What it does
    /// Flags `LABEL` keys that break the label key format: lower-case letters, digits, `.` and
    /// `-`, starting with a letter and ending with a letter or digit, no `..` or `--`, and not in
    /// Docker's reserved namespaces (`com.docker.`, `io.docker.`, `org.dockerproject.`).
    ///
    /// ## Why it matters
    /// Tools that read labels (registries, scanners, `docker inspect` filters) expect reverse-DNS
    /// keys; odd keys are ignored or clash with Docker's own.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// LABEL Maintainer_Email=team@example.com
    /// # after
    /// LABEL org.opencontainers.image.authors=team@example.com
    /// ```
    pub(crate) struct InvalidLabelKey {
        code: "DL3048",
        name: "invalid-label-key",
        hadolint: true,
        severity: Style,
        category: Style,
        message: "Invalid label key.",
    }
}

fn valid_label_key(key: &str) -> bool {
    key.starts_with(|c: char| c.is_ascii_lowercase())
        && key.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && !["com.docker.", "io.docker.", "org.dockerproject."].iter().any(|ns| key.starts_with(ns))
        && !key.contains("..")
        && !key.contains("--")
}

impl Check for InvalidLabelKey {
    fn check(&self, cx: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        for item in items {
            if let InstructionKind::Label(labels) = &item.instruction.kind
                && labels.pairs.iter().any(|p| !valid_label_key(&p.key.value(cx.escape())))
            {
                sink.report(item.span);
            }
        }
    }
}

declare_rule! {
    /// ## What it does
    /// Flags each build stage without a `HEALTHCHECK` (`HEALTHCHECK NONE` counts, one in an
    /// `ONBUILD` trigger does not), as hadolint does. A stage built on a stage that has one
    /// inherits it, and a stage's `HEALTHCHECK` also counts for the stages it is built on. Off
    /// by default (hadolint's default too): enable it with `--enable DL3057` for services run
    /// outside an orchestrator that probes them.
    ///
    /// ## Why it matters
    /// Without a health check, Docker reports a container whose process is alive but hung as
    /// healthy, and restart policies never kick in.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// CMD ["nginx", "-g", "daemon off;"]
    /// # after
    /// HEALTHCHECK --interval=30s --timeout=3s CMD ["wget", "-q", "--spider", "http://localhost/"]
    /// CMD ["nginx", "-g", "daemon off;"]
    /// ```
    pub(crate) struct MissingHealthcheck {
        code: "DL3057",
        name: "missing-healthcheck",
        hadolint: true,
        severity: Info,
        category: Correctness,
        message: "`HEALTHCHECK` instruction missing.",
        default_enabled: false,
    }
}

/// A stage as DL3057 tracks it: the image it is built on (a stage name or an image path) and its
/// name (its alias, else that image path, as in hadolint).
struct HealthStage<'a> {
    base: &'a str,
    name: &'a str,
    span: Span,
    has_check: bool,
}

impl Check for MissingHealthcheck {
    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        let mut stages: Vec<HealthStage<'_>> = Vec::new();
        for item in items {
            match &item.instruction.kind {
                InstructionKind::From(from) => {
                    let base = RawImage::split(&from.image.raw).path();
                    let name = from.alias.as_ref().map_or(base, |a| a.raw.as_str());
                    let has_check = stages.iter().any(|s| s.has_check && s.name == base);
                    stages.push(HealthStage { base, name, span: item.span, has_check });
                }
                InstructionKind::Healthcheck(_) if !stages.is_empty() => {
                    // The current stage, and through their names the stages it is built on.
                    let mut newly = vec![stages.len() - 1];
                    while let Some(i) = newly.pop() {
                        stages[i].has_check = true;
                        let base = stages[i].base;
                        for (j, stage) in stages.iter_mut().enumerate() {
                            if !stage.has_check && stage.name == base {
                                stage.has_check = true;
                                newly.push(j);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        for stage in stages.iter().filter(|s| !s.has_check) {
            sink.report(stage.span);
        }
    }
}

const KNOWN_SENSITIVE_NAMES: &[&str] = &[
    "ACCESS_TOKEN",
    "APPLICATION_KEY",
    "APP_SECRET",
    "AUTH_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "BITTREX_API_KEY",
    "BITTREX_API_SECRET",
    "CF_PASSWORD",
    "CF_USERNAME",
    "CIRCLE_TOKEN",
    "CI_DEPLOY_PASSWORD",
    "CI_DEPLOY_USER",
    "DOCKERHUB_PASSWORD",
    "DOCKER_EMAIL",
    "DOCKER_PASSWORD",
    "DOCKER_USERNAME",
    "FACEBOOK_ACCESS_TOKEN",
    "FACEBOOK_APP_ID",
    "FACEBOOK_APP_SECRET",
    "FIREBASE_API_TOKEN",
    "FIREBASE_TOKEN",
    "FOSSA_API_KEY",
    "GH_ENTERPRISE_TOKEN",
    "GH_TOKEN",
    "GITHUB_ENTERPRISE_TOKEN",
    "GITHUB_TOKEN",
    "HEROKU_API_KEY",
    "HEROKU_API_USER",
    "NPM_AUTH_TOKEN",
    "NPM_TOKEN",
    "OKTA_AUTHN_GROUPID",
    "OKTA_CLIENT_ORGURL",
    "OKTA_CLIENT_TOKEN",
    "OKTA_OAUTH2_CLIENTID",
    "OKTA_OAUTH2_CLIENTSECRET",
    "OPENAI_API_KEY",
    "OS_PASSWORD",
    "OS_USERNAME",
    "POSTGRES_PASSWORD",
    "SLACK_TOKEN",
    "STRIPE_API_KEY",
    "STRIPE_DEVICE_NAME",
    "TRAVIS_OS_NAME",
    "TRAVIS_SECURE_ENV_VARS",
    "TRAVIS_SUDO",
    "VAULT_CLIENT_KEY",
    "VAULT_TOKEN",
];

const SUSPICIOUS_SUBSTRINGS: &[&str] = &["api_key", "client_key", "password", "private", "secret", "token", "username"];

/// A variable name that suggests it holds a credential.
fn is_sensitive_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    KNOWN_SENSITIVE_NAMES.contains(&name.to_ascii_uppercase().as_str())
        || SUSPICIOUS_SUBSTRINGS.iter().any(|s| lower.contains(s))
}

declare_rule! {
    /// ## What it does
    /// Flags `ARG` and `ENV` names that suggest a credential (`*_TOKEN`, `*PASSWORD*`, `*SECRET*`,
    /// `AWS_SECRET_ACCESS_KEY` …), whatever their value.
    ///
    /// ## Why it matters
    /// ENV values are stored in the image config and ARG values in its history: anyone who can
    /// pull the image can read them. Build secrets belong in `RUN --mount=type=secret`, runtime
    /// secrets in the orchestrator.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// ARG NPM_TOKEN
    /// RUN echo "//registry.npmjs.org/:_authToken=${NPM_TOKEN}" > .npmrc && npm ci
    /// # after
    /// RUN --mount=type=secret,id=npmrc,target=/root/.npmrc npm ci
    /// ```
    pub(crate) struct SensitiveVariableName {
        code: "DL3064",
        name: "sensitive-variable-name",
        hadolint: true,
        severity: Warning,
        category: Security,
        message: "Potentially sensitive data should not be used in the `ARG` or `ENV` commands",
    }
}

impl Check for SensitiveVariableName {
    const TRIGGERS: bool = true;

    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        for item in items {
            let sensitive = match &item.instruction.kind {
                InstructionKind::Arg(decls) => decls.iter().any(|d| is_sensitive_name(&d.name.raw)),
                InstructionKind::Env(env) => env.pairs.iter().any(|p| is_sensitive_name(&p.key.raw)),
                _ => false,
            };
            if sensitive {
                sink.report(item.span);
            }
        }
    }
}

declare_rule! {
    /// ## What it does
    /// Flags `USER` given by name rather than numeric UID (only the user part is checked:
    /// `USER 1000:app` is fine). A user given by a build argument is decided at build time and
    /// is not flagged: as in hadolint, that is any `$NAME` of an `ARG` in the value, even the
    /// start of a longer name (`USER $UID` after `ARG U`) or in the group part.
    ///
    /// ## Why it matters
    /// Kubernetes' `runAsNonRoot` and other host-side checks can only verify a numeric UID; a
    /// name is resolved inside the container, where it may not exist or may map to root.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// USER app
    /// # after
    /// USER 10001:10001
    /// ```
    pub(crate) struct NonNumericUser {
        code: "DL3066",
        name: "non-numeric-user",
        hadolint: true,
        severity: Info,
        category: Security,
        message: "Non-numeric user-id may not be resolvable by host system",
    }
}

impl Check for NonNumericUser {
    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        let mut build_args: HashSet<&str> = HashSet::new();
        for item in items {
            match &item.instruction.kind {
                InstructionKind::Arg(decls) => build_args.extend(decls.iter().map(|d| d.name.raw.as_str())),
                InstructionKind::User(user) => {
                    let uid = user.raw.split(':').next().unwrap_or_default();
                    // hadolint's test: the argument's `$NAME` anywhere, even as a prefix.
                    let from_build_arg = build_args
                        .iter()
                        .any(|a| user.raw.contains(&format!("${a}")) || user.raw.contains(&format!("${{{a}}}")));
                    if !uid.chars().all(|c| c.is_ascii_digit()) && !from_build_arg {
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
    /// Flags the `MAINTAINER` instruction.
    ///
    /// ## Why it matters
    /// MAINTAINER has been deprecated since Docker 1.13; the OCI label carries the same
    /// information where tools look for it.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// MAINTAINER Jane Doe <jane@example.com>
    /// # after
    /// LABEL org.opencontainers.image.authors="Jane Doe <jane@example.com>"
    /// ```
    pub(crate) struct Maintainer {
        code: "DL4000",
        name: "maintainer",
        hadolint: true,
        severity: Error,
        category: Style,
        message: "MAINTAINER is deprecated",
    }
}

impl Check for Maintainer {
    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        for item in items {
            if matches!(item.instruction.kind, InstructionKind::Maintainer(_)) {
                sink.report(item.span);
            }
        }
    }
}

declare_rule! {
    /// ## What it does
    /// Flags a second `CMD` in the same stage.
    ///
    /// ## Why it matters
    /// Only the last CMD takes effect; the earlier one misleads whoever reads the file.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// CMD ["npm", "run", "dev"]
    /// CMD ["node", "server.js"]
    /// # after
    /// CMD ["node", "server.js"]
    /// ```
    pub(crate) struct MultipleCmd {
        code: "DL4003",
        name: "multiple-cmd",
        hadolint: true,
        severity: Warning,
        category: Correctness,
        message: "Multiple `CMD` instructions found. If you list more than one `CMD` then only the last `CMD` will take effect",
    }
}

impl Check for MultipleCmd {
    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        report_repeats_per_stage(items, sink, |k| matches!(k, InstructionKind::Cmd(_)));
    }
}

declare_rule! {
    /// ## What it does
    /// Flags a second `ENTRYPOINT` in the same stage.
    ///
    /// ## Why it matters
    /// Only the last ENTRYPOINT takes effect, and setting one resets CMD: an earlier pair of
    /// ENTRYPOINT and CMD silently stops working.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// ENTRYPOINT ["/docker-entrypoint.sh"]
    /// ENTRYPOINT ["tini", "--"]
    /// # after
    /// ENTRYPOINT ["tini", "--", "/docker-entrypoint.sh"]
    /// ```
    pub(crate) struct MultipleEntrypoint {
        code: "DL4004",
        name: "multiple-entrypoint",
        hadolint: true,
        severity: Error,
        category: Correctness,
        message: "Multiple `ENTRYPOINT` instructions found. If you list more than one `ENTRYPOINT` then only the last `ENTRYPOINT` will take effect",
    }
}

impl Check for MultipleEntrypoint {
    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        report_repeats_per_stage(items, sink, |k| matches!(k, InstructionKind::Entrypoint(_)));
    }
}
