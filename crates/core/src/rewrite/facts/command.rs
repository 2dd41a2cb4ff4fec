//! The start command: the original CMD/ENTRYPOINT with the catalog's rewrites applied, or
//! package.json's when there is none.

use serde_json::Value;

use crate::analysis::{Analysis, Form, Stack, is_package_install, script_of, unwrap_init};
use crate::catalog::{Catalog, RewriteAction, RewriteWhen};
use crate::project::Project;
use crate::shell::{Command, parse_script};

/// The start command, from the original CMD/ENTRYPOINT with the catalog's rewrites applied:
/// (argument vector, ids of the rewrites applied).
pub(super) fn start_command(
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
pub(super) fn package_start(project: &Project) -> Option<Vec<String>> {
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
    fn shell_words() {
        assert_eq!(shell_join(&["echo".into(), "a b".into(), "it's".into()]), r"echo 'a b' 'it'\''s'");
        assert_eq!(shell_join(&["--port".into(), "$PORT".into()]), r#"--port "$PORT""#);
    }
}
