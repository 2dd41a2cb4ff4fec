//! `configs/serve.yaml`, then the operators' environment, then command-line flags (the CLI sets
//! fields after [`ServeConfig::load`]).

use std::path::{Path, PathBuf};

use codi_assist::AssistOptions;
use codi_yaml::{self as yaml, Reader, Value, section};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What the server admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Request bodies past this are refused (413).
    pub max_body_bytes: usize,
    /// Requests admitted at once; past it 503 with Retry-After.
    pub queue: usize,
    /// Prompts past this many tokens are refused (400).
    pub max_prompt_tokens: usize,
    /// Rows of concurrent decoder steps run as one forward.
    pub max_batch_rows: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServeConfig {
    pub host: String,
    pub port: u16,
    /// false: the rules-only ranker (`mode: heuristic`).
    pub enabled: bool,
    /// A server to rank through (`codi run`'s client); `None`: in process.
    pub endpoint: Option<String>,
    pub model: String,
    pub adapter: Option<PathBuf>,
    /// Where `GET /adapters` looks for adapters.
    pub adapters_dir: PathBuf,
    pub catalog: PathBuf,
    /// Model threads (0: every core).
    pub threads: usize,
    pub timeout_seconds: f64,
    pub telemetry: PathBuf,
    pub airgap_allowlist: Vec<String>,
    /// Requests must carry `Authorization: Bearer <key>` when set.
    pub api_key: Option<String>,
    pub limits: Limits,
    pub assist: AssistOptions,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8081,
            enabled: true,
            endpoint: None,
            model: codi_model::DEFAULT_MODEL.into(),
            adapter: None,
            adapters_dir: "models/adapters".into(),
            catalog: "patterns/rules.yml".into(),
            threads: 0,
            timeout_seconds: 60.0,
            telemetry: "metadata/llm_metrics.json".into(),
            airgap_allowlist: Vec::new(),
            api_key: None,
            limits: Limits { max_body_bytes: 1 << 20, queue: 64, max_prompt_tokens: 2048, max_batch_rows: 64 },
            assist: AssistOptions::default(),
        }
    }
}

/// The environment variables read, by name.
const ENVIRONMENT: [&str; 9] = [
    "LLM_ENABLED",
    "LLM_ENDPOINT",
    "CODE_MODEL",
    "ADAPTER_PATH",
    "MODEL_MOUNT_PATH",
    "LLAMA_CPP_THREADS",
    "LLM_TIMEOUT_SECONDS",
    "AIRGAP_ALLOWLIST",
    "CODI_API_KEY",
];

impl ServeConfig {
    /// The file at `path` (default: `configs/serve.yaml` when it exists, else the defaults),
    /// then the process environment.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        let shipped = Path::new("configs/serve.yaml");
        let config = match path {
            Some(path) => Self::read(path)?,
            None if shipped.is_file() => Self::read(shipped)?,
            None => Self::default(),
        };
        let environment: Vec<(&'static str, String)> =
            ENVIRONMENT.iter().filter_map(|&name| Some((name, std::env::var(name).ok()?))).collect();
        config.with_environment(&environment)
    }

    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let fail = |problems| Error::Config { path: path.to_owned(), problems };
        let root = yaml::parse(text).map_err(|p| fail(vec![p]))?;
        let mut reader = Reader::default();
        let config = if root.value == Value::Null { Self::default() } else { read(&mut reader, &root) };
        if reader.problems.is_empty() { Ok(config) } else { Err(fail(reader.problems)) }
    }

    /// The configuration with `variables` (name, value) applied: a relative model or adapter
    /// path is under MODEL_MOUNT_PATH when that is set.
    pub fn with_environment(mut self, variables: &[(&'static str, String)]) -> Result<Self> {
        let invalid = |name: &'static str, value: &str, message: &str| Error::Environment {
            name,
            value: value.to_owned(),
            message: message.to_owned(),
        };
        let mut mount = None;
        for (name, value) in variables {
            let value = value.trim();
            match *name {
                "LLM_ENABLED" => {
                    self.enabled = match value.to_ascii_lowercase().as_str() {
                        "1" | "true" | "yes" | "on" => true,
                        "0" | "false" | "no" | "off" => false,
                        _ => return Err(invalid(name, value, "expected true or false")),
                    }
                }
                "LLM_ENDPOINT" if !value.is_empty() => self.endpoint = Some(value.to_owned()),
                "CODE_MODEL" if !value.is_empty() => value.clone_into(&mut self.model),
                "ADAPTER_PATH" => self.adapter = (!value.is_empty()).then(|| PathBuf::from(value)),
                "MODEL_MOUNT_PATH" if !value.is_empty() => mount = Some(PathBuf::from(value)),
                "LLAMA_CPP_THREADS" => {
                    self.threads = value.parse().map_err(|_| invalid(name, value, "expected a whole number"))?;
                }
                "LLM_TIMEOUT_SECONDS" => {
                    self.timeout_seconds = value
                        .parse()
                        .ok()
                        .filter(|s: &f64| *s > 0.0 && s.is_finite())
                        .ok_or_else(|| invalid(name, value, "expected a positive number of seconds"))?;
                }
                "AIRGAP_ALLOWLIST" => {
                    self.airgap_allowlist =
                        value.split([',', ' ', '\t']).filter(|h| !h.is_empty()).map(str::to_owned).collect();
                }
                "CODI_API_KEY" => self.api_key = (!value.is_empty()).then(|| value.to_owned()),
                _ => {}
            }
        }
        if let Some(mount) = mount {
            if Path::new(&self.model).is_relative() {
                self.model = mount.join(&self.model).to_string_lossy().into_owned();
            }
            if let Some(adapter) = self.adapter.as_mut().filter(|a| a.is_relative()) {
                *adapter = mount.join(&*adapter);
            }
        }
        Ok(self)
    }

    /// The address to listen on.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Where a client on this machine reaches the server: its address, or loopback when it
    /// listens on every interface (`0.0.0.0`, `::`).
    pub fn local_url(&self) -> String {
        match self.host.as_str() {
            "0.0.0.0" | "" => format!("http://127.0.0.1:{}", self.port),
            "::" | "[::]" => format!("http://[::1]:{}", self.port),
            _ => format!("http://{}", self.address()),
        }
    }
}

