//! Bad input gets a clear diagnostic or a refusal with the reason: never a panic, never memory
//! out of proportion to the input.

use std::fmt::Write as _;
use std::io::Write as _;

use codi_core::lint::{LintConfig, lint};
use codi_core::syntax::{DiagnosticKind, ParseOptions, parse, parse_bytes};
use codi_core::{Error, read_dockerfile};

fn kinds(bytes: &[u8]) -> Vec<DiagnosticKind> {
    parse_bytes(bytes, &ParseOptions::default()).diagnostics.iter().map(|d| d.kind).collect()
}

#[test]
fn empty_or_comment_only_files_have_no_instructions() {
    assert_eq!(kinds(b""), [DiagnosticKind::NoInstructions]);
    assert_eq!(kinds(b"# only a comment\n\n   \n"), [DiagnosticKind::NoInstructions]);
}

#[test]
fn binary_input_is_refused_with_the_position() {
    let file = parse_bytes(b"FROM alpine:3.20\nRUN echo \0hi\n", &ParseOptions::default());
    assert!(file.instructions.is_empty());
    let d = &file.diagnostics[0];
    assert_eq!(d.kind, DiagnosticKind::UnreadableInput);
    assert_eq!((d.span.start.line, d.span.start.column), (2, 10));
    assert!(d.message.contains("NUL byte at line 2 column 10"), "{}", d.message);
}

#[test]
fn invalid_utf8_is_refused_with_the_position() {
    let file = parse_bytes(b"FROM alpine:3.20\nLABEL x=caf\xe9\n", &ParseOptions::default());
    let d = &file.diagnostics[0];
    assert_eq!(d.kind, DiagnosticKind::UnreadableInput);
    assert_eq!((d.span.start.line, d.span.start.column), (2, 12));
    assert!(d.message.contains("not valid UTF-8"), "{}", d.message);
}

#[test]
fn a_50_mib_file_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("Dockerfile");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
    let line = b"RUN echo 0123456789012345678901234567890123456789\n";
    file.write_all(b"FROM alpine:3.20\n").expect("write");
    for _ in 0..(50 << 20) / line.len() {
        file.write_all(line).expect("write");
    }
    drop(file);
    match read_dockerfile(&path, &ParseOptions::default()) {
        Err(Error::TooLarge { size, limit, .. }) => assert!(size > 50 << 20 && limit == 16 << 20),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // The in-memory entry point refuses it too, saying why.
    let bytes = std::fs::read(&path).expect("read back");
    let parsed = parse_bytes(&bytes, &ParseOptions::default());
    assert_eq!(parsed.diagnostics[0].kind, DiagnosticKind::UnreadableInput);
    assert!(parsed.diagnostics[0].message.contains("over the 16777216 byte limit"));
}

#[test]
fn a_hundred_thousand_continuation_lines_make_one_instruction() {
    let mut text = String::from("FROM alpine:3.20\nRUN echo start \\\n");
    for i in 0..100_000 {
        let _ = writeln!(text, "    && echo {i} \\");
        if i % 1000 == 0 {
            text.push_str("    # a comment inside the continuation\n\n");
        }
    }
    text.push_str("    && echo end\nCMD [\"sh\"]\n");
    let file = parse(&text);
    assert!(file.diagnostics.is_empty());
    assert_eq!(file.instructions.len(), 3);
    assert_eq!(file.instructions[2].line(), 100_000 + 200 + 4);
    let script = codi_core::analysis::run_script(&file.instructions[1]).expect("a RUN");
    assert_eq!(script.commands.len(), 100_002);
    assert!(lint(&file, &LintConfig::default()).iter().all(|f| f.code != "DL1000"));
}

#[test]
fn a_line_over_64_kib_is_an_error_at_its_position_and_the_rest_is_parsed() {
    let long = format!("RUN echo {}", "x".repeat(65535 - 9));
    let file = parse(&format!("FROM alpine:3.20\n{long}\nRUN echo after\n"));
    assert!(file.diagnostics.is_empty(), "65535 bytes is BuildKit's limit: {:?}", file.diagnostics);
    let file = parse(&format!("FROM alpine:3.20\n{long}x\nRUN echo after\n"));
    let [d] = file.diagnostics.as_slice() else { panic!("one diagnostic: {:?}", file.diagnostics) };
    assert_eq!(d.kind, DiagnosticKind::LineTooLong);
    assert_eq!((d.span.start.line, d.span.start.column, d.span.end.line), (2, 1, 2));
    assert!(d.message.contains("65535") && d.message.contains("65536"), "{}", d.message);
    assert_eq!(file.instructions.len(), 3);
    assert!(lint(&file, &LintConfig::default()).iter().any(|f| f.code == "DL1000" && f.line() == 2));
}

#[test]
fn an_empty_continuation_line_is_a_warning_not_an_error() {
    let file = parse("FROM alpine:3.20\nRUN echo a \\\n\n    && echo b \\\n  \n    && echo c\nRUN echo d\n");
    assert!(file.diagnostics.is_empty() && !file.is_malformed());
    let [w] = file.warnings.as_slice() else { panic!("one warning per instruction: {:?}", file.warnings) };
    assert_eq!((w.kind, w.span.start.line), (DiagnosticKind::EmptyContinuation, 3));
    assert_eq!(file.instructions.len(), 3);
    assert!(lint(&file, &LintConfig::default()).iter().all(|f| f.code != "DL1000"));
}

#[test]
fn malformed_instructions_are_diagnosed_not_fatal() {
    use DiagnosticKind::{InvalidArguments, MissingArguments, UnterminatedHeredoc};
    let file = parse(
        "FROM alpine:3.20\nFROM a b c d\nCOPY one\nHEALTHCHECK SOMETIMES x\nSHELL bash -c\nCMD [1]\nRUN <<EOF\nunterminated\n",
    );
    let kinds: Vec<DiagnosticKind> = file.diagnostics.iter().map(|d| d.kind).collect();
    assert_eq!(
        kinds,
        [InvalidArguments, MissingArguments, InvalidArguments, InvalidArguments, InvalidArguments, UnterminatedHeredoc]
    );
    assert_eq!(file.instructions.len(), 7, "every line is still an instruction");
}
