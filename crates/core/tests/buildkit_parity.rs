//! Differential test against BuildKit's own parser (moby/buildkit, through the PyPI package
//! `dockerfile`): for every corpus file and every parser fixture, each instruction must have the
//! same keyword, lines, flags, arguments and heredocs as BuildKit gives it.
//!
//! The package vendors BuildKit v0.12.5. A newer BuildKit's parse of the parser fixtures is
//! recorded in `tests/oracle/buildkit-master.jsonl` (see `tests/oracle/record_buildkit`): it
//! also gives each heredoc's expand and chomp and the parser's warnings, and covers
//! `fixtures/parser/buildkit-0.22/`, syntax that v0.12.5 does not read.

mod support;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use codi_core::syntax::{Arguments, DiagnosticKind, Dockerfile, Healthcheck, Instruction, InstructionKind, parse};
use serde_json::{Value, json};

const ORACLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oracle/buildkit_parse.py");
const RECORDED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oracle/buildkit-master.jsonl");

/// Our instruction in the shape of BuildKit's parse node.
fn buildkit_view(instruction: &Instruction) -> Value {
    let (trigger, sub_cmd) = match &instruction.kind {
        InstructionKind::Onbuild(trigger) => (trigger.as_ref(), Some(trigger.keyword())),
        _ => (instruction, None),
    };
    let words = |words: &[codi_core::syntax::Word]| words.iter().map(|w| json!(w.raw)).collect::<Vec<_>>();
    let arguments = |a: &Arguments| match a {
        Arguments::Exec { args, .. } => (true, args.iter().map(|s| json!(s)).collect()),
        Arguments::Shell { text, .. } => (false, vec![json!(text)]),
    };
    let (is_json, value): (bool, Option<Vec<Value>>) = match &trigger.kind {
        InstructionKind::From(from) => {
            let mut v = vec![json!(from.image.raw)];
            if let Some(alias) = &from.alias {
                v.extend([json!("as"), json!(alias.raw)]);
            }
            (false, Some(v))
        }
        InstructionKind::Run(a)
        | InstructionKind::Cmd(a)
        | InstructionKind::Entrypoint(a)
        | InstructionKind::Shell(a) => {
            let (j, v) = arguments(a);
            (j, Some(v))
        }
        InstructionKind::Healthcheck(Healthcheck::None) => (false, Some(vec![json!("NONE")])),
        InstructionKind::Healthcheck(Healthcheck::Cmd(a)) => {
            let (j, v) = arguments(a);
            (j, Some([vec![json!("CMD")], v].concat()))
        }
        InstructionKind::Copy(l) | InstructionKind::Add(l) | InstructionKind::Volume(l) => {
            (l.json, Some(words(&l.words)))
        }
        InstructionKind::Env(kv) | InstructionKind::Label(kv) => {
            (false, Some(kv.pairs.iter().flat_map(|p| [json!(p.key.raw), json!(p.value.raw)]).collect()))
        }
        InstructionKind::Arg(decls) => (
            false,
            Some(
                decls
                    .iter()
                    .map(|d| match &d.default {
                        Some(v) => json!(format!("{}={}", d.name.raw, v.raw)),
                        None => json!(d.name.raw),
                    })
                    .collect(),
            ),
        ),
        InstructionKind::Expose(w) => (false, Some(words(w))),
        InstructionKind::User(w)
        | InstructionKind::Workdir(w)
        | InstructionKind::StopSignal(w)
        | InstructionKind::Maintainer(w) => (false, Some(vec![json!(w.raw)])),
        InstructionKind::Onbuild(_) | InstructionKind::Invalid { .. } => (false, None),
    };
    let flags: Vec<Value> = match sub_cmd {
        Some(_) => Vec::new(),
        None => instruction
            .flags
            .iter()
            .map(|f| json!(f.value.as_ref().map_or_else(|| format!("--{}", f.name), |v| format!("--{}={v}", f.name))))
            .collect(),
    };
    json!({
        "cmd": instruction.keyword().to_ascii_uppercase(),
        "sub_cmd": sub_cmd,
        "json": is_json,
        "start_line": instruction.span.start.line,
        "end_line": instruction.span.end.line,
        "flags": flags,
        "value": value,
        "heredocs": trigger
            .heredocs
            .iter()
            .map(|h| json!({
                "name": h.name,
                "file_descriptor": h.file_descriptor,
                "expand": h.expand,
                "chomp": h.chomp,
                "content": h.content,
            }))
            .collect::<Vec<_>>(),
    })
}

