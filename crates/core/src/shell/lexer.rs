//! Shell text to tokens: words (quotes removed, expansions kept as written), control operators,
//! redirections (consumed with their target), heredoc bodies skipped. Nested `$(…)` and `` `…` ``
//! are parsed recursively and carried by their word, so that the commands inside them are found too.

use super::{Script, parse_script};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operator {
    /// `&&`
    And,
    /// `||`
    Or,
    /// `;` or a newline
    Sequence,
    /// `;;` in `case`
    CaseBreak,
    /// `|` or `|&`
    Pipe,
    /// `&`
    Background,
    /// `(`
    OpenParen,
    /// `)`
    CloseParen,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LexWord {
    /// Quotes removed, escapes resolved, `$…` expansions kept as written.
    pub(crate) value: String,
    /// Byte offset of the word in the script.
    pub(crate) start: usize,
    /// Some part was quoted.
    pub(crate) quoted: bool,
    /// Some part is a `$…` or backtick expansion.
    pub(crate) expands: bool,
    /// The scripts of the command substitutions inside the word.
    pub(crate) nested: Vec<Script>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    Word(LexWord),
    Op(Operator, usize),
    /// `(( … ))`: arithmetic, never a command.
    Arithmetic,
}

pub(crate) struct Lexer<'a> {
    src: &'a str,
    b: &'a [u8],
    pos: usize,
    /// Heredocs opened on the current line: (delimiter, strip tabs), read after its newline.
    pending_heredocs: Vec<(String, bool)>,
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t' || b == b'\r'
}

