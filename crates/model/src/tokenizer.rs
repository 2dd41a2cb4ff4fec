//! Tokenizer (Hugging Face `tokenizers`, from `tokenizer.json` or rebuilt from GGUF metadata)
//! and chat templates (rendered with minijinja, as transformers renders them with Jinja2).

use std::path::Path;

use minijinja::{Environment, ErrorKind, context};
use serde::Serialize;
use serde_json::{Value as Json, json};

use crate::error::{Error, Result};
use crate::gguf::{Gguf, Value};

/// One chat turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: &str, content: &str) -> Self {
        Self { role: role.into(), content: content.into() }
    }
}

#[derive(Debug, Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    chat_template: Option<String>,
    bos_token: Option<String>,
    eos_token: Option<String>,
    /// Token ids that end a generation.
    eos_ids: Vec<u32>,
    pad_id: Option<u32>,
}

impl Tokenizer {
    /// `tokenizer.json`, with the chat template and special tokens of `tokenizer_config.json`
    /// beside it when there is one.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        Self::from_file(&dir.join("tokenizer.json"), Some(&dir.join("tokenizer_config.json")))
    }

    /// A `tokenizer.json` file, with the chat template and special tokens of a
    /// `tokenizer_config.json` when one is given and exists.
    pub fn from_file(path: &Path, config_path: Option<&Path>) -> Result<Self> {
        let inner =
            tokenizers::Tokenizer::from_file(path).map_err(|e| Error::Tokenizer(format!("{}: {e}", path.display())))?;
        let config: Json = match config_path.filter(|p| p.is_file()) {
            Some(config_path) => {
                let text = std::fs::read(config_path).map_err(|e| Error::io(config_path, e))?;
                serde_json::from_slice(&text).map_err(|source| Error::Json { path: config_path.to_owned(), source })?
            }
            None => Json::Null,
        };
        let token = |key: &str| match config.get(key) {
            Some(Json::String(s)) => Some(s.clone()),
            Some(Json::Object(o)) => o.get("content").and_then(Json::as_str).map(str::to_owned),
            _ => None,
        };
        let (bos_token, eos_token, pad_token) = (token("bos_token"), token("eos_token"), token("pad_token"));
        let id = |t: &Option<String>| t.as_deref().and_then(|t| inner.token_to_id(t));
        let eos_ids = id(&eos_token).into_iter().collect();
        let pad_id = id(&pad_token);
        let chat_template = config.get("chat_template").and_then(Json::as_str).map(str::to_owned);
        Ok(Self { inner, chat_template, bos_token, eos_token, eos_ids, pad_id })
    }

    /// Rebuilds the tokenizer a GGUF file describes (`tokenizer.ggml.*`, gpt2-style BPE).
    pub fn from_gguf(gguf: &Gguf) -> Result<Self> {
        let fail = |key: &str, message: String| Error::format(&gguf.path, key, message);
        let model = gguf.require_str("tokenizer.ggml.model")?;
        if model != "gpt2" {
            return Err(fail(
                "tokenizer.ggml.model",
                format!("`{model}` tokenizers are not supported (gpt2 byte-level BPE is)"),
            ));
        }
        let strings = |key: &str| -> Result<Vec<&str>> {
            let items = gguf.require(key)?.as_array().ok_or_else(|| fail(key, "not an array".into()))?;
            items.iter().map(|v| v.as_str().ok_or_else(|| fail(key, "not an array of strings".into()))).collect()
        };
        let tokens = strings("tokenizer.ggml.tokens")?;
        let merges: Vec<Json> = strings("tokenizer.ggml.merges")?
            .into_iter()
            .map(|m| {
                m.split_once(' ')
                    .map(|(a, b)| json!([a, b]))
                    .ok_or_else(|| fail("tokenizer.ggml.merges", format!("merge `{m}` has no space")))
            })
            .collect::<Result<_>>()?;
        let types: Vec<u64> = match gguf.get("tokenizer.ggml.token_type").and_then(Value::as_array) {
            Some(items) => items.iter().map(|v| v.as_u64().unwrap_or(1)).collect(),
            None => vec![1; tokens.len()],
        };
        let mut vocab = serde_json::Map::with_capacity(tokens.len());
        let mut added = Vec::new();
        for (id, token) in tokens.iter().enumerate() {
            vocab.insert((*token).to_owned(), json!(id));
            // 3: control, 4: user-defined (llama.cpp's llama_token_type).
            if let Some(&kind @ (3 | 4)) = types.get(id) {
                added.push(json!({"id": id, "content": token, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": kind == 3}));
            }
        }
        let byte_level = |use_regex: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex});
        let pre = gguf.get("tokenizer.ggml.pre").and_then(Value::as_str).unwrap_or("default");
        let pre_tokenizer = match pre {
            "default" | "gpt-2" | "gpt2" => byte_level(true),
            // SmolLM: every digit is its own piece before the GPT-2 split (as llama.cpp does).
            "smollm" => {
                json!({"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": true}, byte_level(true)]})
            }
            "qwen2" => json!({"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": QWEN2_PATTERN}, "behavior": "Isolated", "invert": false},
                byte_level(false)]}),
            other => return Err(fail("tokenizer.ggml.pre", format!("unsupported pre-tokenizer `{other}`"))),
        };
        let spec = json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": added,
            "normalizer": null,
            "pre_tokenizer": pre_tokenizer,
            "post_processor": null,
            "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
            "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": "", "end_of_word_suffix": "",
                      "fuse_unk": false, "byte_fallback": false, "ignore_merges": false, "vocab": vocab, "merges": merges},
        });
        let inner: tokenizers::Tokenizer =
            spec.to_string().parse().map_err(|e| Error::Tokenizer(format!("{}: {e}", gguf.path.display())))?;
        let id_key = |key: &str| {
            gguf.get(key)
                .and_then(Value::as_u64)
                .and_then(|v| u32::try_from(v).ok())
                .filter(|&v| (v as usize) < tokens.len())
        };
        let bos = id_key("tokenizer.ggml.bos_token_id");
        let eos = id_key("tokenizer.ggml.eos_token_id");
        let name = |id: Option<u32>| id.map(|i| tokens[i as usize].to_owned());
        Ok(Self {
            inner,
            chat_template: gguf.get("tokenizer.chat_template").and_then(Value::as_str).map(str::to_owned),
            bos_token: name(bos),
            eos_token: name(eos),
            eos_ids: eos.into_iter().collect(),
            pad_id: id_key("tokenizer.ggml.padding_token_id"),
        })
    }

    /// Token ids of `text`, special tokens written in the text included, nothing added.
    /// `tokenizer.json` and a `tokenizer_config.json` with the chat template and special
    /// tokens: the files [`Self::from_dir`] reads back.
    pub fn to_files(&self) -> Result<[(&'static str, Vec<u8>); 2]> {
        let tokenizer = self.inner.to_string(false).map_err(|e| Error::Tokenizer(e.to_string()))?;
        let pad_token = self.pad_id.and_then(|id| self.inner.id_to_token(id));
        let config = serde_json::json!({
            "bos_token": self.bos_token,
            "eos_token": self.eos_token,
            "pad_token": pad_token,
            "chat_template": self.chat_template,
        });
        let config = serde_json::to_vec_pretty(&config).map_err(|e| Error::Tokenizer(e.to_string()))?;
        Ok([("tokenizer.json", tokenizer.into_bytes()), ("tokenizer_config.json", config)])
    }

    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self.inner.encode(text, false).map_err(|e| Error::Tokenizer(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner.decode(ids, false).map_err(|e| Error::Tokenizer(e.to_string()))
    }

    pub fn token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub fn eos_ids(&self) -> &[u32] {
        &self.eos_ids
    }

    /// The padding id (EOS when the model names none).
    pub fn pad_id(&self) -> u32 {
        self.pad_id.or_else(|| self.eos_ids.first().copied()).unwrap_or(0)
    }

    pub fn chat_template(&self) -> Option<&str> {
        self.chat_template.as_deref()
    }

    /// Renders `messages` with the model's chat template.
    pub fn apply_chat_template(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        let template =
            self.chat_template.as_deref().ok_or_else(|| Error::Template("the model has no chat template".into()))?;
        let mut env = Environment::new();
        // transformers renders chat templates with trim_blocks and lstrip_blocks.
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .map_err(|e| Error::Template(e.to_string()))?;
        env.set_syntax(syntax);
        env.add_function("raise_exception", |message: String| -> std::result::Result<String, minijinja::Error> {
            Err(minijinja::Error::new(ErrorKind::InvalidOperation, message))
        });
        env.add_template("chat", template).map_err(|e| Error::Template(e.to_string()))?;
        let rendered = env
            .get_template("chat")
            .and_then(|t| {
                t.render(context! {
                    messages => minijinja::Value::from(minijinja::value::Serde(messages)),
                    add_generation_prompt => add_generation_prompt,
                    bos_token => self.bos_token.as_deref().unwrap_or_default(),
                    eos_token => self.eos_token.as_deref().unwrap_or_default(),
                })
            })
            .map_err(|e| Error::Template(e.to_string()))?;
        Ok(rendered)
    }
}

/// Qwen2's pre-tokenizer split (from its tokenizer.json).
const QWEN2_PATTERN: &str =
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
