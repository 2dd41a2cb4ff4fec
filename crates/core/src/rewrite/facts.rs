//! What rules are matched against and rendered with: the project's features, lockfiles and base
//! images, and the parameter values found in it, each with where it was found.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use crate::analysis::{
    Analysis, Base, Form, Framework, PackageManager, Stack, is_package_install, script_of, unwrap_init,
};
use crate::catalog::{Catalog, RewriteAction, RewriteWhen};
use crate::project::{LOCKFILES, Project};
use crate::shell::{Command, parse_script};

#[derive(Debug, Clone, Default, Serialize)]
pub struct Facts {
    pub stack: Option<Stack>,
    pub framework: Option<Framework>,
    pub package_manager: Option<PackageManager>,
    pub features: BTreeSet<String>,
    /// Lockfiles at the project root.
    pub lockfiles: Vec<String>,
    /// Families of the original's base images (`node`, `python`, `golang` …).
    pub base_families: BTreeSet<String>,
    /// Parameter values found in the project, by parameter name.
    pub detected: BTreeMap<String, Value>,
    /// For each detected value, where it was found.
    pub sources: BTreeMap<String, String>,
    /// The CMD rewrites applied to derive `start_command`.
    pub rewrites: Vec<String>,
}

impl Facts {
    fn set(&mut self, name: &str, value: impl Into<Value>, source: impl Into<String>) {
        self.detected.insert(name.to_owned(), value.into());
        self.sources.insert(name.to_owned(), source.into());
    }

    fn set_if_absent(&mut self, name: &str, value: Option<impl Into<Value>>, source: &str) {
        if let Some(value) = value
            && !self.detected.contains_key(name)
        {
            self.set(name, value, source);
        }
    }

    pub fn detect(project: &Project, analysis: &Analysis, catalog: &Catalog) -> Self {
        let mut f = Self {
            stack: analysis.stack.stack,
            framework: analysis.stack.framework,
            package_manager: analysis.stack.package_manager,
            ..Self::default()
        };
        f.lockfiles = LOCKFILES.iter().filter(|l| project.has_file(l)).map(|l| (*l).to_owned()).collect();
        for stage in &analysis.stages {
            if let Base::Image { reference } = &stage.base {
                f.base_families.insert(reference.family().to_owned());
            }
        }
        f.features.insert(if analysis.is_multi_stage() { "multi-stage" } else { "single-stage" }.to_owned());
        if let Some(fw) = f.framework {
            f.features.insert(format!("framework:{fw}"));
        }
        if let Some(pm) = f.package_manager {
            f.features.insert(format!("package-manager:{pm}"));
        }
        match &analysis.command {
            None => {
                f.features.insert("cmd:none".into());
            }
            Some(c) => {
                let flags = [
                    (c.form == Form::Shell, "cmd:shell-form"),
                    (c.shell_wrapper, "cmd:shell-wrapper"),
                    (!c.runtime_installs.is_empty(), "cmd:runtime-install"),
                    (!c.migrations.is_empty(), "cmd:migrations"),
                ];
                f.features.extend(flags.iter().filter(|(on, _)| *on).map(|(_, name)| (*name).to_owned()));
            }
        }
        f.set("app_name", app_name(&project.name()), "the project directory's name");
        if let Some((port, source)) = original_port(analysis) {
            f.set("port", port, source);
        }
        f.detect_node(project, analysis);
        f.detect_python(project, analysis);
        f.detect_jvm(project, analysis);
        f.detect_go_rust(project, analysis);
        f.detect_ruby_php_dotnet(project, analysis);
        if f.stack == Some(Stack::Static) && !project.has_file("package.json") {
            f.features.insert("static:plain".into());
            let index =
                project.files.paths.iter().filter(|p| p.ends_with("index.html")).min_by_key(|p| p.matches('/').count());
            if let Some(index) = index {
                let dir = index.rsplit_once('/').map_or(".", |(dir, _)| dir);
                f.set("site_dir", dir, "the location of index.html");
            }
        }
        if let Some((argv, applied)) = start_command(project, analysis, catalog, f.stack) {
            let source = match applied.as_slice() {
                [] => "the original CMD/ENTRYPOINT".to_owned(),
                ids => format!("the original CMD/ENTRYPOINT, rewritten by {}", ids.join(", ")),
            };
            f.set("start_command", argv, source);
            f.rewrites = applied;
        } else if let Some(argv) = package_start(project) {
            f.set("start_command", argv, "package.json scripts.start or main");
        }
        f
    }

