//! What every data stage shares (DESIGN §1, §9): its files, sharding across a job array,
//! incremental reuse by content hash, stats whose counts reconcile, and progress reporting.
//!
//! A stage writes `<dir>/<table>.parquet`, `<dir>/rejects.parquet` and `<dir>/stats.json`. With
//! `--shard i/N` it handles only the ids that fall in shard `i` and writes
//! `<dir>/parts/<table>.<i>-of-<N>.parquet` (and the matching rejects and stats) instead, so that
//! the N jobs of an array never write the same file. Readers read the canonical table and every
//! part; a later run without `--shard` reuses all of them and writes the canonical table alone.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::records::{Derived, Keyed, Reject, id_key};
use crate::table::{TableReader, TableWriter, has_schema_of};
use crate::{Error, Result};

/// Shard `index` of `count` (`--shard 3/8`); [`Shard::ALL`] is the whole input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    pub const ALL: Self = Self { index: 0, count: 1 };

    /// Whether this shard handles `id` (ids are spread by their hash).
    pub fn owns(&self, id: &str) -> bool {
        self.count <= 1 || (id_key(id) % u128::from(self.count)) == u128::from(self.index)
    }

    pub fn is_all(&self) -> bool {
        self.count <= 1
    }
}

impl FromStr for Shard {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let invalid = |message: String| Error::Shard { text: text.to_owned(), message };
        let (index, count) = text.split_once('/').ok_or_else(|| invalid("expected i/N, such as 0/8".into()))?;
        let index: u32 = index.trim().parse().map_err(|_| invalid("the shard index is not a number".into()))?;
        let count: u32 = count.trim().parse().map_err(|_| invalid("the shard count is not a number".into()))?;
        if count == 0 || index >= count {
            return Err(invalid(format!(
                "the index must be below the count (0/{count} … {}/{count})",
                count.max(1) - 1
            )));
        }
        Ok(Self { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The files of one stage's output directory.
#[derive(Debug, Clone)]
pub struct StageFiles {
    pub dir: PathBuf,
    /// The table's file stem (`labeled`, `curated` …).
    pub table: String,
}

impl StageFiles {
    pub fn new(dir: impl Into<PathBuf>, table: &str) -> Self {
        Self { dir: dir.into(), table: table.to_owned() }
    }

    fn named(&self, stem: &str, extension: &str, shard: Shard) -> PathBuf {
        if shard.is_all() {
            self.dir.join(format!("{stem}.{extension}"))
        } else {
            self.dir.join("parts").join(format!("{stem}.{}-of-{}.{extension}", shard.index, shard.count))
        }
    }

    pub fn data(&self, shard: Shard) -> PathBuf {
        self.named(&self.table, "parquet", shard)
    }

    pub fn rejects(&self, shard: Shard) -> PathBuf {
        self.named("rejects", "parquet", shard)
    }

    pub fn stats(&self, shard: Shard) -> PathBuf {
        self.named("stats", "json", shard)
    }

    /// The canonical table and every shard part that exist, in a stable order.
    pub fn data_parts(&self) -> Vec<PathBuf> {
        let mut parts: Vec<PathBuf> = std::fs::read_dir(self.dir.join("parts"))
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        p.file_name().is_some_and(|n| {
                            let n = n.to_string_lossy();
                            n.starts_with(&format!("{}.", self.table)) && n.ends_with(".parquet")
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        parts.sort();
        let canonical = self.data(Shard::ALL);
        if canonical.is_file() {
            parts.insert(0, canonical);
        }
        parts
    }

    /// After a run over the whole input: the shard parts it merged are obsolete.
    pub fn remove_parts(&self) -> Result<()> {
        let dir = self.dir.join("parts");
        if dir.is_dir() {
            std::fs::remove_dir_all(&dir).map_err(|source| Error::Io { path: dir, source })?;
        }
        Ok(())
    }
}

/// A stage's counts. They reconcile: `input = output + rejected`, and `rejected` is the sum of
/// `rejected_by_reason`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub stage: String,
    /// The stage's version and options: previous outputs are reused only when it matches.
    pub fingerprint: String,
    pub shard: String,
    pub input: u64,
    pub output: u64,
    pub rejected: u64,
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// Rows copied from a previous run (same content hash, same fingerprint).
    pub reused: u64,
    /// Rows computed in this run.
    pub computed: u64,
    /// Further breakdowns: `by_stack`, `by_license`, `redactions_by_kind` …
    pub counts: BTreeMap<String, BTreeMap<String, u64>>,
    pub seconds: f64,
}

impl Stats {
    pub fn new(stage: &str, fingerprint: &str, shard: Shard) -> Self {
        Self {
            stage: stage.to_owned(),
            fingerprint: fingerprint.to_owned(),
            shard: shard.to_string(),
            ..Self::default()
        }
    }

    pub fn reject(&mut self, reason: &str) {
        self.rejected += 1;
        *self.rejected_by_reason.entry(reason.to_owned()).or_default() += 1;
    }

    pub fn count(&mut self, table: &str, key: &str) {
        self.add(table, key, 1);
    }

    pub fn add(&mut self, table: &str, key: &str, n: u64) {
        *self.counts.entry(table.to_owned()).or_default().entry(key.to_owned()).or_default() += n;
    }

    /// Why the counts do not add up, if they do not.
    pub fn discrepancy(&self) -> Option<String> {
        let by_reason: u64 = self.rejected_by_reason.values().sum();
        if self.input != self.output + self.rejected {
            Some(format!("input {} != output {} + rejected {}", self.input, self.output, self.rejected))
        } else if by_reason != self.rejected {
            Some(format!("rejected {} != the sum by reason {by_reason}", self.rejected))
        } else {
            None
        }
    }

    /// Writes the stats atomically, refusing counts that do not reconcile.
    pub fn write(&self, path: &Path) -> Result<()> {
        if let Some(why) = self.discrepancy() {
            return Err(Error::Table { path: path.to_owned(), message: format!("counts do not reconcile: {why}") });
        }
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::Table { path: path.to_owned(), message: e.to_string() })?;
        write_atomically(path, format!("{text}\n").as_bytes())
    }

    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
        serde_json::from_str(&text).map_err(|e| Error::Json {
            path: path.to_owned(),
            line: e.line(),
            message: e.to_string(),
        })
    }
}

/// Writes `bytes` through a temporary file beside `path` and renames it into place
/// ([`codi_files::write_atomically`]); the error names the file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    codi_files::write_atomically(path, bytes).map_err(|source| Error::Io { path: path.to_owned(), source })
}

/// Progress of a long stage; the CLI shows it as a progress bar.
pub trait Progress: Sync {
    /// A new phase of `total` items (unknown when `None`).
    fn phase(&self, name: &str, total: Option<u64>);
    fn advance(&self, n: u64);
}

/// No progress display (tests, libraries).
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl Progress for Quiet {
    fn phase(&self, _: &str, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
}

/// Previous outputs of a stage that a run may reuse: those written with the same fingerprint
/// and the current schema. `full` (`--full`) reuses nothing.
pub fn reusable_parts<T: Serialize + DeserializeOwned + Send + 'static>(
    files: &StageFiles,
    fingerprint: &str,
    full: bool,
) -> Vec<PathBuf> {
    if full {
        return Vec::new();
    }
    files
        .data_parts()
        .into_iter()
        .filter(|part| {
            let name = part.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let stats = part.with_file_name(name.replacen(&files.table, "stats", 1).replace(".parquet", ".json"));
            let same_run = Stats::read(&stats).is_ok_and(|s| s.fingerprint == fingerprint);
            same_run && has_schema_of::<T>(part).unwrap_or(false)
        })
        .collect()
}

/// A stage that maps each input row to output rows (or rejects it), reusing the outputs of a
/// previous run for inputs it has already seen.
#[derive(Debug, Clone)]
pub struct RowStage {
    pub name: String,
    /// Version and options: outputs of a run with another fingerprint are not reused.
    pub fingerprint: String,
    pub input: StageFiles,
    pub output: StageFiles,
    pub shard: Shard,
    /// Recompute everything (`--full`).
    pub full: bool,
}

/// What one input row became.
#[derive(Debug)]
pub enum Outcome<O> {
    Rows(Vec<O>),
    Rejected(Reject),
}

impl RowStage {
    /// Runs the stage: inputs this shard owns and `accept` lets through are counted as input;
    /// each becomes output rows (counted once per input) or a reject. `tally` sees every output
    /// row, reused or computed, to fill the stats' breakdowns.
    pub fn run<I, O>(
        &self,
        progress: &dyn Progress,
        accept: impl Fn(&I) -> bool,
        compute: impl Fn(I) -> Outcome<O> + Sync,
        mut tally: impl FnMut(&O, &mut Stats),
    ) -> Result<Stats>
    where
        I: DeserializeOwned + Keyed + Send + 'static,
        O: Serialize + DeserializeOwned + Derived + Send + 'static,
    {
        use rayon::prelude::*;
        let started = std::time::Instant::now();
        let mut stats = Stats::new(&self.name, &self.fingerprint, self.shard);
        let inputs = self.input.data_parts();
        if inputs.is_empty() {
            return Err(Error::Table {
                path: self.input.data(Shard::ALL),
                message: format!("no input for stage {}: run the previous stage first", self.name),
            });
        }
        let owned = |row: &I| self.shard.owns(row.id()) && accept(row);
        let mut wanted = HashSet::new();
        progress.phase(&format!("{}: reading input", self.name), None);
        for_each_row::<I>(&inputs, |row| {
            if owned(&row) {
                wanted.insert(id_key(row.id()));
            }
            Ok(())
        })?;
        stats.input = wanted.len() as u64;
        let previous = reusable_parts::<O>(&self.output, &self.fingerprint, self.full);
        let mut writer = TableWriter::<O>::create(&self.output.data(self.shard))?;
        let mut reused: HashSet<u128> = HashSet::new();
        progress.phase(&format!("{}: reusing previous output", self.name), None);
        for part in &previous {
            // An input's rows are taken from the first part that has them, all of them.
            let mut from_this_part = HashSet::new();
            for batch in TableReader::<O>::open(part, None)? {
                for row in batch? {
                    let key = id_key(row.source_id());
                    if wanted.contains(&key) && !reused.contains(&key) {
                        from_this_part.insert(key);
                        tally(&row, &mut stats);
                        writer.push(row)?;
                    }
                }
            }
            reused.extend(from_this_part);
        }
        stats.reused = reused.len() as u64;
        progress.phase(&format!("{}: computing", self.name), Some(stats.input - stats.reused));
        let mut rejects = Vec::new();
        let mut seen = HashSet::new();
        let mut pending: Vec<I> = Vec::new();
        let mut drain = |pending: &mut Vec<I>, stats: &mut Stats, writer: &mut TableWriter<O>| -> Result<()> {
            let outcomes: Vec<Outcome<O>> = std::mem::take(pending).into_par_iter().map(&compute).collect();
            progress.advance(outcomes.len() as u64);
            for outcome in outcomes {
                stats.computed += 1;
                match outcome {
                    Outcome::Rows(rows) => {
                        for row in rows {
                            tally(&row, stats);
                            writer.push(row)?;
                        }
                    }
                    Outcome::Rejected(reject) => {
                        stats.reject(&reject.reason);
                        rejects.push(reject);
                    }
                }
            }
            Ok(())
        };
        for_each_row::<I>(&inputs, |row| {
            let key = id_key(row.id());
            if owned(&row) && !reused.contains(&key) && seen.insert(key) {
                pending.push(row);
                if pending.len() >= crate::table::BATCH_ROWS {
                    drain(&mut pending, &mut stats, &mut writer)?;
                }
            }
            Ok(())
        })?;
        drain(&mut pending, &mut stats, &mut writer)?;
        stats.output = stats.input - stats.rejected;
        writer.finish()?;
        write_rejects(&self.output.rejects(self.shard), rejects)?;
        stats.seconds = started.elapsed().as_secs_f64();
        stats.write(&self.output.stats(self.shard))?;
        if self.shard.is_all() {
            self.output.remove_parts()?;
        }
        Ok(stats)
    }
}

/// Calls `f` on every row of every part, in order, batch by batch.
pub fn for_each_row<T: DeserializeOwned + Send + 'static>(
    parts: &[PathBuf],
    mut f: impl FnMut(T) -> Result<()>,
) -> Result<()> {
    for part in parts {
        for batch in TableReader::<T>::open(part, None)? {
            for row in batch? {
                f(row)?;
            }
        }
    }
    Ok(())
}

