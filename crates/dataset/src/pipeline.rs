//! What every data stage shares (DESIGN §1, §9): its files, sharding across a job array,
//! incremental reuse by content hash, stats whose counts reconcile, and progress reporting.
//!
//! A stage writes `<dir>/<table>.parquet`, and its stats and rejects under `<dir>/__meta__/`, so
//! that the folder holds one schema and loads as a dataset (docs/data.md, "Layout"). With
//! `--shard i/N` it handles only the ids that fall in shard `i` and writes
//! `<dir>/<table>-0000i-of-0000N.parquet` (and the matching stats and rejects) instead, so that
//! the N jobs of an array never write the same file. Readers read the canonical table and every
//! part; a later run without `--shard` reuses all of them, in input order, and writes the
//! canonical table alone: the same bytes as one run over everything.

use std::collections::{BTreeMap, HashMap, HashSet};
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

/// Which file of a stage's table: the whole input, one shard's part, or a part named for what
/// wrote it (`feedback`, `extract`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Whole,
    Shard(Shard),
    Named(String),
}

impl Part {
    /// What follows the table's stem in the part's file name: nothing, `-00002-of-00008` (the
    /// shard naming Hugging Face datasets reads), or `-feedback`.
    fn suffix(&self) -> String {
        match self {
            Self::Whole => String::new(),
            Self::Shard(shard) => format!("-{:05}-of-{:05}", shard.index, shard.count),
            Self::Named(name) => format!("-{name}"),
        }
    }
}

impl From<Shard> for Part {
    fn from(shard: Shard) -> Self {
        if shard.is_all() { Self::Whole } else { Self::Shard(shard) }
    }
}

/// The directory, under each stage's folder, of what is not its records: stats, rejects and
/// intermediate tables. duckdb's and polars' globs, pyarrow (`_` prefix) and Hugging Face
/// datasets (`__` prefix) all leave it out, so the folder loads as one table.
pub const META_DIR: &str = "__meta__";

/// The files of one stage's output directory: `<table>.parquet` (or its parts
/// `<table>-00002-of-00008.parquet`) and nothing else of another schema beside them; stats
/// and rejects under [`META_DIR`].
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

    pub fn data(&self, part: impl Into<Part>) -> PathBuf {
        self.dir.join(format!("{}{}.parquet", self.table, part.into().suffix()))
    }

    pub fn rejects(&self, part: impl Into<Part>) -> PathBuf {
        self.meta_dir().join(format!("rejects{}.parquet", part.into().suffix()))
    }

    pub fn stats(&self, part: impl Into<Part>) -> PathBuf {
        self.meta_dir().join(format!("stats{}.json", part.into().suffix()))
    }

    pub fn meta_dir(&self) -> PathBuf {
        self.dir.join(META_DIR)
    }

    /// An intermediate table of the stage (standardize's `prepared`), under [`META_DIR`].
    #[must_use]
    pub fn intermediate(&self, table: &str) -> StageFiles {
        StageFiles::new(self.meta_dir().join(table), table)
    }

    /// The canonical table first, then every part, in name order (shards in index order).
    pub fn data_parts(&self) -> Vec<PathBuf> {
        let mut parts: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map(|entries| {
                entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| self.suffix_of(p).is_some()).collect()
            })
            .unwrap_or_default();
        parts.sort_by_key(|p| (self.suffix_of(p).is_some_and(|s| !s.is_empty()), p.clone()));
        parts
    }

    /// The stats a part was written with.
    pub fn stats_of(&self, part: &Path) -> Option<PathBuf> {
        self.suffix_of(part).map(|suffix| self.meta_dir().join(format!("stats{suffix}.json")))
    }

    /// `""` for `<table>.parquet`, `-…` for a part of it; `None` for any other file.
    fn suffix_of(&self, path: &Path) -> Option<String> {
        let name = path.file_name()?.to_str()?;
        let rest = name.strip_prefix(&self.table)?.strip_suffix(".parquet")?;
        (rest.is_empty() || rest.starts_with('-')).then(|| rest.to_owned())
    }

    /// After a run over the whole input: the parts it merged, and their stats and rejects, are
    /// obsolete.
    pub fn remove_parts(&self) -> Result<()> {
        for part in self.data_parts() {
            let Some(suffix) = self.suffix_of(&part).filter(|s| !s.is_empty()) else { continue };
            let meta = self.meta_dir();
            for path in [part, meta.join(format!("stats{suffix}.json")), meta.join(format!("rejects{suffix}.parquet"))]
            {
                remove_file_if_present(&path)?;
            }
        }
        Ok(())
    }

    /// Moves a stage folder of the earlier layout into this one, so that no data is lost:
    /// `stats.json` and `rejects.parquet` into [`META_DIR`], `parts/<stem>.<i>-of-<N>.<ext>`
    /// and `parts/<stem>.<name>.<ext>` to their part names. Returns what it moved.
    pub fn upgrade(&self) -> Result<Vec<(PathBuf, PathBuf)>> {
        let mut moved = Vec::new();
        for (old, new) in [
            (self.dir.join("stats.json"), self.stats(Part::Whole)),
            (self.dir.join("rejects.parquet"), self.rejects(Part::Whole)),
        ] {
            if old.is_file() {
                move_file(&old, &new)?;
                moved.push((old, new));
            }
        }
        let parts = self.dir.join("parts");
        let Ok(entries) = std::fs::read_dir(&parts) else { return Ok(moved) };
        for old in entries.filter_map(|e| e.ok().map(|e| e.path())) {
            let Some(new) = self.upgraded_part_name(&old) else { continue };
            move_file(&old, &new)?;
            moved.push((old, new));
        }
        // Left in place when it holds anything this layout does not know.
        let _ = std::fs::remove_dir(&parts);
        Ok(moved)
    }

    fn upgraded_part_name(&self, old: &Path) -> Option<PathBuf> {
        let name = old.file_name()?.to_str()?;
        let (stem, rest) = name.split_once('.')?;
        let (label, extension) = rest.rsplit_once('.')?;
        let part = match label.split_once("-of-") {
            Some((index, count)) => Part::Shard(Shard { index: index.parse().ok()?, count: count.parse().ok()? }),
            None => Part::Named(label.to_owned()),
        };
        match (stem, extension) {
            ("stats", "json") => Some(self.stats(part)),
            ("rejects", "parquet") => Some(self.rejects(part)),
            (table, "parquet") if table == self.table => Some(self.data(part)),
            _ => None,
        }
    }
}

