//! The rules catalog, `patterns/rules.yml` (schema_version 1): the rules that write candidate
//! Dockerfiles, the CMD rewrites they apply, and what the model is told (`llm_assist`).
//!
//! Loading validates everything and reports every problem with its YAML path and line.

mod promotion;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::analysis::Stack;
use crate::lint::find_rule;
use crate::{Error, Result};
use codi_yaml::{self as yaml, Fields, Node, Problem, Reader, Value};

pub use promotion::{append_promotions, rules_version, with_promotion};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Catalog {
    pub schema_version: u32,
    pub rules: Vec<RuleSpec>,
    pub cmd_rewrites: Vec<CmdRewrite>,
    pub llm_assist: LlmAssist,
}

/// One rule: when it applies, the template it renders and with which parameters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleSpec {
    pub id: String,
    pub stack: Stack,
    pub name: String,
    pub description: String,
    pub predicates: Predicates,
    /// A file in the templates directory (`<id>.Dockerfile.j2`).
    pub template: String,
    pub parameters: Vec<Parameter>,
    /// Lint codes (DL…, CD…) of the smells the rule's output fixes.
    pub fixes: Vec<String>,
    pub rationale: String,
}

/// All conditions must hold; an empty list is no condition.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Predicates {
    /// Project files, by name or simple pattern (`*.csproj`, `requirements*.txt`).
    pub files_any: Vec<String>,
    pub files_all: Vec<String>,
    pub lockfiles_any: Vec<String>,
    pub lockfiles_all: Vec<String>,
    /// Facts about the project and its Dockerfile (see [`FEATURES`]).
    pub features_any: Vec<String>,
    pub features_all: Vec<String>,
    pub features_none: Vec<String>,
    /// Families of the original's base images (`node`, `python`); any when empty.
    pub base_images: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    String,
    Integer,
    Boolean,
    /// A non-empty list of strings: a command's argument vector.
    Argv,
    /// A list of strings, possibly empty (extensions to enable, files to copy).
    List,
    /// A relative path (no `..`, no leading `/`).
    Path,
    /// A TCP port an unprivileged process can listen on (1024–65535).
    Port,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Parameter {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ParamType,
    pub default: serde_json::Value,
    pub description: String,
}

/// When a CMD rewrite applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RewriteWhen {
    /// The command is in shell form.
    ShellForm,
    /// The command is `sh -c "…"` in exec form.
    ShellWrapper,
    /// The command installs packages at start-up.
    RuntimeInstall,
    /// The command starts a package manager script (`npm start`, `yarn start`).
    PackageManagerStart,
    /// The command runs through a project's environment runner (`poetry run`, `uv run`,
    /// `pipenv run`) or from a virtual environment's bin/ directory.
    EnvironmentRunner,
}

/// What a CMD rewrite does to the start command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RewriteAction {
    /// Split a single shell-form command into an exec-form argument vector.
    ExecForm,
    /// Keep the chain but `exec` its last command.
    ExecLast,
    /// Drop the installs from the command: the template installs in a build stage.
    InstallInBuild,
    /// Run the script's own command instead of the package manager, or the program itself
    /// instead of the environment runner.
    RunDirectly,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CmdRewrite {
    pub id: String,
    /// Stacks it applies to; empty means all.
    pub stacks: Vec<Stack>,
    pub when: RewriteWhen,
    pub action: RewriteAction,
    pub rationale: String,
}

/// The weights of the ranking gold: each candidate's estimated deltas against the original.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RankingWeights {
    pub size_reduction: f64,
    pub layer_reduction: f64,
    pub build_time: f64,
    pub policy_compliance: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LlmAssist {
    pub ranking_weights: RankingWeights,
    /// Per stack, the project facts worth showing the model.
    pub context_signals: BTreeMap<String, Vec<String>>,
    /// Adapters promoted for rules (appended by `codi promote`).
    pub promotions: Vec<Promotion>,
    pub compatibility: Vec<String>,
}

