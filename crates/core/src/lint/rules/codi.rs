//! codi's own rules: smells hadolint does not have.

use std::borrow::Cow;

use super::{Check, Sink, check_runs, is_url};
use crate::analysis::secrets::find_secrets;
use crate::analysis::{Base, is_posix_shell};
use crate::lint::{Context, Item, declare_rule};
use crate::shell::{Command, Script};
use crate::syntax::{Instruction, InstructionKind, Word};

/// Dependency manifests and lockfiles, by file name.
fn is_manifest(path: &str) -> bool {
    const NAMES: &[&str] = &[
        "package.json",
        "package-lock.json",
        "npm-shrinkwrap.json",
        "yarn.lock",
        ".yarnrc.yml",
        "pnpm-lock.yaml",
        "pnpm-workspace.yaml",
        "pyproject.toml",
        "poetry.lock",
        "uv.lock",
        "Pipfile",
        "Pipfile.lock",
        "setup.py",
        "setup.cfg",
        "Gemfile",
        "Gemfile.lock",
        "composer.json",
        "composer.lock",
        "go.mod",
        "go.sum",
        "Cargo.toml",
        "Cargo.lock",
        "pom.xml",
        "build.gradle",
        "build.gradle.kts",
        "settings.gradle",
        "settings.gradle.kts",
        "gradle.properties",
        "packages.config",
        "Directory.Packages.props",
        "nuget.config",
    ];
    let name = path.trim_end_matches('/').rsplit('/').next().unwrap_or(path);
    NAMES.contains(&name)
        || (name.starts_with("requirements") && name.ends_with(".txt"))
        || (name.starts_with("package") && name.ends_with(".json"))
        || [".csproj", ".fsproj", ".vbproj", ".sln"].iter().any(|ext| name.ends_with(ext))
}

/// A step that downloads dependencies (or builds in a way that does).
fn installs_dependencies(cmd: &Command) -> bool {
    let sub = |s: &[&str]| cmd.has_any_arg(s);
    match cmd.basename() {
        "npm" | "pnpm" => sub(&["install", "i", "ci"]),
        "yarn" => sub(&["install"]) || cmd.args.iter().all(|a| a.starts_with('-')),
        "poetry" | "bundle" | "composer" | "pipenv" => sub(&["install"]),
        "uv" => sub(&["sync"]) || (sub(&["pip"]) && sub(&["install"])),
        "go" => sub(&["mod", "build", "install"]),
        "cargo" => sub(&["build", "fetch", "install"]),
        "mvn" | "mvnw" | "./mvnw" | "gradle" | "gradlew" | "./gradlew" => true,
        "dotnet" => sub(&["restore", "publish", "build"]),
        n if n.starts_with("pip") => sub(&["install"]) && sub(&["-r", "--requirement", "."]),
        _ => false,
    }
}

/// `COPY . .`, `COPY ./ /app/`, `COPY * ./`: the whole build context.
fn copies_whole_context(item: &Item<'_>) -> bool {
    match &item.instruction.kind {
        InstructionKind::Copy(list) | InstructionKind::Add(list) => {
            item.instruction.flag_value("from").is_none()
                && list.sources().iter().any(|s| matches!(s.raw.as_str(), "." | "./" | "*" | "./*"))
        }
        _ => false,
    }
}

fn copies_manifest(item: &Item<'_>) -> bool {
    match &item.instruction.kind {
        InstructionKind::Copy(list) | InstructionKind::Add(list) => {
            item.instruction.flag_value("from").is_none() && list.sources().iter().any(|s| is_manifest(&s.raw))
        }
        InstructionKind::Run(_) => {
            item.instruction.mounts().any(|m| m.kind == "bind" && m.source.as_deref().is_some_and(is_manifest))
        }
        _ => false,
    }
}

