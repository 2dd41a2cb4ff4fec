//! Estimated metrics of an image from its Dockerfile: size, layers, build steps, build time and
//! cache friendliness. These are estimates from a table of base image sizes and heuristics for
//! what installs and copies add (docs/estimates.md); `codi rewrite --real-builds` measures
//! instead where a Docker engine is reachable.

use serde::Serialize;

use crate::analysis::{Analysis, Base};
use crate::catalog::RankingWeights;
use crate::project::Project;
use crate::shell::Command;
use crate::syntax::{Dockerfile, ImageRef, InstructionKind};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    /// `estimate` or `measured`.
    pub source: &'static str,
    /// Final image size, MB.
    pub image_mb: f64,
    /// Layers of the final image, the base image's included.
    pub layers: u32,
    /// Instructions that run or copy something, all stages.
    pub build_steps: u32,
    /// Cold build, seconds.
    pub build_seconds: f64,
    /// Rebuild after a change to a source file (dependency steps cached when they can be), seconds.
    pub rebuild_seconds: f64,
    /// 1 − rebuild/cold: how much of the build a source change leaves cached.
    pub cache_friendliness: f64,
    pub policy_violations: usize,
    /// What the size is made of, largest first.
    pub breakdown: Vec<(String, f64)>,
}

/// Deltas against the original, each in −1..=1 (positive is better), and their weighted score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Deltas {
    pub size_reduction: f64,
    pub layer_reduction: f64,
    pub build_time: f64,
    pub policy_compliance: f64,
    pub score: f64,
}

impl Deltas {
    pub fn between(original: &Estimate, candidate: &Estimate, weights: &RankingWeights) -> Self {
        let reduction =
            |before: f64, after: f64| if before <= 0.0 { 0.0 } else { ((before - after) / before).clamp(-1.0, 1.0) };
        let build = |e: &Estimate| f64::midpoint(e.build_seconds, e.rebuild_seconds);
        let size_reduction = reduction(original.image_mb, candidate.image_mb);
        let layer_reduction = reduction(f64::from(original.layers), f64::from(candidate.layers));
        let build_time = reduction(build(original), build(candidate));
        let before = original.policy_violations as f64;
        let policy_compliance = ((before - candidate.policy_violations as f64) / before.max(1.0)).clamp(-1.0, 1.0);
        let score = weights.size_reduction * size_reduction
            + weights.layer_reduction * layer_reduction
            + weights.build_time * build_time
            + weights.policy_compliance * policy_compliance;
        let round = |x: f64| (x * 1000.0).round() / 1000.0;
        Self {
            size_reduction: round(size_reduction),
            layer_reduction: round(layer_reduction),
            build_time: round(build_time),
            policy_compliance: round(policy_compliance),
            score: round(score),
        }
    }
}

