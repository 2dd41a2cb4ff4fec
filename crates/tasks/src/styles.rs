//! A prompt and its answer in the three training styles (DESIGN §4): raw pretraining text,
//! instruct (`<INPUT>…</INPUT>` / `<OUTPUT>…</OUTPUT>`), and chat messages, which the trainer
//! and the server render with the model's own chat template.

use serde::{Deserialize, Serialize};

use crate::prompt::Prompt;

/// One chat turn, as the pairs' `chat` column stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: &str, content: impl Into<String>) -> Self {
        Self { role: role.to_owned(), content: content.into() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Styles {
    pub raw: String,
    pub instruct: String,
    /// A JSON list of `{role, content}` messages.
    pub chat: String,
}

impl Styles {
    pub fn render(prompt: &Prompt, answer: &str) -> Self {
        let text = prompt.text();
        let [system, user] = prompt.messages();
        let chat = [system, user, Message::new("assistant", answer)];
        Self {
            raw: format!("{text}\n\nAnswer: {answer}\n"),
            instruct: format!("<INPUT>\n{text}\n</INPUT>\n<OUTPUT>\n{answer}\n</OUTPUT>\n"),
            chat: serde_json::to_string(&chat).unwrap_or_default(),
        }
    }
}