declare_rule! {
    /// ## What it does
    /// Flags a `COPY . …` of the whole build context that comes before the RUN installing the
    /// dependencies, when the dependency manifest (package.json, requirements.txt, go.mod,
    /// pom.xml, Gemfile …) was not copied on its own first. An install with a BuildKit cache
    /// mount (`RUN --mount=type=cache,…`) is not flagged: its cache survives.
    ///
    /// ## Why it matters
    /// Any change to any source file invalidates the cache of the install layer, so every build
    /// downloads and installs all dependencies again: minutes per build instead of seconds.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// COPY . .
    /// RUN npm ci
    /// # after
    /// COPY package.json package-lock.json ./
    /// RUN npm ci
    /// COPY . .
    /// ```
    pub(crate) struct InstallAfterSourceCopy {
        code: "CD001",
        name: "install-after-source-copy",
        hadolint: false,
        severity: Warning,
        category: Performance,
        message: "Dependencies are installed after the whole build context is copied: copy the dependency manifest and lockfile first, install, then copy the rest",
    }
}

impl Check for InstallAfterSourceCopy {
    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        for stage in split_stages(items) {
            let Some(copy) = stage.iter().position(copies_whole_context) else { continue };
            let manifest_first = stage[..copy].iter().any(copies_manifest);
            // With a cache mount, the package cache outlives the invalidated layer: nothing is
            // downloaded or compiled again.
            let install = stage[copy + 1..].iter().find(|i| {
                i.script.as_ref().is_some_and(|s| s.commands.iter().any(installs_dependencies))
                    && !i.instruction.mounts().any(|m| m.kind == "cache")
            });
            if let (false, Some(install)) = (manifest_first, install) {
                let message = format!("{} (the install runs at line {})", Self::META.message, install.line());
                sink.report_with(stage[copy].span, Cow::Owned(message));
            }
        }
    }
}

/// The items of each stage (what precedes the first FROM counts as a stage of its own).
fn split_stages<'i, 'a>(items: &'i [Item<'a>]) -> Vec<&'i [Item<'a>]> {
    let mut stages = Vec::new();
    let mut start = 0;
    for (i, item) in items.iter().enumerate() {
        if matches!(item.instruction.kind, InstructionKind::From(_)) && i > start {
            stages.push(&items[start..i]);
            start = i;
        }
    }
    stages.push(&items[start..]);
    stages
}

declare_rule! {
    /// ## What it does
    /// Flags a final-stage CMD or ENTRYPOINT whose process is a shell running several commands
    /// (`sh -c "migrate && serve"`, or the same in shell form) without handing over to the
    /// last one with `exec`.
    ///
    /// ## Why it matters
    /// The shell stays PID 1: it does not forward SIGTERM, so `docker stop` waits out its
    /// timeout and kills the application without a graceful shutdown, and zombie processes are
    /// never reaped.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// CMD ["sh", "-c", "python manage.py migrate && gunicorn app.wsgi"]
    /// # after
    /// CMD ["sh", "-c", "python manage.py migrate && exec gunicorn app.wsgi"]
    /// ```
    pub(crate) struct ShellAsPid1 {
        code: "CD002",
        name: "shell-as-pid1",
        hadolint: false,
        severity: Warning,
        category: Correctness,
        message: "The container's main process is a shell running several commands: end the chain with `exec` so the application receives signals",
    }
}

impl Check for ShellAsPid1 {
    fn check(&self, cx: &Context<'_>, _: &[Item<'_>], sink: &mut Sink<'_>) {
        if let Some(command) = &cx.analysis().command
            && (command.shell_wrapper || command.form == crate::analysis::Form::Shell)
            && command.inline_chain
            && !command.uses_exec
        {
            sink.report(line_span(cx, command.line));
        }
    }
}

/// The span of the instruction on `line`.
fn line_span(cx: &Context<'_>, line: u32) -> crate::syntax::Span {
    cx.file.instructions.iter().find(|i| i.line() == line).map(|i| i.span).unwrap_or_default()
}

declare_rule! {
    /// ## What it does
    /// Flags a final-stage CMD or ENTRYPOINT that installs packages when the container starts
    /// (`apt-get install`, `pip install`, `npm install` …).
    ///
    /// ## Why it matters
    /// Every start downloads from the network: slow starts, failures when a mirror is down, a
    /// different set of packages in every container, and a package manager (and often root)
    /// needed at run time. Install in the build instead.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// CMD pip install -r requirements.txt && python app.py
    /// # after
    /// RUN pip install --no-cache-dir -r requirements.txt
    /// CMD ["python", "app.py"]
    /// ```
    pub(crate) struct InstallAtStartup {
        code: "CD003",
        name: "install-at-startup",
        hadolint: false,
        severity: Warning,
        category: Reproducibility,
        message: "Packages are installed each time the container starts: install them in a RUN step",
    }
}

