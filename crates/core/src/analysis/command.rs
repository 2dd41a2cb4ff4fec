//! What the container runs: the final stage's ENTRYPOINT and CMD combined as Docker combines
//! them, and what that command line does at start-up.

use serde::Serialize;

use super::is_posix_shell;
use super::stages::Stage;
use crate::shell::{Command, Operator, parse_script};
use crate::syntax::{Arguments, Dockerfile, InstructionKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Form {
    Exec,
    Shell,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommandAnalysis {
    /// The instruction that decides the program: ENTRYPOINT if set, else CMD.
    pub keyword: &'static str,
    pub line: u32,
    pub form: Form,
    /// The argument vector Docker starts (`/bin/sh -c …` for shell form).
    pub argv: Vec<String>,
    /// The program that ends up as PID 1 once shells and init wrappers are looked through.
    pub program: Option<String>,
    /// Exec form that starts a shell with `-c` (`["sh", "-c", "…"]`).
    pub shell_wrapper: bool,
    /// A shell script that hands PID 1 over with `exec`.
    pub uses_exec: bool,
    /// A shell script chaining commands with `&&`, `||` or `;`.
    pub inline_chain: bool,
    /// Scripts the command runs (`./entrypoint.sh`, `/docker-entrypoint.sh`).
    pub scripts: Vec<String>,
    /// Package installs done at every container start.
    pub runtime_installs: Vec<String>,
    /// Database migrations run at start-up.
    pub migrations: Vec<String>,
    /// Processes sent to the background (`&`, `nohup`, `service … start`).
    pub background: Vec<String>,
}

/// Init programs and wrappers whose arguments name the real program, and how many positional
/// arguments of their own (a user, a directory) come before it.
const WRAPPERS: &[(&str, usize)] = &[
    ("tini", 0),
    ("dumb-init", 0),
    ("docker-init", 0),
    ("exec", 0),
    ("nohup", 0),
    ("env", 0),
    ("gosu", 1),
    ("su-exec", 1),
    ("chroot", 1),
    ("s6-setuidgid", 1),
];

/// The argument vector once init wrappers (`tini --`, `gosu app`, `env A=1`) are looked through.
pub(crate) fn unwrap(argv: &[String]) -> &[String] {
    let mut rest = argv;
    while let Some((first, tail)) = rest.split_first() {
        let name = first.rsplit('/').next().unwrap_or(first);
        let Some(&(_, positional)) = WRAPPERS.iter().find(|(w, _)| *w == name) else { break };
        let options = tail.iter().take_while(|a| a.starts_with('-') || a.contains('=')).count();
        rest = tail.get(options..).unwrap_or_default();
        rest = rest.get(positional..).unwrap_or_default();
    }
    rest
}

fn basename(word: &str) -> String {
    word.rsplit('/').next().unwrap_or(word).to_owned()
}

/// Analyses the command of the final stage; `None` when no stage sets one.
pub(crate) fn analyze(file: &Dockerfile, stages: &[Stage]) -> Option<CommandAnalysis> {
    let stage = stages.last()?;
    let arguments = |index: Option<usize>| match index.map(|i| &file.instructions[i].kind) {
        Some(InstructionKind::Cmd(a) | InstructionKind::Entrypoint(a)) => Some(a),
        _ => None,
    };
    let entrypoint = arguments(stage.entrypoint);
    let cmd = arguments(stage.cmd);
    let (keyword, index, decisive) = match (entrypoint, cmd) {
        (Some(e), _) => ("ENTRYPOINT", stage.entrypoint?, e),
        (None, Some(c)) => ("CMD", stage.cmd?, c),
        (None, None) => return None,
    };
    let as_argv = |a: &Arguments| match a {
        Arguments::Exec { args, .. } => args.clone(),
        Arguments::Shell { text, .. } => vec!["/bin/sh".into(), "-c".into(), text.clone()],
    };
    let mut argv = as_argv(decisive);
    if let (Some(Arguments::Exec { .. }), Some(cmd)) = (entrypoint, cmd) {
        argv.extend(as_argv(cmd));
    }
    let form = if decisive.is_exec() { Form::Exec } else { Form::Shell };
    let script = script_of(&argv);
    let shell_wrapper = form == Form::Exec && script.is_some();
    let mut analysis = CommandAnalysis {
        keyword,
        line: file.instructions[index].line(),
        form,
        program: None,
        shell_wrapper,
        uses_exec: false,
        inline_chain: false,
        scripts: Vec::new(),
        runtime_installs: Vec::new(),
        migrations: Vec::new(),
        background: Vec::new(),
        argv,
    };
    if let Some(script) = script {
        analyze_script(&mut analysis, &script);
    } else {
        let words = unwrap(&analysis.argv);
        analysis.program = words.first().map(|w| basename(w));
        analysis.scripts = words.iter().filter(|w| is_script_path(w)).cloned().collect();
    }
    Some(analysis)
}

/// The script a command runs through a shell, behind init wrappers and nested `sh -c` calls
/// (a shell-form `CMD sh -c "…"` runs `/bin/sh -c 'sh -c "…"'`): the innermost one.
pub(crate) fn script_of(argv: &[String]) -> Option<String> {
    let mut script = shell_script(unwrap(argv))?.to_owned();
    loop {
        let parsed = parse_script(&script);
        let [only] = parsed.commands.as_slice() else { break };
        let words: Vec<String> = std::iter::once(only.name.clone()).chain(only.args.iter().cloned()).collect();
        match shell_script(unwrap(&words)) {
            Some(inner) => inner.clone_into(&mut script),
            None => break,
        }
    }
    Some(script)
}

/// The script of `sh -c '<script>'` (also `bash -lc`, `/bin/sh -ec` …).
fn shell_script(argv: &[String]) -> Option<&str> {
    let (program, rest) = argv.split_first()?;
    if !is_posix_shell(program) {
        return None;
    }
    let flag = rest.iter().position(|a| a.starts_with('-') && !a.starts_with("--") && a.contains('c'))?;
    rest.get(flag + 1).map(String::as_str)
}

fn analyze_script(analysis: &mut CommandAnalysis, text: &str) {
    let script = parse_script(text);
    analysis.inline_chain =
        script.operators.iter().any(|op| matches!(op, Operator::And | Operator::Or | Operator::Sequence));
    analysis.uses_exec = script.named("exec").next().is_some();
    if script.operators.contains(&Operator::Background) {
        analysis.background.push("a command ends in `&`".into());
    }
    for cmd in &script.commands {
        let line = describe(cmd);
        if is_package_install(cmd) {
            analysis.runtime_installs.push(line.clone());
        }
        if is_migration(cmd) {
            analysis.migrations.push(line.clone());
        }
        if matches!(cmd.basename(), "nohup" | "disown") || (cmd.name == "service" && cmd.has_arg("start")) {
            analysis.background.push(line.clone());
        }
        if is_script_path(&cmd.name)
            || (is_posix_shell(&cmd.name) && cmd.args.first().is_some_and(|a| is_script_path(a)))
        {
            analysis.scripts.push(if is_script_path(&cmd.name) { cmd.name.clone() } else { cmd.args[0].clone() });
        }
    }
    let last = script.named("exec").last().or(script.commands.last());
    let words: Vec<String> =
        last.map(|c| std::iter::once(c.name.clone()).chain(c.args.iter().cloned()).collect()).unwrap_or_default();
    analysis.program = unwrap(&words).first().map(|w| basename(w));
}

fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.name.as_str()).chain(cmd.args.iter().map(String::as_str)).collect::<Vec<_>>().join(" ")
}