/// (size MB, layers) of well-known base images, by family and tag variant. Approximate
/// uncompressed linux/amd64 sizes of the official images (docs/estimates.md).
fn base_image(reference: &ImageRef) -> (f64, u32) {
    let tag = reference.tag.as_deref().unwrap_or("latest");
    let variant = |alpine: f64, slim: f64, full: f64| {
        if tag.contains("alpine") {
            alpine
        } else if tag.contains("slim") {
            slim
        } else {
            full
        }
    };
    let path = reference.path.as_str();
    match reference.family() {
        "scratch" => (0.0, 0),
        "alpine" => (8.0, 1),
        "busybox" => (4.5, 1),
        "debian" => (variant(75.0, 75.0, 120.0), 1),
        "ubuntu" => (78.0, 1),
        "fedora" => (160.0, 1),
        "centos" | "rockylinux" | "almalinux" => (200.0, 1),
        "node" => (variant(135.0, 240.0, 1100.0), 5),
        "python" => (variant(60.0, 150.0, 1020.0), 5),
        "pypy" => (variant(150.0, 250.0, 1000.0), 5),
        "golang" => (variant(250.0, 800.0, 820.0), 5),
        "rust" => (variant(850.0, 800.0, 1500.0), 5),
        "ruby" => (variant(90.0, 220.0, 1000.0), 5),
        "php" => (variant(90.0, 500.0, 500.0), 8),
        "composer" => (200.0, 8),
        "maven" => (520.0, 7),
        "gradle" => (720.0, 7),
        "eclipse-temurin" | "openjdk" | "amazoncorretto" => {
            if tag.contains("jre") {
                (variant(190.0, 270.0, 270.0), 4)
            } else {
                (variant(330.0, 450.0, 450.0), 4)
            }
        }
        "nginx" | "nginx-unprivileged" => (variant(50.0, 190.0, 190.0), 6),
        "httpd" => (variant(60.0, 150.0, 150.0), 5),
        "caddy" => (45.0, 3),
        "sdk" if path.contains("dotnet") => (variant(700.0, 850.0, 850.0), 6),
        "aspnet" if path.contains("dotnet") && tag.contains("chiseled") => (110.0, 4),
        "aspnet" if path.contains("dotnet") => (variant(110.0, 220.0, 220.0), 5),
        "runtime" if path.contains("dotnet") => (variant(85.0, 190.0, 190.0), 4),
        "runtime-deps" if path.contains("dotnet") => (variant(12.0, 120.0, 120.0), 3),
        family if path.starts_with("distroless/") => match family {
            f if f.starts_with("static") => (2.0, 1),
            f if f.starts_with("base") => (21.0, 2),
            f if f.starts_with("cc") => (25.0, 2),
            f if f.starts_with("python3") => (52.0, 3),
            f if f.starts_with("java") => (200.0, 3),
            f if f.starts_with("nodejs") => (170.0, 3),
            _ => (20.0, 2),
        },
        _ => (150.0, 5),
    }
}

/// What a step adds to its stage (MB), and how long it takes (s).
#[derive(Debug, Default, Clone, Copy)]
struct Cost {
    mb: f64,
    seconds: f64,
}

/// Counts of dependencies declared in the project's manifests.
#[derive(Debug, Default, Clone, Copy)]
struct Dependencies {
    node: usize,
    node_dev: usize,
    python: usize,
    gems: usize,
    composer: usize,
}

impl Dependencies {
    fn of(project: Option<&Project>) -> Self {
        let Some(project) = project else { return Self { node: 20, node_dev: 15, python: 10, gems: 20, composer: 15 } };
        let json = |name: &str| project.manifest(name).and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok());
        let count = |v: &serde_json::Value, key: &str| v[key].as_object().map_or(0, serde_json::Map::len);
        let package = json("package.json").unwrap_or_default();
        let composer = json("composer.json").unwrap_or_default();
        let lines = |name: &str, keep: fn(&str) -> bool| {
            project.manifest(name).map_or(0, |t| {
                t.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#') && keep(l)).count()
            })
        };
        Self {
            node: count(&package, "dependencies"),
            node_dev: count(&package, "devDependencies"),
            python: lines("requirements.txt", |l| !l.starts_with('-'))
                .max(lines("pyproject.toml", |l| l.starts_with('"'))),
            gems: lines("Gemfile", |l| l.starts_with("gem ")),
            composer: count(&composer, "require") + count(&composer, "require-dev"),
        }
    }
}