    fn detect_node(&mut self, project: &Project, analysis: &Analysis) {
        let package: Option<Value> = project.manifest("package.json").and_then(|t| serde_json::from_str(t).ok());
        if let Some(package) = &package {
            let scripts = &package["scripts"];
            for script in ["build", "start"] {
                if scripts[script].is_string() {
                    self.features.insert(format!("script:{script}"));
                }
            }
            self.set("has_build", scripts["build"].is_string(), "package.json scripts.build");
            let engine = package["engines"]["node"].as_str().and_then(leading_version).map(|v| major(&v).to_owned());
            self.set_if_absent("node_version", engine, "package.json engines.node");
            if let Some(main) = package["main"].as_str() {
                self.set("node_entrypoint", main, "package.json main");
            }
            if ["canvas", "node-canvas"].iter().any(|m| package["dependencies"][m].is_string()) {
                self.features.insert(SYSTEM_LIBS.into());
            }
            self.set("has_public", project.files.paths.iter().any(|p| p.starts_with("public/")), "the project's files");
        }
        for file in [".nvmrc", ".node-version"] {
            let version = project.manifest(file).and_then(|t| leading_version(t.trim_start_matches('v')));
            self.set_if_absent("node_version", version.map(|v| major(&v).to_owned()), file);
        }
        self.set_if_absent(
            "node_version",
            base_tag_version(analysis, &["node"]).map(|v| major(&v).to_owned()),
            "the original base image",
        );
        if base_tags(analysis, "node").any(|tag| tag.contains("alpine")) {
            self.set("node_variant", "alpine", "the original base image");
        }
        let manager = if project.has_file("pnpm-lock.yaml") {
            Some("pnpm")
        } else if project.has_file("yarn.lock") {
            Some("yarn")
        } else if project.has_file("package-lock.json") || project.has_file("package.json") {
            Some("npm")
        } else {
            None
        };
        self.set_if_absent("node_package_manager", manager, "the project's lockfile");
        if let Some(script) = package.as_ref().and_then(|p| p["scripts"]["build"].as_str()) {
            let (dir, source) = build_output(project, script);
            self.set("build_output", dir, source);
        }
        let standalone = ["next.config.js", "next.config.mjs", "next.config.ts"]
            .iter()
            .filter_map(|f| project.manifest(f))
            .any(|t| t.contains("standalone"));
        if standalone {
            self.features.insert("nextjs:standalone".into());
        }
    }

