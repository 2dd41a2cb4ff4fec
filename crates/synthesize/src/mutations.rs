//! The edits a variant is made of. Each is one small function over a project that applies when
//! the project has what it edits, keeps the project consistent (a port changes in the sources
//! too, a lockfile and the commands that read it change together) and says whether it changed
//! anything. A variant is a seeded draw of them (see `variants` in lib.rs).

use std::collections::HashMap;

use codi_core::project::{LOCKFILES, MANIFESTS};
use regex::Regex;

use crate::lines::{From, Lines};
use crate::rng::Rng;
use crate::tree::{Tree, replace_where};

/// One kind of edit, drawn with `probability` for each variant.
pub(crate) struct Mutation {
    pub name: &'static str,
    pub probability: f64,
    pub apply: fn(&mut Tree, &mut Rng) -> bool,
}

/// In the order they are drawn: the project's identity first, the Dockerfile's smells last.
pub(crate) const MUTATIONS: &[Mutation] = &[
    Mutation { name: "node-package-manager", probability: 0.45, apply: node_package_manager },
    Mutation { name: "python-requirements", probability: 0.5, apply: python_requirements },
    Mutation { name: "base-version", probability: 0.7, apply: base_version },
    Mutation { name: "unpinned-base", probability: 0.15, apply: unpinned_base },
    Mutation { name: "project-name", probability: 0.5, apply: project_name },
    Mutation { name: "entry-file", probability: 0.4, apply: entry_file },
    Mutation { name: "port", probability: 0.5, apply: port },
    Mutation { name: "workdir", probability: 0.45, apply: workdir },
    Mutation { name: "copy-all-first", probability: 0.3, apply: copy_all_first },
    Mutation { name: "system-packages", probability: 0.35, apply: system_packages },
    Mutation { name: "command-form", probability: 0.35, apply: command_form },
    Mutation { name: "drop-user", probability: 0.3, apply: drop_user },
    Mutation { name: "add-for-copy", probability: 0.15, apply: add_for_copy },
    Mutation { name: "maintainer", probability: 0.2, apply: maintainer },
];

/// Edits the Dockerfile's lines; true when `edit` changed them.
fn edit_dockerfile(tree: &mut Tree, edit: impl FnOnce(&mut Lines) -> bool) -> bool {
    let mut lines = Lines::new(tree.dockerfile());
    let before = lines.clone();
    if !edit(&mut lines) || lines == before {
        return false;
    }
    tree.set_dockerfile(lines.text());
    true
}

/// Rewrites every match of `pattern` in the files named `names` (by file name); true when one
/// changed.
fn rewrite_files(tree: &mut Tree, names: &[&str], pattern: &str, replacement: &str) -> bool {
    let pattern = Regex::new(pattern).expect("a valid pattern");
    let mut changed = false;
    for (path, text) in &mut tree.files {
        let name = path.rsplit('/').next().unwrap_or(path);
        if names.iter().any(|n| n.strip_prefix('*').map_or(name == *n, |ext| name.ends_with(ext))) {
            let edited = pattern.replace_all(text, replacement);
            if edited != *text {
                *text = edited.into_owned();
                changed = true;
            }
        }
    }
    changed
}

// ---- the base images --------------------------------------------------------------------

/// Official images whose tags are `<version><flavour>`: the versions a variant draws from, and
/// the flavours of the two classes it keeps (a Debian-based stage stays Debian-based, so its
/// `apt-get` lines stay right; an Alpine one stays Alpine). An empty flavour list keeps the
/// flavour as written (`php:8.2-fpm` stays FPM).
struct Family {
    names: &'static [&'static str],
    versions: &'static [&'static str],
    flavours: &'static [&'static str],
    alpine: &'static [&'static str],
}

const FAMILIES: &[Family] = &[
    Family {
        names: &["node"],
        versions: &["18", "20", "22"],
        flavours: &["", "-slim", "-bookworm", "-bookworm-slim", "-bullseye"],
        alpine: &["-alpine", "-alpine3.20"],
    },
    Family {
        names: &["python"],
        versions: &["3.10", "3.11", "3.12", "3.13"],
        flavours: &["", "-slim", "-bookworm", "-slim-bookworm"],
        alpine: &["-alpine"],
    },
    Family {
        names: &["golang"],
        versions: &["1.21", "1.22", "1.23"],
        flavours: &["", "-bookworm"],
        alpine: &["-alpine"],
    },
    Family {
        names: &["rust"],
        versions: &["1.79", "1.81", "1.82", "1.83"],
        flavours: &["", "-slim", "-bookworm", "-slim-bookworm"],
        alpine: &["-alpine"],
    },
    Family {
        names: &["ruby"],
        versions: &["3.1", "3.2", "3.3"],
        flavours: &["", "-slim", "-bookworm", "-slim-bookworm"],
        alpine: &["-alpine"],
    },
    Family { names: &["php"], versions: &["8.1", "8.2", "8.3"], flavours: &[], alpine: &[] },
    Family {
        names: &["nginx"],
        versions: &["1.25", "1.26", "1.27"],
        flavours: &["", "-bookworm"],
        alpine: &["-alpine"],
    },
    Family { names: &["httpd"], versions: &["2.4"], flavours: &["", "-bookworm"], alpine: &["-alpine"] },
    Family { names: &["ubuntu"], versions: &["20.04", "22.04", "24.04"], flavours: &[""], alpine: &[] },
    Family { names: &["debian"], versions: &["bookworm", "bullseye"], flavours: &["", "-slim"], alpine: &[] },
    Family { names: &["alpine"], versions: &["3.18", "3.19", "3.20"], flavours: &[], alpine: &[] },
    Family { names: &["sdk", "aspnet", "runtime"], versions: &["6.0", "7.0", "8.0"], flavours: &[], alpine: &[] },
];

