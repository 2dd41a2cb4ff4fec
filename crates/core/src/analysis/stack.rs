//! Stack, framework and package-manager detection from weighted evidence: base images, RUN
//! commands, copied manifests, the container's command, ENV names and (when known) the
//! project's own files. Each target's score combines its evidence as independent signals
//! (1 − Π(1 − w)); the confidence of the winner is discounted by the runner-up.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::Scripts;
use super::stages::{Base, Stage};
use crate::shell::{Command, parse_script};
use crate::syntax::{Arguments, Dockerfile, InstructionKind};

macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &[Self] = &[$(Self::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

named_enum! {
    /// The language ecosystem an image is built for.
    Stack { Node => "node", Python => "python", Java => "java", Go => "go", Rust => "rust", Ruby => "ruby",
            Php => "php", Dotnet => "dotnet", Static => "static" }
}

named_enum! {
    Framework { NextJs => "nextjs", FastApi => "fastapi", Django => "django", Flask => "flask",
                SpringBoot => "spring-boot", Quarkus => "quarkus" }
}

named_enum! {
    PackageManager { Npm => "npm", Yarn => "yarn", Pnpm => "pnpm", Pip => "pip", Poetry => "poetry", Uv => "uv",
                     Pipenv => "pipenv", Maven => "maven", Gradle => "gradle", GoModules => "go-modules",
                     Cargo => "cargo", Bundler => "bundler", Composer => "composer", Nuget => "nuget" }
}

impl Framework {
    pub fn stack(self) -> Stack {
        match self {
            Self::NextJs => Stack::Node,
            Self::FastApi | Self::Django | Self::Flask => Stack::Python,
            Self::SpringBoot | Self::Quarkus => Stack::Java,
        }
    }
}

impl PackageManager {
    pub fn stack(self) -> Stack {
        match self {
            Self::Npm | Self::Yarn | Self::Pnpm => Stack::Node,
            Self::Pip | Self::Poetry | Self::Uv | Self::Pipenv => Stack::Python,
            Self::Maven | Self::Gradle => Stack::Java,
            Self::GoModules => Stack::Go,
            Self::Cargo => Stack::Rust,
            Self::Bundler => Stack::Ruby,
            Self::Composer => Stack::Php,
            Self::Nuget => Stack::Dotnet,
        }
    }
}

/// What a piece of evidence points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "kebab-case")]
pub enum Target {
    Stack(Stack),
    Framework(Framework),
    PackageManager(PackageManager),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Stack(s) => write!(f, "stack {s}"),
            Self::Framework(x) => write!(f, "framework {x}"),
            Self::PackageManager(m) => write!(f, "package manager {m}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    BaseImage,
    Command,
    CopiedFile,
    Entrypoint,
    Env,
    ProjectFile,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    pub target: Target,
    pub source: Source,
    /// What was seen, e.g. `FROM python:3.12-slim` or `RUN npm ci`.
    pub signal: String,
    pub line: Option<u32>,
    pub weight: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StackDetection {
    pub stack: Option<Stack>,
    pub framework: Option<Framework>,
    pub package_manager: Option<PackageManager>,
    /// 0–1: how sure the stack is.
    pub confidence: f32,
    /// Every signal seen, strongest first.
    pub evidence: Vec<Evidence>,
}

/// Files of the project the Dockerfile builds: paths relative to the build context, and the
/// text of the small manifests worth reading (package.json, requirements.txt, pom.xml …).
#[derive(Debug, Clone, Default)]
pub struct ProjectFiles {
    pub paths: Vec<String>,
    pub manifests: BTreeMap<String, String>,
}

impl ProjectFiles {
    /// The files found in the build context: each path, with its text when it was read.
    pub fn from_found<'a>(files: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> Self {
        let mut out = Self::default();
        for (path, content) in files {
            out.paths.push(path.to_owned());
            if let Some(content) = content {
                out.manifests.insert(path.to_owned(), content.to_owned());
            }
        }
        out.paths.sort();
        out.paths.dedup();
        out
    }
}

#[derive(Debug, Default)]
struct Collector {
    evidence: Vec<Evidence>,
}

impl Collector {
    fn add(&mut self, target: Target, source: Source, signal: impl Into<String>, line: Option<u32>, weight: f32) {
        self.evidence.push(Evidence { target, source, signal: signal.into(), line, weight });
    }

    fn stack(&mut self, stack: Stack, source: Source, signal: &str, line: Option<u32>, weight: f32) {
        self.add(Target::Stack(stack), source, signal, line, weight);
    }

    /// A framework or package manager also counts for its stack, a little less.
    fn framework(&mut self, framework: Framework, source: Source, signal: &str, line: Option<u32>, weight: f32) {
        self.add(Target::Framework(framework), source, signal, line, weight);
        self.stack(framework.stack(), source, signal, line, weight * 0.8);
    }

    fn manager(&mut self, manager: PackageManager, source: Source, signal: &str, line: Option<u32>, weight: f32) {
        self.add(Target::PackageManager(manager), source, signal, line, weight);
        self.stack(manager.stack(), source, signal, line, weight * 0.8);
    }
}

/// Detects the stack of a Dockerfile, with the project's files when they are known.
pub(crate) fn detect(file: &Dockerfile, stages: &[Stage], scripts: &Scripts, project: &ProjectFiles) -> StackDetection {
    let mut c = Collector::default();
    for stage in stages {
        base_image_evidence(&mut c, stage, stage.is_final(stages));
    }
    for (index, instruction) in file.instructions.iter().enumerate() {
        let line = Some(instruction.line());
        match &instruction.kind {
            InstructionKind::Run(_) => {
                if let Some(script) = scripts.get(index) {
                    for command in &script.commands {
                        command_evidence(&mut c, command, Source::Command, line);
                    }
                }
            }
            InstructionKind::Copy(list) | InstructionKind::Add(list) => {
                for source in list.sources() {
                    file_evidence(&mut c, &source.raw, Source::CopiedFile, line);
                }
                let docroot = list.destination().is_some_and(|d| {
                    ["/usr/share/nginx/html", "/usr/local/apache2/htdocs", "/var/www/html", "/srv"]
                        .iter()
                        .any(|root| d.raw.starts_with(root))
                });
                let from_stage = instruction.flag_value("from").is_some();
                if docroot && from_stage && final_base_serves_static(stages) {
                    c.stack(
                        Stack::Static,
                        Source::CopiedFile,
                        "build output copied into the web server's document root",
                        line,
                        // What ships is a web server and files: this outweighs the stage that built them.
                        0.98,
                    );
                } else if docroot && final_base_serves_static(stages) {
                    c.stack(
                        Stack::Static,
                        Source::CopiedFile,
                        "site files copied into the web server's document root",
                        line,
                        0.7,
                    );
                }
            }
            InstructionKind::Cmd(args) | InstructionKind::Entrypoint(args) => {
                let script = match args {
                    Arguments::Exec { args, .. } => args.join(" "),
                    Arguments::Shell { text, .. } => text.clone(),
                };
                for command in &parse_script(&script).commands {
                    command_evidence(&mut c, command, Source::Entrypoint, line);
                }
            }
            InstructionKind::Env(env) => {
                for pair in &env.pairs {
                    env_evidence(&mut c, &pair.key.raw, line);
                }
            }
            _ => {}
        }
    }
    for path in &project.paths {
        file_evidence(&mut c, path, Source::ProjectFile, None);
    }
    for (path, text) in &project.manifests {
        manifest_evidence(&mut c, path, text);
    }
    decide(c.evidence)
}

fn final_base_serves_static(stages: &[Stage]) -> bool {
    stages.last().is_some_and(|s| match &s.base {
        Base::Image { reference } => matches!(reference.family(), "nginx" | "httpd" | "caddy" | "nginx-unprivileged"),
        _ => false,
    })
}

fn base_image_evidence(c: &mut Collector, stage: &Stage, is_final: bool) {
    let Base::Image { reference } = &stage.base else { return };
    let signal = format!("FROM {}", stage.image);
    let line = Some(stage.line);
    let weight = if is_final { 0.6 } else { 0.5 };
    let path = reference.path.as_str();
    let family = reference.family();
    let tag = reference.tag.as_deref().unwrap_or_default();
    let stack = match family {
        "node" | "bun" => Some(Stack::Node),
        "python" | "pypy" => Some(Stack::Python),
        "openjdk"
        | "eclipse-temurin"
        | "amazoncorretto"
        | "ibm-semeru-runtimes"
        | "sapmachine"
        | "jdk"
        | "jre"
        | "openjdk-17"
        | "openjdk-21"
        | "openjdk-17-runtime"
        | "openjdk-21-runtime"
        | "maven"
        | "gradle" => Some(Stack::Java),
        "golang" => Some(Stack::Go),
        "rust" => Some(Stack::Rust),
        "ruby" | "jruby" => Some(Stack::Ruby),
        "php" | "composer" => Some(Stack::Php),
        "nginx" | "httpd" | "caddy" | "nginx-unprivileged" => Some(Stack::Static),
        _ if path.contains("dotnet") => Some(Stack::Dotnet),
        // Dev-container images: `javascript-node`, `typescript-node`.
        _ if path.starts_with("distroless/nodejs") || family.starts_with("nodejs") || family.ends_with("-node") => {
            Some(Stack::Node)
        }
        _ if path.starts_with("distroless/java")
            || (family.starts_with("java") && !family.starts_with("javascript")) =>
        {
            Some(Stack::Java)
        }
        _ if path.starts_with("distroless/python") => Some(Stack::Python),
        _ if path.contains("quarkus") => {
            c.framework(Framework::Quarkus, Source::BaseImage, &signal, line, 0.6);
            Some(Stack::Java)
        }
        _ => None,
    };
    match stack {
        // A web server image is often only a reverse proxy: weak on its own.
        Some(Stack::Static) => c.stack(Stack::Static, Source::BaseImage, &signal, line, 0.3),
        Some(stack) => c.stack(stack, Source::BaseImage, &signal, line, weight),
        None => {}
    }
    match family {
        "maven" => c.manager(PackageManager::Maven, Source::BaseImage, &signal, line, 0.5),
        "gradle" => c.manager(PackageManager::Gradle, Source::BaseImage, &signal, line, 0.5),
        "composer" => c.manager(PackageManager::Composer, Source::BaseImage, &signal, line, 0.5),
        _ if family == "python" && tag.contains("uv") => {
            c.manager(PackageManager::Uv, Source::BaseImage, &signal, line, 0.4);
        }
        _ => {}
    }
}

fn command_evidence(c: &mut Collector, cmd: &Command, source: Source, line: Option<u32>) {
    let name = cmd.basename();
    let signal = format!("{} {}", cmd.name, cmd.args.iter().take(3).cloned().collect::<Vec<_>>().join(" "));
    let signal = signal.trim_end();
    let sub = |s: &str| cmd.has_arg(s);
    let w = if source == Source::Entrypoint { 0.5 } else { 0.45 };
    match name {
        "npm" | "npx" => c.manager(PackageManager::Npm, source, signal, line, w),
        "yarn" => c.manager(PackageManager::Yarn, source, signal, line, w + 0.1),
        "pnpm" => c.manager(PackageManager::Pnpm, source, signal, line, w + 0.1),
        "node" | "corepack" | "tsc" => c.stack(Stack::Node, source, signal, line, w),
        "next" => c.framework(Framework::NextJs, source, signal, line, 0.7),
        "pip" | "pip3" => c.manager(PackageManager::Pip, source, signal, line, w),
        "poetry" => c.manager(PackageManager::Poetry, source, signal, line, w + 0.1),
        "uv" | "uvx" => c.manager(PackageManager::Uv, source, signal, line, w + 0.1),
        "pipenv" => c.manager(PackageManager::Pipenv, source, signal, line, w + 0.1),
        n if n.starts_with("python") => {
            if cmd.args.windows(2).any(|a| a[0] == "-m" && a[1] == "pip") {
                c.manager(PackageManager::Pip, source, signal, line, w);
            } else {
                c.stack(Stack::Python, source, signal, line, w);
            }
            if cmd.args.iter().any(|a| a.ends_with("manage.py")) {
                c.framework(Framework::Django, source, signal, line, 0.7);
            }
        }
        "uvicorn" | "fastapi" => c.framework(Framework::FastApi, source, signal, line, 0.7),
        "gunicorn" => {
            c.stack(Stack::Python, source, signal, line, 0.5);
            if cmd.args.iter().any(|a| a.contains("uvicorn.workers")) {
                c.framework(Framework::FastApi, source, signal, line, 0.7);
            } else if cmd.args.iter().any(|a| a.ends_with(".wsgi") || a.contains(".wsgi:")) {
                c.framework(Framework::Django, source, signal, line, 0.6);
            }
        }
        "flask" => c.framework(Framework::Flask, source, signal, line, 0.7),
        "django-admin" => c.framework(Framework::Django, source, signal, line, 0.7),
        "mvn" | "mvnw" => c.manager(PackageManager::Maven, source, signal, line, w + 0.1),
        "gradle" | "gradlew" => c.manager(PackageManager::Gradle, source, signal, line, w + 0.1),
        "java" => {
            c.stack(Stack::Java, source, signal, line, w);
            let args = cmd.args.join(" ");
            if args.contains("org.springframework.boot") || args.contains("spring-boot") {
                c.framework(Framework::SpringBoot, source, signal, line, 0.7);
            } else if args.contains("quarkus-run.jar") || args.contains("quarkus") {
                c.framework(Framework::Quarkus, source, signal, line, 0.7);
            }
        }
        "go" if sub("build") || sub("mod") || sub("install") || sub("run") => {
            c.manager(PackageManager::GoModules, source, signal, line, w + 0.1);
        }
        "cargo" => c.manager(PackageManager::Cargo, source, signal, line, w + 0.1),
        "bundle" | "bundler" => c.manager(PackageManager::Bundler, source, signal, line, w + 0.1),
        "ruby" | "rails" | "puma" | "rake" | "gem" => c.stack(Stack::Ruby, source, signal, line, w),
        "composer" => c.manager(PackageManager::Composer, source, signal, line, w + 0.1),
        "php" | "php-fpm" | "apache2-foreground" | "docker-php-ext-install" | "docker-php-ext-configure" => {
            c.stack(Stack::Php, source, signal, line, w);
        }
        "dotnet" => {
            if sub("restore") || sub("publish") || sub("build") {
                c.manager(PackageManager::Nuget, source, signal, line, w);
            } else {
                c.stack(Stack::Dotnet, source, signal, line, w);
            }
        }
        "nginx" | "httpd" | "caddy" if source == Source::Entrypoint => {
            c.stack(Stack::Static, source, signal, line, 0.3);
        }
        _ => {}
    }
    // Framework packages installed by name.
    if matches!(name, "pip" | "pip3" | "poetry" | "uv") || (name.starts_with("python") && cmd.has_arg("pip")) {
        for arg in &cmd.args {
            let package = arg.split(['=', '<', '>', '[', '~', '!']).next().unwrap_or_default().to_ascii_lowercase();
            match package.as_str() {
                "fastapi" => c.framework(Framework::FastApi, source, signal, line, 0.6),
                "django" => c.framework(Framework::Django, source, signal, line, 0.6),
                "flask" => c.framework(Framework::Flask, source, signal, line, 0.6),
                _ => {}
            }
        }
    }
    if matches!(name, "npm" | "yarn" | "pnpm" | "npx") && cmd.args.iter().any(|a| a == "next" || a.starts_with("next@"))
    {
        c.framework(Framework::NextJs, source, signal, line, 0.6);
    }
}

fn file_evidence(c: &mut Collector, path: &str, source: Source, line: Option<u32>) {
    let name = path.trim_end_matches('/').rsplit('/').next().unwrap_or(path);
    let w = if source == Source::ProjectFile { 0.6 } else { 0.5 };
    let signal = path;
    match name {
        "package.json" => c.stack(Stack::Node, source, signal, line, w),
        "package-lock.json" | "npm-shrinkwrap.json" => c.manager(PackageManager::Npm, source, signal, line, w),
        "yarn.lock" | ".yarnrc.yml" => c.manager(PackageManager::Yarn, source, signal, line, w + 0.1),
        "pnpm-lock.yaml" | "pnpm-workspace.yaml" => c.manager(PackageManager::Pnpm, source, signal, line, w + 0.1),
        "next.config.js" | "next.config.mjs" | "next.config.ts" | ".next" => {
            c.framework(Framework::NextJs, source, signal, line, 0.7);
        }
        n if n.starts_with("requirements") && n.ends_with(".txt") => {
            c.manager(PackageManager::Pip, source, signal, line, w);
        }
        "pyproject.toml" | "setup.py" | "setup.cfg" => c.stack(Stack::Python, source, signal, line, w),
        "poetry.lock" => c.manager(PackageManager::Poetry, source, signal, line, w + 0.1),
        "uv.lock" => c.manager(PackageManager::Uv, source, signal, line, w + 0.1),
        "Pipfile" | "Pipfile.lock" => c.manager(PackageManager::Pipenv, source, signal, line, w + 0.1),
        "manage.py" => c.framework(Framework::Django, source, signal, line, 0.6),
        "pom.xml" | "mvnw" | ".mvn" => c.manager(PackageManager::Maven, source, signal, line, w + 0.1),
        "build.gradle" | "build.gradle.kts" | "settings.gradle" | "settings.gradle.kts" | "gradlew" => {
            c.manager(PackageManager::Gradle, source, signal, line, w + 0.1);
        }
        "go.mod" | "go.sum" => c.manager(PackageManager::GoModules, source, signal, line, w + 0.1),
        "Cargo.toml" | "Cargo.lock" => c.manager(PackageManager::Cargo, source, signal, line, w + 0.1),
        "Gemfile" | "Gemfile.lock" => c.manager(PackageManager::Bundler, source, signal, line, w + 0.1),
        "composer.json" | "composer.lock" => c.manager(PackageManager::Composer, source, signal, line, w + 0.1),
        n if [".csproj", ".fsproj", ".vbproj", ".sln"].iter().any(|e| n.ends_with(e)) => {
            c.manager(PackageManager::Nuget, source, signal, line, w + 0.1);
        }
        _ => {}
    }
}

fn env_evidence(c: &mut Collector, key: &str, line: Option<u32>) {
    let signal = format!("ENV {key}");
    match key {
        "NODE_ENV" | "NODE_OPTIONS" | "NPM_CONFIG_LOGLEVEL" => c.stack(Stack::Node, Source::Env, &signal, line, 0.2),
        "PYTHONUNBUFFERED" | "PYTHONDONTWRITEBYTECODE" | "PIP_NO_CACHE_DIR" => {
            c.stack(Stack::Python, Source::Env, &signal, line, 0.3);
        }
        "DJANGO_SETTINGS_MODULE" => c.framework(Framework::Django, Source::Env, &signal, line, 0.6),
        "FLASK_APP" | "FLASK_ENV" => c.framework(Framework::Flask, Source::Env, &signal, line, 0.6),
        "JAVA_OPTS" | "JAVA_TOOL_OPTIONS" | "JAVA_HOME" => c.stack(Stack::Java, Source::Env, &signal, line, 0.2),
        "ASPNETCORE_URLS" | "ASPNETCORE_ENVIRONMENT" | "DOTNET_RUNNING_IN_CONTAINER" => {
            c.stack(Stack::Dotnet, Source::Env, &signal, line, 0.3);
        }
        "GOPATH" | "CGO_ENABLED" | "GOOS" | "GOARCH" | "GOFLAGS" => {
            c.stack(Stack::Go, Source::Env, &signal, line, 0.25);
        }
        "CARGO_HOME" | "RUSTUP_HOME" => c.stack(Stack::Rust, Source::Env, &signal, line, 0.25),
        "RAILS_ENV" | "RACK_ENV" | "BUNDLE_PATH" | "BUNDLE_WITHOUT" => {
            c.stack(Stack::Ruby, Source::Env, &signal, line, 0.3);
        }
        "COMPOSER_ALLOW_SUPERUSER" | "COMPOSER_HOME" | "PHP_INI_DIR" => {
            c.stack(Stack::Php, Source::Env, &signal, line, 0.3);
        }
        _ => {}
    }
}

/// Framework dependencies named in a manifest's text.
fn manifest_evidence(c: &mut Collector, path: &str, text: &str) {
    let name = path.rsplit('/').next().unwrap_or(path);
    let has = |needle: &str| text.contains(needle);
    let src = Source::ProjectFile;
    match name {
        "package.json" if has("\"next\"") => {
            c.framework(Framework::NextJs, src, "package.json depends on next", None, 0.8);
        }
        n if n.starts_with("requirements") || n == "pyproject.toml" || n == "Pipfile" => {
            let lower = text.to_ascii_lowercase();
            let dependency = |pkg: &str| {
                lower.lines().any(|l| {
                    let l = l.trim().trim_start_matches(['"', '\'']);
                    l.starts_with(pkg)
                        && l[pkg.len()..].starts_with(|ch: char| !ch.is_ascii_alphanumeric() && ch != '-' && ch != '_')
                })
            };
            if dependency("fastapi") {
                c.framework(Framework::FastApi, src, format!("{name} lists fastapi").as_str(), None, 0.8);
            }
            if dependency("django") {
                c.framework(Framework::Django, src, format!("{name} lists django").as_str(), None, 0.8);
            }
            if dependency("flask") {
                c.framework(Framework::Flask, src, format!("{name} lists flask").as_str(), None, 0.8);
            }
        }
        "pom.xml" | "build.gradle" | "build.gradle.kts" => {
            if has("spring-boot") {
                c.framework(Framework::SpringBoot, src, format!("{name} uses spring-boot").as_str(), None, 0.8);
            }
            if has("io.quarkus") {
                c.framework(Framework::Quarkus, src, format!("{name} uses quarkus").as_str(), None, 0.8);
            }
        }
        _ => {}
    }
}

fn decide(mut evidence: Vec<Evidence>) -> StackDetection {
    let mut scores: BTreeMap<Target, f32> = BTreeMap::new();
    for e in &evidence {
        let miss = scores.entry(e.target).or_insert(1.0);
        *miss *= 1.0 - e.weight.clamp(0.0, 1.0);
    }
    let score = |t: &Target| 1.0 - scores.get(t).copied().unwrap_or(1.0);
    let mut stacks: Vec<(Stack, f32)> =
        Stack::ALL.iter().map(|&s| (s, score(&Target::Stack(s)))).filter(|(_, s)| *s > 0.0).collect();
    stacks.sort_by(|a, b| b.1.total_cmp(&a.1));
    let (stack, confidence) = match stacks.as_slice() {
        [] => (None, 0.0),
        [(s, best)] => (Some(*s), *best),
        [(s, best), (_, second), ..] => (Some(*s), best * best / (best + second)),
    };
    let best_of = |targets: Vec<(Target, Stack)>| {
        targets
            .into_iter()
            .filter(|(_, s)| Some(*s) == stack)
            .map(|(t, _)| (t, score(&t)))
            .filter(|(_, s)| *s >= 0.3)
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(t, _)| t)
    };
    let framework = best_of(Framework::ALL.iter().map(|&f| (Target::Framework(f), f.stack())).collect());
    let manager = best_of(PackageManager::ALL.iter().map(|&m| (Target::PackageManager(m), m.stack())).collect());
    evidence.sort_by(|a, b| b.weight.total_cmp(&a.weight).then(a.line.cmp(&b.line)));
    StackDetection {
        stack,
        framework: framework.and_then(|t| match t {
            Target::Framework(f) => Some(f),
            _ => None,
        }),
        package_manager: manager.and_then(|t| match t {
            Target::PackageManager(m) => Some(m),
            _ => None,
        }),
        confidence: (confidence * 1000.0).round() / 1000.0,
        evidence,
    }
}