fn is_word_end(b: u8) -> bool {
    is_blank(b) || matches!(b, b'\n' | b';' | b'&' | b'|' | b'(' | b')' | b'<' | b'>')
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Self { src, b: src.as_bytes(), pos: 0, pending_heredocs: Vec::new() }
    }

    fn peek(&self, ahead: usize) -> Option<u8> {
        self.b.get(self.pos + ahead).copied()
    }

    fn starts_with(&self, s: &str) -> bool {
        self.b[self.pos..].starts_with(s.as_bytes())
    }

    pub(crate) fn tokens(mut self) -> Vec<Token> {
        let mut tokens = Vec::new();
        while let Some(token) = self.next_token() {
            tokens.push(token);
        }
        tokens
    }

    fn next_token(&mut self) -> Option<Token> {
        loop {
            while self.peek(0).is_some_and(is_blank) {
                self.pos += 1;
            }
            let c = self.peek(0)?;
            let at = self.pos;
            match c {
                b'\\' if self.peek(1) == Some(b'\n') => self.pos += 2,
                b'#' => {
                    while self.peek(0).is_some_and(|b| b != b'\n') {
                        self.pos += 1;
                    }
                }
                b'\n' => {
                    self.pos += 1;
                    self.skip_heredoc_bodies();
                    return Some(Token::Op(Operator::Sequence, at));
                }
                b'&' if self.peek(1) == Some(b'&') => return Some(self.op(2, Operator::And)),
                b'|' if self.peek(1) == Some(b'|') => return Some(self.op(2, Operator::Or)),
                b'|' if self.peek(1) == Some(b'&') => return Some(self.op(2, Operator::Pipe)),
                b'|' => return Some(self.op(1, Operator::Pipe)),
                b';' if self.peek(1) == Some(b';') => return Some(self.op(2, Operator::CaseBreak)),
                b';' => return Some(self.op(1, Operator::Sequence)),
                b'(' if self.peek(1) == Some(b'(') => {
                    self.pos = self.matching_close(self.pos + 2, b'(', b')');
                    if self.peek(0) == Some(b')') {
                        self.pos += 1;
                    }
                    return Some(Token::Arithmetic);
                }
                b'(' => return Some(self.op(1, Operator::OpenParen)),
                b')' => return Some(self.op(1, Operator::CloseParen)),
                b'&' if self.peek(1) == Some(b'>') => self.redirect(),
                b'&' => return Some(self.op(1, Operator::Background)),
                b'<' | b'>' => self.redirect(),
                b'0'..=b'9' if self.is_fd_redirect() => self.redirect(),
                _ => return Some(Token::Word(self.word())),
            }
        }
    }

    fn op(&mut self, len: usize, op: Operator) -> Token {
        let at = self.pos;
        self.pos += len;
        Token::Op(op, at)
    }

    /// `2>`, `10>&1`: digits directly followed by `<` or `>`.
    fn is_fd_redirect(&self) -> bool {
        let digits = self.b[self.pos..].iter().take_while(|b| b.is_ascii_digit()).count();
        matches!(self.peek(digits), Some(b'<' | b'>'))
    }

    /// A redirection operator and its target word; a heredoc's body is skipped at the newline.
    fn redirect(&mut self) {
        while self.peek(0).is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        let heredoc = self.starts_with("<<") && !self.starts_with("<<<");
        let strip_tabs = self.starts_with("<<-");
        while self.peek(0).is_some_and(|b| matches!(b, b'<' | b'>' | b'&' | b'|' | b'-')) {
            self.pos += 1;
        }
        while self.peek(0).is_some_and(is_blank) {
            self.pos += 1;
        }
        if self.peek(0).is_some_and(|b| !is_word_end(b)) {
            let target = self.word();
            if heredoc {
                self.pending_heredocs.push((target.value, strip_tabs));
            }
        }
    }

    fn skip_heredoc_bodies(&mut self) {
        for (delimiter, strip_tabs) in std::mem::take(&mut self.pending_heredocs) {
            while self.pos < self.b.len() {
                let end = self.src[self.pos..].find('\n').map_or(self.b.len(), |i| self.pos + i);
                let line = self.src[self.pos..end].trim_end_matches('\r');
                let line = if strip_tabs { line.trim_start_matches('\t') } else { line };
                self.pos = (end + 1).min(self.b.len());
                if line == delimiter {
                    break;
                }
            }
        }
    }

    fn word(&mut self) -> LexWord {
        let start = self.pos;
        let mut word = LexWord { value: String::new(), start, quoted: false, expands: false, nested: Vec::new() };
        while let Some(c) = self.peek(0) {
            if is_word_end(c) {
                // `a<b` ends the word, but `=(`, `<(` process substitution and `$(` are handled below.
                break;
            }
            match c {
                b'\\' => {
                    self.pos += 1;
                    if let Some(next) = self.next_char()
                        && next != '\n'
                    {
                        word.value.push(next);
                    }
                }
                b'\'' => {
                    word.quoted = true;
                    self.pos += 1;
                    let end = self.src[self.pos..].find('\'').map_or(self.b.len(), |i| self.pos + i);
                    word.value.push_str(&self.src[self.pos..end]);
                    self.pos = (end + 1).min(self.b.len());
                }
                b'"' => {
                    word.quoted = true;
                    self.pos += 1;
                    self.double_quoted(&mut word);
                }
                b'$' if self.peek(1) == Some(b'\'') => {
                    word.quoted = true;
                    self.pos += 2;
                    self.ansi_c_quoted(&mut word);
                }
                b'$' => self.dollar(&mut word),
                b'`' => self.backtick(&mut word),
                _ => {
                    if let Some(ch) = self.next_char() {
                        word.value.push(ch);
                    }
                }
            }
        }
        word
    }

    fn next_char(&mut self) -> Option<char> {
        let ch = self.src[self.pos..].chars().next()?;
        self.pos += ch.len_utf8();
        Some(ch)
    }

    fn double_quoted(&mut self, word: &mut LexWord) {
        while let Some(c) = self.peek(0) {
            match c {
                b'"' => {
                    self.pos += 1;
                    return;
                }
                b'\\' => {
                    self.pos += 1;
                    match self.peek(0) {
                        Some(b'"' | b'\\' | b'$' | b'`') => {
                            word.value.push(char::from(self.b[self.pos]));
                            self.pos += 1;
                        }
                        Some(b'\n') => self.pos += 1,
                        _ => word.value.push('\\'),
                    }
                }
                b'$' => self.dollar(word),
                b'`' => self.backtick(word),
                _ => {
                    if let Some(ch) = self.next_char() {
                        word.value.push(ch);
                    }
                }
            }
        }
    }

    /// `$'…'`: backslash escapes are kept as written (the value is only inspected, never run).
    fn ansi_c_quoted(&mut self, word: &mut LexWord) {
        while let Some(c) = self.next_char() {
            match c {
                '\'' => return,
                '\\' => {
                    word.value.push('\\');
                    if let Some(escaped) = self.next_char() {
                        word.value.push(escaped);
                    }
                }
                c => word.value.push(c),
            }
        }
    }

    /// `$name`, `${…}`, `$(…)`, `$((…))`: kept as written; command substitutions are parsed.
    fn dollar(&mut self, word: &mut LexWord) {
        let start = self.pos;
        match self.peek(1) {
            Some(b'(') if self.peek(2) == Some(b'(') => {
                self.pos = self.matching_close(self.pos + 3, b'(', b')');
                self.pos = (self.pos + 2).min(self.b.len());
            }
            Some(b'(') => {
                let inner_start = self.pos + 2;
                let end = self.matching_close(inner_start, b'(', b')');
                word.nested.push(parse_script(&self.src[inner_start..end]));
                self.pos = (end + 1).min(self.b.len());
            }
            Some(b'{') => {
                let end = self.matching_close(self.pos + 2, b'{', b'}');
                self.pos = (end + 1).min(self.b.len());
            }
            Some(c) if c.is_ascii_alphanumeric() || c == b'_' => {
                self.pos += 1;
                if c.is_ascii_digit() {
                    self.pos += 1;
                } else {
                    while self.peek(0).is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_') {
                        self.pos += 1;
                    }
                }
            }
            Some(b'@' | b'*' | b'#' | b'?' | b'-' | b'$' | b'!') => self.pos += 2,
            _ => {
                self.pos += 1;
                word.value.push('$');
                return;
            }
        }
        word.expands = true;
        word.value.push_str(&self.src[start..self.pos]);
    }

    fn backtick(&mut self, word: &mut LexWord) {
        let start = self.pos;
        let inner_start = self.pos + 1;
        let mut end = inner_start;
        while end < self.b.len() && self.b[end] != b'`' {
            end += if self.b[end] == b'\\' { 2 } else { 1 };
        }
        let end = end.min(self.b.len());
        word.nested.push(parse_script(&self.src[inner_start..end]));
        self.pos = (end + 1).min(self.b.len());
        word.expands = true;
        word.value.push_str(&self.src[start..self.pos]);
    }

    /// The offset of the bracket closing the one opened just before `from`, skipping quotes and
    /// nested pairs; the end of input when there is none.
    fn matching_close(&self, from: usize, open: u8, close: u8) -> usize {
        let mut depth = 1usize;
        let mut i = from;
        while i < self.b.len() {
            match self.b[i] {
                b'\\' => i += 1,
                b'\'' if open != b'{' => {
                    i += self.src[i + 1..].find('\'').map_or(self.b.len(), |n| n + 1);
                }
                b'"' => {
                    i += 1;
                    while i < self.b.len() && self.b[i] != b'"' {
                        i += if self.b[i] == b'\\' { 2 } else { 1 };
                    }
                }
                b if b == open => depth += 1,
                b if b == close => {
                    depth -= 1;
                    if depth == 0 {
                        return i;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        self.b.len()
    }
}
