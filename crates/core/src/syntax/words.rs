//! Splitting instruction arguments into words the way BuildKit's parser does.

/// A word cut out of a logical line: its text and byte range in that line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawWord {
    pub(crate) text: String,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// Quote-aware splitting on whitespace (BuildKit `parseWords`, used by ENV, LABEL and ARG).
/// Quotes and escapes stay in the words; an escape character before a quote protects it.
pub(crate) fn split_quoted(line: &str, base: usize, escape: char) -> Vec<RawWord> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut start = 0;
    let mut quote: Option<char> = None;
    let mut in_word = false;
    let mut blank_ok = false;
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if !in_word {
            if c.is_whitespace() {
                continue;
            }
            in_word = true;
            start = i;
        }
        match quote {
            None => {
                if c.is_whitespace() {
                    if blank_ok || !word.is_empty() {
                        words.push(RawWord { text: std::mem::take(&mut word), start: base + start, end: base + i });
                    }
                    word.clear();
                    in_word = false;
                    blank_ok = false;
                    continue;
                }
                if c == '\'' || c == '"' {
                    quote = Some(c);
                    blank_ok = true;
                }
                if c == escape {
                    match chars.next() {
                        None => continue,
                        Some((_, next)) => {
                            word.push(c);
                            word.push(next);
                            continue;
                        }
                    }
                }
                word.push(c);
            }
            Some(q) => {
                if c == q {
                    quote = None;
                }
                if c == escape && q != '\'' {
                    match chars.next() {
                        None => {
                            quote = None;
                            continue;
                        }
                        Some((_, next)) => {
                            word.push(c);
                            word.push(next);
                            continue;
                        }
                    }
                }
                word.push(c);
            }
        }
    }
    if in_word && (blank_ok || !word.is_empty()) {
        words.push(RawWord { text: word, start: base + start, end: base + line.len() });
    }
    words
}

/// The words BuildKit looks for heredoc markers in: its shell lexer with quotes and escapes kept
/// (`\` escapes, whatever `# escape=` says), where `<<` takes the spaces, tabs and `\r` after it
/// into its word (since BuildKit 0.22: `<< EOF` is one word). `None` when a quote does not close:
/// BuildKit's lexer then gives no words at all.
pub(crate) fn heredoc_words(line: &str) -> Option<Vec<&str>> {
    let mut words = Vec::new();
    let mut start = None;
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c.is_whitespace() {
            if let Some(s) = start.take() {
                words.push(&line[s..i]);
            }
            continue;
        }
        start.get_or_insert(i);
        match c {
            '\\' => {
                chars.next();
            }
            '\'' => while chars.next()?.1 != '\'' {},
            '"' => loop {
                match chars.next()? {
                    (_, '"') => break,
                    // Inside double quotes `\` escapes only `"`, `$` and itself.
                    (_, '\\') => {
                        chars.next_if(|&(_, c)| matches!(c, '"' | '$' | '\\'));
                    }
                    _ => {}
                }
            },
            '<' if chars.next_if(|&(_, c)| c == '<').is_some() => {
                while chars.next_if(|&(_, c)| matches!(c, ' ' | '\t' | '\r')).is_some() {}
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        words.push(&line[s..]);
    }
    Some(words)
}

/// Plain splitting on runs of blanks (BuildKit `parseStringsWhitespaceDelimited`: FROM, COPY, EXPOSE).
pub(crate) fn split_blanks(line: &str, base: usize) -> Vec<RawWord> {
    let mut words = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices() {
        let blank = matches!(c, ' ' | '\t' | '\u{b}' | '\u{c}' | '\r');
        match (blank, start) {
            (true, Some(s)) => {
                words.push(RawWord { text: line[s..i].to_owned(), start: base + s, end: base + i });
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        words.push(RawWord { text: line[s..].to_owned(), start: base + s, end: base + line.len() });
    }
    words
}

/// Leading `--flag[=value]` words (BuildKit `extractBuilderFlags`): unquoted flag words and the
/// byte offset where the remaining arguments start. A lone `--` ends the flags and is dropped.
pub(crate) fn extract_flags(line: &str) -> (Vec<RawWord>, usize) {
    let bytes = line.as_bytes();
    let mut flags = Vec::new();
    let mut at = 0;
    loop {
        while at < bytes.len() && bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        if !line[at..].starts_with("--") || at + 2 > bytes.len() {
            return (flags, at);
        }
        let start = at;
        let mut word = String::new();
        let mut quote: Option<char> = None;
        let mut chars = line[at..].char_indices();
        let mut end = line.len();
        while let Some((i, c)) = chars.next() {
            match quote {
                None if c.is_whitespace() => {
                    end = start + i;
                    break;
                }
                None if c == '\'' || c == '"' => quote = Some(c),
                Some(q) if c == q => quote = None,
                _ if c == '\\' => {
                    if let Some((_, next)) = chars.next() {
                        word.push(next);
                    }
                }
                _ => word.push(c),
            }
        }
        at = end;
        if word == "--" {
            return (flags, at);
        }
        flags.push(RawWord { text: word, start, end });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(words: &[RawWord]) -> Vec<&str> {
        words.iter().map(|w| w.text.as_str()).collect()
    }

    #[test]
    fn quoted_words_keep_quotes_and_escaped_spaces() {
        let words = split_quoted(r#"A="x y" B=a\ b  C='q "r"'"#, 0, '\\');
        assert_eq!(texts(&words), [r#"A="x y""#, r"B=a\ b", r#"C='q "r"'"#]);
        assert_eq!((words[1].start, words[1].end), (8, 14));
    }

    #[test]
    fn heredoc_words_keep_quotes_escapes_and_blanks_after_the_operator() {
        assert_eq!(heredoc_words(r#"<<A cat "x y" 'a\' b\ c"#), Some(vec!["<<A", "cat", r#""x y""#, r"'a\'", r"b\ c"]));
        assert_eq!(heredoc_words("<< EOF 3<<\t\tX <<-  Y"), Some(vec!["<< EOF", "3<<\t\tX", "<<-", "Y"]));
        assert_eq!(heredoc_words(r#"a "b \" <<c" \<< d"#), Some(vec!["a", r#""b \" <<c""#, r"\<<", "d"]));
        assert_eq!(heredoc_words("<<< x <<"), Some(vec!["<<<", "x", "<<"]));
        assert_eq!(heredoc_words("echo '<<EOF"), None);
        assert_eq!(heredoc_words(r#"echo "a\""#), None);
    }

    #[test]
    fn blank_split_ignores_quotes() {
        assert_eq!(texts(&split_blanks("\"a b\"\t c", 0)), ["\"a", "b\"", "c"]);
    }

    #[test]
    fn flags_stop_at_first_non_flag_word() {
        let line = r#"--mount=type=cache,target="/root/.cache" --network=none pip install x"#;
        let (flags, rest) = extract_flags(line);
        assert_eq!(texts(&flags), ["--mount=type=cache,target=/root/.cache", "--network=none"]);
        assert_eq!(&line[rest..], "pip install x");
        let (flags, rest) = extract_flags("-- --not-a-flag");
        assert!(flags.is_empty());
        assert_eq!(rest, 2);
    }
}
