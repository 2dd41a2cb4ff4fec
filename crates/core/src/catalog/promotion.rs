//! Appending a promotion to `llm_assist.promotions` in the catalog's text, leaving every other
//! byte — comments, order, quoting — as it was: the file is the team's, reviewed by hand.

use std::fmt::Write as _;
use std::path::Path;

use codi_yaml::{Node, Problem, Value};
use serde_json::Value as Json;

use super::{Catalog, Promotion};
use crate::{Error, Result};

/// Appends `promotions` to the catalog file at `path` in one atomic write (all or none), after
/// checking that the result still validates (templates in `templates`) and ends with them.
pub fn append_promotions(path: &Path, templates: Option<&Path>, promotions: &[Promotion]) -> Result<()> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
    let catalog_error = |problems| Error::Catalog { path: path.to_owned(), problems };
    let mut edited = text;
    for promotion in promotions {
        edited = with_promotion(&edited, promotion).map_err(|p| catalog_error(vec![p]))?;
    }
    let catalog = Catalog::parse(&edited, templates).map_err(catalog_error)?;
    if !catalog.llm_assist.promotions.ends_with(promotions) {
        let problem = Problem {
            path: "llm_assist.promotions".into(),
            line: 1,
            column: 1,
            message: "the edited catalog does not end with the new promotions".into(),
        };
        return Err(catalog_error(vec![problem]));
    }
    codi_files::write_atomically(path, edited.as_bytes()).map_err(|source| Error::Io { path: path.to_owned(), source })
}

/// The catalog text with `promotion` appended to `llm_assist.promotions` (created when absent).
/// A promotion whose id is already there is refused.
pub fn with_promotion(text: &str, promotion: &Promotion) -> std::result::Result<String, Problem> {
    let root = codi_yaml::parse(text)?;
    let problem = |node: &Node, message: String| Problem {
        path: "llm_assist.promotions".into(),
        line: node.line,
        column: node.column,
        message,
    };
    let (assist_key, assist) =
        entry(&root, "llm_assist").ok_or_else(|| problem(&root, "no `llm_assist` mapping".into()))?;
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let offset = |line: usize| lines[..line.min(lines.len())].iter().map(|l| l.len()).sum::<usize>();
    let Some((key, list)) = entry(assist, "promotions") else {
        // No list yet: a new key after the last line of the llm_assist block.
        let indent = match &assist.value {
            Value::Mapping(entries) => entries.first().map_or(assist_key.column + 1, |(k, _)| k.column - 1),
            _ => return Err(problem(assist, "`llm_assist` is not a mapping".into())),
        };
        let end = block_end(&lines, assist_key.line, assist_key.column - 1);
        let item = format!("{}promotions:\n{}", " ".repeat(indent), item(promotion, indent + 2));
        return Ok(insert(text, offset(end), &item));
    };
    let Value::Sequence(items) = &list.value else {
        return Err(problem(list, "`promotions` is not a list".into()));
    };
    if items.iter().any(|i| i.scalar_at("id") == Some(promotion.id.as_str())) {
        return Err(problem(list, format!("promotion {} is already there", promotion.id)));
    }
    let indent = key.column - 1;
    let line = lines[key.line - 1];
    if items.is_empty() {
        // `promotions: []` (flow) becomes a block list on the lines below the key.
        let Some(at) = line.find("[]") else {
            return Err(problem(list, "an empty `promotions` must be written `promotions: []`".into()));
        };
        let start = offset(key.line - 1);
        let rest = line[at + 2..].trim_end_matches(['\n', '\r']);
        let replaced = format!("{}{rest}\n{}", line[..at].trim_end(), item(promotion, indent + 2));
        return Ok(format!("{}{replaced}{}", &text[..start], &text[start + line.len()..]));
    }
    if list.line == key.line {
        return Err(problem(list, "`promotions` is a flow list; write it as a block list (`- id: …`)".into()));
    }
    let item_indent = items[0].column.saturating_sub(3);
    let end = block_end(&lines, key.line, indent);
    Ok(insert(text, offset(end), &item(promotion, item_indent)))
}

/// The catalog's version, as adapters and eval runs record it: the sha256 of its text without
/// the `llm_assist.promotions` block, so that a promotion (appended there) leaves it unchanged.
pub fn rules_version(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
    let stripped = without_promotions(&text)
        .map_err(|problem| Error::Catalog { path: path.to_owned(), problems: vec![problem] })?;
    Ok(codi_files::sha256_hex(stripped.as_bytes()))
}

/// The catalog text without the `promotions` key of `llm_assist` and its block.
fn without_promotions(text: &str) -> std::result::Result<String, Problem> {
    let root = codi_yaml::parse(text)?;
    let Some((key, _)) = entry(&root, "llm_assist").and_then(|(_, assist)| entry(assist, "promotions")) else {
        return Ok(text.to_owned());
    };
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let end = block_end(&lines, key.line, key.column - 1);
    Ok(lines[..key.line - 1].concat() + &lines[end..].concat())
}

/// The key and value of `name` in a mapping node.
fn entry<'n>(node: &'n Node, name: &str) -> Option<(&'n Node, &'n Node)> {
    let Value::Mapping(entries) = &node.value else { return None };
    entries.iter().find_map(|(k, v)| matches!(&k.value, Value::Scalar(key, _) if key == name).then_some((k, v)))
}

