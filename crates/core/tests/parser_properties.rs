//! Properties of the parser: printing a parsed file and parsing it again gives the same tree
//! (positions aside), and no input, however broken, makes the parser or the linter panic.

use codi_core::lint::{LintConfig, lint};
use codi_core::syntax::{ParseOptions, parse, parse_bytes};
use proptest::prelude::*;

const KEYWORDS: &[&str] = &[
    "FROM",
    "RUN",
    "CMD",
    "ENTRYPOINT",
    "SHELL",
    "COPY",
    "ADD",
    "ENV",
    "LABEL",
    "ARG",
    "EXPOSE",
    "VOLUME",
    "USER",
    "WORKDIR",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "ONBUILD",
    "MAINTAINER",
    "from",
    "run",
    "Copy",
    "FOO",
    "HEALTHCHECK CMD",
    "HEALTHCHECK NONE",
    "ONBUILD RUN",
    "ONBUILD ONBUILD",
    "\u{feff}RUN",
];

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z0-9_./:=@+-]{1,12}",
        1 => Just("\"a b\"".to_owned()),
        1 => Just("'c $d'".to_owned()),
        1 => Just("\\\"".to_owned()),
        1 => Just("\"unclosed".to_owned()),
        1 => Just("$VAR".to_owned()),
        1 => Just("${A:-b c}".to_owned()),
        1 => Just("&&".to_owned()),
        1 => Just("|".to_owned()),
        1 => Just("<<EOF".to_owned()),
        1 => Just("<<-'END'".to_owned()),
        1 => Just("<<\"E\tF\"".to_owned()),
        1 => Just("<<".to_owned()),
        1 => Just("3<<x".to_owned()),
        1 => Just("<<eo\\'f".to_owned()),
        1 => Just("\\\\".to_owned()),
        1 => Just("[\"x\", \"y z\"]".to_owned()),
        1 => Just("[1, \"a\"]".to_owned()),
        1 => Just("[\"a\tb\",".to_owned()),
        1 => Just("\"c\"]".to_owned()),
        1 => Just("[".to_owned()),
        1 => Just("--mount=type=cache,target=/x".to_owned()),
        1 => Just("--from=build".to_owned()),
        1 => Just("--a\"b c".to_owned()),
        1 => Just("--".to_owned()),
        1 => Just("AS".to_owned()),
        1 => Just("#".to_owned()),
        1 => Just("`".to_owned()),
        1 => Just("\\".to_owned()),
        1 => Just("K=v".to_owned()),
        2 => "[ -~]{1,6}",
        1 => "\\PC{1,4}",
    ]
}

fn line() -> impl Strategy<Value = String> {
    let instruction = (prop::sample::select(KEYWORDS), prop::collection::vec(word(), 0..6), any::<bool>()).prop_map(
        |(keyword, words, continues)| {
            let mut line = format!("{keyword} {}", words.join(" "));
            if continues {
                line.push_str(" \\");
            }
            line
        },
    );
    prop_oneof![
        8 => instruction,
        1 => Just("# syntax=docker/dockerfile:1".to_owned()),
        1 => Just("# escape=`".to_owned()),
        1 => "# [ -~]{0,20}",
        1 => Just(String::new()),
        1 => Just("   ".to_owned()),
        1 => Just("EOF".to_owned()),
        1 => Just("\tEND".to_owned()),
        1 => Just("body\r".to_owned()),
        1 => Just("ADD \\\r\r<<4".to_owned()),
        1 => "[ -~]{0,30}",
        1 => "  # [ -~]{0,10} \\\\",
    ]
}

fn dockerfile() -> impl Strategy<Value = String> {
    (prop::collection::vec(line(), 0..25), any::<bool>(), any::<bool>()).prop_map(|(lines, crlf, bom)| {
        let text = lines.join(if crlf { "\r\n" } else { "\n" });
        if bom { format!("\u{feff}{text}") } else { text }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn print_then_parse_gives_the_same_tree(text in dockerfile()) {
        let first = parse(&text);
        let printed = first.to_string();
        let second = parse(&printed);
        prop_assert_eq!(first.shape(), second.shape(), "printed:\n{}", printed);
        // Printing is idempotent too.
        prop_assert_eq!(printed.clone(), second.to_string());
    }

    #[test]
    fn linting_any_text_does_not_panic(text in dockerfile()) {
        let _ = lint(&parse(&text), &LintConfig::default());
    }

    #[test]
    fn arbitrary_bytes_do_not_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let file = parse_bytes(&bytes, &ParseOptions::default());
        let _ = lint(&file, &LintConfig::default());
    }
}
