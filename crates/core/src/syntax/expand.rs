//! Quote removal and variable substitution with BuildKit's word semantics.
//!
//! Supported: `'…'` (literal), `"…"` (escapes for `"`, `$` and the escape character only),
//! the escape character outside quotes, `$NAME`, `${NAME}`, `${NAME:-word}`, `${NAME-word}`,
//! `${NAME:+word}`, `${NAME+word}`, `${NAME:?word}`, `${NAME?word}`, `${NAME#pat}`, `${NAME%pat}`
//! (literal patterns only). Unknown variables expand to the empty string, as in BuildKit, and are
//! reported in [`Expanded::missing`].

use std::collections::HashMap;

/// Where variable values come from.
pub trait Lookup {
    fn get(&self, name: &str) -> Option<String>;
}

impl<S: std::hash::BuildHasher> Lookup for HashMap<String, String, S> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).cloned()
    }
}

/// A lookup with no variables at all.
#[derive(Debug, Clone, Copy)]
pub struct NoVariables;

impl Lookup for NoVariables {
    fn get(&self, _: &str) -> Option<String> {
        None
    }
}

/// The result of [`expand`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expanded {
    pub value: String,
    /// Variables that were referenced but had no value.
    pub missing: Vec<String>,
}

/// Removes quotes and resolves escapes, leaving `$VAR` references exactly as written.
pub fn unquote(raw: &str, escape: char) -> String {
    let mut word = WordReader { chars: raw.chars().collect(), at: 0, escape, lookup: None };
    let mut out = Expanded::default();
    word.read_until(None, &mut out);
    out.value
}

/// Removes quotes, resolves escapes and substitutes variables from `lookup`.
pub fn expand(raw: &str, escape: char, lookup: &dyn Lookup) -> Expanded {
    let mut word = WordReader { chars: raw.chars().collect(), at: 0, escape, lookup: Some(lookup) };
    let mut out = Expanded::default();
    word.read_until(None, &mut out);
    out
}

struct WordReader<'a> {
    chars: Vec<char>,
    at: usize,
    escape: char,
    /// `None`: keep variable references verbatim (quote removal only).
    lookup: Option<&'a dyn Lookup>,
}