/// Writes a stage's rejects.
pub fn write_rejects(path: &Path, rejects: Vec<Reject>) -> Result<u64> {
    crate::table::write_all(path, rejects)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_ids() {
        let shards: Vec<Shard> = (0..4).map(|i| format!("{i}/4").parse().expect("shard")).collect();
        for i in 0..1000 {
            let id = crate::records::sha256_hex(format!("{i}").as_bytes());
            assert_eq!(shards.iter().filter(|s| s.owns(&id)).count(), 1);
        }
        assert!("4/4".parse::<Shard>().is_err());
        assert!("x/4".parse::<Shard>().is_err());
        assert!("1".parse::<Shard>().is_err());
    }

    #[test]
    fn stats_refuse_counts_that_do_not_reconcile() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut stats = Stats::new("label", "v1", Shard::ALL);
        stats.input = 3;
        stats.output = 2;
        stats.reject("not-utf8");
        stats.write(&dir.path().join("stats.json")).expect("reconciles");
        stats.output = 3;
        assert!(stats.write(&dir.path().join("stats.json")).is_err());
    }

    #[test]
    fn files_of_shards_and_parts() {
        let files = StageFiles::new("/data/labeled", "labeled");
        assert_eq!(files.data(Shard::ALL), Path::new("/data/labeled/labeled.parquet"));
        assert_eq!(files.data(Shard { index: 2, count: 8 }), Path::new("/data/labeled/parts/labeled.2-of-8.parquet"));
        assert_eq!(files.stats(Shard { index: 2, count: 8 }), Path::new("/data/labeled/parts/stats.2-of-8.json"));
    }
}