/// Renames `from` to `to`, creating `to`'s directory; the error names the file.
/// A source that is gone while the destination exists was moved by a concurrent job.
pub fn move_file(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(|source| Error::Io { path: parent.to_owned(), source })?;
    }
    match std::fs::rename(from, to) {
        Err(e) if !(e.kind() == std::io::ErrorKind::NotFound && to.exists()) => {
            Err(Error::Io { path: from.to_owned(), source: e })
        }
        _ => Ok(()),
    }
}

fn remove_file_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Io { path: path.to_owned(), source: e }),
        _ => Ok(()),
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
            let same_run = files
                .stats_of(part)
                .is_some_and(|stats| Stats::read(&stats).is_ok_and(|s| s.fingerprint == fingerprint));
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

/// What a stage's first pass reads of each input row: its id and, for curated rows, whether
/// the row was kept (the other columns are not decoded).
#[derive(Debug, Deserialize)]
pub struct InputKey {
    pub id: String,
    kept: Option<bool>,
}

impl InputKey {
    /// Whether the row was kept (rows of a table without the column are).
    pub fn kept(&self) -> bool {
        self.kept.unwrap_or(true)
    }
}

/// The id an output row was derived from, read alone.
#[derive(Debug, Deserialize)]
struct SourceKey {
    #[serde(alias = "source_id")]
    id: String,
}