/// An adapter promoted for a rule after it beat the baseline in evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Promotion {
    pub id: String,
    pub rule_id: String,
    pub adapter_version: String,
    pub promoted_at: String,
    /// eval_run, eval_report, sample_size, win_rate, …
    pub metrics: serde_json::Value,
}

/// Facts a predicate can ask about; `framework:<name>` and `package-manager:<name>` come from the
/// analyzer's vocabulary.
pub const FEATURES: &[&str] = &[
    "multi-stage",
    "single-stage",
    "cmd:none",
    "cmd:shell-form",
    "cmd:shell-wrapper",
    "cmd:runtime-install",
    "cmd:migrations",
    "script:build",
    "script:start",
    "nextjs:standalone",
    "static:plain",
    "maven:runnable-jar",
    "gradle:application",
    "rust:binary",
    "native:system-libs",
    "php:fpm",
    "php:apache",
];

fn known_feature(feature: &str) -> bool {
    use crate::analysis::{Framework, PackageManager};
    FEATURES.contains(&feature)
        || feature.strip_prefix("framework:").is_some_and(|f| Framework::ALL.iter().any(|x| x.as_str() == f))
        || feature.strip_prefix("package-manager:").is_some_and(|m| PackageManager::ALL.iter().any(|x| x.as_str() == m))
}

impl Catalog {
    /// Loads and validates `rules.yml`; with `templates`, also checks that every template exists.
    pub fn load(path: &Path, templates: Option<&Path>) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
        Self::parse(&text, templates).map_err(|problems| Error::Catalog { path: path.to_owned(), problems })
    }

    /// Parses and validates catalog text; every problem found is returned.
    pub fn parse(text: &str, templates: Option<&Path>) -> std::result::Result<Self, Vec<Problem>> {
        let root = yaml::parse(text).map_err(|p| vec![p])?;
        let mut r = Reader::default();
        let catalog = read_catalog(&mut r, &root, templates);
        match catalog {
            Some(catalog) if r.problems.is_empty() => Ok(catalog),
            _ => {
                r.problems.sort_by_key(|p| (p.line, p.column));
                Err(r.problems)
            }
        }
    }

    pub fn rule(&self, id: &str) -> Option<&RuleSpec> {
        self.rules.iter().find(|r| r.id == id)
    }
}

fn read_catalog(r: &mut Reader, root: &Node, templates: Option<&Path>) -> Option<Catalog> {
    let f = r.mapping(
        "$",
        root,
        &["schema_version", "rules", "cmd_rewrites", "llm_assist"],
        &["schema_version", "rules", "llm_assist"],
    )?;
    let version = f.get("schema_version").and_then(|n| r.number(&f.path_of("schema_version"), n));
    if let (Some(v), Some(node)) = (version, f.get("schema_version"))
        && (v - 1.0).abs() > f64::EPSILON
    {
        r.problem(&f.path_of("schema_version"), node, format!("unsupported schema_version {v} (this codi reads 1)"));
    }
    let rules = f
        .get("rules")
        .map(|n| r.list(&f.path_of("rules"), n, |r, p, n| read_rule(r, p, n, templates)))
        .unwrap_or_default();
    if let Some(Value::Sequence(nodes)) = f.get("rules").map(|n| &n.value) {
        let mut seen: Vec<&str> = Vec::new();
        for (i, node) in nodes.iter().enumerate() {
            let Some(id) = node.scalar_at("id") else { continue };
            if seen.contains(&id) {
                r.problem(&format!("rules[{i}].id"), node, format!("duplicate rule id `{id}`"));
            }
            seen.push(id);
        }
    }
    let cmd_rewrites =
        f.get("cmd_rewrites").map(|n| r.list(&f.path_of("cmd_rewrites"), n, read_rewrite)).unwrap_or_default();
    let llm_assist = f.get("llm_assist").and_then(|n| read_llm_assist(r, &f.path_of("llm_assist"), n))?;
    Some(Catalog { schema_version: 1, rules, cmd_rewrites, llm_assist })
}

