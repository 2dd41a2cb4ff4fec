//! The bookkeeping of a collection run: what it saw, wrote and refused, ending as
//! `__meta__/stats.json` and `__meta__/rejects.parquet` beside the rebuilt manifest.

use std::collections::HashMap;
use std::time::Instant;

use codi_dataset::pipeline::{Part, Shard, Stats, write_rejects};
use codi_dataset::records::{RawRecord, Reject, RelatedFile, sha256_hex};

use crate::{MAX_DOCKERFILE_BYTES, RawStore, Result, VERSION};

/// What a run saw, wrote and refused; ends as its stats and rejects. Every source of raw records
/// (GitHub, local trees, `codi-synthesize`) admits its Dockerfiles through one.
#[derive(Debug)]
pub struct Run {
    store: RawStore,
    shard: Shard,
    /// Where the stats and rejects go: the shard's, or a named source's.
    part: Part,
    pub stats: Stats,
    rejects: Vec<Reject>,
    /// Dockerfiles of this run by id, with their origin (to name duplicates).
    seen: HashMap<String, String>,
    started: Instant,
}

/// A candidate Dockerfile's bytes, checked: its id and text, or why it is refused.
pub(crate) fn check(bytes: &[u8]) -> Result<(String, String), (&'static str, String)> {
    if bytes.len() > MAX_DOCKERFILE_BYTES {
        return Err(("too-large", format!("{} bytes, over {MAX_DOCKERFILE_BYTES}", bytes.len())));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(("empty", String::new()));
    }
    let id = sha256_hex(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) if !text.contains('\0') => Ok((id, text.to_owned())),
        Ok(_) => Err(("not-text", "NUL bytes".into())),
        Err(e) => Err(("not-utf8", e.to_string())),
    }
}

impl Run {
    pub fn new(store: RawStore, stage: &str, shard: Shard) -> Self {
        Self::with_part(store, stage, shard, shard.into())
    }

    /// A run whose stats and rejects are `part`'s (`stats-synthesize.json` beside collect's).
    pub fn with_part(store: RawStore, stage: &str, shard: Shard, part: Part) -> Self {
        Self {
            store,
            shard,
            part,
            stats: Stats::new(stage, VERSION, shard),
            rejects: Vec::new(),
            seen: HashMap::new(),
            started: Instant::now(),
        }
    }

    pub fn reject(&mut self, id: &str, origin: &str, reason: &str, detail: String) {
        self.stats.input += 1;
        self.stats.reject(reason);
        self.rejects.push(Reject { id: id.to_owned(), origin: origin.to_owned(), reason: reason.to_owned(), detail });
    }

    /// Admits a Dockerfile: refuses bad bytes and duplicates of this run, keeps what an earlier
    /// run stored, writes the rest (with the context `related` gives).
    pub fn admit(
        &mut self,
        origin: &str,
        bytes: &[u8],
        record: impl FnOnce(String, String) -> RawRecord,
        related: impl FnOnce(&str) -> Vec<RelatedFile>,
    ) -> Result<()> {
        let (id, text) = match check(bytes) {
            Ok(checked) => checked,
            Err((reason, detail)) => {
                self.reject("", origin, reason, detail);
                return Ok(());
            }
        };
        if let Some(first) = self.seen.get(&id) {
            let detail = format!("same bytes as {first}");
            self.reject(&id, origin, "duplicate-bytes", detail);
            return Ok(());
        }
        self.seen.insert(id.clone(), origin.to_owned());
        self.stats.input += 1;
        self.stats.output += 1;
        if self.store.contains(&id) {
            self.stats.reused += 1;
            let stored = self.store.get(&id)?;
            self.tally(&stored);
            return Ok(());
        }
        let mut raw = record(id, text);
        raw.related = related(&raw.content);
        self.stats.computed += 1;
        self.tally(&raw);
        self.store.put(&raw)
    }

    fn tally(&mut self, record: &RawRecord) {
        self.stats.count("by_stack_hint", record.stack_hint.as_deref().unwrap_or("none"));
        self.stats.count("by_license", &record.license);
        self.stats.count("by_source", &record.source);
        for related in &record.related {
            self.stats.count("related", &format!("{}:{}", related.role, related.status));
        }
    }

    /// Writes rejects and stats; a run over everything also rebuilds the manifest (shards of a
    /// job array leave that to the run that follows them: `extract`, or collect without
    /// `--shard`).
    pub fn finish(mut self) -> Result<Stats> {
        if self.shard.is_all() {
            let total = self.store.write_manifest()?;
            self.stats.add("manifest", "rows", total);
        }
        let files = self.store.files();
        write_rejects(&files.rejects(self.part.clone()), self.rejects)?;
        self.stats.seconds = self.started.elapsed().as_secs_f64();
        self.stats.write(&files.stats(self.part))?;
        Ok(self.stats)
    }
}

/// RFC 3339 now, UTC.
pub fn timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