impl RowStage {
    /// Runs the stage: inputs this shard owns and `accept` lets through are counted as input;
    /// each becomes output rows (counted once per input) or a reject. `tally` sees every output
    /// row, reused or computed, to fill the stats' breakdowns.
    ///
    /// The rows are written in input order, reused or computed, so a run that merges the parts
    /// of a job array writes the same table, byte for byte, as one run over everything. (A
    /// previous part whose rows are not in input order, because the input was reordered since,
    /// is copied first instead.)
    pub fn run<I, O>(
        &self,
        progress: &dyn Progress,
        accept: impl Fn(&InputKey) -> bool,
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
        self.input.upgrade()?;
        self.output.upgrade()?;
        let inputs = self.input.data_parts();
        if inputs.is_empty() {
            return Err(Error::Table {
                path: self.input.data(Shard::ALL),
                message: format!("no input for stage {}: run the previous stage first", self.name),
            });
        }
        progress.phase(&format!("{}: reading input", self.name), None);
        // Each wanted input's position (its first occurrence).
        let mut position: HashMap<u128, usize> = HashMap::new();
        for_each_row::<InputKey>(&inputs, Some(&["id", "kept"]), |key| {
            if self.shard.owns(&key.id) && accept(&key) {
                let next = position.len();
                position.entry(id_key(&key.id)).or_insert(next);
            }
            Ok(())
        })?;
        stats.input = position.len() as u64;
        progress.phase(&format!("{}: reusing previous output", self.name), None);
        let previous = reusable_parts::<O>(&self.output, &self.fingerprint, self.full);
        let reuse = Reuse::plan::<O>(&previous, &position)?;
        stats.reused = reuse.from_part.len() as u64;
        let mut writer = TableWriter::<O>::create(&self.output.data(self.shard))?;
        let mut streams = Vec::new();
        for (part, in_order) in previous.iter().zip(&reuse.in_order) {
            let mut stream = PartStream::<O>::open(part)?;
            if !in_order {
                stream.copy_claimed(streams.len(), &reuse.from_part, &mut |row| {
                    tally(&row, &mut stats);
                    writer.push(row)
                })?;
            }
            streams.push(stream);
        }
        progress.phase(&format!("{}: computing", self.name), Some(stats.input - stats.reused));
        let mut rejects = Vec::new();
        let mut seen = HashSet::new();
        let mut pending: Vec<I> = Vec::new();
        // Each wanted input in order: reused from a part (and which), or computed.
        let mut slots: Vec<Option<(usize, u128)>> = Vec::new();
        let mut drain = |pending: &mut Vec<I>, slots: &mut Vec<Option<(usize, u128)>>, stats: &mut Stats| {
            let outcomes: Vec<Outcome<O>> = std::mem::take(pending).into_par_iter().map(&compute).collect();
            progress.advance(outcomes.len() as u64);
            let mut outcomes = outcomes.into_iter();
            for slot in slots.drain(..) {
                let rows = if let Some((part, key)) = slot {
                    streams[part].take(part, key, &reuse.from_part)?
                } else {
                    stats.computed += 1;
                    match outcomes.next().expect("one outcome per computed slot") {
                        Outcome::Rows(rows) => rows,
                        Outcome::Rejected(reject) => {
                            stats.reject(&reject.reason);
                            rejects.push(reject);
                            Vec::new()
                        }
                    }
                };
                for row in rows {
                    tally(&row, stats);
                    writer.push(row)?;
                }
            }
            Ok::<_, Error>(())
        };
        for_each_row::<I>(&inputs, None, |row| {
            let key = id_key(row.id());
            if !position.contains_key(&key) || !seen.insert(key) {
                return Ok(());
            }
            match reuse.from_part.get(&key) {
                Some(&part) if reuse.in_order[part] => slots.push(Some((part, key))),
                Some(_) => {}
                None => {
                    pending.push(row);
                    slots.push(None);
                }
            }
            if pending.len() >= crate::table::BATCH_ROWS || slots.len() >= 8 * crate::table::BATCH_ROWS {
                drain(&mut pending, &mut slots, &mut stats)?;
            }
            Ok(())
        })?;
        drain(&mut pending, &mut slots, &mut stats)?;
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

/// Which previous part each reusable input's rows come from (the first part that has them, all
/// of them), and whether each part lists those rows in input order.
struct Reuse {
    from_part: HashMap<u128, usize>,
    in_order: Vec<bool>,
}

impl Reuse {
    fn plan<O: Derived>(previous: &[PathBuf], position: &HashMap<u128, usize>) -> Result<Self> {
        let mut from_part = HashMap::new();
        let mut in_order = Vec::new();
        for (part, path) in previous.iter().enumerate() {
            let mut last = 0;
            let mut ordered = true;
            for_each_row::<SourceKey>(std::slice::from_ref(path), Some(&[O::SOURCE_COLUMN]), |row| {
                let key = id_key(&row.id);
                if let Some(&at) = position.get(&key)
                    && *from_part.entry(key).or_insert(part) == part
                {
                    ordered &= at >= last;
                    last = at;
                }
                Ok(())
            })?;
            in_order.push(ordered);
        }
        Ok(Self { from_part, in_order })
    }
}

/// The rows of a previous part, read once, front to back, as the merge asks for them.
struct PartStream<O> {
    batches: TableReader<O>,
    rows: std::iter::Peekable<std::vec::IntoIter<O>>,
}

impl<O: DeserializeOwned + Derived + Send + 'static> PartStream<O> {
    fn open(path: &Path) -> Result<Self> {
        Ok(Self { batches: TableReader::open(path, None)?, rows: Vec::new().into_iter().peekable() })
    }

    fn peek(&mut self) -> Result<Option<&O>> {
        while self.rows.peek().is_none() {
            match self.batches.next() {
                Some(batch) => self.rows = batch?.into_iter().peekable(),
                None => return Ok(None),
            }
        }
        Ok(self.rows.peek())
    }

    /// The rows of input `key`, which this part (`part`) provides: rows before them that no
    /// input takes from this part are passed over; a row of another input this part provides
    /// comes later in input order, so it ends the search.
    fn take(&mut self, part: usize, key: u128, from_part: &HashMap<u128, usize>) -> Result<Vec<O>> {
        let mut rows = Vec::new();
        while let Some(row) = self.peek()? {
            let row_key = id_key(row.source_id());
            if row_key == key {
                rows.extend(self.rows.next());
            } else if from_part.get(&row_key) == Some(&part) {
                break;
            } else {
                self.rows.next();
            }
        }
        Ok(rows)
    }

    /// Every row this part (`part`) provides, in the part's order.
    fn copy_claimed(
        &mut self,
        part: usize,
        from_part: &HashMap<u128, usize>,
        push: &mut dyn FnMut(O) -> Result<()>,
    ) -> Result<()> {
        while self.peek()?.is_some() {
            let row = self.rows.next().expect("peeked");
            if from_part.get(&id_key(row.source_id())) == Some(&part) {
                push(row)?;
            }
        }
        Ok(())
    }
}

/// Calls `f` on every row of every part, in order, batch by batch.
/// Only `columns` are read when given ([`TableReader::open`]).
pub fn for_each_row<T: DeserializeOwned + Send + 'static>(
    parts: &[PathBuf],
    columns: Option<&[&str]>,
    mut f: impl FnMut(T) -> Result<()>,
) -> Result<()> {
    for part in parts {
        for batch in TableReader::<T>::open(part, columns)? {
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
        let shard = Shard { index: 2, count: 8 };
        assert_eq!(files.data(Shard::ALL), Path::new("/data/labeled/labeled.parquet"));
        assert_eq!(files.data(shard), Path::new("/data/labeled/labeled-00002-of-00008.parquet"));
        assert_eq!(files.stats(shard), Path::new("/data/labeled/__meta__/stats-00002-of-00008.json"));
        assert_eq!(files.rejects(Shard::ALL), Path::new("/data/labeled/__meta__/rejects.parquet"));
        let feedback = Part::Named("feedback".into());
        assert_eq!(files.stats(feedback), Path::new("/data/labeled/__meta__/stats-feedback.json"));
        assert_eq!(
            files.stats_of(Path::new("/data/labeled/labeled-00002-of-00008.parquet")).as_deref(),
            Some(Path::new("/data/labeled/__meta__/stats-00002-of-00008.json"))
        );
        assert_eq!(files.stats_of(Path::new("/data/labeled/labeledx.parquet")), None);
    }

    #[test]
    fn the_earlier_layout_is_moved_into_this_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = StageFiles::new(dir.path(), "pairs");
        let old = [
            "stats.json",
            "rejects.parquet",
            "parts/pairs.1-of-2.parquet",
            "parts/stats.1-of-2.json",
            "parts/pairs.feedback.parquet",
            "parts/notes.txt",
        ];
        for name in old {
            write_atomically(&dir.path().join(name), name.as_bytes()).expect("write");
        }
        assert_eq!(files.upgrade().expect("upgrade").len(), 5);
        let read = |path: PathBuf| std::fs::read_to_string(path).expect("moved");
        assert_eq!(read(files.stats(Shard::ALL)), "stats.json");
        assert_eq!(read(files.rejects(Shard::ALL)), "rejects.parquet");
        assert_eq!(read(files.data(Shard { index: 1, count: 2 })), "parts/pairs.1-of-2.parquet");
        assert_eq!(read(files.stats(Shard { index: 1, count: 2 })), "parts/stats.1-of-2.json");
        assert_eq!(read(files.data(Part::Named("feedback".into()))), "parts/pairs.feedback.parquet");
        assert!(dir.path().join("parts/notes.txt").is_file(), "what it does not know stays");
        assert_eq!(files.data_parts().len(), 2);
        assert!(files.upgrade().expect("again").is_empty());
    }
}