/// What one RUN command adds. Node dependencies weigh ~2.5 MB each on average (transitive
/// packages included), Python ~8 MB, gems ~3 MB, apt packages ~12 MB.
fn command_cost(cmd: &Command, deps: Dependencies) -> Cost {
    let sub = |s: &[&str]| cmd.has_any_arg(s);
    let package_manager = matches!(cmd.basename(), "npm" | "yarn" | "pnpm");
    if (package_manager && sub(&["build"])) || matches!(cmd.basename(), "next" | "vite" | "tsc" | "webpack") {
        return Cost { mb: 5.0, seconds: 30.0 };
    }
    let operands = || cmd.operands().filter(|a| !["install", "add", "update", "upgrade", "-y"].contains(a));
    let packages = operands().count() as f64;
    match cmd.basename() {
        "apt-get" | "apt" if sub(&["install"]) => {
            let recommends = if cmd.has_flag("no-install-recommends") { 1.0 } else { 1.5 };
            let mb: f64 = operands().map(|p| apt_package_mb(p.split('=').next().unwrap_or(p))).sum();
            Cost { mb: mb * recommends, seconds: 10.0 + packages * 3.0 }
        }
        "apt-get" | "apt" if sub(&["update"]) => Cost { mb: 40.0, seconds: 8.0 },
        "apk" if sub(&["add"]) => {
            Cost { mb: packages * 4.0 + if cmd.has_flag("no-cache") { 0.0 } else { 3.0 }, seconds: 3.0 + packages }
        }
        "yum" | "dnf" | "microdnf" if sub(&["install"]) => {
            Cost { mb: packages * 15.0 + 80.0, seconds: 20.0 + packages * 3.0 }
        }
        name if name.starts_with("pip") && sub(&["install"]) => {
            let n = if sub(&["-r", "--requirement", "."]) { deps.python as f64 } else { packages };
            let cache = if cmd.has_arg("--no-cache-dir") { 1.0 } else { 1.3 };
            Cost { mb: n * 8.0 * cache, seconds: 5.0 + n * 2.0 }
        }
        "poetry" | "uv" | "pipenv" if sub(&["install", "sync"]) => {
            Cost { mb: deps.python as f64 * 8.0, seconds: 5.0 + deps.python as f64 * 1.5 }
        }
        "npm" | "yarn" | "pnpm"
            if sub(&["install", "ci", "i"]) || (cmd.basename() == "yarn" && cmd.operands().next().is_none()) =>
        {
            let production = sub(&["--omit=dev", "--production", "--prod"]);
            let n = deps.node + if production { 0 } else { deps.node_dev };
            Cost { mb: n as f64 * 2.5 + 20.0, seconds: 10.0 + n as f64 * 0.5 }
        }
        "bundle" if sub(&["install"]) => Cost { mb: deps.gems as f64 * 3.0, seconds: 10.0 + deps.gems as f64 * 2.0 },
        "composer" if sub(&["install"]) => Cost { mb: deps.composer as f64 * 2.0, seconds: 8.0 + deps.composer as f64 },
        "go" if sub(&["build"]) => Cost { mb: 15.0, seconds: 30.0 },
        "go" if sub(&["mod"]) => Cost { mb: 150.0, seconds: 20.0 },
        "cargo" if sub(&["build"]) => Cost { mb: 500.0, seconds: 120.0 },
        "cargo" if sub(&["fetch"]) => Cost { mb: 200.0, seconds: 20.0 },
        "mvn" | "mvnw" | "./mvnw" => Cost { mb: 250.0, seconds: 60.0 },
        "gradle" | "gradlew" | "./gradlew" => Cost { mb: 300.0, seconds: 60.0 },
        "dotnet" if sub(&["restore"]) => Cost { mb: 150.0, seconds: 25.0 },
        "dotnet" if sub(&["publish", "build"]) => Cost { mb: 60.0, seconds: 40.0 },
        "rm" if cmd.args.iter().any(|a| a.contains("/var/lib/apt/lists") || a.contains("/var/cache")) => {
            Cost { mb: -40.0, seconds: 0.5 }
        }
        "yum" | "dnf" | "microdnf" if sub(&["clean"]) => Cost { mb: -80.0, seconds: 1.0 },
        "curl" | "wget" => Cost { mb: 20.0, seconds: 5.0 },
        _ => Cost { mb: 0.0, seconds: 1.0 },
    }
}