fn read(reader: &mut Reader, root: &yaml::Node) -> ServeConfig {
    let d = ServeConfig::default();
    let keys = [
        "host",
        "port",
        "enabled",
        "endpoint",
        "model",
        "adapter",
        "adapters_dir",
        "catalog",
        "threads",
        "timeout_seconds",
        "telemetry",
        "airgap_allowlist",
        "limits",
        "assist",
    ];
    let fields = reader.mapping("", root, &keys, &[]);
    let mut top = codi_yaml::Section { reader, fields };
    let optional = |top: &mut codi_yaml::Section<'_, '_>, key: &str| match top.node(key) {
        Some((_, node)) if node.value == Value::Null => None,
        Some(_) => Some(top.string(key, "")),
        None => None,
    };
    let port = top.count("port", usize::from(d.port), 1);
    let port = u16::try_from(port).unwrap_or_else(|_| {
        if let Some((path, node)) = top.node("port") {
            top.reader.problem(&path, node, "a port is at most 65535");
        }
        d.port
    });
    let allowlist = match top.node("airgap_allowlist") {
        Some((path, node)) => top.reader.strings(&path, node),
        None => Vec::new(),
    };
    let config = ServeConfig {
        host: top.string("host", &d.host),
        port,
        enabled: top.boolean("enabled", d.enabled),
        endpoint: optional(&mut top, "endpoint"),
        model: top.string("model", &d.model),
        adapter: optional(&mut top, "adapter").map(PathBuf::from),
        adapters_dir: top.string("adapters_dir", &d.adapters_dir.to_string_lossy()).into(),
        catalog: top.string("catalog", &d.catalog.to_string_lossy()).into(),
        threads: top.count("threads", d.threads, 0),
        timeout_seconds: top.number("timeout_seconds", d.timeout_seconds, |s| s > 0.0 && s.is_finite(), "positive"),
        telemetry: top.string("telemetry", &d.telemetry.to_string_lossy()).into(),
        airgap_allowlist: allowlist,
        ..d.clone()
    };
    let root_fields = top.fields;
    let reader = top.reader;
    let root_fields = root_fields.as_ref();
    let mut s =
        section(reader, root_fields, "limits", &["max_body_bytes", "queue", "max_prompt_tokens", "max_batch_rows"]);
    let limits = Limits {
        max_body_bytes: s.count("max_body_bytes", d.limits.max_body_bytes, 1),
        queue: s.count("queue", d.limits.queue, 1),
        max_prompt_tokens: s.count("max_prompt_tokens", d.limits.max_prompt_tokens, 1),
        max_batch_rows: s.count("max_batch_rows", d.limits.max_batch_rows, 1),
    };
    let mut s = section(reader, root_fields, "assist", &["batch", "max_explain_tokens", "max_parameter_tokens"]);
    let assist = AssistOptions {
        batch: s.count("batch", d.assist.batch, 1),
        max_explain_tokens: s.count("max_explain_tokens", d.assist.max_explain_tokens, 1),
        max_parameter_tokens: s.count("max_parameter_tokens", d.assist.max_parameter_tokens, 1),
        ..d.assist
    };
    ServeConfig { limits, assist, ..config }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_configuration_is_the_default() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/serve.yaml");
        assert_eq!(ServeConfig::read(&path).expect("configs/serve.yaml reads"), ServeConfig::default());
    }

    #[test]
    fn the_environment_overrides_the_file_and_bad_values_are_named() {
        let variables = [
            ("LLM_ENABLED", "false".to_owned()),
            ("CODE_MODEL", "smollm.gguf".to_owned()),
            ("ADAPTER_PATH", "adapters/a".to_owned()),
            ("MODEL_MOUNT_PATH", "/models".to_owned()),
            ("LLAMA_CPP_THREADS", "3".to_owned()),
            ("AIRGAP_ALLOWLIST", "10.0.0.5, llm.internal".to_owned()),
        ];
        let config = ServeConfig::default().with_environment(&variables).expect("valid");
        assert!(!config.enabled);
        assert_eq!(config.model, "/models/smollm.gguf");
        assert_eq!(config.adapter.as_deref(), Some(Path::new("/models/adapters/a")));
        assert_eq!(config.threads, 3);
        assert_eq!(config.airgap_allowlist, ["10.0.0.5", "llm.internal"]);
        let error = ServeConfig::default()
            .with_environment(&[("LLM_TIMEOUT_SECONDS", "soon".to_owned())])
            .expect_err("not a number");
        assert!(error.to_string().contains("LLM_TIMEOUT_SECONDS=soon"), "{error}");
    }

    #[test]
    fn problems_are_reported_with_their_path_and_line() {
        let error = ServeConfig::parse("port: 70000\nlimits:\n  queue: 0\nextra: 1\n", Path::new("serve.yaml"))
            .expect_err("three problems");
        let text = error.to_string();
        for needle in ["serve.yaml", "port", "limits.queue", "extra"] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
    }
}
