//! The shell tokenizer finds commands the way ShellCheck's AST does for hadolint.

use codi_core::shell::{Operator, parse_script};

fn names(text: &str) -> Vec<String> {
    parse_script(text).commands.into_iter().map(|c| c.name).collect()
}

#[test]
fn lists_pipelines_and_subshells() {
    assert_eq!(
        names("apt-get update && apt-get install -y curl || true; echo done"),
        ["apt-get", "apt-get", "true", "echo"]
    );
    assert_eq!(names("curl -sL x | tar -xz -C /opt"), ["curl", "tar"]);
    assert_eq!(names("(cd /src && make) & wait"), ["cd", "make", "wait"]);
    assert_eq!(names("{ echo a; echo b; } > /log"), ["echo", "echo"]);
}

#[test]
fn control_structures_are_not_commands() {
    assert_eq!(names("if [ -f x ]; then rm x; elif true; then :; else echo no; fi"), ["[", "rm", "true", ":", "echo"]);
    assert_eq!(names("for p in a b $(ls); do echo $p; done"), ["ls", "echo"]);
    assert_eq!(names("while read -r l; do echo \"$l\"; done < f"), ["read", "echo"]);
    assert_eq!(names("case \"$ARCH\" in amd64|x86_64) a=1 ;; (arm64) apk add x ;; *) exit 1 ;; esac"), ["apk", "exit"]);
    assert_eq!(names("[[ -n $X && -z $Y ]] && echo ok"), ["echo"]);
    assert_eq!(names("(( i += 1 )); ! grep -q x f"), ["grep"]);
    assert_eq!(names("f() { echo in; }; function g { echo g; }; f"), ["echo", "echo", "f"]);
}

#[test]
fn substitutions_are_searched_first() {
    assert_eq!(names("export V=$(curl -s x | jq -r .v) && echo `date`"), ["curl", "jq", "export", "date", "echo"]);
    assert!(parse_script("X=$(a | b)").has_pipe());
    assert!(!parse_script("a || b").has_pipe());
}

#[test]
fn words_drop_quotes_and_redirections() {
    let script = parse_script(r#"FOO=1 BAR="x y" pip install "flask==3.0" 'a b' c\ d 2>&1 >/dev/null --no-cache-dir"#);
    let cmd = &script.commands[0];
    assert_eq!(cmd.name, "pip");
    assert_eq!(cmd.assignments, ["FOO=1", "BAR=x y"]);
    assert_eq!(cmd.args, ["install", "flask==3.0", "a b", "c d", "--no-cache-dir"]);
    assert_eq!(cmd.offset, 16);
    let cmd = &parse_script("echo \"$HOME/${X:-y}\" $'a\\nb'").commands[0];
    assert_eq!(cmd.args, ["$HOME/${X:-y}", "a\\nb"]);
}

#[test]
fn heredoc_bodies_inside_scripts_are_skipped() {
    let script = parse_script(
        "cat > /etc/x <<'EOF'\napt-get install nothing\nEOF\napk add real\ncat <<-END | sh\n\trm -rf /\n\tEND\n",
    );
    let names: Vec<_> = script.commands.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["cat", "apk", "cat", "sh"]);
    assert!(script.has_pipe());
}

#[test]
fn flags_follow_hadolint() {
    let cmd =
        &parse_script("apt-get -qy --no-install-recommends -t bookworm-backports install curl=7 -- x").commands[0];
    let flags: Vec<_> = cmd.flags().collect();
    assert_eq!(flags, ["q", "y", "no-install-recommends", "t"]);
    assert!(cmd.has_flag("y") && cmd.has_any_flag(&["x", "q"]) && !cmd.has_flag("install"));
    assert_eq!(cmd.operands_skipping(&["t", "target-release"]), ["install", "curl=7", "--", "x"]);
    assert!(cmd.is("apt-get", "install"));
}

#[test]
fn operators_are_recorded() {
    use Operator::{And, Background, Or, Pipe, Sequence};
    let ops = parse_script("a && b || c; d | e & f\ng").operators;
    assert_eq!(ops, [And, Or, Sequence, Pipe, Background, Sequence]);
}

#[test]
fn never_panics_on_unbalanced_input() {
    for text in ["echo \"unterminated", "$(", "`", "${", "((", "case x in", "a <<", "'", "\\", "$'", "f()", "<(x", "1>"]
    {
        let _ = parse_script(text);
    }
}

#[test]
fn pipelines_group_piped_commands() {
    let script = parse_script("apt-get update && curl -fsSL x | sh - && echo $(a | b) | tee log; c | d");
    let groups: Vec<Vec<&str>> = script.pipelines().map(|p| p.iter().map(|c| c.name.as_str()).collect()).collect();
    assert_eq!(groups, [vec!["curl", "sh"], vec!["a", "b"], vec!["echo", "tee"], vec!["c", "d"]]);
}