fn text(r: &mut Reader, f: &Fields<'_>, key: &str) -> Option<String> {
    f.get(key).and_then(|n| r.string(&f.path_of(key), n))
}

fn texts(r: &mut Reader, f: &Fields<'_>, key: &str) -> Vec<String> {
    f.get(key).map(|n| r.strings(&f.path_of(key), n)).unwrap_or_default()
}

fn stack(r: &mut Reader, path: &str, node: &Node) -> Option<Stack> {
    let name = r.string(path, node)?;
    let found = Stack::ALL.iter().copied().find(|s| s.as_str() == name);
    if found.is_none() {
        let known: Vec<&str> = Stack::ALL.iter().map(|s| s.as_str()).collect();
        r.problem(path, node, format!("unknown stack `{name}` (expected one of: {})", known.join(", ")));
    }
    found
}

fn read_rule(r: &mut Reader, path: &str, node: &Node, templates: Option<&Path>) -> Option<RuleSpec> {
    const KEYS: &[&str] =
        &["id", "stack", "name", "description", "predicates", "template", "parameters", "fixes", "rationale"];
    let f = r.mapping(path, node, KEYS, &["id", "stack", "name", "description", "template", "rationale"])?;
    let id = text(r, &f, "id");
    if let (Some(id), Some(n)) = (&id, f.get("id"))
        && !id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        r.problem(&f.path_of("id"), n, format!("rule id `{id}` must be kebab-case"));
    }
    let stack = f.get("stack").and_then(|n| stack(r, &f.path_of("stack"), n));
    let template = text(r, &f, "template");
    if let (Some(dir), Some(name), Some(n)) = (templates, &template, f.get("template"))
        && !dir.join(name).is_file()
    {
        r.problem(&f.path_of("template"), n, format!("template `{}` not found", dir.join(name).display()));
    }
    let predicates = f.get("predicates").map(|n| read_predicates(r, &f.path_of("predicates"), n)).unwrap_or_default();
    let parameters =
        f.get("parameters").map(|n| r.list(&f.path_of("parameters"), n, read_parameter)).unwrap_or_default();
    let fixes = texts(r, &f, "fixes");
    if let Some(n) = f.get("fixes") {
        for code in fixes.iter().filter(|c| find_rule(c).is_none()) {
            r.problem(&f.path_of("fixes"), n, format!("unknown lint code `{code}`"));
        }
    }
    Some(RuleSpec {
        id: id?,
        stack: stack?,
        name: text(r, &f, "name")?,
        description: text(r, &f, "description")?,
        predicates,
        template: template?,
        parameters,
        fixes,
        rationale: text(r, &f, "rationale")?,
    })
}

fn read_predicates(r: &mut Reader, path: &str, node: &Node) -> Predicates {
    const KEYS: &[&str] = &[
        "files_any",
        "files_all",
        "lockfiles_any",
        "lockfiles_all",
        "features_any",
        "features_all",
        "features_none",
        "base_images",
    ];
    let Some(f) = r.mapping(path, node, KEYS, &[]) else { return Predicates::default() };
    Predicates {
        files_any: texts(r, &f, "files_any"),
        files_all: texts(r, &f, "files_all"),
        lockfiles_any: texts(r, &f, "lockfiles_any"),
        lockfiles_all: texts(r, &f, "lockfiles_all"),
        features_any: features(r, &f, "features_any"),
        features_all: features(r, &f, "features_all"),
        features_none: features(r, &f, "features_none"),
        base_images: texts(r, &f, "base_images"),
    }
}

fn features(r: &mut Reader, f: &Fields<'_>, key: &str) -> Vec<String> {
    let list = texts(r, f, key);
    if let Some(n) = f.get(key) {
        for feature in list.iter().filter(|x| !known_feature(x)) {
            r.problem(&f.path_of(key), n, format!("unknown feature `{feature}`"));
        }
    }
    list
}