/// The index of the first line after the block that starts at 1-based line `start` with its key
/// at `indent`: blank and comment lines inside count only when more of the block follows them.
fn block_end(lines: &[&str], start: usize, indent: usize) -> usize {
    let mut end = start;
    for (i, line) in lines.iter().enumerate().skip(start) {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let depth = line.len() - trimmed.len();
        // A list may sit at its key's own indentation (`key:\n- item`).
        if depth > indent || (depth == indent && trimmed.starts_with("- ")) {
            end = i + 1;
        } else {
            break;
        }
    }
    end
}

fn insert(text: &str, at: usize, addition: &str) -> String {
    let (before, after) = text.split_at(at);
    let newline = if before.is_empty() || before.ends_with('\n') { "" } else { "\n" };
    format!("{before}{newline}{addition}{after}")
}

/// One list item at `indent`: `- id: …` and the other keys below it; strings are written
/// double-quoted (JSON's escapes are YAML's).
fn item(promotion: &Promotion, indent: usize) -> String {
    let fields = [
        ("id", Json::from(promotion.id.as_str())),
        ("rule_id", Json::from(promotion.rule_id.as_str())),
        ("adapter_version", Json::from(promotion.adapter_version.as_str())),
        ("promoted_at", Json::from(promotion.promoted_at.as_str())),
    ];
    let mut out = String::new();
    for (i, (key, value)) in fields.iter().enumerate() {
        let lead = if i == 0 { format!("{}- ", " ".repeat(indent)) } else { " ".repeat(indent + 2) };
        let _ = writeln!(out, "{lead}{key}: {}", scalar(value));
    }
    let _ = write!(out, "{}metrics:", " ".repeat(indent + 2));
    block(&promotion.metrics, indent + 4, &mut out);
    out
}

/// A mapping as block YAML on the lines after its key; anything else inline.
fn block(value: &Json, indent: usize, out: &mut String) {
    match value {
        Json::Object(fields) if !fields.is_empty() => {
            out.push('\n');
            for (key, value) in fields {
                let _ = write!(out, "{}{}:", " ".repeat(indent), scalar(&Json::from(key.as_str())));
                block(value, indent + 2, out);
            }
        }
        other => {
            let _ = writeln!(out, " {}", scalar(other));
        }
    }
}

/// A JSON value as a YAML flow value: JSON is valid flow YAML.
fn scalar(value: &Json) -> String {
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn promotion(id: &str) -> Promotion {
        Promotion {
            id: id.into(),
            rule_id: "node-npm-multistage".into(),
            adapter_version: "smollm2-135m-codi@2026-12-01".into(),
            promoted_at: "2026-12-01T12:00:00Z".into(),
            metrics: serde_json::json!({"eval_run": "20261201_1200", "sample_size": 68, "win_rate": 0.61,
                                        "ci95": [0.52, 0.7], "by_stack": {"node": {"won": true}}}),
        }
    }

    const CATALOG: &str = "# the team's catalog\nllm_assist:\n  ranking_weights: {a: 1}  # weights\n  promotions: []  # none yet\n  compatibility:\n    - \"one\"\nafter: 1\n";

    #[test]
    fn an_empty_flow_list_becomes_a_block_list_and_nothing_else_changes() {
        let edited = with_promotion(CATALOG, &promotion("LLM-PROMO-20261201-NODE")).expect("edit");
        let before: Vec<&str> = CATALOG.lines().collect();
        let after: Vec<&str> = edited.lines().collect();
        assert_eq!(after[..3], before[..3]);
        assert_eq!(after[3], "  promotions:  # none yet");
        assert_eq!(after[4], "    - id: \"LLM-PROMO-20261201-NODE\"");
        assert_eq!(after[after.len() - 3..], before[before.len() - 3..]);
        let root = codi_yaml::parse(&edited).expect("valid YAML");
        let json = codi_yaml::to_json(&root);
        assert_eq!(json["llm_assist"]["promotions"][0]["metrics"]["ci95"], serde_json::json!([0.52, 0.7]));
        assert_eq!(json["llm_assist"]["promotions"][0]["metrics"]["by_stack"]["node"]["won"], true);
        assert_eq!(json["after"], 1);
    }

    #[test]
    fn a_block_list_gets_the_item_at_its_end_and_repeats_are_refused() {
        let once = with_promotion(CATALOG, &promotion("P1")).expect("first");
        let twice = with_promotion(&once, &promotion("P2")).expect("second");
        assert!(twice.starts_with(&once[..once.find("  compatibility:").expect("key")]));
        let json = codi_yaml::to_json(&codi_yaml::parse(&twice).expect("valid YAML"));
        let ids: Vec<&str> = json["llm_assist"]["promotions"]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|p| p["id"].as_str())
            .collect();
        assert_eq!(ids, ["P1", "P2"]);
        assert!(twice.ends_with("  compatibility:\n    - \"one\"\nafter: 1\n"));
        let repeated = with_promotion(&twice, &promotion("P1")).expect_err("a repeated id");
        assert!(repeated.message.contains("already there"), "{repeated}");
    }

    #[test]
    fn a_missing_list_is_created_inside_llm_assist() {
        let text = "llm_assist:\n  ranking_weights: {a: 1}\n\n# trailing comment\nother: 2\n";
        let edited = with_promotion(text, &promotion("P1")).expect("edit");
        assert!(edited.starts_with("llm_assist:\n  ranking_weights: {a: 1}\n  promotions:\n    - id: \"P1\"\n"));
        assert!(edited.ends_with("\n\n# trailing comment\nother: 2\n"));
        assert!(with_promotion("rules: []\n", &promotion("P1")).is_err());
    }
}