/// The family of an image: official images by name, .NET's by their registry path.
fn family(from: &From) -> Option<&'static Family> {
    let dotnet = from.image.starts_with("mcr.microsoft.com/dotnet/");
    let official = !from.image.contains('/') || from.image.starts_with("library/");
    FAMILIES
        .iter()
        .find(|f| f.names.contains(&from.name()) && (dotnet == (f.names[0] == "sdk")) && (dotnet || official))
}

/// The Java images, whose tags carry the JDK's major version somewhere (`3.9-eclipse-temurin-17`,
/// `8.10-jdk17`, `21-jdk`).
const JAVA_IMAGES: [&str; 4] = ["maven", "gradle", "eclipse-temurin", "openjdk"];
const JAVA_VERSIONS: [&str; 2] = ["17", "21"];

/// Other versions of the base images (one per family, so that the stages agree), with the
/// project's manifests brought in line: go.mod's `go`, the csproj's target framework, Python's
/// and Node's declared versions, the JDK release.
fn base_version(tree: &mut Tree, rng: &mut Rng) -> bool {
    // One version per family, keyed by its first name (`sdk` stands for all of .NET's images).
    let mut chosen: HashMap<&'static str, &'static str> = HashMap::new();
    let java = *rng.pick(&JAVA_VERSIONS);
    let java_tag = Regex::new(r"(^|[^0-9.])(11|17|21)($|[^0-9.])").expect("a valid pattern");
    let mut java_used = false;
    let changed = edit_dockerfile(tree, |lines| {
        for line in lines.single("FROM") {
            let Some(mut from) = From::parse(lines.arguments(line)) else { continue };
            if JAVA_IMAGES.contains(&from.name()) && !from.image.contains('/') {
                if let Some(tag) = &from.tag {
                    from.tag = Some(java_tag.replace(tag, format!("${{1}}{java}${{3}}")).into_owned());
                    java_used = true;
                }
            } else if let Some(family) = family(&from) {
                let version = *chosen.entry(family.names[0]).or_insert_with(|| *rng.pick(family.versions));
                let tag = from.tag.clone().unwrap_or_default();
                let written = tag.find('-').map_or("", |at| &tag[at..]);
                let alpine = written.contains("alpine");
                let flavours = if alpine { family.alpine } else { family.flavours };
                let flavour = if flavours.is_empty() || rng.chance(0.5) { written } else { *rng.pick(flavours) };
                from.tag = Some(format!("{version}{flavour}"));
            } else {
                continue;
            }
            let keyword = lines.0[line].split_whitespace().next().unwrap_or("FROM").to_owned();
            lines.0[line] = from.render(&keyword);
        }
        true
    });
    if !changed {
        return false;
    }
    if java_used {
        rewrite_files(
            tree,
            &["pom.xml"],
            r"(<(?:java\.version|maven\.compiler\.(?:release|source|target))>)\d+(<)",
            &format!("${{1}}{java}${{2}}"),
        );
        rewrite_files(
            tree,
            &["build.gradle", "build.gradle.kts"],
            r"(JavaLanguageVersion\.of\()\d+(\))",
            &format!("${{1}}{java}${{2}}"),
        );
    }
    if let Some(go) = chosen.get("golang") {
        rewrite_files(tree, &["go.mod"], r"(?m)^go \d+\.\d+(\.\d+)?$", &format!("go {go}"));
    }
    if let Some(dotnet) = chosen.get("sdk") {
        rewrite_files(
            tree,
            &["*.csproj", "*.fsproj"],
            r"<TargetFramework>net[0-9.]+</TargetFramework>",
            &format!("<TargetFramework>net{dotnet}</TargetFramework>"),
        );
    }
    if let Some(python) = chosen.get("python") {
        rewrite_files(
            tree,
            &["pyproject.toml"],
            r#"(requires-python = ")[^"]*(")"#,
            &format!("${{1}}>={python}${{2}}"),
        );
        rewrite_files(tree, &["pyproject.toml"], r#"(?m)^(python = ")[^"]*(")"#, &format!("${{1}}^{python}${{2}}"));
    }
    if let Some(node) = chosen.get("node") {
        rewrite_files(tree, &["package.json"], r#"("node": ")[^"]*(")"#, &format!("${{1}}>={node}${{2}}"));
    }
    true
}

/// One base image left unpinned: no tag, or `latest` (hadolint's DL3006 and DL3007).
fn unpinned_base(tree: &mut Tree, rng: &mut Rng) -> bool {
    let latest = rng.chance(0.5);
    edit_dockerfile(tree, |lines| {
        let froms: Vec<(usize, From)> = lines
            .single("FROM")
            .into_iter()
            .filter_map(|line| From::parse(lines.arguments(line)).map(|from| (line, from)))
            .filter(|(_, from)| family(from).is_some() || JAVA_IMAGES.contains(&from.name()))
            .collect();
        if froms.is_empty() {
            return false;
        }
        let (line, mut from) = froms[rng.below(froms.len())].clone();
        from.tag = latest.then(|| "latest".to_owned());
        let keyword = lines.0[line].split_whitespace().next().unwrap_or("FROM").to_owned();
        lines.0[line] = from.render(&keyword);
        true
    })
}

// ---- the project's identity -------------------------------------------------------------

const PROJECT_NAMES: [&str; 20] = [
    "billing",
    "inventory",
    "notifier",
    "gateway",
    "catalog",
    "ledger",
    "mailer",
    "scheduler",
    "tracker",
    "uploader",
    "reports",
    "checkout",
    "accounts",
    "search",
    "metrics",
    "payments",
    "orders",
    "profiles",
    "thumbnails",
    "webhooks",
];

/// Names too common to rename as words (they stand for other things in the same files).
const GENERIC_NAMES: [&str; 9] = ["app", "server", "main", "api", "web", "demo", "service", "src", "project"];

/// The project's name as its manifest declares it.
fn declared_name(tree: &Tree) -> Option<String> {
    let patterns: [(&str, &str); 5] = [
        ("package.json", r#"^\s*\{\s*"name":\s*"([^"/@]+)""#),
        ("Cargo.toml", r#"(?m)^\[package\]\s*\nname = "([^"]+)""#),
        ("pyproject.toml", r#"(?m)^name = "([^"]+)""#),
        ("settings.gradle", r#"rootProject\.name\s*=\s*['"]([^'"]+)['"]"#),
        (
            "pom.xml",
            r"</modelVersion>\s*(?:<parent>[\s\S]*?</parent>\s*)?<groupId>[^<]*</groupId>\s*<artifactId>([^<]+)</artifactId>",
        ),
    ];
    for (file, pattern) in patterns {
        let text = tree.files.get(file).or_else(|| tree.files.get(&format!("{file}.kts")));
        if let Some(name) = text.and_then(|text| Regex::new(pattern).expect("a valid pattern").captures(text)) {
            let name = name[1].to_owned();
            return (name.len() >= 4 && !GENERIC_NAMES.contains(&name.as_str())).then_some(name);
        }
    }
    None
}

/// Another name for the project, everywhere it is written (manifests, sources, paths, the
/// Dockerfile's artifact and binary names).
fn project_name(tree: &mut Tree, rng: &mut Rng) -> bool {
    let Some(name) = declared_name(tree) else { return false };
    let new = rng.pick_other(&PROJECT_NAMES, &name);
    tree.files.keys().all(|path| !path.contains(new)) && tree.replace_word_everywhere(&name, new)
}

/// The script the container starts, under another name: (extension, the names drawn from).
const ENTRY_NAMES: [(&str, &[&str]); 4] = [
    (".js", &["server", "app", "index", "main", "service"]),
    (".ts", &["server", "app", "index", "main"]),
    (".py", &["app", "service", "server", "run", "worker"]),
    (".rb", &["app", "server", "service"]),
];

fn entry_file(tree: &mut Tree, rng: &mut Rng) -> bool {
    let lines = Lines::new(tree.dockerfile());
    let mut entries: Vec<String> = Vec::new();
    for line in lines.single("CMD").into_iter().chain(lines.single("ENTRYPOINT")) {
        for word in lines.arguments(line).split(|c: char| c.is_whitespace() || "[],\"".contains(c)) {
            if tree.has(word) && ENTRY_NAMES.iter().any(|(ext, _)| word.ends_with(ext)) {
                entries.push(word.to_owned());
            }
        }
    }
    let Some(old) = entries.first() else { return false };
    let (dir, file) = old.rsplit_once('/').map_or(("", old.as_str()), |(d, f)| (d, f));
    let Some((ext, names)) = ENTRY_NAMES.iter().find(|(ext, _)| file.ends_with(ext)) else { return false };
    let stem = file.trim_end_matches(ext);
    let new_file = format!("{}{ext}", rng.pick_other(names, stem));
    let new = if dir.is_empty() { new_file } else { format!("{dir}/{new_file}") };
    if tree.has(&new) {
        return false;
    }
    let old = old.clone();
    tree.rename(&old, &new);
    tree.replace_word_everywhere(&old, &new);
    true
}

const PORTS: [&str; 11] = ["3000", "4000", "5000", "5050", "7070", "8000", "8080", "8081", "8888", "9000", "9090"];

/// Another port for a service that chooses its own (not a web server's or PHP-FPM's fixed
/// one): EXPOSE, the command line and the sources change together.
fn port(tree: &mut Tree, rng: &mut Rng) -> bool {
    let lines = Lines::new(tree.dockerfile());
    let fixed = lines
        .single("FROM")
        .into_iter()
        .filter_map(|l| From::parse(lines.arguments(l)))
        .any(|from| ["php", "nginx", "httpd", "sdk", "aspnet", "runtime"].contains(&from.name()));
    let exposed =
        lines.single("EXPOSE").into_iter().map(|l| lines.arguments(l).trim_end_matches("/tcp").to_owned()).next();
    let Some(old) = exposed.filter(|p| p.parse::<u16>().is_ok_and(|p| p >= 1024)) else { return false };
    if fixed {
        return false;
    }
    let new = rng.pick_other(&PORTS, &old);
    tree.replace_word_everywhere(&old, new)
}

const WORKDIRS: [&str; 8] =
    ["/app", "/usr/src/app", "/srv/app", "/opt/app", "/code", "/home/app", "/workspace", "/service"];

/// `text` with the path `from` replaced where it is a whole path (not a prefix of a longer
/// name, nor a part of a longer path).
fn replace_path(text: &str, from: &str, to: &str) -> String {
    let pattern = format!(r"(^|[\s=:\x22'\[,]){}($|[\s/\x22'\],:])", regex::escape(from));
    let pattern = Regex::new(&pattern).expect("a valid pattern");
    // Twice: adjacent matches share their separator, which the first pass consumed.
    let once = pattern.replace_all(text, format!("${{1}}{to}${{2}}"));
    pattern.replace_all(&once, format!("${{1}}{to}${{2}}")).into_owned()
}

/// Another working directory for the application, everywhere the Dockerfile names it.
fn workdir(tree: &mut Tree, rng: &mut Rng) -> bool {
    let lines = Lines::new(tree.dockerfile());
    let Some(old) = lines.single("WORKDIR").first().map(|&l| lines.arguments(l).to_owned()) else { return false };
    let served = ["/var/www", "/usr/share/nginx", "/usr/local/apache2"].iter().any(|p| old.starts_with(p));
    if !old.starts_with('/') || served {
        return false;
    }
    let new = rng.pick_other(&WORKDIRS, &old);
    if tree.dockerfile().contains(new) {
        return false;
    }
    let text = replace_path(tree.dockerfile(), &old, new);
    let changed = text != tree.dockerfile();
    tree.set_dockerfile(text);
    changed
}

// ---- package managers -------------------------------------------------------------------

/// The same step with npm, yarn and pnpm, most specific first.
const NODE_COMMANDS: [[&str; 3]; 10] = [
    ["npm ci --omit=dev", "yarn install --frozen-lockfile --production", "pnpm install --frozen-lockfile --prod"],
    ["npm ci", "yarn install --frozen-lockfile", "pnpm install --frozen-lockfile"],
    ["npm install --omit=dev", "yarn install --production", "pnpm install --prod"],
    ["npm install", "yarn install", "pnpm install"],
    ["npm cache clean --force", "yarn cache clean", "pnpm store prune"],
    ["npm run build", "yarn build", "pnpm build"],
    ["npm run ", "yarn run ", "pnpm run "],
    ["npm start", "yarn start", "pnpm start"],
    ["\"npm\", \"start\"", "\"yarn\", \"start\"", "\"pnpm\", \"start\""],
    ["package-lock.json", "yarn.lock", "pnpm-lock.yaml"],
];
const NODE_MANAGERS: [&str; 3] = ["npm", "yarn", "pnpm"];
const NODE_MANAGER_VERSIONS: [&str; 3] = ["10.9.0", "1.22.22", "9.14.2"];

/// `text` with the command `from` replaced where it starts a word and is not a global install
/// (`npm install -g pnpm` stays).
fn replace_command(text: &str, from: &str, to: &str) -> String {
    let fits = |before: Option<char>, after: &str| {
        let starts_word = !before.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_');
        let global = after.starts_with(" -g") || after.starts_with(" --global");
        let ends_word = from.ends_with(' ') || !after.starts_with(|c: char| c.is_alphanumeric() || c == '-');
        starts_word && ends_word && !global
    };
    replace_where(text, from, to, fits).unwrap_or_else(|| text.to_owned())
}

/// Another Node package manager: its lockfile, its commands in the Dockerfile (with corepack
/// for pnpm), and package.json's `packageManager`.
fn node_package_manager(tree: &mut Tree, rng: &mut Rng) -> bool {
    let Some(current) = (0..3).find(|&m| tree.has(NODE_COMMANDS[9][m])) else { return false };
    let chosen = rng.pick_other(&NODE_MANAGERS, NODE_MANAGERS[current]);
    let target = NODE_MANAGERS.iter().position(|m| *m == chosen).unwrap_or(0);
    let mut text: String = Lines::new(tree.dockerfile())
        .0
        .into_iter()
        .filter(|line| {
            let line = line.trim();
            !(line == "RUN corepack enable"
                || ["yarn", "pnpm"].iter().any(|m| line == format!("RUN npm install -g {m}")))
        })
        .map(|line| line + "\n")
        .collect();
    for commands in NODE_COMMANDS {
        text = replace_command(&text, commands[current], commands[0]);
    }
    for commands in NODE_COMMANDS {
        text = replace_command(&text, commands[0], commands[target]);
    }
    let mut lines = Lines::new(&text);
    if target == 2
        && let Some(first) = lines.instructions().iter().find(|i| lines.0[i.line].contains("pnpm ")).map(|i| i.line)
    {
        lines.0.insert(first, "RUN corepack enable".to_owned());
    }
    tree.set_dockerfile(lines.text());
    tree.rename(NODE_COMMANDS[9][current], NODE_COMMANDS[9][target]);
    rewrite_files(
        tree,
        &["package.json"],
        r#"("packageManager": ")[^"]*(")"#,
        &format!("${{1}}{}@{}${{2}}", NODE_MANAGERS[target], NODE_MANAGER_VERSIONS[target]),
    );
    true
}

/// A `requirements.txt` exported from pyproject.toml's dependencies beside the Poetry or uv
/// lockfile, as many projects commit one for pip users.
fn python_requirements(tree: &mut Tree, _rng: &mut Rng) -> bool {
    if tree.has("requirements.txt") || !(tree.has("poetry.lock") || tree.has("uv.lock")) {
        return false;
    }
    let Some(pyproject) = tree.files.get("pyproject.toml") else { return false };
    let mut requirements: Vec<String> = Vec::new();
    let pep621 = Regex::new(r"(?m)^dependencies = \[([^\]]*)\]").expect("a valid pattern");
    if let Some(list) = pep621.captures(pyproject) {
        requirements
            .extend(list[1].split(',').map(|r| r.trim().trim_matches('"').to_owned()).filter(|r| !r.is_empty()));
    }
    if let Some(section) = pyproject.split("[tool.poetry.dependencies]").nth(1) {
        for line in section.lines().skip(1).take_while(|l| !l.starts_with('[')) {
            let Some((name, spec)) = line.split_once(" = ") else { continue };
            let spec = spec.trim().trim_matches('"');
            if name.trim() == "python" || spec.starts_with('{') {
                continue;
            }
            let spec = match spec.chars().next() {
                Some('^') => format!(">={}", &spec[1..]),
                Some('~') => format!("~={}", &spec[1..]),
                Some('*') | None => String::new(),
                Some(c) if c.is_ascii_digit() => format!("=={spec}"),
                Some(_) => spec.to_owned(),
            };
            requirements.push(format!("{}{spec}", name.trim()));
        }
    }
    if requirements.is_empty() {
        return false;
    }
    tree.files.insert("requirements.txt".to_owned(), requirements.join("\n") + "\n");
    true
}

// ---- the Dockerfile's smells ------------------------------------------------------------

/// The dependency manifests copied before the rest is replaced by a copy of everything: every
/// source change then reinstalls the dependencies (our CD001).
fn copy_all_first(tree: &mut Tree, _rng: &mut Rng) -> bool {
    edit_dockerfile(tree, |lines| {
        for (start, end) in lines.stages() {
            let copies: Vec<usize> = lines
                .single("COPY")
                .into_iter()
                .filter(|&l| l > start && l < end && !lines.arguments(l).starts_with("--"))
                .collect();
            let is_manifest = |word: &str| {
                let name = word.trim_start_matches("./");
                MANIFESTS.contains(&name) || LOCKFILES.contains(&name)
            };
            let manifest = copies.iter().copied().find(|&l| {
                let words: Vec<&str> = lines.arguments(l).split_whitespace().collect();
                words.len() >= 2 && words[..words.len() - 1].iter().all(|w| is_manifest(w))
            });
            let everything = copies.iter().copied().find(|&l| {
                let words: Vec<&str> = lines.arguments(l).split_whitespace().collect();
                words.len() == 2 && matches!(words[0], "." | "./")
            });
            if let (Some(manifest), Some(everything)) = (manifest, everything)
                && manifest < everything
            {
                // `everything` comes after `manifest`, whose index the removal leaves as it is.
                lines.0[manifest] = lines.0.remove(everything);
                return true;
            }
        }
        false
    })
}

const PACKAGES: [&str; 9] = ["curl", "ca-certificates", "git", "wget", "procps", "tini", "unzip", "jq", "openssl"];

/// System packages installed the way many Dockerfiles do: unpinned, with recommends, the apt
/// lists left behind or `apt-get update` in a layer of its own (DL3008, DL3015, DL3009,
/// DL3018 …), in one stage of a Debian- or Alpine-based image.
fn system_packages(tree: &mut Tree, rng: &mut Rng) -> bool {
    let count = 1 + rng.below(3);
    let mut packages: Vec<&str> = Vec::new();
    while packages.len() < count {
        let package = *rng.pick(&PACKAGES);
        if !packages.contains(&package) {
            packages.push(package);
        }
    }
    let packages = packages.join(" ");
    let style = rng.below(3);
    let final_stage = rng.chance(0.6);
    edit_dockerfile(tree, |lines| {
        let stages = lines.stages();
        let Some(&(from, _)) = (if final_stage { stages.last() } else { stages.first() }) else { return false };
        let Some(base) = From::parse(lines.arguments(from)) else { return false };
        let alpine = base.name() == "alpine" || base.tag.as_deref().is_some_and(|t| t.contains("alpine"));
        let debian = family(&base).is_some() || JAVA_IMAGES.contains(&base.name());
        if !alpine && !debian {
            return false;
        }
        let added: Vec<String> = match (alpine, style) {
            (true, 0) => vec![format!("RUN apk add {packages}")],
            (true, 1) => vec!["RUN apk update".into(), format!("RUN apk add {packages}")],
            (true, _) => vec![format!("RUN apk add --no-cache {packages}")],
            (false, 0) => vec![format!("RUN apt-get update && apt-get install -y {packages}")],
            (false, 1) => vec!["RUN apt-get update".into(), format!("RUN apt-get install -y {packages}")],
            (false, _) => vec![format!(
                "RUN apt-get update && apt-get install -y --no-install-recommends {packages} && rm -rf /var/lib/apt/lists/*"
            )],
        };
        for (offset, line) in added.into_iter().enumerate() {
            lines.0.insert(from + 1 + offset, line);
        }
        true
    })
}

/// Characters that make a command line need a shell.
const SHELL_SYNTAX: &[char] = &['$', '&', '|', ';', '<', '>', '*', '?', '`', '\'', '"', '(', ')', '{', '}', '\\', '~'];

/// The container's command in the other form: exec form as a shell line (our CD006 and
/// hadolint's DL3025), or a shell line without shell syntax in exec form.
fn command_form(tree: &mut Tree, _rng: &mut Rng) -> bool {
    edit_dockerfile(tree, |lines| {
        let Some(line) = lines.single("CMD").into_iter().chain(lines.single("ENTRYPOINT")).max() else { return false };
        let keyword = lines.0[line].split_whitespace().next().unwrap_or("CMD").to_owned();
        let arguments = lines.arguments(line).to_owned();
        let edited = if arguments.starts_with('[') {
            let Ok(words) = serde_json::from_str::<Vec<String>>(&arguments) else { return false };
            if words.is_empty()
                || words.iter().any(|w| w.is_empty() || w.contains(char::is_whitespace) || w.contains(SHELL_SYNTAX))
            {
                return false;
            }
            format!("{keyword} {}", words.join(" "))
        } else {
            if arguments.is_empty() || arguments.contains(SHELL_SYNTAX) {
                return false;
            }
            let words: Vec<String> = arguments.split_whitespace().map(|w| format!("\"{w}\"")).collect();
            format!("{keyword} [{}]", words.join(", "))
        };
        lines.0[line] = edited;
        true
    })
}

/// No USER: the container runs as root (hadolint's DL3002 once a stage ends as root).
fn drop_user(tree: &mut Tree, _rng: &mut Rng) -> bool {
    edit_dockerfile(tree, |lines| {
        let users = lines.single("USER");
        for line in users.iter().rev() {
            lines.0.remove(*line);
        }
        !users.is_empty()
    })
}

/// ADD where COPY is meant (DL3020).
fn add_for_copy(tree: &mut Tree, _rng: &mut Rng) -> bool {
    edit_dockerfile(tree, |lines| {
        let Some(line) = lines.single("COPY").into_iter().find(|&l| !lines.arguments(l).starts_with("--")) else {
            return false;
        };
        lines.0[line] = format!("ADD {}", lines.arguments(line));
        true
    })
}

const MAINTAINERS: [(&str, &str); 4] = [
    ("Ana Lima", "ana.lima@example.com"),
    ("Platform Team", "platform@example.org"),
    ("Jonas Berg", "jonas@example.net"),
    ("Ops", "ops@example.com"),
];

/// The maintainer, as the deprecated MAINTAINER (DL4000) or as a label.
fn maintainer(tree: &mut Tree, rng: &mut Rng) -> bool {
    let (name, email) = *rng.pick(&MAINTAINERS);
    let deprecated = rng.chance(0.6);
    edit_dockerfile(tree, |lines| {
        let Some(&(from, _)) = lines.stages().first() else { return false };
        let line =
            if deprecated { format!("MAINTAINER {name} <{email}>") } else { format!("LABEL maintainer=\"{email}\"") };
        lines.0.insert(from + 1, line);
        true
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::DOCKERFILE;

    fn tree(files: &[(&str, &str)]) -> Tree {
        Tree { files: files.iter().map(|(p, t)| ((*p).to_owned(), (*t).to_owned())).collect() }
    }

    /// Applies `mutation` with seeds until it changes the tree; the changed tree.
    fn applied(mutation: fn(&mut Tree, &mut Rng) -> bool, files: &[(&str, &str)]) -> Tree {
        for seed in 0..50 {
            let mut edited = tree(files);
            if mutation(&mut edited, &mut Rng::new(seed)) {
                return edited;
            }
        }
        panic!("never applied");
    }

    #[test]
    fn node_package_managers_change_lockfile_and_commands_together() {
        let files = [
            (
                DOCKERFILE,
                "FROM node:20\nWORKDIR /app\nRUN npm install -g pnpm\nCOPY package.json pnpm-lock.yaml ./\nRUN pnpm install --frozen-lockfile\nCOPY . .\nRUN pnpm build\nCMD [\"pnpm\", \"start\"]\n",
            ),
            ("package.json", "{\"name\": \"greetings\", \"packageManager\": \"pnpm@9.14.2\"}"),
            ("pnpm-lock.yaml", "lockfileVersion: '9.0'"),
        ];
        for seed in 0..8 {
            let mut edited = tree(&files);
            assert!(node_package_manager(&mut edited, &mut Rng::new(seed)));
            let dockerfile = edited.dockerfile();
            assert!(!dockerfile.contains("pnpm"), "{dockerfile}");
            if edited.has("yarn.lock") {
                assert!(
                    dockerfile.contains("COPY package.json yarn.lock ./\nRUN yarn install --frozen-lockfile\n"),
                    "{dockerfile}"
                );
                assert!(dockerfile.contains("RUN yarn build\nCMD [\"yarn\", \"start\"]"), "{dockerfile}");
                assert!(edited.files["package.json"].contains("yarn@1.22.22"));
            } else {
                assert!(edited.has("package-lock.json"));
                assert!(dockerfile.contains("COPY package.json package-lock.json ./\nRUN npm ci\n"), "{dockerfile}");
                assert!(dockerfile.contains("RUN npm run build\nCMD [\"npm\", \"start\"]"), "{dockerfile}");
            }
        }
        let npm = [
            (DOCKERFILE, "FROM node:20\nCOPY . .\nRUN npm ci --omit=dev\nCMD [\"npm\", \"start\"]\n"),
            ("package-lock.json", ""),
        ];
        let to_pnpm = (0..20)
            .map(|seed| {
                let mut edited = tree(&npm);
                node_package_manager(&mut edited, &mut Rng::new(seed));
                edited
            })
            .find(|t| t.has("pnpm-lock.yaml"))
            .expect("some seed picks pnpm");
        assert_eq!(
            to_pnpm.dockerfile(),
            "FROM node:20\nCOPY . .\nRUN corepack enable\nRUN pnpm install --frozen-lockfile --prod\nCMD [\"pnpm\", \"start\"]\n"
        );
    }

    #[test]
    fn base_versions_agree_across_stages_and_with_the_manifests() {
        let edited = applied(
            base_version,
            &[
                (
                    DOCKERFILE,
                    "FROM golang:1.22-alpine AS build\nRUN go build\nFROM golang:1.22 AS test\nFROM alpine:3.19\n",
                ),
                ("go.mod", "module example.com/x\n\ngo 1.22\n"),
            ],
        );
        let froms: Vec<From> = Lines::new(edited.dockerfile())
            .0
            .iter()
            .filter_map(|l| l.strip_prefix("FROM "))
            .filter_map(From::parse)
            .collect();
        let go = froms[0].tag.as_deref().expect("tagged").split('-').next().expect("version").to_owned();
        assert!(froms[0].tag.as_deref().expect("tagged").contains("alpine"), "an Alpine stage stays Alpine");
        assert!(froms[1].tag.as_deref().expect("tagged").starts_with(&go));
        assert!(edited.files["go.mod"].contains(&format!("\ngo {go}\n")), "{}", edited.files["go.mod"]);
        let java = applied(
            base_version,
            &[
                (DOCKERFILE, "FROM maven:3.9-eclipse-temurin-17\n"),
                ("pom.xml", "<maven.compiler.release>17</maven.compiler.release>"),
            ],
        );
        let jdk = if java.dockerfile().contains("temurin-21") { "21" } else { "17" };
        assert!(java.dockerfile().starts_with("FROM maven:3.9-eclipse-temurin-"), "{}", java.dockerfile());
        assert_eq!(java.files["pom.xml"], format!("<maven.compiler.release>{jdk}</maven.compiler.release>"));
    }

    #[test]
    fn ports_and_workdirs_move_everywhere_they_are_named() {
        let edited = applied(
            port,
            &[
                (
                    DOCKERFILE,
                    "FROM node:20\nWORKDIR /usr/src/app\nCOPY . .\nEXPOSE 3000\nCMD [\"node\", \"server.js\"]\n",
                ),
                ("server.js", "app.listen(process.env.PORT || 3000);\n"),
            ],
        );
        let new = Lines::new(edited.dockerfile()).arguments(3).to_owned();
        assert_ne!(new, "3000");
        assert_eq!(edited.files["server.js"], format!("app.listen(process.env.PORT || {new});\n"));
        assert!(
            !port(&mut tree(&[(DOCKERFILE, "FROM nginx:1.27\nEXPOSE 8080\n")]), &mut Rng::new(1)),
            "nginx's port is its config's"
        );

        let edited = applied(
            workdir,
            &[(
                DOCKERFILE,
                "FROM python:3.12\nWORKDIR /app\nCOPY --from=b /app/.venv /app/.venv\nENV PATH=\"/app/.venv/bin:$PATH\"\nCOPY app.py /app.py\n",
            )],
        );
        let new = Lines::new(edited.dockerfile()).arguments(1).to_owned();
        assert_eq!(
            edited.dockerfile(),
            format!(
                "FROM python:3.12\nWORKDIR {new}\nCOPY --from=b {new}/.venv {new}/.venv\nENV PATH=\"{new}/.venv/bin:$PATH\"\nCOPY app.py /app.py\n"
            )
        );
    }

    #[test]
    fn smells_are_added_where_they_fit() {
        let copy = applied(
            copy_all_first,
            &[(
                DOCKERFILE,
                "FROM node:20\nWORKDIR /app\nCOPY package.json package-lock.json ./\nRUN npm ci\nCOPY . .\nCMD [\"node\", \"a.js\"]\n",
            )],
        );
        assert_eq!(copy.dockerfile(), "FROM node:20\nWORKDIR /app\nCOPY . .\nRUN npm ci\nCMD [\"node\", \"a.js\"]\n");
        let shell = applied(command_form, &[(DOCKERFILE, "FROM node:20\nCMD [\"node\", \"a.js\"]\n")]);
        assert_eq!(shell.dockerfile(), "FROM node:20\nCMD node a.js\n");
        let exec = applied(command_form, &[(DOCKERFILE, "FROM node:20\nCMD npm start\n")]);
        assert_eq!(exec.dockerfile(), "FROM node:20\nCMD [\"npm\", \"start\"]\n");
        assert!(!command_form(&mut tree(&[(DOCKERFILE, "FROM a\nCMD sh -c \"x && y\"\n")]), &mut Rng::new(0)));
        let apt = applied(
            system_packages,
            &[(DOCKERFILE, "FROM node:20-alpine AS build\nFROM gcr.io/distroless/nodejs22\n")],
        );
        assert!(apt.dockerfile().starts_with("FROM node:20-alpine AS build\nRUN apk "), "{}", apt.dockerfile());
        assert!(!system_packages(&mut tree(&[(DOCKERFILE, "FROM scratch\n")]), &mut Rng::new(0)));
    }

    #[test]
    fn project_and_entry_names_are_renamed_everywhere() {
        let files = [
            (DOCKERFILE, "FROM rust:1.82\nCOPY . .\nRUN cargo build --release\nCMD [\"./target/release/axum-api\"]\n"),
            ("Cargo.toml", "[package]\nname = \"axum-api\"\nversion = \"0.1.0\"\n"),
        ];
        let edited = applied(project_name, &files);
        let name = Regex::new(r#"name = "([^"]+)""#).expect("re").captures(&edited.files["Cargo.toml"]).expect("name")
            [1]
        .to_owned();
        assert!(PROJECT_NAMES.contains(&name.as_str()));
        assert!(edited.dockerfile().contains(&format!("target/release/{name}\"")));

        let edited = applied(
            entry_file,
            &[
                (DOCKERFILE, "FROM node:20\nCMD node relay.js\n"),
                ("relay.js", "x"),
                ("package.json", "{\"main\": \"relay.js\"}"),
            ],
        );
        let entry = edited.files.keys().find(|p| p.ends_with(".js")).expect("renamed").clone();
        assert_ne!(entry, "relay.js");
        assert_eq!(edited.dockerfile(), format!("FROM node:20\nCMD node {entry}\n"));
        assert_eq!(edited.files["package.json"], format!("{{\"main\": \"{entry}\"}}"));
    }

    #[test]
    fn requirements_are_exported_from_poetry_and_uv() {
        let poetry = "[tool.poetry.dependencies]\npython = \"^3.11\"\nfastapi = \"0.115.5\"\nuvicorn = \"^0.32\"\n\n[build-system]\n";
        let mut edited = tree(&[("pyproject.toml", poetry), ("poetry.lock", "")]);
        assert!(python_requirements(&mut edited, &mut Rng::new(0)));
        assert_eq!(edited.files["requirements.txt"], "fastapi==0.115.5\nuvicorn>=0.32\n");
        let uv = "[project]\nname = \"search-api\"\ndependencies = [\n    \"fastapi==0.115.5\",\n    \"uvicorn==0.32.1\",\n]\n";
        let mut edited = tree(&[("pyproject.toml", uv), ("uv.lock", "")]);
        assert!(python_requirements(&mut edited, &mut Rng::new(0)));
        assert_eq!(edited.files["requirements.txt"], "fastapi==0.115.5\nuvicorn==0.32.1\n");
        assert!(!python_requirements(&mut tree(&[("requirements.txt", "x")]), &mut Rng::new(0)));
    }
}