/// Installed size (MB, with dependencies) of Debian packages that weigh far more than the
/// ~12 MB of a typical one.
fn apt_package_mb(package: &str) -> f64 {
    match package {
        "build-essential" | "gcc" | "g++" => 200.0,
        "default-jdk" | "openjdk-17-jdk" | "openjdk-21-jdk" => 330.0,
        "nodejs" => 190.0,
        "python3" | "python3-dev" => 60.0,
        "python3-pip" => 250.0,
        "git" | "vim" => 40.0,
        "curl" | "wget" | "ca-certificates" | "unzip" => 5.0,
        _ => 12.0,
    }
}

/// What one stage builds, for what `COPY --from` takes from it: a binary, a jar, a publish
/// directory, bundled assets (MB).
fn product_mb(cmd: &Command, deps: Dependencies) -> Option<f64> {
    let sub = |s: &[&str]| cmd.has_any_arg(s);
    match cmd.basename() {
        "go" | "cargo" if sub(&["build"]) => Some(15.0),
        "mvn" | "mvnw" | "./mvnw" | "gradle" | "gradlew" | "./gradlew" => Some(40.0),
        "dotnet" if sub(&["publish"]) => Some(60.0),
        "npm" | "yarn" | "pnpm" if sub(&["build"]) => Some(8.0),
        "next" | "vite" | "tsc" | "webpack" => Some(8.0),
        "pip" | "pip3" if sub(&["wheel"]) => Some(deps.python as f64 * 6.0),
        "composer" if sub(&["install"]) => Some(deps.composer as f64 * 2.0),
        _ => None,
    }
}

/// What `COPY --from=<stage> <path>` brings: installed dependencies by their directory's name,
/// a single file by its extension, otherwise what the stage builds.
fn artifact_mb(path: &str, product: Option<f64>, deps: Dependencies) -> f64 {
    let name = path.trim_end_matches('/').rsplit('/').next().unwrap_or(path);
    if path.contains(".next/standalone") {
        deps.node as f64 * 1.5 + 10.0
    } else if path.contains("node_modules") {
        deps.node as f64 * 2.5 + 20.0
    } else if ["venv", "site-packages", "wheels"].iter().any(|d| path.contains(d)) {
        deps.python as f64 * 8.0
    } else if path.contains("/bundle") || path.contains("/gems") {
        deps.gems as f64 * 3.0
    } else if name == "vendor" {
        deps.composer as f64 * 2.0
    } else if name.ends_with(".jar") || name.ends_with(".war") {
        40.0
    } else if name.contains('.') && !name.starts_with('.') && name != "." {
        0.5
    } else {
        product.unwrap_or(15.0)
    }
}

/// The share of a step's time a rebuild still spends when the step has a cache mount.
const CACHE_MOUNT_REBUILD: f64 = 0.3;