impl Check for InstallAtStartup {
    fn check(&self, cx: &Context<'_>, _: &[Item<'_>], sink: &mut Sink<'_>) {
        if let Some(command) = &cx.analysis().command
            && let Some(install) = command.runtime_installs.first()
        {
            let message = format!("{} (`{install}`)", Self::META.message);
            sink.report_with(line_span(cx, command.line), Cow::Owned(message));
        }
    }
}

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
    /// Flags a final stage that never sets `USER` (directly or through the stage it builds on),
    /// so the container runs as root. Base images that default to an unprivileged user
    /// (`…:nonroot` distroless tags, Chainguard, Bitnami, `*-unprivileged`) and Windows images
    /// are exempt.
    ///
    /// ## Why it matters
    /// A process running as root in a container is one kernel or runtime bug away from root on
    /// the host, and can rewrite everything in its own image.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// FROM python:3.12-slim
    /// COPY --chown=10001:10001 app/ /app/
    /// CMD ["python", "/app/main.py"]
    /// # after
    /// FROM python:3.12-slim
    /// RUN useradd --uid 10001 --no-create-home app
    /// COPY --chown=10001:10001 app/ /app/
    /// USER 10001
    /// CMD ["python", "/app/main.py"]
    /// ```
    pub(crate) struct MissingUser {
        code: "CD006",
        name: "missing-user",
        hadolint: false,
        severity: Warning,
        category: Security,
        message: "The final stage never sets USER, so the container runs as root",
    }
}

impl Check for MissingUser {
    fn check(&self, cx: &Context<'_>, _: &[Item<'_>], sink: &mut Sink<'_>) {
        let analysis = cx.analysis();
        let (Some(stage), Some(base)) = (analysis.final_stage(), &analysis.base_image) else { return };
        if stage.user.is_none() && !base.runs_unprivileged_by_default() {
            sink.report(line_span(cx, stage.line));
        }
    }
}

/// Base images that carry a compiler or SDK.
fn is_toolchain_image(base: &Base) -> bool {
    let Base::Image { reference } = base else { return false };
    let tag = reference.tag.as_deref().unwrap_or_default();
    match reference.family() {
        "golang" | "rust" | "maven" | "gradle" | "sdk" => true,
        "openjdk" | "eclipse-temurin" | "amazoncorretto" => !tag.contains("jre"),
        _ => reference.path.contains("dotnet/sdk"),
    }
}

/// Compiles or bundles the application.
fn builds(cmd: &Command) -> bool {
    let sub = |s: &[&str]| cmd.has_any_arg(s);
    match cmd.basename() {
        "go" | "cargo" | "npm" | "pnpm" | "yarn" => sub(&["build"]),
        "mvn" | "mvnw" => sub(&["package", "install", "verify"]),
        "gradle" | "gradlew" => sub(&["build", "assemble", "bootJar", "installDist", "shadowJar"]),
        "dotnet" => sub(&["publish", "build"]),
        "tsc" | "next" | "vite" | "webpack" => true,
        _ => false,
    }
}

declare_rule! {
    /// ## What it does
    /// Flags a single-stage build that compiles the application on a toolchain image (golang,
    /// rust, maven, gradle, a JDK, the .NET SDK) or bundles it with a build script.
    ///
    /// ## Why it matters
    /// The compiler, SDK, caches and sources ship with the application: images of a gigabyte
    /// instead of tens of megabytes, and far more packages with vulnerabilities to patch. A
    /// builder stage followed by a slim runtime stage ships only the result.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// FROM golang:1.22
    /// COPY . .
    /// RUN go build -o /app .
    /// CMD ["/app"]
    /// # after
    /// FROM golang:1.22 AS build
    /// COPY . .
    /// RUN CGO_ENABLED=0 go build -o /app .
    /// FROM gcr.io/distroless/static-debian12:nonroot
    /// COPY --from=build /app /app
    /// CMD ["/app"]
    /// ```
    pub(crate) struct SingleStageToolchain {
        code: "CD007",
        name: "single-stage-toolchain",
        hadolint: false,
        severity: Warning,
        category: Performance,
        message: "The application is built in the image it ships in: build in a builder stage and copy the result into a slim runtime stage",
    }
}