fn read_parameter(r: &mut Reader, path: &str, node: &Node) -> Option<Parameter> {
    let f = r.mapping(
        path,
        node,
        &["name", "type", "default", "description"],
        &["name", "type", "default", "description"],
    )?;
    let kind = match text(r, &f, "type").as_deref() {
        Some("string") => Some(ParamType::String),
        Some("integer") => Some(ParamType::Integer),
        Some("boolean") => Some(ParamType::Boolean),
        Some("argv") => Some(ParamType::Argv),
        Some("list") => Some(ParamType::List),
        Some("path") => Some(ParamType::Path),
        Some("port") => Some(ParamType::Port),
        Some(other) => {
            let n = f.get("type").unwrap_or(node);
            r.problem(
                &f.path_of("type"),
                n,
                format!("unknown type `{other}` (string, integer, boolean, argv, list, path, port)"),
            );
            None
        }
        None => None,
    };
    let default = match (kind, f.get("default")) {
        (Some(kind), Some(n)) => typed_value(r, &f.path_of("default"), n, kind),
        _ => None,
    };
    Some(Parameter {
        name: text(r, &f, "name")?,
        kind: kind?,
        default: default?,
        description: text(r, &f, "description")?,
    })
}

/// A YAML value checked against a parameter type.
fn typed_value(r: &mut Reader, path: &str, node: &Node, kind: ParamType) -> Option<serde_json::Value> {
    match kind {
        ParamType::String => r.string(path, node).map(serde_json::Value::from),
        ParamType::Path => {
            let value = r.string(path, node)?;
            if value.starts_with('/') || value.split('/').any(|c| c == "..") {
                r.problem(path, node, format!("`{value}` must be a relative path inside the project"));
                return None;
            }
            Some(value.into())
        }
        ParamType::Integer | ParamType::Port => {
            let n = r.number(path, node)?;
            if n.fract() != 0.0 || n < 0.0 {
                r.problem(path, node, format!("expected a non-negative integer, found {n}"));
                return None;
            }
            if kind == ParamType::Port && !(1024.0..=65535.0).contains(&n) {
                r.problem(
                    path,
                    node,
                    format!("port {n} is not one an unprivileged process can listen on (1024–65535)"),
                );
                return None;
            }
            // Whole and non-negative, checked above.
            #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
            Some(serde_json::Value::from(n as u64))
        }
        ParamType::Boolean => match &node.value {
            Value::Scalar(t, false) if t == "true" || t == "false" => Some((t == "true").into()),
            _ => {
                r.problem(path, node, "expected true or false");
                None
            }
        },
        ParamType::Argv => {
            let argv = r.strings(path, node);
            if argv.is_empty() {
                r.problem(path, node, "expected a non-empty list of strings");
                return None;
            }
            Some(argv.into())
        }
        ParamType::List => Some(r.strings(path, node).into()),
    }
}

fn read_rewrite(r: &mut Reader, path: &str, node: &Node) -> Option<CmdRewrite> {
    let f = r.mapping(
        path,
        node,
        &["id", "stacks", "when", "action", "rationale"],
        &["id", "when", "action", "rationale"],
    )?;
    let stacks = f.get("stacks").map(|n| r.list(&f.path_of("stacks"), n, stack)).unwrap_or_default();
    let when = match text(r, &f, "when").as_deref() {
        Some("shell-form") => Some(RewriteWhen::ShellForm),
        Some("shell-wrapper") => Some(RewriteWhen::ShellWrapper),
        Some("runtime-install") => Some(RewriteWhen::RuntimeInstall),
        Some("package-manager-start") => Some(RewriteWhen::PackageManagerStart),
        Some("environment-runner") => Some(RewriteWhen::EnvironmentRunner),
        Some(other) => {
            let message = format!(
                "unknown condition `{other}` (shell-form, shell-wrapper, runtime-install, package-manager-start, \
                 environment-runner)"
            );
            r.problem(&f.path_of("when"), f.get("when").unwrap_or(node), message);
            None
        }
        None => None,
    };
    let action = match text(r, &f, "action").as_deref() {
        Some("exec-form") => Some(RewriteAction::ExecForm),
        Some("exec-last") => Some(RewriteAction::ExecLast),
        Some("install-in-build") => Some(RewriteAction::InstallInBuild),
        Some("run-directly") => Some(RewriteAction::RunDirectly),
        Some(other) => {
            let message = format!("unknown action `{other}` (exec-form, exec-last, install-in-build, run-directly)");
            r.problem(&f.path_of("action"), f.get("action").unwrap_or(node), message);
            None
        }
        None => None,
    };
    Some(CmdRewrite {
        id: text(r, &f, "id")?,
        stacks,
        when: when?,
        action: action?,
        rationale: text(r, &f, "rationale")?,
    })
}

