//! Differential test against BuildKit's own parser (moby/buildkit, through the PyPI package
//! `dockerfile`): for every corpus file and every parser fixture, each instruction must have the
//! same keyword, lines, flags, arguments and heredocs as BuildKit gives it.

mod support;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use codi_core::syntax::{Arguments, Healthcheck, Instruction, InstructionKind, parse};
use serde_json::{Value, json};

const ORACLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oracle/buildkit_parse.py");

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
        "heredocs": trigger.heredocs.iter().map(|h| json!({"name": h.name, "content": h.content})).collect::<Vec<_>>(),
    })
}

/// BuildKit's node, normalized where the comparison does not apply.
fn normalize_oracle(mut command: Value, ours: &Value) -> Value {
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
        // The wrapper does not expose a trigger's heredocs (BuildKit reads them: the lines match).
        command["heredocs"] = ours["heredocs"].clone();
    }
    command["cmd"] = json!(command["cmd"].as_str().unwrap_or_default().to_ascii_uppercase());
    command
}

fn compare(files: &[PathBuf]) -> usize {
    let args: Vec<&OsStr> = files.iter().map(|p| p.as_os_str()).collect();
    let Some(output) = support::run_oracle(ORACLE, &args) else { return 0 };
    let mut compared = 0;
    for line in output.lines() {
        let record: Value = serde_json::from_str(line).expect("oracle JSON");
        let path = Path::new(record["file"].as_str().expect("file"));
        let dockerfile = parse(&std::fs::read_to_string(path).expect("readable"));
        if let Some(error) = record["error"].as_str() {
            assert!(
                dockerfile.is_malformed(),
                "{}: BuildKit refuses it ({error}) but we found no problem",
                path.display()
            );
            continue;
        }
        let theirs = record["commands"].as_array().expect("commands");
        assert_eq!(theirs.len(), dockerfile.instructions.len(), "{}: instruction count", path.display());
        for (instruction, command) in dockerfile.instructions.iter().zip(theirs) {
            let ours = buildkit_view(instruction);
            let theirs = normalize_oracle(command.clone(), &ours);
            assert_eq!(ours, theirs, "{} line {}", path.display(), instruction.line());
            compared += 1;
        }
    }
    compared
}

#[test]
fn parser_fixtures_match_buildkit() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parser");
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(&dir).expect("fixtures").map(|e| e.expect("entry").path()).collect();
    files.sort();
    let compared = compare(&files);
    eprintln!("{compared} instructions identical to BuildKit's parse in {} fixtures", files.len());
}

#[test]
fn corpus_matches_buildkit() {
    let Some(dir) = support::corpus_dir() else { return };
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(dir.join("dockerfiles")).expect("corpus").map(|e| e.expect("entry").path()).collect();
    files.sort();
    let compared = compare(&files);
    eprintln!("{compared} instructions identical to BuildKit's parse in {} corpus files", files.len());
}