    fn detect_python(&mut self, project: &Project, analysis: &Analysis) {
        let version = project.manifest(".python-version").and_then(leading_version).map(|v| minor(&v));
        self.set_if_absent("python_version", version, ".python-version");
        let requires = project
            .manifest("pyproject.toml")
            .and_then(|t| toml_value(t, "requires-python"))
            .and_then(|v| leading_version(&v))
            .map(|v| minor(&v));
        self.set_if_absent("python_version", requires, "pyproject.toml requires-python");
        self.set_if_absent(
            "python_version",
            base_tag_version(analysis, &["python"]).map(|v| minor(&v)),
            "the original base image",
        );
        // requirements.txt, else a production-looking requirements*.txt at the root.
        let for_production = |p: &&String| {
            p.starts_with("requirements")
                && p.ends_with(".txt")
                && !p.contains('/')
                && !["dev", "test"].iter().any(|d| p.contains(d))
        };
        let requirements = project
            .files
            .paths
            .iter()
            .find(|p| *p == "requirements.txt")
            .or_else(|| project.files.paths.iter().find(for_production));
        if let Some(requirements) = requirements {
            self.set("requirements_file", requirements.clone(), "the project's files");
        }
        let installer = if project.has_file("poetry.lock") {
            "poetry"
        } else if project.has_file("uv.lock") {
            "uv"
        } else {
            "pip"
        };
        if project.has_file("pyproject.toml") || project.has_file("requirements.txt") {
            self.set("python_installer", installer, "the project's lockfile");
        }
        // `app = FastAPI()` / `app = Flask(__name__)` in a module: its import path.
        let module = project.files.paths.iter().filter(|p| p.ends_with(".py") && !p.contains("test")).find(|p| {
            ["main.py", "app.py", "app/main.py", "src/main.py", "server.py", "api/main.py", "wsgi.py"]
                .contains(&p.as_str())
        });
        if let Some(module) = module {
            let import = module.trim_end_matches(".py").replace('/', ".");
            self.set("app_module", format!("{import}:app"), format!("{module} (the application module)"));
        }
        let dependencies = [
            self.detected.get("requirements_file").and_then(Value::as_str).unwrap_or("requirements.txt"),
            "pyproject.toml",
        ]
        .iter()
        .filter_map(|f| project.manifest(f))
        .flat_map(|t| t.lines().map(|l| l.trim().to_ascii_lowercase()))
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>();
        let declares = |name: &str| dependencies.iter().any(|l| l.trim_start_matches('"').starts_with(name));
        if !dependencies.is_empty() {
            let server = match self.framework {
                Some(Framework::Django | Framework::Flask) => Some("gunicorn"),
                Some(Framework::FastApi) => Some("uvicorn"),
                _ => None,
            };
            if let Some(server) = server {
                self.set("server_in_dependencies", declares(server), "the project's dependencies");
            }
            // Built against libpq or libmysqlclient, which the slim runtimes do not have.
            let needs_libs = (declares("psycopg2") && !declares("psycopg2-binary")) || declares("mysqlclient");
            if needs_libs {
                self.features.insert(SYSTEM_LIBS.into());
            }
        }
        if let Some(settings) = project.manifest("manage.py").and_then(|t| quoted_after(t, "DJANGO_SETTINGS_MODULE")) {
            let package = settings.trim_end_matches(".settings");
            self.set("wsgi_module", format!("{package}.wsgi"), "manage.py DJANGO_SETTINGS_MODULE");
        }
    }

    fn detect_jvm(&mut self, project: &Project, analysis: &Analysis) {
        if let Some(pom) = project.manifest("pom.xml") {
            let version = ["java.version", "maven.compiler.release", "maven.compiler.target", "release"]
                .iter()
                .find_map(|tag| xml_value(pom, tag))
                .and_then(|v| leading_version(&v))
                .map(|v| major(&v).to_owned());
            self.set_if_absent("java_version", version, "pom.xml");
            self.set("java_build_tool", "maven", "pom.xml");
            let runnable = ["maven-shade-plugin", "maven-assembly-plugin", "spring-boot-maven-plugin", "<mainClass>"];
            if runnable.iter().any(|marker| pom.contains(marker)) {
                self.features.insert("maven:runnable-jar".into());
            }
            if let Some(boot) = pom
                .split("<artifactId>spring-boot-starter-parent</artifactId>")
                .nth(1)
                .and_then(|rest| xml_value(rest, "version"))
            {
                self.set_boot_launcher(&boot, "pom.xml spring-boot-starter-parent");
            }
        }
        for gradle in ["build.gradle", "build.gradle.kts"] {
            if let Some(text) = project.manifest(gradle) {
                let version = text
                    .split("JavaLanguageVersion.of(")
                    .nth(1)
                    .or_else(|| text.split("VERSION_").nth(1))
                    .and_then(leading_version)
                    .map(|v| major(&v.replace('_', ".")).to_owned());
                self.set_if_absent("java_version", version, gradle);
                self.set_if_absent("java_build_tool", Some("gradle"), gradle);
                let application = text.lines().map(str::trim).any(|l| {
                    l == "application"
                        || l.starts_with("id 'application'")
                        || l.starts_with("id(\"application\")")
                        || l.starts_with("application {")
                        || l.contains("plugin: 'application'")
                });
                if application {
                    self.features.insert("gradle:application".into());
                }
                if let Some(boot) = text
                    .split("org.springframework.boot")
                    .nth(1)
                    .and_then(|rest| rest.split("version").nth(1))
                    .and_then(leading_version)
                {
                    self.set_boot_launcher(&boot, gradle);
                }
            }
        }
        let root_name = ["settings.gradle", "settings.gradle.kts"]
            .iter()
            .find_map(|f| project.manifest(f).and_then(|t| quoted_after(t, "rootProject.name")));
        if project.has_file("build.gradle") || project.has_file("build.gradle.kts") {
            match root_name {
                Some(name) => self.set("gradle_project", name, "settings.gradle rootProject.name"),
                None => self.set("gradle_project", project.name(), "the project directory's name (Gradle's default)"),
            }
        }
        let base = base_tag_version(analysis, &["eclipse-temurin", "openjdk", "maven", "amazoncorretto", "gradle"]);
        self.set_if_absent("java_version", base.map(|v| major(&v).to_owned()), "the original base image");
    }

