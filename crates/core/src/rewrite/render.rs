//! Rendering a rule's template with its parameters (minijinja, strict about undefined values).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use minijinja::{Environment, UndefinedBehavior};
use serde_json::{Map, Value};

use super::facts::Facts;
use crate::catalog::{Catalog, ParamType, RuleSpec};
use crate::{Error, Result};

/// The templates of a catalog, compiled.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// Compiles every rule's template from `dir`, and the partials there (`_<name>.j2`) that
    /// templates import macros from.
    pub fn load(dir: &Path, catalog: &Catalog) -> Result<Self> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .map_err(|e| Error::Template { template: String::new(), message: describe(&e) })?;
        env.set_syntax(syntax);
        env.add_filter("exec", exec);
        env.add_filter("dirname", dirname);
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| Error::Io { path, source }
        };
        let mut names: Vec<String> = catalog.rules.iter().map(|r| r.template.clone()).collect();
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let name = entry.map_err(io(dir))?.file_name().to_string_lossy().into_owned();
            if name.starts_with('_') && name.ends_with(".j2") {
                names.push(name);
            }
        }
        for name in names {
            let path = dir.join(&name);
            let source = std::fs::read_to_string(&path).map_err(io(&path))?;
            env.add_template_owned(name.clone(), source)
                .map_err(|e| Error::Template { template: name.clone(), message: describe(&e) })?;
        }
        Ok(Self { env })
    }

    /// Renders `rule` with `parameters`; a reference to anything not given is an error.
    pub fn render(&self, rule: &RuleSpec, parameters: &Map<String, Value>) -> Result<String> {
        let error = |e: minijinja::Error| Error::Template { template: rule.template.clone(), message: describe(&e) };
        let template = self.env.get_template(&rule.template).map_err(error)?;
        let context = minijinja::Value::from(minijinja::value::Serde(parameters));
        let mut text = template.render(context).map_err(error)?;
        if !text.ends_with('\n') {
            text.push('\n');
        }
        Ok(text)
    }
}

/// `{{ argv | exec }}`: an argument vector as a JSON array, for CMD and ENTRYPOINT.
fn exec(value: &minijinja::Value) -> std::result::Result<String, minijinja::Error> {
    let words: Vec<String> = value
        .try_iter()?
        .map(|v| Value::String(v.as_str().map_or_else(|| v.to_string(), str::to_owned)).to_string())
        .collect();
    Ok(format!("[{}]", words.join(", ")))
}

/// `{{ "src/Api/Api.csproj" | dirname }}` is `src/Api`; a bare file name gives `.`.
fn dirname(path: &str) -> String {
    path.rsplit_once('/').map_or_else(|| ".".to_owned(), |(dir, _)| dir.to_owned())
}

/// The error with its line and the chain of causes.
fn describe(error: &minijinja::Error) -> String {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let _ = write!(message, ": {cause}");
        source = cause.source();
    }
    message
}

/// A rule's parameter values: its defaults, replaced by the values found in the project where
/// they have the declared type. Also says where each value came from.
pub fn parameters(rule: &RuleSpec, facts: &Facts) -> (Map<String, Value>, BTreeMap<String, String>) {
    let mut values = Map::new();
    let mut sources = BTreeMap::new();
    for parameter in &rule.parameters {
        let source = || facts.sources.get(&parameter.name).cloned().unwrap_or_default();
        let (value, source) = match facts.detected.get(&parameter.name) {
            Some(value) if has_type(value, parameter.kind) => (value.clone(), source()),
            Some(value) => {
                let kind = serde_json::to_value(parameter.kind).unwrap_or_default();
                let why = format!(
                    "the rule's default: {} gave {value}, not a {}",
                    source(),
                    kind.as_str().unwrap_or("value")
                );
                (parameter.default.clone(), why)
            }
            None => (parameter.default.clone(), "the rule's default".to_owned()),
        };
        values.insert(parameter.name.clone(), value);
        sources.insert(parameter.name.clone(), source);
    }
    (values, sources)
}

fn has_type(value: &Value, kind: ParamType) -> bool {
    match kind {
        ParamType::String => value.is_string(),
        ParamType::Path => value.as_str().is_some_and(|p| !p.starts_with('/') && !p.split('/').any(|c| c == "..")),
        ParamType::Integer => value.is_u64(),
        ParamType::Port => value.as_u64().is_some_and(|p| (1024..=65535).contains(&p)),
        ParamType::Boolean => value.is_boolean(),
        ParamType::Argv => value.as_array().is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_string)),
        ParamType::List => value.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
    }
}