fn is_script_path(word: &str) -> bool {
    word.ends_with(".sh") || word.starts_with("./") || word.contains("docker-entrypoint")
}

/// Installs packages: system package managers and language ones.
pub fn is_package_install(cmd: &Command) -> bool {
    let name = cmd.basename();
    let sub = |s: &[&str]| cmd.has_any_arg(s);
    match name {
        "apt-get" | "apt" | "yum" | "dnf" | "microdnf" | "zypper" => sub(&["install", "in"]),
        "apk" => sub(&["add"]),
        "npm" | "pnpm" => sub(&["install", "i", "ci", "add"]),
        "yarn" => sub(&["install", "add"]) || cmd.args.is_empty(),
        "gem" | "composer" | "poetry" | "bundle" | "bundler" => sub(&["install"]),
        "go" => sub(&["get", "install"]),
        "uv" => sub(&["sync", "add"]) || cmd.args.windows(2).any(|w| w[0] == "pip" && w[1] == "install"),
        n if n.starts_with("pip") => sub(&["install"]),
        n if n.starts_with("python") => cmd.args.windows(3).any(|w| w == ["-m", "pip", "install"]),
        _ => false,
    }
}

/// Runs database migrations.
pub fn is_migration(cmd: &Command) -> bool {
    let args = cmd.args.join(" ");
    let name = cmd.basename();
    (name.starts_with("python") && args.contains("manage.py") && args.contains("migrate"))
        || (name == "manage.py" || name == "./manage.py") && cmd.has_arg("migrate")
        || name == "alembic" && cmd.has_arg("upgrade")
        || name == "flask" && cmd.has_arg("db") && cmd.has_arg("upgrade")
        || matches!(name, "rails" | "rake" | "bundle")
            && cmd.args.iter().any(|a| a.starts_with("db:migrate") || a == "db:prepare")
        || args.contains("prisma migrate deploy")
        || args.contains("sequelize") && args.contains("db:migrate")
        || name == "knex" && cmd.args.iter().any(|a| a.starts_with("migrate"))
        || name == "flyway" && cmd.has_arg("migrate")
        || name == "liquibase" && cmd.has_arg("update")
        || name == "php" && cmd.has_arg("artisan") && cmd.args.iter().any(|a| a.starts_with("migrate"))
        || name == "dotnet" && args.contains("ef database update")
        || name == "goose" && cmd.has_arg("up")
        || name == "migrate" && cmd.has_arg("up")
}