    /// Spring Boot moved its launcher to `loader.launch` in 3.2.
    fn set_boot_launcher(&mut self, version: &str, source: &str) {
        let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        let launcher = if (major, minor) >= (3, 2) {
            "org.springframework.boot.loader.launch.JarLauncher"
        } else {
            "org.springframework.boot.loader.JarLauncher"
        };
        self.set("jar_launcher", launcher, format!("{source} (Spring Boot {version})"));
    }

    fn detect_go_rust(&mut self, project: &Project, analysis: &Analysis) {
        if let Some(go_mod) = project.manifest("go.mod") {
            let version =
                go_mod.lines().find_map(|l| l.strip_prefix("go ")).and_then(leading_version).map(|v| minor(&v));
            self.set_if_absent("go_version", version, "go.mod");
            if let Some(module) = go_mod.lines().find_map(|l| l.strip_prefix("module ")) {
                let name = module.trim().rsplit('/').next().unwrap_or("app");
                self.set("binary_name", app_name(name), "go.mod module");
            }
            let main = project
                .files
                .paths
                .iter()
                .find(|p| p.starts_with("cmd/") && p.ends_with("/main.go"))
                .map(|p| format!("./{}", p.trim_end_matches("/main.go")));
            self.set("main_package", main.unwrap_or_else(|| ".".into()), "the location of package main");
            self.set("has_go_sum", project.has_file("go.sum"), "the project's files");
        }
        self.set_if_absent(
            "go_version",
            base_tag_version(analysis, &["golang"]).map(|v| minor(&v)),
            "the original base image",
        );
        if let Some(cargo) = project.manifest("Cargo.toml") {
            if let Some(name) = toml_value(cargo, "name") {
                self.set("binary_name", name, "Cargo.toml package.name");
            }
            let version = toml_value(cargo, "rust-version").and_then(|v| leading_version(&v)).map(|v| minor(&v));
            self.set_if_absent("rust_version", version, "Cargo.toml rust-version");
            let has_package = cargo.lines().any(|l| l.trim() == "[package]");
            if has_package && (project.has_file("src/main.rs") || cargo.contains("[[bin]]")) {
                self.features.insert("rust:binary".into());
            }
        }
        self.set_if_absent(
            "rust_version",
            base_tag_version(analysis, &["rust"]).map(|v| minor(&v)),
            "the original base image",
        );
    }

