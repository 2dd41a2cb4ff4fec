//! codi-yaml: YAML with positions, and a reader for validated configuration: every problem (a wrong type, a
//! missing key, an unknown key) is collected with its YAML path and line, instead of stopping at
//! the first one.

use std::fmt;

use serde::Serialize;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A YAML value and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    /// A scalar, and whether it was quoted (a quoted `1` is a string, not a number).
    Scalar(String, bool),
    Sequence(Vec<Node>),
    /// Keys in file order.
    Mapping(Vec<(Node, Node)>),
}

impl Node {
    /// The scalar at `key` of a mapping.
    pub fn scalar_at(&self, key: &str) -> Option<&str> {
        let Value::Mapping(entries) = &self.value else { return None };
        entries.iter().find_map(|(k, v)| match (&k.value, &v.value) {
            (Value::Scalar(name, _), Value::Scalar(text, _)) if name == key => Some(text.as_str()),
            _ => None,
        })
    }
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Scalar(_, true) => "a quoted string",
            Self::Scalar(..) => "a scalar",
            Self::Sequence(_) => "a list",
            Self::Mapping(_) => "a mapping",
        }
    }
}

/// A problem found while reading, with the YAML path and position it is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// `rules[3].parameters[0].type`
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}: {}", self.line, self.column, self.path, self.message)
    }
}

/// Parses one YAML document. Aliases are resolved; a syntax error is one problem.
pub fn parse(text: &str) -> Result<Node, Problem> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, false).map_err(|e| Problem {
        path: "$".into(),
        line: e.marker().line(),
        column: e.marker().col() + 1,
        message: format!("invalid YAML: {}", e.info()),
    })?;
    Ok(builder.root.unwrap_or(Node { value: Value::Null, line: 1, column: 1 }))
}

/// An open sequence or mapping: the node so far, a mapping's key waiting for its value, and
/// the anchor to record the node under once closed.
#[derive(Debug)]
struct Open {
    node: Node,
    key: Option<Node>,
    anchor: usize,
}

#[derive(Debug, Default)]
struct Builder {
    open: Vec<Open>,
    anchors: Vec<(usize, Node)>,
    root: Option<Node>,
}

