//! `data/raw`: each collected Dockerfile as `__meta__/files/<id[..2]>/<id>.Dockerfile` with its
//! record in `<id>.meta.json`, and `manifest.parquet`, rebuilt from them after every run, so that
//! an interrupted run loses nothing it wrote and a resumed one adds to it. The store lives under
//! `__meta__/` with the stats, so that `raw/` loads as the manifest's dataset.

use std::path::{Path, PathBuf};

use codi_dataset::pipeline::{Part, Shard, StageFiles, move_file, write_atomically};
use codi_dataset::records::RawRecord;
use codi_dataset::table::TableWriter;

use crate::{Error, Result};

const JOURNAL: &str = "github-journal.jsonl";

#[derive(Debug, Clone)]
pub struct RawStore {
    pub dir: PathBuf,
}

impl RawStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The store at `dir`, moving a store of the earlier layout (`files/`, the journal, the
    /// extract stats beside the manifest) into `__meta__/`.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let store = Self::new(dir);
        let files = store.files();
        files.upgrade()?;
        let extract = Part::Named("extract".into());
        for (old, new) in [
            (store.dir.join("files"), store.blobs()),
            (store.dir.join(JOURNAL), store.journal()),
            (store.dir.join("extract/stats.json"), files.stats(extract.clone())),
            (store.dir.join("extract/rejects.parquet"), files.rejects(extract)),
        ] {
            if old.exists() && !new.exists() {
                move_file(&old, &new)?;
            }
        }
        let _ = std::fs::remove_dir(store.dir.join("extract"));
        Ok(store)
    }

    pub fn files(&self) -> StageFiles {
        StageFiles::new(&self.dir, "manifest")
    }

    /// What a GitHub crawl has done, to resume from.
    pub fn journal(&self) -> PathBuf {
        self.files().meta_dir().join(JOURNAL)
    }

    fn blobs(&self) -> PathBuf {
        self.files().meta_dir().join("files")
    }

    fn stem(&self, id: &str) -> PathBuf {
        self.blobs().join(id.get(..2).unwrap_or("00")).join(id)
    }

    pub fn content_path(&self, id: &str) -> PathBuf {
        self.stem(id).with_extension("Dockerfile")
    }

    fn meta_path(&self, id: &str) -> PathBuf {
        self.stem(id).with_extension("meta.json")
    }

    pub fn contains(&self, id: &str) -> bool {
        self.meta_path(id).is_file()
    }

    /// Writes the Dockerfile and its record (the record's file without the content).
    pub fn put(&self, record: &RawRecord) -> Result<()> {
        write_atomically(&self.content_path(&record.id), record.content.as_bytes())?;
        let meta = RawRecord { content: String::new(), ..record.clone() };
        let json = serde_json::to_string_pretty(&meta)
            .map_err(|e| Error::Store { path: self.meta_path(&record.id), message: e.to_string() })?;
        write_atomically(&self.meta_path(&record.id), format!("{json}\n").as_bytes())?;
        Ok(())
    }

    pub fn get(&self, id: &str) -> Result<RawRecord> {
        read_record(&self.meta_path(id), &self.content_path(id))
    }

    /// Every stored record's id, sorted.
    pub fn ids(&self) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        let root = self.blobs();
        let Ok(shards) = std::fs::read_dir(&root) else { return Ok(ids) };
        for shard in shards {
            let shard = shard.map_err(|source| codi_dataset::Error::Io { path: root.clone(), source })?.path();
            let entries =
                std::fs::read_dir(&shard).map_err(|source| codi_dataset::Error::Io { path: shard.clone(), source })?;
            for entry in entries {
                let name = entry.map_err(|source| codi_dataset::Error::Io { path: shard.clone(), source })?.file_name();
                if let Some(id) = name.to_string_lossy().strip_suffix(".meta.json") {
                    ids.push(id.to_owned());
                }
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// Rebuilds `manifest.parquet` from every stored record; returns the row count.
    pub fn write_manifest(&self) -> Result<u64> {
        let mut writer = TableWriter::<RawRecord>::create(&self.files().data(Shard::ALL))?;
        for id in self.ids()? {
            writer.push(self.get(&id)?)?;
        }
        Ok(writer.finish()?)
    }
}

fn read_record(meta: &Path, content: &Path) -> Result<RawRecord> {
    let text =
        std::fs::read_to_string(meta).map_err(|source| codi_dataset::Error::Io { path: meta.to_owned(), source })?;
    let mut record: RawRecord = serde_json::from_str(&text).map_err(|e| codi_dataset::Error::Json {
        path: meta.to_owned(),
        line: e.line(),
        message: e.to_string(),
    })?;
    record.content = std::fs::read_to_string(content)
        .map_err(|source| codi_dataset::Error::Io { path: content.to_owned(), source })?;
    Ok(record)
}