    fn detect_ruby_php_dotnet(&mut self, project: &Project, analysis: &Analysis) {
        let ruby = project.manifest(".ruby-version").and_then(leading_version).or_else(|| {
            project
                .manifest("Gemfile")
                .and_then(|t| t.lines().find_map(|l| l.trim().strip_prefix("ruby ")).and_then(leading_version))
        });
        self.set_if_absent("ruby_version", ruby.map(|v| minor(&v)), ".ruby-version or Gemfile");
        self.set_if_absent(
            "ruby_version",
            base_tag_version(analysis, &["ruby"]).map(|v| minor(&v)),
            "the original base image",
        );
        let gems_needing_libs = ["pg", "mysql2", "rmagick", "mini_magick"];
        let gemfile = project.manifest("Gemfile").unwrap_or_default();
        if gemfile.lines().any(|l| {
            gems_needing_libs
                .iter()
                .any(|g| l.trim().starts_with(&format!("gem \"{g}\"")) || l.trim().starts_with(&format!("gem '{g}'")))
        }) {
            self.features.insert(SYSTEM_LIBS.into());
        }
        let composer: Option<Value> = project.manifest("composer.json").and_then(|t| serde_json::from_str(t).ok());
        let php =
            composer.as_ref().and_then(|c| c["require"]["php"].as_str().and_then(leading_version)).map(|v| minor(&v));
        self.set_if_absent("php_version", php, "composer.json require.php");
        self.set_if_absent(
            "php_version",
            base_tag_version(analysis, &["php"]).map(|v| minor(&v)),
            "the original base image",
        );
        // php-fpm needs a web server in front, mod_php does not: the two do not replace each other.
        for (variant, feature) in [("fpm", "php:fpm"), ("apache", "php:apache")] {
            if base_tags(analysis, "php").any(|tag| tag.contains(variant)) {
                self.features.insert(feature.into());
            }
        }
        if let Some(composer) = &composer {
            let required =
                composer["require"].as_object().into_iter().flatten().filter_map(|(k, _)| k.strip_prefix("ext-"));
            let (mut extensions, mut needs_libs) = (Vec::new(), false);
            for extension in required.map(str::to_ascii_lowercase) {
                if PHP_BUILTIN_EXTENSIONS.contains(&extension.as_str()) {
                    continue;
                }
                if PHP_EXTENSIONS_WITHOUT_LIBS.contains(&extension.as_str()) {
                    extensions.push(Value::from(extension));
                } else {
                    needs_libs = true;
                }
            }
            self.set("php_extensions", extensions, "composer.json require ext-*");
            if needs_libs {
                self.features.insert(SYSTEM_LIBS.into());
            }
            let root = if project.has_file("public/index.php") { "public" } else { "." };
            self.set("document_root", root, "the location of index.php");
        }
        let writable: &[&str] = if project.has_file("artisan") {
            &["storage", "bootstrap/cache"]
        } else if project.has_file("config/application.rb") {
            &["tmp", "log", "storage", "db"]
        } else {
            &[]
        };
        if !writable.is_empty() {
            self.set("writable_dirs", writable.to_vec(), "the framework's writable directories");
        }
        if let Some((path, text)) =
            project.files.manifests.iter().find(|(p, _)| p.ends_with(".csproj") || p.ends_with(".fsproj"))
        {
            self.set("project_file", path.clone(), "the project file");
            let assembly = xml_value(text, "AssemblyName").unwrap_or_else(|| {
                path.rsplit('/')
                    .next()
                    .unwrap_or(path)
                    .trim_end_matches(".csproj")
                    .trim_end_matches(".fsproj")
                    .to_owned()
            });
            self.set("assembly_name", assembly, "the project file");
            let framework = xml_value(text, "TargetFramework").and_then(|t| t.strip_prefix("net").map(str::to_owned));
            self.set_if_absent("dotnet_version", framework, "TargetFramework");
        }
    }
}

/// The feature of projects whose dependencies need shared libraries a slim runtime lacks.
const SYSTEM_LIBS: &str = "native:system-libs";

/// Extensions compiled into the official php images.
const PHP_BUILTIN_EXTENSIONS: &[&str] = &[
    "ctype",
    "curl",
    "date",
    "dom",
    "fileinfo",
    "filter",
    "ftp",
    "hash",
    "iconv",
    "json",
    "libxml",
    "mbstring",
    "mysqlnd",
    "openssl",
    "pcre",
    "pdo",
    "pdo_sqlite",
    "phar",
    "posix",
    "readline",
    "reflection",
    "session",
    "simplexml",
    "sodium",
    "spl",
    "sqlite3",
    "standard",
    "tokenizer",
    "xml",
    "xmlreader",
    "xmlwriter",
    "zlib",
];

/// Extensions `docker-php-ext-install` builds from PHP's own source, without system libraries.
const PHP_EXTENSIONS_WITHOUT_LIBS: &[&str] = &[
    "bcmath",
    "calendar",
    "exif",
    "gettext",
    "mysqli",
    "opcache",
    "pcntl",
    "pdo_mysql",
    "shmop",
    "sockets",
    "sysvmsg",
    "sysvsem",
    "sysvshm",
];