/// BuildKit's node, normalized where the comparison does not apply; `ours` loses the heredoc
/// fields the oracle does not give. `wrapper`: the node comes from the PyPI wrapper.
fn normalize_oracle(mut command: Value, ours: &mut Value, wrapper: bool) -> Value {
    if command["cmd"] == "FROM"
        && let Some(as_word) = command["value"].get_mut(1)
    {
        *as_word = json!(as_word.as_str().unwrap_or_default().to_ascii_lowercase());
    }
    if ours["value"].is_null() {
        command["value"] = Value::Null; // arguments BuildKit will refuse at dispatch: we diagnose them
        command["json"] = json!(false);
    }
    if let Some(sub_cmd) = command["sub_cmd"].as_str() {
        command["sub_cmd"] = json!(sub_cmd.to_ascii_uppercase());
        // The wrapper does not expose a trigger's heredocs (BuildKit reads them: the lines match);
        // the recording does.
        if wrapper {
            command["heredocs"] = ours["heredocs"].clone();
        }
    }
    if let (Some(ours), Some(theirs)) = (ours["heredocs"].as_array_mut(), command["heredocs"].as_array()) {
        for (ours, theirs) in ours.iter_mut().zip(theirs) {
            if let (Some(ours), Some(theirs)) = (ours.as_object_mut(), theirs.as_object()) {
                ours.retain(|key, _| theirs.contains_key(key));
            }
        }
    }
    command["cmd"] = json!(command["cmd"].as_str().unwrap_or_default().to_ascii_uppercase());
    command
}

/// Compares our parse of `path` with BuildKit's record of it; the number of instructions compared.
fn compare_record(path: &Path, dockerfile: &Dockerfile, record: &Value, wrapper: bool) -> usize {
    if let Some(error) = record["error"].as_str() {
        assert!(dockerfile.is_malformed(), "{}: BuildKit refuses it ({error}) but we found no problem", path.display());
        return 0;
    }
    let theirs = record["commands"].as_array().expect("commands");
    assert_eq!(theirs.len(), dockerfile.instructions.len(), "{}: instruction count", path.display());
    for (instruction, command) in dockerfile.instructions.iter().zip(theirs) {
        let mut ours = buildkit_view(instruction);
        let theirs = normalize_oracle(command.clone(), &mut ours, wrapper);
        assert_eq!(ours, theirs, "{} line {}", path.display(), instruction.line());
    }
    theirs.len()
}

/// Runs the PyPI oracle on `files` and compares each; `check` also sees every parse and record.
fn compare(files: &[PathBuf], check: impl Fn(&Path, &Dockerfile, &Value)) -> usize {
    let args: Vec<&OsStr> = files.iter().map(|p| p.as_os_str()).collect();
    let Some(output) = support::run_oracle(ORACLE, &args) else { return 0 };
    let mut compared = 0;
    for line in output.lines() {
        let record: Value = serde_json::from_str(line).expect("oracle JSON");
        let path = Path::new(record["file"].as_str().expect("file"));
        let dockerfile = parse(&std::fs::read_to_string(path).expect("readable"));
        compared += compare_record(path, &dockerfile, &record, true);
        check(path, &dockerfile, &record);
    }
    compared
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parser")
}

/// The `*.Dockerfile` files of a fixture directory, sorted.
fn dockerfiles(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "Dockerfile"))
        .collect();
    files.sort();
    files
}

#[test]
fn parser_fixtures_match_buildkit() {
    let files = dockerfiles(&fixture_dir());
    let compared = compare(&files, |_, _, _| {});
    eprintln!("{compared} instructions identical to BuildKit's parse in {} fixtures", files.len());
}

/// The instruction (index) each line falls in, by BuildKit's lines of the instructions.
fn instruction_at(line: u64, commands: &[Value]) -> Option<usize> {
    commands.iter().position(|c| {
        c["start_line"].as_u64().is_some_and(|s| s <= line) && c["end_line"].as_u64().is_some_and(|e| line <= e)
    })
}