impl Check for SingleStageToolchain {
    fn check(&self, cx: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        let analysis = cx.analysis();
        let [stage] = analysis.stages.as_slice() else { return };
        let compiles = items.iter().any(|i| i.script.as_ref().is_some_and(|s| s.commands.iter().any(builds)));
        let node_bundle = items.iter().any(|i| {
            i.script.as_ref().is_some_and(|s| {
                s.commands
                    .iter()
                    .any(|c| matches!(c.basename(), "npm" | "pnpm" | "yarn" | "next" | "tsc" | "vite") && builds(c))
            })
        });
        if compiles && (is_toolchain_image(&stage.base) || node_bundle) {
            sink.report(line_span(cx, stage.line));
        }
    }
}

declare_rule! {
    /// ## What it does
    /// Flags shell operators (`&&`, `||`, `|`, `;`) in the arguments of instructions that do not
    /// run a shell: COPY, ADD, WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL.
    ///
    /// ## Why it matters
    /// Those instructions take their words literally: `COPY app.conf /etc/ || true` tries to copy
    /// files named `/etc/` and `||` into a directory called `true`, and the build fails or
    /// copies the wrong thing.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// COPY config.yml /etc/app/ || true
    /// # after: make the file part of the context, or use a bind mount in a RUN that may fail
    /// COPY config.yml /etc/app/
    /// ```
    pub(crate) struct ShellOperatorInInstruction {
        code: "CD008",
        name: "shell-operator-in-instruction",
        hadolint: false,
        severity: Error,
        category: Correctness,
        message: "Shell operator in an instruction that does not run a shell",
    }
}

impl Check for ShellOperatorInInstruction {
    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        const OPERATORS: &[&str] = &["&&", "||", "|", ";"];
        let is_operator = |w: &str| OPERATORS.contains(&w) || (w.len() > 1 && w.ends_with(';') && !w.ends_with("\\;"));
        for item in items {
            let words: Vec<&str> = match &item.instruction.kind {
                InstructionKind::Copy(list) | InstructionKind::Add(list) | InstructionKind::Volume(list)
                    if !list.json =>
                {
                    list.words.iter().map(|w| w.raw.as_str()).collect()
                }
                InstructionKind::Expose(words) => words.iter().map(|w| w.raw.as_str()).collect(),
                InstructionKind::Workdir(w) | InstructionKind::User(w) | InstructionKind::StopSignal(w) => {
                    w.raw.split_whitespace().collect()
                }
                _ => continue,
            };
            if let Some(operator) = words.iter().find(|w| is_operator(w)) {
                let message = format!(
                    "`{operator}` is shell syntax, but {} does not run a shell: the builder takes it literally",
                    item.instruction.keyword()
                );
                sink.report_with(item.span, Cow::Owned(message));
            }
        }
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

declare_rule! {
    /// ## What it does
    /// Flags `ENV` and `LABEL` in the legacy space-separated form (`ENV KEY value`).
    ///
    /// ## Why it matters
    /// The legacy form takes the whole rest of the line as one value, so `ENV A 1 B 2` sets A to
    /// `1 B 2`; BuildKit warns about it (LegacyKeyValueFormat). `KEY=value` is unambiguous and
    /// sets several variables in one layer.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// ENV JAVA_HOME /opt/java
    /// # after
    /// ENV JAVA_HOME=/opt/java
    /// ```
    pub(crate) struct LegacyKeyValue {
        code: "CD013",
        name: "legacy-key-value",
        hadolint: false,
        severity: Info,
        category: Style,
        message: "Use the `KEY=value` form instead of the legacy `KEY value` form",
    }
}

impl Check for LegacyKeyValue {
    fn check(&self, _: &Context<'_>, items: &[Item<'_>], sink: &mut Sink<'_>) {
        for item in items {
            if let InstructionKind::Env(kv) | InstructionKind::Label(kv) = &item.instruction.kind
                && kv.legacy
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

    #[test]
    fn manifests() {
        assert!(is_manifest("package*.json") && is_manifest("./requirements-dev.txt") && is_manifest("src/App.csproj"));
        assert!(!is_manifest("src/") && !is_manifest("main.go"));
    }
}