/// A lower-case name usable as a binary, user or image name.
fn app_name(name: &str) -> String {
    let cleaned: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    let trimmed = cleaned.trim_matches('-');
    if trimmed.is_empty() { "app".into() } else { trimmed.to_owned() }
}

/// The port the original serves on: EXPOSE, else `ENV PORT`, else a port in its command
/// (`--port 8000`, `-p 9292`, `--bind 0.0.0.0:8000`).
fn original_port(analysis: &Analysis) -> Option<(u64, &'static str)> {
    let stage = analysis.final_stage()?;
    if let Some(port) = stage.exposed.iter().find_map(|p| p.split('/').next()?.parse().ok()) {
        return Some((port, "EXPOSE in the original Dockerfile"));
    }
    if let Some(port) = stage.env.get("PORT").and_then(|p| p.parse().ok()) {
        return Some((port, "ENV PORT in the original Dockerfile"));
    }
    let command = analysis.command.as_ref()?;
    let words: Vec<String> = match script_of(&command.argv) {
        Some(script) => parse_script(&script).commands.into_iter().flat_map(|c| c.args).collect(),
        None => command.argv.clone(),
    };
    let port = words.iter().enumerate().find_map(|(i, word)| {
        let (flag, inline) = word.split_once('=').map_or((word.as_str(), None), |(f, v)| (f, Some(v)));
        let value = match flag {
            "--port" | "-p" | "--http-port" => inline.or_else(|| words.get(i + 1).map(String::as_str))?,
            "--bind" | "-b" | "--listen" | "--urls" | "--host" => {
                inline.or_else(|| words.get(i + 1).map(String::as_str))?.rsplit(':').next()?
            }
            _ => return None,
        };
        value.trim_end_matches('/').parse().ok()
    })?;
    Some((port, "the original command's arguments"))
}

/// The build script's output directory: its `--outDir`/`--out-dir`/`-o` flag, else the default
/// of the tool it runs, else a directory the project already has.
fn build_output(project: &Project, script: &str) -> (String, &'static str) {
    let commands = parse_script(script).commands;
    for command in &commands {
        let flag =
            command.args.iter().position(|a| matches!(a.as_str(), "--outDir" | "--out-dir" | "-o" | "--output-path"));
        if let Some(dir) = flag.and_then(|i| command.args.get(i + 1)) {
            return (dir.trim_start_matches("./").trim_end_matches('/').to_owned(), "the build script's output flag");
        }
    }
    let tool_default = commands.iter().find_map(|c| match c.basename() {
        "vite" | "parcel" | "webpack" | "astro" | "rollup" | "ng" => Some("dist"),
        "react-scripts" => Some("build"),
        "gatsby" => Some("public"),
        "next" => Some("out"),
        _ => None,
    });
    if let Some(dir) = tool_default {
        return (dir.to_owned(), "the build tool's default output directory");
    }
    let out_dir = project.manifest("tsconfig.json").and_then(|t| quoted_after(t, "\"outDir\""));
    if let Some(dir) = out_dir.filter(|_| commands.iter().any(|c| c.basename() == "tsc")) {
        return (dir.trim_start_matches("./").trim_end_matches('/').to_owned(), "tsconfig.json compilerOptions.outDir");
    }
    match ["dist", "build", "out"]
        .into_iter()
        .find(|dir| project.files.paths.iter().any(|p| p.starts_with(&format!("{dir}/"))))
    {
        Some(dir) => (dir.to_owned(), "the project's files"),
        None => ("dist".to_owned(), "the most common output directory"),
    }
}

/// `1.22.3` from `>=1.22.3, <2`, `^8.2`, `v20.11.0`, `go1.22`.
fn leading_version(text: &str) -> Option<String> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let version: String = text[start..].chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    let version = version.trim_end_matches('.');
    (!version.is_empty()).then(|| version.to_owned())
}

fn major(version: &str) -> &str {
    version.split('.').next().unwrap_or(version)
}

/// `major.minor` (or just `major` when that is all there is).
fn minor(version: &str) -> String {
    version.split('.').take(2).collect::<Vec<_>>().join(".")
}

