//! The runtime container, `deploy/Dockerfile`. Docker is not on the test machines, so what can be
//! tested without it is: it passes codi's own linter, policy and hadolint with nothing at warning
//! or above; it is multi-stage with a small non-root runtime and no secrets; it builds the binary
//! with the command `make release` runs; and its entry, `codi serve` with the container's
//! configuration, refuses an adapter that fails verify, while its HEALTHCHECK, `codi serve
//! --check`, tells a ready server from a missing one.

mod support;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use codi_core::analysis::{ProjectFiles, analyze, secrets::find_secrets};
use codi_core::lint::{LintConfig, Severity, lint};
use codi_core::project::Project;
use codi_core::rewrite::Checked;
use codi_core::syntax::{Instruction, InstructionKind, parse};
use support::default_model;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn dockerfile() -> String {
    std::fs::read_to_string(repo().join("deploy/Dockerfile")).expect("deploy/Dockerfile")
}

/// An instruction's source text.
fn source<'t>(text: &'t str, instruction: &Instruction) -> &'t str {
    &text[instruction.span.start.offset as usize..instruction.span.end.offset as usize]
}

#[test]
fn the_image_passes_codis_linter_and_policy() {
    let text = dockerfile();
    let file = parse(&text);
    let findings = lint(&file, &LintConfig::default());
    let serious: Vec<_> = findings.iter().filter(|f| f.severity <= Severity::Warning).collect();
    assert!(serious.is_empty(), "findings at warning or above: {serious:#?}");
    let project = Project::in_memory("codi", "deploy/Dockerfile", &text, ProjectFiles::default(), 0);
    let checked = Checked::new(&text, &project);
    assert!(checked.problems().is_empty(), "policy: {:?}", checked.problems());

    let analysis = analyze(&file);
    assert!(analysis.is_multi_stage(), "the toolchain stays in the build stage");
    let runtime = analysis.final_stage().expect("a final stage");
    assert!(runtime.image.starts_with("gcr.io/distroless/cc-debian12:"), "{}", runtime.image);
    let user = runtime.user.as_deref().expect("a USER");
    let uid = user.split(':').next().expect("uid").parse::<u32>().expect("a numeric USER");
    assert!(uid > 0, "non-root: {user}");
    assert!(runtime.healthcheck, "a HEALTHCHECK");
    assert!(text.contains("HEALTHCHECK ") && text.contains(r#"CMD ["codi", "serve", "--check"]"#));
    assert!(text.contains(r#"ENTRYPOINT ["codi", "serve"]"#));
    assert_eq!(runtime.env.get("MODEL_MOUNT_PATH").map(String::as_str), Some("/models"));
    assert!(find_secrets(&text).is_empty(), "no secret in the Dockerfile");
    for instruction in &file.instructions {
        if let InstructionKind::Env(_) | InstructionKind::Arg(_) = instruction.kind {
            let upper = source(&text, instruction).to_uppercase();
            assert!(
                !["KEY", "TOKEN", "SECRET", "PASSWORD"].iter().any(|s| upper.contains(s)),
                "a secret baked in: {}",
                source(&text, instruction)
            );
        }
    }
}

#[test]
fn the_image_passes_hadolint() {
    let path = repo().join("deploy/Dockerfile");
    let output = match Command::new("hadolint").args(["--no-color", "--no-fail", "-f", "json"]).arg(&path).output() {
        Ok(output) => output,
        Err(error) => {
            assert!(std::env::var_os("CODI_REQUIRE_ORACLES").is_none(), "hadolint is required: {error}");
            eprintln!("skipping: no hadolint ({error})");
            return;
        }
    };
    let findings: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).expect("hadolint JSON");
    let serious: Vec<_> =
        findings.iter().filter(|f| matches!(f["level"].as_str(), Some("error" | "warning"))).collect();
    assert!(serious.is_empty(), "hadolint: {serious:#?}");
}

/// The recipe line of a Makefile target.
fn make_recipe(target: &str) -> String {
    let makefile = std::fs::read_to_string(repo().join("Makefile")).expect("Makefile");
    let mut lines = makefile.lines().skip_while(|l| !l.starts_with(&format!("{target}:")));
    lines.next().expect("the target");
    lines.next().expect("a recipe").trim().to_owned()
}

#[test]
fn the_image_copies_the_binary_make_release_builds() {
    let text = dockerfile();
    let file = parse(&text);
    let analysis = analyze(&file);
    let build = analysis.stages.first().expect("a build stage");
    let recipe = make_recipe("release");
    assert!(recipe.starts_with("cargo build --release"), "{recipe}");
    let run = file.instructions[build.instructions.clone()]
        .iter()
        .find(|i| matches!(i.kind, InstructionKind::Run(_)))
        .expect("the build's RUN");
    let run = source(&text, run);
    assert!(run.contains(&format!("{recipe} ")) || run.contains(&format!("{recipe}\n")), "`{recipe}` in {run}");
    // `make release` writes $CARGO_TARGET_DIR/release/codi; the stripped copy of that file is
    // what the runtime stage copies.
    let target = build.env.get("CARGO_TARGET_DIR").expect("the build names its CARGO_TARGET_DIR");
    assert!(run.contains(&format!("strip --strip-debug -o /out/codi {target}/release/codi")), "{run}");
    assert!(text.contains("COPY --from=build /out/codi /usr/local/bin/codi"));
}

/// A serve configuration for this machine: the container's, with the image's paths (`/app`,
/// `/models`) mapped under `dir` as the container's mounts would be.
fn container_config(dir: &Path) -> PathBuf {
    let yaml = std::fs::read_to_string(repo().join("deploy/serve.yaml")).expect("deploy/serve.yaml");
    let models = dir.join("models");
    std::fs::create_dir_all(models.join("base")).expect("models/base");
    std::fs::create_dir_all(dir.join("metadata")).expect("metadata");
    let yaml = yaml
        .replace("/app/patterns", &repo().join("patterns").display().to_string())
        .replace("/app/metadata", &dir.join("metadata").display().to_string())
        .replace("/models", &models.display().to_string());
    let path = dir.join("serve.yaml");
    std::fs::write(&path, yaml).expect("serve.yaml");
    path
}

/// `codi serve` as the container starts it, on a free loopback port, with `env` added.
fn start_server(dir: &Path, config: &Path, env: &[(&str, &Path)]) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_codi"));
    command
        .args(["serve", "--config"])
        .arg(config)
        .args(["--host", "127.0.0.1", "--port", "0"])
        .current_dir(dir)
        .env("MODEL_MOUNT_PATH", dir.join("models"))
        .env_remove("ADAPTER_PATH")
        .env_remove("LLM_ENABLED")
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    command.spawn().expect("codi serve starts")
}

#[test]
fn the_entry_refuses_an_adapter_that_fails_verify() {
    let Some(model) = default_model() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let config = container_config(dir.path());
    std::os::unix::fs::symlink(&model, dir.path().join("models/base").join(model.file_name().expect("name")))
        .expect("the model, mounted");
    let adapter = dir.path().join("models/adapters/broken");
    std::fs::create_dir_all(&adapter).expect("adapter dir");
    std::fs::write(adapter.join("adapter_config.json"), r#"{"peft_type": "LORA"}"#).expect("config");
    std::fs::write(adapter.join("adapter_model.safetensors"), b"not safetensors").expect("weights");

    let mut server = start_server(dir.path(), &config, &[("ADAPTER_PATH", Path::new("adapters/broken"))]);
    let deadline = Instant::now() + Duration::from_mins(2);
    let status = loop {
        if let Some(status) = server.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = server.kill();
            panic!("codi serve kept running with an adapter that fails verify");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut server.stderr.take().expect("stderr"), &mut stderr).expect("stderr");
    assert_eq!(status.code(), Some(2), "codi's exit status for an error: {stderr}");
    assert!(stderr.contains("adapters/broken refused"), "{stderr}");
}

#[test]
fn the_healthcheck_tells_a_ready_server_from_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = container_config(dir.path());
    let check = |port: u16| {
        Command::new(env!("CARGO_BIN_EXE_codi"))
            .args(["serve", "--check", "--config"])
            .arg(&config)
            .args(["--port", &port.to_string()])
            .current_dir(dir.path())
            .output()
            .expect("codi serve --check runs")
    };
    // Nothing listens on a port just released.
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let none = check(free);
    assert_eq!(none.status.code(), Some(1), "no server: unhealthy");

    // The rules-only server (no model mounted here) answers ready.
    let mut server = start_server(dir.path(), &config, &[("LLM_ENABLED", Path::new("false"))]);
    let mut lines = BufReader::new(server.stderr.take().expect("stderr")).lines();
    let announced = lines.next().expect("a first line").expect("UTF-8");
    let port: u16 = announced
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("the port in {announced:?}"));
    let deadline = Instant::now() + Duration::from_mins(1);
    let ready = loop {
        let out = check(port);
        if out.status.success() || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let _ = server.kill();
    let _ = server.wait();
    assert!(ready.status.success(), "{}", String::from_utf8_lossy(&ready.stderr));
    let said = String::from_utf8_lossy(&ready.stdout);
    assert!(said.contains(&format!("http://127.0.0.1:{port} ok")) && said.contains("mode heuristic"), "{said}");
}