impl Builder {
    fn push(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.push((anchor, node.clone()));
        }
        match self.open.last_mut() {
            None => self.root = Some(node),
            Some(Open { node: Node { value: Value::Sequence(items), .. }, .. }) => items.push(node),
            Some(Open { node: Node { value: Value::Mapping(entries), .. }, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
            Some(_) => {}
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        let at = |value| Node { value, line: mark.line(), column: mark.col() + 1 };
        match event {
            Event::Scalar(text, style, anchor, _) => {
                let quoted = !matches!(style, TScalarStyle::Plain);
                let value = if !quoted && matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL") {
                    Value::Null
                } else {
                    Value::Scalar(text, quoted)
                };
                self.push(at(value), anchor);
            }
            Event::SequenceStart(anchor, _) => {
                self.open.push(Open { node: at(Value::Sequence(Vec::new())), key: None, anchor });
            }
            Event::MappingStart(anchor, _) => {
                self.open.push(Open { node: at(Value::Mapping(Vec::new())), key: None, anchor });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(Open { mut node, anchor, .. }) = self.open.pop() {
                    // A block mapping's start event is marked at its first value: use its first key.
                    if let Value::Mapping(entries) = &node.value
                        && let Some((key, _)) = entries.first()
                    {
                        (node.line, node.column) = (key.line, key.column);
                    }
                    self.push(node, anchor);
                }
            }
            Event::Alias(id) => {
                let node = self.anchors.iter().rev().find(|(a, _)| *a == id).map(|(_, n)| n.clone());
                self.push(node.unwrap_or_else(|| at(Value::Null)), 0);
            }
            _ => {}
        }
    }
}

/// Reads typed values out of a [`Node`] tree, collecting problems as it goes.
#[derive(Debug, Default)]
pub struct Reader {
    pub problems: Vec<Problem>,
}

impl Reader {
    pub fn problem(&mut self, path: &str, node: &Node, message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.to_owned(),
            line: node.line,
            column: node.column,
            message: message.into(),
        });
    }

    /// The entries of a mapping. `known` lists the allowed keys (every other key is a problem)
    /// and `required` the ones that must be there.
    pub fn mapping<'n>(&mut self, path: &str, node: &'n Node, known: &[&str], required: &[&str]) -> Option<Fields<'n>> {
        let Value::Mapping(entries) = &node.value else {
            self.problem(path, node, format!("expected a mapping, found {}", node.value.kind()));
            return None;
        };
        let mut fields = Fields { entries: Vec::new(), node, path: path.to_owned() };
        for (key, value) in entries {
            let Value::Scalar(name, _) = &key.value else {
                self.problem(path, key, "mapping keys must be strings");
                continue;
            };
            if !known.contains(&name.as_str()) {
                self.problem(
                    &join(path, name),
                    key,
                    format!("unknown key `{name}` (expected one of: {})", known.join(", ")),
                );
                continue;
            }
            if fields.entries.iter().any(|(n, _)| n == name) {
                self.problem(&join(path, name), key, format!("duplicate key `{name}`"));
                continue;
            }
            fields.entries.push((name.clone(), value));
        }
        for name in required {
            if fields.get(name).is_none() {
                self.problem(path, node, format!("missing key `{name}`"));
            }
        }
        Some(fields)
    }

    pub fn string(&mut self, path: &str, node: &Node) -> Option<String> {
        match &node.value {
            Value::Scalar(text, _) => Some(text.clone()),
            other => {
                self.problem(path, node, format!("expected a string, found {}", other.kind()));
                None
            }
        }
    }

    pub fn number(&mut self, path: &str, node: &Node) -> Option<f64> {
        match &node.value {
            Value::Scalar(text, false) => text.parse().ok().or_else(|| {
                self.problem(path, node, format!("expected a number, found `{text}`"));
                None
            }),
            Value::Scalar(text, true) => {
                self.problem(path, node, format!("expected a number, found the string \"{text}\""));
                None
            }
            other => {
                self.problem(path, node, format!("expected a number, found {}", other.kind()));
                None
            }
        }
    }

    /// Each item of a list, read with `item` (which gets the item's path).
    pub fn list<T>(
        &mut self,
        path: &str,
        node: &Node,
        mut item: impl FnMut(&mut Self, &str, &Node) -> Option<T>,
    ) -> Vec<T> {
        match &node.value {
            Value::Sequence(items) => {
                items.iter().enumerate().filter_map(|(i, n)| item(self, &format!("{path}[{i}]"), n)).collect()
            }
            Value::Null => Vec::new(),
            other => {
                self.problem(path, node, format!("expected a list, found {}", other.kind()));
                Vec::new()
            }
        }
    }

    pub fn strings(&mut self, path: &str, node: &Node) -> Vec<String> {
        self.list(path, node, Self::string)
    }
}

/// The known entries of a mapping being read.
#[derive(Debug)]
pub struct Fields<'n> {
    entries: Vec<(String, &'n Node)>,
    pub node: &'n Node,
    pub path: String,
}

impl<'n> Fields<'n> {
    pub fn get(&self, name: &str) -> Option<&'n Node> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, node)| *node)
    }

    /// The path of one of this mapping's keys.
    pub fn path_of(&self, name: &str) -> String {
        join(&self.path, name)
    }

    /// The keys present, in file order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(n, _)| n.as_str())
    }
}