/// The version in the tag of the first original base image of one of `families`.
fn base_tag_version(analysis: &Analysis, families: &[&str]) -> Option<String> {
    analysis.stages.iter().find_map(|s| match &s.base {
        Base::Image { reference } if families.contains(&reference.family()) => reference
            .tag
            .as_deref()
            .and_then(|t| t.starts_with(|c: char| c.is_ascii_digit()).then(|| leading_version(t)).flatten()),
        _ => None,
    })
}

/// The tags of the original's base images of `family`.
fn base_tags<'a>(analysis: &'a Analysis, family: &'a str) -> impl Iterator<Item = &'a str> {
    analysis.stages.iter().filter_map(move |s| match &s.base {
        Base::Image { reference } if reference.family() == family => reference.tag.as_deref(),
        _ => None,
    })
}

/// `key = "value"` in a TOML file (first occurrence; good enough for package metadata).
fn toml_value(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"').trim_matches('\'').to_owned())
    })
}

/// The text of the first `<tag>…</tag>` in an XML file.
fn xml_value(text: &str, tag: &str) -> Option<String> {
    let start = text.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = text[start..].find('<')? + start;
    Some(text[start..end].trim().to_owned()).filter(|v| !v.is_empty())
}

/// The first quoted string after `marker` (`"mysite.settings"` after `DJANGO_SETTINGS_MODULE`).
fn quoted_after(text: &str, marker: &str) -> Option<String> {
    let rest = &text[text.find(marker)? + marker.len()..];
    // Past the quote that closes the marker itself, when it is a string.
    let rest = rest.strip_prefix(['"', '\'']).unwrap_or(rest);
    let open = rest.find(['"', '\''])?;
    let quote = rest[open..].chars().next()?;
    let body = &rest[open + 1..];
    Some(body[..body.find(quote)?].to_owned())
}

/// The start command, from the original CMD/ENTRYPOINT with the catalog's rewrites applied:
/// (argument vector, ids of the rewrites applied).
fn start_command(
    project: &Project,
    analysis: &Analysis,
    catalog: &Catalog,
    stack: Option<Stack>,
) -> Option<(Vec<String>, Vec<String>)> {
    let command = analysis.command.as_ref()?;
    // Init wrappers (`tini --`, `gosu app`) are dropped: the candidate's image may not have them.
    let script = script_of(&command.argv);
    let through_shell = script.is_some();
    let mut commands: Vec<Command> = if let Some(script) = &script {
        parse_script(script).commands
    } else {
        let (name, args) = unwrap_init(&command.argv).split_first()?;
        vec![Command { name: name.clone(), args: args.to_vec(), assignments: Vec::new(), offset: 0, pipeline: 0 }]
    };
    let mut applied = Vec::new();
    for rewrite in &catalog.cmd_rewrites {
        if !rewrite.stacks.is_empty() && !stack.is_some_and(|s| rewrite.stacks.contains(&s)) {
            continue;
        }
        let holds = match rewrite.when {
            RewriteWhen::ShellForm => command.form == Form::Shell,
            RewriteWhen::ShellWrapper => command.shell_wrapper,
            RewriteWhen::RuntimeInstall => !command.runtime_installs.is_empty(),
            RewriteWhen::PackageManagerStart => {
                matches!(commands.as_slice(), [c] if matches!(c.basename(), "npm" | "yarn" | "pnpm"))
            }
            RewriteWhen::EnvironmentRunner => matches!(commands.as_slice(), [c] if environment_runner(c).is_some()),
        };
        if !holds {
            continue;
        }
        let changed = match rewrite.action {
            RewriteAction::InstallInBuild => {
                let before = commands.len();
                commands.retain(|c| !is_package_install(c));
                commands.len() != before
            }
            RewriteAction::RunDirectly => match commands.as_slice() {
                [only] => {
                    let direct = package_script(project, only).or_else(|| environment_runner(only).map(|c| vec![c]));
                    direct.map(|direct| commands = direct).is_some()
                }
                _ => false,
            },
            RewriteAction::ExecForm => through_shell && commands.len() == 1 && !expands(&commands[0]),
            RewriteAction::ExecLast => through_shell && (commands.len() > 1 || commands.first().is_some_and(expands)),
        };
        if changed {
            applied.push(rewrite.id.clone());
        }
    }
    let words = |c: &Command| std::iter::once(c.name.clone()).chain(c.args.iter().cloned()).collect::<Vec<_>>();
    match commands.as_slice() {
        [] => None,
        [only] if !expands(only) => Some((words(only), applied)),
        [rest @ .., last] => {
            let mut chain: Vec<String> = rest.iter().map(|c| shell_join(&words(c))).collect();
            chain.push(format!("exec {}", shell_join(&words(last))));
            Some((vec!["sh".into(), "-c".into(), chain.join(" && ")], applied))
        }
    }
}