/// Estimates the image built from `file` (with the project's files when known).
pub fn estimate(
    file: &Dockerfile,
    analysis: &Analysis,
    project: Option<&Project>,
    policy_violations: usize,
) -> Estimate {
    let deps = Dependencies::of(project);
    let context_mb = project.map_or(20.0, |p| p.context_bytes as f64 / 1e6);
    // Per stage: size added on top of its base, step costs, and the index of its first source copy.
    let mut stage_mb = vec![0.0; analysis.stages.len()];
    let mut products: Vec<Option<f64>> = vec![None; analysis.stages.len()];
    let mut stage_layers = vec![0u32; analysis.stages.len()];
    let mut breakdown: Vec<Vec<(String, f64)>> = vec![Vec::new(); analysis.stages.len()];
    let mut cold = 0.0;
    let mut rebuild = 0.0;
    let mut steps = 0;
    for (index, stage) in analysis.stages.iter().enumerate() {
        let (base_mb, _) = match &stage.base {
            Base::Image { reference } => base_image(reference),
            _ => (0.0, 0),
        };
        cold += base_mb / 50.0; // pulled at ~50 MB/s
        let mut after_source = false;
        for (at, instruction) in file.instructions[stage.instructions.clone()].iter().enumerate() {
            let cost = match &instruction.kind {
                InstructionKind::Run(_) => {
                    analysis.scripts.get(stage.instructions.start + at).map_or(Cost::default(), |script| {
                        for product in script.commands.iter().filter_map(|c| product_mb(c, deps)) {
                            products[index] = Some(products[index].unwrap_or(0.0).max(product));
                        }
                        script
                            .commands
                            .iter()
                            .map(|c| command_cost(c, deps))
                            .fold(Cost::default(), |a, c| Cost { mb: a.mb + c.mb, seconds: a.seconds + c.seconds })
                    })
                }
                InstructionKind::Copy(list) | InstructionKind::Add(list) => {
                    if let Some(from) = instruction.flag_value("from") {
                        let product = source_stage(analysis, from).and_then(|i| products[i]);
                        let mb: f64 = list.sources().iter().map(|s| artifact_mb(&s.raw, product, deps)).sum();
                        Cost { mb, seconds: 1.0 + mb / 200.0 }
                    } else {
                        let whole = list.sources().iter().any(|s| matches!(s.raw.as_str(), "." | "./" | "*"));
                        let mb = if whole { context_mb } else { 0.1 * list.sources().len() as f64 };
                        if whole || list.sources().iter().any(|s| s.raw.ends_with('/') || !s.raw.contains('.')) {
                            after_source = true;
                        }
                        Cost { mb, seconds: 1.0 + mb / 200.0 }
                    }
                }
                _ => continue,
            };
            steps += 1;
            stage_layers[index] += 1;
            stage_mb[index] += cost.mb;
            cold += cost.seconds;
            if after_source {
                // A cache mount keeps downloads and incremental build state between builds.
                let cached = instruction.mounts().any(|m| m.kind == "cache");
                rebuild += if cached { cost.seconds * CACHE_MOUNT_REBUILD } else { cost.seconds };
            }
            if cost.mb.abs() >= 1.0 {
                breakdown[index].push((format!("line {}: {}", instruction.line(), summary(instruction)), cost.mb));
            }
        }
    }
    // The final image: its base chain and the layers of every stage it is built on.
    let (mut image_mb, mut layers) = (0.0, 0);
    let mut parts = Vec::new();
    let mut stage = analysis.stages.len().checked_sub(1);
    while let Some(index) = stage {
        image_mb += stage_mb[index];
        layers += stage_layers[index];
        parts.extend(breakdown[index].iter().cloned());
        stage = match &analysis.stages[index].base {
            Base::Stage { index } => Some(*index),
            Base::Image { reference } => {
                let (mb, base_layers) = base_image(reference);
                image_mb += mb;
                layers += base_layers;
                parts.push((format!("base image {reference}"), mb));
                None
            }
            _ => None,
        };
    }
    parts.sort_by(|a, b| b.1.total_cmp(&a.1));
    let round = |x: f64| (x * 10.0).round() / 10.0;
    Estimate {
        source: "estimate",
        image_mb: round(image_mb.max(0.0)),
        layers,
        build_steps: steps,
        build_seconds: round(cold),
        rebuild_seconds: round(rebuild),
        cache_friendliness: if cold > 0.0 { ((1.0 - rebuild / cold) * 1000.0).round() / 1000.0 } else { 1.0 },
        policy_violations,
        breakdown: parts.into_iter().map(|(what, mb)| (what, round(mb))).collect(),
    }
}

/// The stage `--from=<name or index>` names, if it is one of this file's.
fn source_stage(analysis: &Analysis, from: &str) -> Option<usize> {
    let name = from.to_ascii_lowercase();
    analysis.stages.iter().position(|s| s.name.as_deref() == Some(name.as_str())).or_else(|| from.parse().ok())
}

fn summary(instruction: &crate::syntax::Instruction) -> String {
    let text = instruction.to_string();
    if text.chars().count() > 60 { format!("{}…", text.chars().take(60).collect::<String>()) } else { text }
}