#[test]
fn parser_fixtures_match_newer_buildkit_recorded() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let recorded = std::fs::read_to_string(RECORDED).expect("recording");
    let mut seen = Vec::new();
    let mut compared = 0;
    for line in recorded.lines() {
        let record: Value = serde_json::from_str(line).expect("recorded JSON");
        let path = root.join(record["file"].as_str().expect("file"));
        let text = std::fs::read_to_string(&path).expect("recorded fixture still there");
        assert_eq!(Some(text.as_str()), record["source"].as_str(), "{}: changed since it was recorded", path.display());
        let dockerfile = parse(&text);
        compared += compare_record(&path, &dockerfile, &record, false);
        // BuildKit warns once per instruction, at the last line of its continuation; we warn at
        // the first blank line. Both must be in the same instructions.
        let commands = record["commands"].as_array().expect("commands");
        let theirs: Vec<Option<usize>> = record["warnings"]
            .as_array()
            .expect("warnings")
            .iter()
            .map(|w| instruction_at(w["line"].as_u64().expect("line"), commands))
            .collect();
        let ours: Vec<Option<usize>> =
            dockerfile.warnings.iter().map(|w| instruction_at(u64::from(w.span.start.line), commands)).collect();
        assert_eq!(ours, theirs, "{}: warnings {:?}", path.display(), dockerfile.warnings);
        seen.push(path);
    }
    let mut fixtures = dockerfiles(&fixture_dir());
    fixtures.extend(dockerfiles(&fixture_dir().join("buildkit-0.22")));
    fixtures.retain(|f| !seen.contains(f));
    assert!(fixtures.is_empty(), "not recorded (see tests/oracle/record_buildkit): {fixtures:?}");
    eprintln!("{compared} instructions identical to newer BuildKit's recorded parse in {} fixtures", seen.len());
}

/// BuildKit reads at most 65535 bytes a line (`\r` and a byte-order mark counted), wherever the
/// line is: a longer one is an error.
#[test]
fn long_lines_match_buildkit() {
    fn run(n: usize) -> String {
        format!("RUN {}", "a".repeat(n - 4))
    }
    let cases = [
        ("max", format!("FROM a\n{}\nRUN b\n", run(65535))),
        ("over", format!("FROM a\n{}\nRUN b\n", run(65536))),
        ("crlf-max", format!("FROM a\r\n{}\r\nRUN b\r\n", run(65534))),
        ("crlf-over", format!("FROM a\r\n{}\r\nRUN b\r\n", run(65535))),
        ("last-line-over", format!("FROM a\n{}", run(65536))),
        ("bom-over", format!("\u{feff}{}\nFROM a\n", run(65533))),
        ("bom-max", format!("\u{feff}{}\nFROM a\n", run(65532))),
        ("heredoc-over", format!("FROM a\nRUN <<EOF\n{}\nEOF\n", "x".repeat(65536))),
        ("continuation-over", format!("FROM a\nRUN a \\\n{}\n", "x".repeat(65536))),
        ("comment-over", format!("FROM a\n#{}\nRUN b\n", "x".repeat(65535))),
        ("multibyte-over", format!("FROM a\nRUN {}\n", "\u{e9}".repeat(32766))),
        ("multibyte-max", format!("FROM a\nRUN {}x\n", "\u{e9}".repeat(32765))),
    ];
    let dir = tempfile::tempdir().expect("temp dir");
    let files: Vec<PathBuf> = cases
        .iter()
        .map(|(name, text)| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("write");
            path
        })
        .collect();
    let compared = compare(&files, |path, dockerfile, record| {
        let too_long = dockerfile.diagnostics.iter().any(|d| d.kind == DiagnosticKind::LineTooLong);
        assert_eq!(too_long, !record["error"].is_null(), "{}: {:?}", path.display(), record["error"]);
    });
    eprintln!("{compared} instructions identical to BuildKit's parse in {} long-line cases", files.len());
}

#[test]
fn corpus_matches_buildkit() {
    let Some(dir) = support::corpus_dir() else { return };
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(dir.join("dockerfiles")).expect("corpus").map(|e| e.expect("entry").path()).collect();
    files.sort();
    let compared = compare(&files, |_, _, _| {});
    eprintln!("{compared} instructions identical to BuildKit's parse in {} corpus files", files.len());
}
