//! The run log: TensorBoard scalars and the same points as JSON lines (`metrics.jsonl`).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value as Json};

use crate::error::{Error, Result};
use crate::tensorboard::EventWriter;

#[derive(Debug)]
pub struct RunLog {
    events: EventWriter,
    jsonl_path: PathBuf,
    jsonl: File,
}

impl RunLog {
    /// Opens the log in `dir`; a resumed run appends to the JSON lines and adds an event file.
    pub fn open(dir: &Path) -> Result<Self> {
        let events = EventWriter::create(dir)?;
        let jsonl_path = dir.join("metrics.jsonl");
        let jsonl =
            OpenOptions::new().create(true).append(true).open(&jsonl_path).map_err(|e| Error::io(&jsonl_path, e))?;
        Ok(Self { events, jsonl_path, jsonl })
    }

    pub fn events_path(&self) -> &Path {
        self.events.path()
    }

    /// Logs `scalars` (tag, value) at `step`.
    pub fn scalars(&mut self, step: usize, scalars: &[(&str, f64)]) -> Result<()> {
        let mut line = Map::new();
        line.insert("step".into(), step.into());
        for &(tag, value) in scalars {
            self.events.scalar(tag, step, value)?;
            line.insert(tag.into(), Json::from(value));
        }
        let mut text = Json::Object(line).to_string();
        text.push('\n');
        self.jsonl.write_all(text.as_bytes()).map_err(|e| Error::io(&self.jsonl_path, e))
    }
}