impl WordReader<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += 1;
        Some(c)
    }

    fn read_until(&mut self, stop: Option<char>, out: &mut Expanded) {
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                return;
            }
            self.at += 1;
            match c {
                '\'' => {
                    while let Some(q) = self.next() {
                        if q == '\'' {
                            break;
                        }
                        out.value.push(q);
                    }
                }
                '"' => self.read_double_quoted(out),
                '$' => self.read_dollar(out),
                c if c == self.escape => {
                    if let Some(next) = self.next() {
                        out.value.push(next);
                    }
                }
                c => out.value.push(c),
            }
        }
    }

    fn read_double_quoted(&mut self, out: &mut Expanded) {
        while let Some(c) = self.next() {
            match c {
                '"' => return,
                '$' => self.read_dollar(out),
                c if c == self.escape => match self.peek() {
                    None => {}
                    Some(n) if n == '"' || n == '$' || n == self.escape => {
                        out.value.push(n);
                        self.at += 1;
                    }
                    Some(_) => out.value.push(c),
                },
                c => out.value.push(c),
            }
        }
    }

    fn read_name(&mut self) -> String {
        let mut name = String::new();
        match self.peek() {
            Some(c) if c.is_ascii_digit() => {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    name.push(d);
                    self.at += 1;
                }
            }
            Some(c) if "@*#?-$!".contains(c) => {
                name.push(c);
                self.at += 1;
            }
            _ => {
                while let Some(c) = self.peek().filter(|c| c.is_alphanumeric() || *c == '_') {
                    name.push(c);
                    self.at += 1;
                }
            }
        }
        name
    }

    fn read_dollar(&mut self, out: &mut Expanded) {
        let start = self.at - 1;
        if self.peek() == Some('{') {
            self.at += 1;
            self.read_braced(start, out);
            return;
        }
        let name = self.read_name();
        if name.is_empty() {
            out.value.push('$');
        } else if self.lookup.is_none() {
            self.push_verbatim(start, out);
        } else {
            let value = self.resolve(&name, out);
            out.value.push_str(&value);
        }
    }

    fn read_braced(&mut self, start: usize, out: &mut Expanded) {
        let name = self.read_name();
        let operator: String = match self.peek() {
            Some(':') => {
                self.at += 1;
                self.next().map(|c| format!(":{c}")).unwrap_or_default()
            }
            Some(c @ ('-' | '+' | '?' | '#' | '%')) => {
                self.at += 1;
                c.to_string()
            }
            _ => String::new(),
        };
        let mut word = Expanded::default();
        if !operator.is_empty() {
            self.read_until(Some('}'), &mut word);
        }
        // The closing brace (missing at end of input: BuildKit errors, we keep what we read).
        if self.peek() == Some('}') {
            self.at += 1;
        }
        if self.lookup.is_none() {
            self.push_verbatim(start, out);
            return;
        }
        out.missing.extend(word.missing);
        let value = self.lookup.and_then(|l| l.get(&name));
        let set = value.is_some();
        let non_empty = value.as_deref().is_some_and(|v| !v.is_empty());
        let value = value.unwrap_or_default();
        let result = match operator.as_str() {
            "" => {
                if !set {
                    out.missing.push(name);
                }
                value
            }
            ":-" if non_empty => value,
            "-" if set => value,
            ":-" | "-" => word.value,
            ":+" if non_empty => word.value,
            "+" if set => word.value,
            ":+" | "+" => String::new(),
            "#" => value.strip_prefix(word.value.as_str()).map_or(value.clone(), str::to_owned),
            "%" => value.strip_suffix(word.value.as_str()).map_or(value.clone(), str::to_owned),
            // `:?`/`?` (an error when unset, for BuildKit) and anything unknown: the value.
            _ => value,
        };
        out.value.push_str(&result);
    }

    fn resolve(&self, name: &str, out: &mut Expanded) -> String {
        self.lookup.and_then(|l| l.get(name)).unwrap_or_else(|| {
            out.missing.push(name.to_owned());
            String::new()
        })
    }

    fn push_verbatim(&self, start: usize, out: &mut Expanded) {
        out.value.extend(&self.chars[start..self.at]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn unquote_keeps_variables_and_strips_quotes() {
        assert_eq!(unquote(r#""a b"'c'd\ e"#, '\\'), "a bcd e");
        assert_eq!(unquote("${A:-x}/$B", '\\'), "${A:-x}/$B");
        assert_eq!(unquote(r#""say \"hi\" \n""#, '\\'), r#"say "hi" \n"#);
        assert_eq!(unquote("C:\\path", '`'), "C:\\path");
    }

    #[test]
    fn expand_follows_buildkit_operators() {
        let vars = env(&[("SET", "v"), ("EMPTY", "")]);
        let e = |raw: &str| expand(raw, '\\', &vars).value;
        assert_eq!(e("$SET-${SET}"), "v-v");
        assert_eq!(e("${UNSET:-d}|${EMPTY:-d}|${EMPTY-d}|${SET:-d}"), "d|d||v");
        assert_eq!(e("${UNSET:+a}|${EMPTY:+a}|${EMPTY+a}|${SET:+a}"), "||a|a");
        assert_eq!(e("'$SET'\"$SET\""), "$SETv");
        assert_eq!(e("${SET#v}x${SET%v}"), "x");
        assert_eq!(e("$1$"), "$");
        let out = expand("${NOPE}/$ALSO_NOPE", '\\', &vars);
        assert_eq!(out.missing, ["NOPE", "ALSO_NOPE"]);
    }

    #[test]
    fn nested_default_expands_inner_variables() {
        let vars = env(&[("INNER", "i")]);
        assert_eq!(expand("${OUTER:-${INNER}-x}", '\\', &vars).value, "i-x");
    }
}
