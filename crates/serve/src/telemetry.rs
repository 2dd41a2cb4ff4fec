//! `metadata/llm_metrics.json`: one record per ranking, so every answer the server or `codi run`
//! gave can be traced to the model, adapter, rules and machine that produced it.
//!
//! The file is one JSON document, `{"version":1,"records":[...]}`, rewritten whole on each append
//! under an exclusive lock on a sibling `.lock` file: writers in any number of threads and
//! processes serialize on the lock, and readers (who take no lock) see the old document or the
//! new one, never a half-written one, because every write is a temp file renamed into place.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use chrono::{SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::api::{Mode, RankResponse};

/// The document version this code reads and writes.
const VERSION: u64 = 1;

/// One ranking, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankingRecord {
    /// RFC 3339, UTC.
    pub recorded_at: String,
    pub project: String,
    /// Candidate ids, best first.
    pub order: Vec<String>,
    /// Aligned with `order`.
    pub confidence: Vec<f64>,
    pub selected: String,
    pub adapter_version: Option<String>,
    pub base_model: String,
    pub rules_version: String,
    pub latency_ms: f64,
    pub mode: Mode,
    pub environment: Environment,
}

impl RankingRecord {
    /// The record of `response`, stamped now: the one place a ranking becomes a record, so the
    /// server and `codi run` record the same fields the same way.
    pub fn new(
        project: impl Into<String>,
        response: &RankResponse,
        rules_version: impl Into<String>,
        environment: Environment,
    ) -> Self {
        Self {
            recorded_at: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            project: project.into(),
            order: response.ranking.iter().map(|r| r.candidate_id.clone()).collect(),
            confidence: response.ranking.iter().map(|r| r.confidence).collect(),
            selected: response.selected.clone(),
            adapter_version: response.adapter_version.clone(),
            base_model: response.base_model.clone(),
            rules_version: rules_version.into(),
            latency_ms: response.latency_ms,
            mode: response.mode,
            environment,
        }
    }
}

/// Where a ranking ran: enough to tell a laptop run from a cluster node, and an air-gapped
/// endpoint from the embedded model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Environment {
    pub host: String,
    pub os: String,
    pub arch: String,
    pub threads: usize,
    pub codi_version: String,
    pub llm_enabled: bool,
    pub endpoint: Option<String>,
}

impl Environment {
    /// This machine and build, with the serving settings the caller knows.
    pub fn capture(threads: usize, llm_enabled: bool, endpoint: Option<String>) -> Self {
        Self {
            host: hostname(),
            os: std::env::consts::OS.to_owned(),
            arch: std::env::consts::ARCH.to_owned(),
            threads,
            codi_version: env!("CARGO_PKG_VERSION").to_owned(),
            llm_enabled,
            endpoint,
        }
    }
}

/// `/etc/hostname` (a container's own name), else `HOSTNAME`, else `unknown`.
fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().map(|name| name.trim().to_owned()).filter(|name| !name.is_empty()))
        .unwrap_or_else(|| "unknown".to_owned())
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: invalid JSON: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// Written by another codi: left as it is rather than rewritten in a format it may not read.
    #[error(
        "{path}: telemetry version {found}, this codi writes version {VERSION}; move the file aside to record here"
    )]
    Version { path: PathBuf, found: u64 },
}

impl TelemetryError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io { path: path.to_owned(), source }
    }
}

#[derive(Serialize, Deserialize)]
struct Document {
    version: u64,
    records: Vec<RankingRecord>,
}

/// Read first on its own, so a newer document whose records do not parse here is refused by
/// version instead of being taken for a corrupt one.
#[derive(Deserialize)]
struct Header {
    version: u64,
}

/// The telemetry file. Cheap to create; each call opens what it needs.
#[derive(Debug, Clone)]
pub struct Telemetry {
    path: PathBuf,
}

