//! The three training styles of a pair (DESIGN §4): raw pretraining text, instruct
//! (`<INPUT>…</INPUT>` / `<OUTPUT>…</OUTPUT>`), and chat messages, which the trainer renders
//! with the model's own chat template.

use serde_json::{Value, json};

#[derive(Debug)]
pub struct Example<'a> {
    pub instruction: &'a str,
    pub input: &'a Value,
    pub output: &'a Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Styles {
    pub raw: String,
    pub instruct: String,
    /// A JSON list of `{role, content}` messages.
    pub chat: String,
}

pub fn render(example: &Example<'_>, system: &str) -> Styles {
    let input = serde_json::to_string_pretty(example.input).unwrap_or_default();
    let output = serde_json::to_string(example.output).unwrap_or_default();
    let prompt = format!("{}\n\n{input}", example.instruction);
    Styles {
        raw: format!("{prompt}\n\nAnswer: {output}\n"),
        instruct: format!("<INPUT>\n{prompt}\n</INPUT>\n<OUTPUT>\n{output}\n</OUTPUT>\n"),
        chat: json!([
            {"role": "system", "content": system},
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": output},
        ])
        .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_styles_carry_the_same_example() {
        let input = json!({"stack": "node"});
        let output = json!({"rule_id": "node-npm-multistage"});
        let styles = render(&Example { instruction: "Choose.", input: &input, output: &output }, "system");
        assert!(styles.instruct.starts_with("<INPUT>\nChoose.\n\n{"));
        assert!(styles.instruct.ends_with("<OUTPUT>\n{\"rule_id\":\"node-npm-multistage\"}\n</OUTPUT>\n"));
        let chat: Vec<Value> = serde_json::from_str(&styles.chat).expect("JSON");
        assert_eq!(chat.len(), 3);
        assert_eq!(chat[2]["content"], "{\"rule_id\":\"node-npm-multistage\"}");
        assert!(styles.raw.contains("Answer: {\"rule_id\""));
    }
}
