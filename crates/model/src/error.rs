use std::path::PathBuf;

/// Everything that can go wrong loading or running a model. Errors about a file name the file,
/// and the tensor or byte offset where that makes sense.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A malformed GGUF or safetensors file: `at` is the byte offset or the tensor name.
    #[error("{path}: {at}: {message}")]
    Format { path: PathBuf, at: String, message: String },
    /// A well-formed file that does not fit the model (missing tensor, wrong shape, unknown
    /// architecture …).
    #[error("{path}: {message}")]
    Mismatch { path: PathBuf, message: String },
    #[error("{path}: invalid JSON: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("chat template: {0}")]
    Template(String),
    #[error("model `{id}` not found: {message}")]
    NotFound { id: String, message: String },
    /// An adapter that does not verify against the base it is loaded onto.
    #[error("{}: the adapter does not verify:\n{}", dir.display(), problems.join("\n"))]
    Adapter { dir: PathBuf, problems: Vec<String> },
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    pub(crate) fn format(path: impl Into<PathBuf>, at: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Format { path: path.into(), at: at.into(), message: message.into() }
    }

    pub(crate) fn mismatch(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::Mismatch { path: path.into(), message: message.into() }
    }
}
