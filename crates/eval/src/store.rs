//! The run store, `eval/`: `runs/<YYYYMMDD_HHMM>[-N]/` (results.json, examples.jsonl,
//! config.yaml) and `reports/llm_eval.html`. A run is written into a hidden directory and
//! swapped in (`codi_files::write_dir_atomically`), so a killed run leaves nothing that the
//! report, `codi promote` or `codi lineage` would read.

use std::path::{Path, PathBuf};

use crate::config::EvalConfig;
use crate::error::{Error, Result};
use crate::report::{self, ReportRun};
use crate::results::{ExampleRecord, Results};

/// An `eval/` directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    root: PathBuf,
}

/// A run read back.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRun {
    pub dir: PathBuf,
    pub results: Results,
    pub examples: Vec<ExampleRecord>,
}

impl Store {
    pub fn new(root: &Path) -> Self {
        Self { root: root.to_owned() }
    }

    pub fn runs_dir(&self) -> PathBuf {
        self.root.join("runs")
    }

    pub fn report_path(&self) -> PathBuf {
        self.root.join("reports").join("llm_eval.html")
    }

    /// A fresh run id for now (`-2`, `-3` … when that minute already has one), reserved by
    /// creating its (empty, so unread) directory, and the time.
    pub fn reserve_run_id(&self) -> Result<(String, String)> {
        let now = chrono::Utc::now();
        let minute = now.format("%Y%m%d_%H%M").to_string();
        let runs = self.runs_dir();
        std::fs::create_dir_all(&runs).map_err(|e| Error::io(&runs, e))?;
        let mut n = 1;
        loop {
            let id = if n == 1 { minute.clone() } else { format!("{minute}-{n}") };
            match std::fs::create_dir(runs.join(&id)) {
                Ok(()) => return Ok((id, now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n += 1,
                Err(e) => return Err(Error::io(runs.join(&id), e)),
            }
        }
    }

    /// Writes a run into its reserved directory (swapping a complete one in), then the report
    /// over every run.
    pub fn write(&self, results: &Results, examples: &[ExampleRecord], config: &EvalConfig) -> Result<PathBuf> {
        let dir = self.runs_dir().join(&results.run_id);
        let json = |file: &str| {
            let path = dir.join(file);
            move |source| Error::Json { path, source }
        };
        let mut lines = Vec::new();
        for example in examples {
            serde_json::to_writer(&mut lines, example).map_err(json("examples.jsonl"))?;
            lines.push(b'\n');
        }
        let files = [
            ("results.json", serde_json::to_vec_pretty(results).map_err(json("results.json"))?),
            ("examples.jsonl", lines),
            ("config.yaml", config.to_yaml().into_bytes()),
        ];
        codi_files::write_dir_atomically(&dir, &files).map_err(|e| Error::io(&dir, e))?;
        self.write_report()?;
        Ok(dir)
    }

    /// The ids of the stored runs, oldest first (ids sort by time).
    pub fn run_ids(&self) -> Result<Vec<String>> {
        let runs = self.runs_dir();
        let entries = match std::fs::read_dir(&runs) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&runs, e)),
        };
        let mut ids: Vec<String> = entries
            .filter_map(std::result::Result::ok)
            .filter(|e| e.path().join("results.json").is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| !name.starts_with('.'))
            .collect();
        ids.sort_by_key(|id| sort_key(id));
        Ok(ids)
    }

    pub fn read(&self, id: &str) -> Result<StoredRun> {
        let dir = self.runs_dir().join(id);
        if !dir.join("results.json").is_file() {
            let known = self.run_ids()?;
            return Err(Error::NotFound(format!(
                "no run `{id}` in {} (runs: {})",
                self.runs_dir().display(),
                if known.is_empty() { "none".into() } else { known.join(", ") }
            )));
        }
        let path = dir.join("results.json");
        let text = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let results = serde_json::from_slice(&text).map_err(|source| Error::Json { path: path.clone(), source })?;
        let path = dir.join("examples.jsonl");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let examples = text
            .lines()
            .enumerate()
            .map(|(n, line)| {
                serde_json::from_str(line)
                    .map_err(|source| Error::Json { path: path.with_extension(format!("jsonl:{}", n + 1)), source })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(StoredRun { dir, results, examples })
    }

    /// `reports/llm_eval.html` over every stored run, newest first.
    pub fn write_report(&self) -> Result<PathBuf> {
        let mut runs = self.run_ids()?.iter().map(|id| self.read(id)).collect::<Result<Vec<_>>>()?;
        runs.reverse();
        let views: Vec<ReportRun<'_>> =
            runs.iter().map(|run| ReportRun { results: &run.results, examples: &run.examples }).collect();
        let path = self.report_path();
        codi_files::write_atomically(&path, report::html(&views).as_bytes()).map_err(|e| Error::io(&path, e))?;
        Ok(path)
    }
}

/// `20261202_0130-2` sorts after `20261202_0130` and before `20261202_0130-10`.
fn sort_key(id: &str) -> (String, u32) {
    match id.split_once('-') {
        Some((minute, n)) => (minute.to_owned(), n.parse().unwrap_or(0)),
        None => (id.to_owned(), 1),
    }
}