/// A node as JSON: unquoted scalars that read as booleans or numbers become those.
pub fn to_json(node: &Node) -> serde_json::Value {
    match &node.value {
        Value::Null => serde_json::Value::Null,
        Value::Scalar(text, true) => text.clone().into(),
        Value::Scalar(text, false) => match text.as_str() {
            "true" => true.into(),
            "false" => false.into(),
            _ => text
                .parse::<i64>()
                .map(serde_json::Value::from)
                .or_else(|_| text.parse::<f64>().map(serde_json::Value::from))
                .unwrap_or_else(|_| text.clone().into()),
        },
        Value::Sequence(items) => items.iter().map(to_json).collect(),
        Value::Mapping(entries) => entries
            .iter()
            .map(|(k, v)| (if let Value::Scalar(k, _) = &k.value { k.clone() } else { String::new() }, to_json(v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() || path == "$" { key.to_owned() } else { format!("{path}.{key}") }
}

/// One section's fields, read against its defaults.
#[derive(Debug)]
pub struct Section<'r, 'n> {
    pub reader: &'r mut Reader,
    pub fields: Option<Fields<'n>>,
}

impl<'n> Section<'_, 'n> {
    pub fn node(&self, key: &str) -> Option<(String, &'n Node)> {
        let fields = self.fields.as_ref()?;
        Some((fields.path_of(key), fields.get(key)?))
    }

    pub fn string(&mut self, key: &str, default: &str) -> String {
        self.node(key).and_then(|(path, node)| self.reader.string(&path, node)).unwrap_or_else(|| default.into())
    }

    pub fn number(&mut self, key: &str, default: f64, valid: impl Fn(f64) -> bool, expected: &str) -> f64 {
        let Some((path, node)) = self.node(key) else { return default };
        match self.reader.number(&path, node) {
            Some(n) if valid(n) => n,
            Some(n) => {
                self.reader.problem(&path, node, format!("{n} is not {expected}"));
                default
            }
            None => default,
        }
    }

    pub fn count(&mut self, key: &str, default: usize, minimum: usize) -> usize {
        let valid = |n: f64| n.fract() == 0.0 && n >= minimum as f64 && n <= 1e12;
        let value = self.number(key, default as f64, valid, &format!("an integer ≥ {minimum}"));
        // Checked above: a whole number in [minimum, 1e12].
        #[allow(clippy::cast_sign_loss)]
        let value = value as usize;
        value
    }

    pub fn boolean(&mut self, key: &str, default: bool) -> bool {
        let Some((path, node)) = self.node(key) else { return default };
        match &node.value {
            Value::Scalar(text, false) if text == "true" => true,
            Value::Scalar(text, false) if text == "false" => false,
            _ => {
                self.reader.problem(&path, node, "expected true or false");
                default
            }
        }
    }

    pub fn choice<T: Copy>(&mut self, key: &str, default: T, options: &[(&str, T)]) -> T {
        let Some((path, node)) = self.node(key) else { return default };
        let text = self.reader.string(&path, node);
        if let Some(&(_, value)) = options.iter().find(|(name, _)| Some(*name) == text.as_deref()) {
            value
        } else {
            let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
            self.reader.problem(&path, node, format!("expected one of: {}", names.join(", ")));
            default
        }
    }

    pub fn strings(&mut self, key: &str, default: &[String], allowed: &[&str]) -> Vec<String> {
        let Some((path, node)) = self.node(key) else { return default.to_vec() };
        let values = self.reader.strings(&path, node);
        for value in &values {
            if !allowed.contains(&value.as_str()) {
                self.reader.problem(
                    &path,
                    node,
                    format!("unknown `{value}` (expected some of: {})", allowed.join(", ")),
                );
            }
        }
        if values.is_empty() {
            self.reader.problem(&path, node, "must not be empty");
        }
        values
    }
}

/// The mapping `name` of `root` (absent or null: every field takes its default).
pub fn section<'r, 'n>(
    reader: &'r mut Reader,
    root: Option<&Fields<'n>>,
    name: &str,
    keys: &[&str],
) -> Section<'r, 'n> {
    let fields = root
        .and_then(|r| Some((r.path_of(name), r.get(name)?)))
        .and_then(|(path, node)| if node.value == Value::Null { None } else { reader.mapping(&path, node, keys, &[]) });
    Section { reader, fields }
}

/// One line per problem: `file:line:column: key: message`, or `--set key: message` for an
/// override given on the command line (line 0).
pub fn describe(path: &std::path::Path, problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| {
            if p.line == 0 {
                format!("--set {}: {}", p.path, p.message)
            } else {
                format!("{}:{}:{}: {}: {}", path.display(), p.line, p.column, p.path, p.message)
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_quotes_and_aliases() {
        let root = parse("a: 1\nb: '2'\nlist: &l\n  - x\n  - ~\nagain: *l\n").expect("valid");
        let Value::Mapping(entries) = &root.value else { panic!("mapping") };
        assert_eq!(entries[0].1.value, Value::Scalar("1".into(), false));
        assert_eq!(entries[1].1.value, Value::Scalar("2".into(), true));
        assert_eq!((entries[2].1.line, entries[2].1.column), (4, 3));
        assert_eq!(entries[3].1.value, entries[2].1.value);
    }

    #[test]
    fn reader_collects_every_problem() {
        let root = parse("name: 3\nextra: x\nlist: nope\n").expect("valid");
        let mut r = Reader::default();
        let fields = r.mapping("$", &root, &["name", "list", "weight"], &["name", "weight"]).expect("mapping");
        let _ = r.list(&fields.path_of("list"), fields.get("list").expect("list"), Reader::string);
        let messages: Vec<String> = r.problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            messages,
            [
                "2:1: extra: unknown key `extra` (expected one of: name, list, weight)",
                "1:1: $: missing key `weight`",
                "3:7: list: expected a list, found a scalar",
            ]
        );
        assert!(parse("a: [1, 2").is_err());
    }
}