impl Telemetry {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `record` atomically. A file that is not a telemetry document is never
    /// overwritten: it is renamed to `llm_metrics.json.corrupt-<timestamp>` and a new document
    /// started; the returned path names it, so the caller can say so (nothing is lost silently).
    pub fn append(&self, record: &RankingRecord) -> Result<Option<PathBuf>, TelemetryError> {
        self.append_all(std::slice::from_ref(record))
    }

    /// Appends `records` in one atomic write (what a busy server does with the rankings that
    /// arrived while the last write ran); otherwise as [`Self::append`].
    pub fn append_all(&self, records: &[RankingRecord]) -> Result<Option<PathBuf>, TelemetryError> {
        let dir = self.path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| TelemetryError::io(dir, e))?;
        let lock_path = sibling(&self.path, ".lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| TelemetryError::io(&lock_path, e))?;
        lock.lock().map_err(|e| TelemetryError::io(&lock_path, e))?;
        let appended = self.append_locked(records);
        // Closing the file would release the lock too; unlocking says where it ends. An append
        // error is the one worth reporting.
        let unlocked = lock.unlock();
        let set_aside = appended?;
        unlocked.map_err(|e| TelemetryError::io(&lock_path, e))?;
        Ok(set_aside)
    }

    fn append_locked(&self, records: &[RankingRecord]) -> Result<Option<PathBuf>, TelemetryError> {
        let (mut document, set_aside) = match self.load()? {
            Loaded::Missing => (Document { version: VERSION, records: Vec::new() }, None),
            Loaded::Document(document) => (document, None),
            Loaded::Corrupt(_) => {
                let aside = self.set_aside()?;
                (Document { version: VERSION, records: Vec::new() }, Some(aside))
            }
        };
        document.records.extend_from_slice(records);
        let mut bytes = serde_json::to_vec_pretty(&document)
            .map_err(|e| TelemetryError::Json { path: self.path.clone(), source: e })?;
        bytes.push(b'\n');
        codi_files::write_atomically(&self.path, &bytes).map_err(|e| TelemetryError::io(&self.path, e))?;
        Ok(set_aside)
    }

    /// Every record, oldest first (none when the file does not exist yet).
    pub fn read(&self) -> Result<Vec<RankingRecord>, TelemetryError> {
        match self.load()? {
            Loaded::Missing => Ok(Vec::new()),
            Loaded::Document(document) => Ok(document.records),
            Loaded::Corrupt(source) => Err(TelemetryError::Json { path: self.path.clone(), source }),
        }
    }

    fn load(&self) -> Result<Loaded, TelemetryError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Loaded::Missing),
            Err(e) => return Err(TelemetryError::io(&self.path, e)),
        };
        let header: Header = match serde_json::from_slice(&bytes) {
            Ok(header) => header,
            Err(e) => return Ok(Loaded::Corrupt(e)),
        };
        if header.version != VERSION {
            return Err(TelemetryError::Version { path: self.path.clone(), found: header.version });
        }
        Ok(serde_json::from_slice(&bytes).map_or_else(Loaded::Corrupt, Loaded::Document))
    }

    /// Renames the unreadable file beside itself, under a name no earlier one took.
    fn set_aside(&self) -> Result<PathBuf, TelemetryError> {
        let stamp = Utc::now().format("%Y%m%dT%H%M%S%.3fZ").to_string();
        let mut aside = sibling(&self.path, &format!(".corrupt-{stamp}"));
        let mut n = 1;
        while aside.try_exists().map_err(|e| TelemetryError::io(&aside, e))? {
            n += 1;
            aside = sibling(&self.path, &format!(".corrupt-{stamp}-{n}"));
        }
        std::fs::rename(&self.path, &aside).map_err(|e| TelemetryError::io(&self.path, e))?;
        Ok(aside)
    }
}

enum Loaded {
    Missing,
    Document(Document),
    Corrupt(serde_json::Error),
}

/// `path` with `suffix` appended to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}