/// Without a CMD: package.json's start script when it is one plain command, else `node <main>`.
fn package_start(project: &Project) -> Option<Vec<String>> {
    let package: Value = serde_json::from_str(project.manifest("package.json")?).ok()?;
    if let Some(script) = package["scripts"]["start"].as_str()
        && let [only] = parse_script(script).commands.as_slice()
        && !expands(only)
    {
        return Some(std::iter::once(only.name.clone()).chain(only.args.iter().cloned()).collect());
    }
    let main = package["main"].as_str()?;
    Some(vec!["node".into(), main.into()])
}

/// `poetry run X …`, `uv run X …`, `pipenv run X …` or `/venv/bin/X …`: `X …`, found on the PATH
/// of an image whose environment is installed (the templates put its bin/ on the PATH).
fn environment_runner(command: &Command) -> Option<Command> {
    let words: Vec<&String> = std::iter::once(&command.name).chain(&command.args).collect();
    let rest = match (command.basename(), command.args.first().map(String::as_str)) {
        ("poetry" | "uv" | "pipenv", Some("run")) => &words[2..],
        _ if command.name.contains("venv/bin/") => &words[..],
        _ => return None,
    };
    let (program, args) = rest.split_first()?;
    let name = program.rsplit('/').next().unwrap_or(program).to_owned();
    Some(Command { name, args: args.iter().map(|a| (*a).clone()).collect(), ..command.clone() })
}

/// A command whose words use shell expansions (`$PORT`): it needs a shell to run.
fn expands(command: &Command) -> bool {
    std::iter::once(&command.name).chain(&command.args).any(|w| w.contains('$'))
}

/// `npm start` / `yarn start` / `pnpm run start`: the script's own command from package.json.
fn package_script(project: &Project, command: &Command) -> Option<Vec<Command>> {
    if !matches!(command.name.as_str(), "npm" | "yarn" | "pnpm") {
        return None;
    }
    let script = command.args.iter().rev().find(|a| !a.starts_with('-'))?;
    let package: Value = serde_json::from_str(project.manifest("package.json")?).ok()?;
    let body = package["scripts"][script.as_str()].as_str()?;
    let commands = parse_script(body).commands;
    (!commands.is_empty()).then_some(commands)
}

/// Words joined for `sh -c`: plain when safe, double-quoted when they expand a variable,
/// single-quoted otherwise.
fn shell_join(words: &[String]) -> String {
    words
        .iter()
        .map(|w| {
            if !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c)) {
                w.clone()
            } else if w.contains('$') {
                format!("\"{}\"", w.replace('\\', r"\\").replace('"', r#"\""#).replace('`', r"\`"))
            } else {
                format!("'{}'", w.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(leading_version(">=3.11,<4").as_deref(), Some("3.11"));
        assert_eq!(leading_version("^8.2").as_deref(), Some("8.2"));
        assert_eq!(leading_version("v20.11.0\n").as_deref(), Some("20.11.0"));
        assert_eq!(minor("1.22.3"), "1.22");
        assert_eq!(major("20.11.0"), "20");
        assert_eq!(app_name("My_App 2"), "my-app-2");
        assert_eq!(shell_join(&["echo".into(), "a b".into(), "it's".into()]), r"echo 'a b' 'it'\''s'");
        assert_eq!(shell_join(&["--port".into(), "$PORT".into()]), r#"--port "$PORT""#);
        assert_eq!(
            xml_value("<p><TargetFramework> net8.0 </TargetFramework></p>", "TargetFramework").as_deref(),
            Some("net8.0")
        );
        assert_eq!(
            quoted_after("os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'site.settings')", "DJANGO_SETTINGS_MODULE")
                .as_deref(),
            Some("site.settings")
        );
    }
}