fn read_llm_assist(r: &mut Reader, path: &str, node: &Node) -> Option<LlmAssist> {
    let f = r.mapping(
        path,
        node,
        &["ranking_weights", "context_signals", "promotions", "compatibility"],
        &["ranking_weights", "context_signals", "promotions"],
    )?;
    let weights = f.get("ranking_weights").and_then(|n| read_weights(r, &f.path_of("ranking_weights"), n));
    let mut context_signals = BTreeMap::new();
    if let Some(n) = f.get("context_signals") {
        let keys: Vec<&str> = Stack::ALL.iter().map(|s| s.as_str()).collect();
        if let Some(signals) = r.mapping(&f.path_of("context_signals"), n, &keys, &[]) {
            for key in signals.keys().map(str::to_owned).collect::<Vec<_>>() {
                if let Some(list) = signals.get(&key) {
                    let values = r.strings(&signals.path_of(&key), list);
                    context_signals.insert(key, values);
                }
            }
        }
    }
    let promotions =
        f.get("promotions").map(|n| r.list(&f.path_of("promotions"), n, read_promotion)).unwrap_or_default();
    Some(LlmAssist {
        ranking_weights: weights?,
        context_signals,
        promotions,
        compatibility: texts(r, &f, "compatibility"),
    })
}

fn read_promotion(r: &mut Reader, path: &str, node: &Node) -> Option<Promotion> {
    const KEYS: &[&str] = &["id", "rule_id", "adapter_version", "promoted_at", "metrics"];
    let f = r.mapping(path, node, KEYS, KEYS)?;
    let metrics = f.get("metrics")?;
    if !matches!(metrics.value, Value::Mapping(_)) {
        r.problem(&f.path_of("metrics"), metrics, "expected a mapping of metrics");
    }
    Some(Promotion {
        id: text(r, &f, "id")?,
        rule_id: text(r, &f, "rule_id")?,
        adapter_version: text(r, &f, "adapter_version")?,
        promoted_at: text(r, &f, "promoted_at")?,
        metrics: yaml::to_json(metrics),
    })
}

fn read_weights(r: &mut Reader, path: &str, node: &Node) -> Option<RankingWeights> {
    const KEYS: &[&str] = &["size_reduction", "layer_reduction", "build_time", "policy_compliance"];
    let f = r.mapping(path, node, KEYS, KEYS)?;
    let mut values = [0.0; 4];
    let mut complete = true;
    for (i, key) in KEYS.iter().enumerate() {
        match f.get(key).and_then(|n| r.number(&f.path_of(key), n)) {
            Some(v) if (0.0..=1.0).contains(&v) => values[i] = v,
            Some(v) => {
                r.problem(&f.path_of(key), f.get(key).unwrap_or(node), format!("weight {v} is outside 0..=1"));
                complete = false;
            }
            None => complete = false,
        }
    }
    let sum: f64 = values.iter().sum();
    if complete && (sum - 1.0).abs() > 1e-6 {
        r.problem(path, node, format!("weights sum to {sum}, not 1"));
    }
    complete.then_some(RankingWeights {
        size_reduction: values[0],
        layer_reduction: values[1],
        build_time: values[2],
        policy_compliance: values[3],
    })
}

/// Where the catalog and templates live in a checkout.
pub fn default_paths(root: &Path) -> (PathBuf, PathBuf) {
    (root.join("patterns/rules.yml"), root.join("patterns/templates"))
}
