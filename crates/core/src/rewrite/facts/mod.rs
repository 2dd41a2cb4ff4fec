//! What rules are matched against and rendered with: the project's features, lockfiles and base
//! images, and the parameter values found in it, each with where it was found. One module per
//! stack finds that stack's values; the start command has its own; the helpers they share
//! (versions, base image tags, manifest values) are here.

mod command;
mod dotnet;
mod go;
mod java;
mod node;
mod php;
mod python;
mod ruby;
mod rust;
mod static_site;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use crate::analysis::{Analysis, Base, Form, Framework, PackageManager, Stack, script_of};
use crate::catalog::Catalog;
use crate::project::{LOCKFILES, Project};
use crate::shell::parse_script;

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
        f.detect_go(project, analysis);
        f.detect_rust(project, analysis);
        f.detect_ruby(project, analysis);
        f.detect_php(project, analysis);
        f.detect_dotnet(project);
        f.detect_static_site(project);
        if let Some((argv, applied)) = command::start_command(project, analysis, catalog, f.stack) {
            let source = match applied.as_slice() {
                [] => "the original CMD/ENTRYPOINT".to_owned(),
                ids => format!("the original CMD/ENTRYPOINT, rewritten by {}", ids.join(", ")),
            };
            f.set("start_command", argv, source);
            f.rewrites = applied;
        } else if let Some(argv) = command::package_start(project) {
            f.set("start_command", argv, "package.json scripts.start or main");
        }
        f
    }
}

/// The feature of projects whose dependencies need shared libraries a slim runtime lacks.
const SYSTEM_LIBS: &str = "native:system-libs";

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
