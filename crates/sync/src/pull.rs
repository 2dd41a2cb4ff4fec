//! Pull: read the manifest, reuse the local files that already have its digests, download the
//! rest into `<data>/.codi-sync/pull/`, verify every sha256, then swap each stage directory in
//! with one rename. Any failure before the swap leaves the local tree as it was.

use std::collections::{BTreeMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use codi_dataset::Layout;
use codi_dataset::pipeline::Progress;
use futures_util::{StreamExt as _, TryStreamExt as _, stream};
use object_store::ObjectStoreExt as _;

use crate::manifest::{local_files, stage_names};
use crate::remote::Store;
use crate::transfer::{Limits, blocking, sha256_file};
use crate::{Entry, Error, Manifest, Options, Report, Result};

/// How much of a download is buffered before it is written.
const WRITE_BLOCK: usize = 4 << 20;

/// Downloads in progress per request in flight: the others are being synced to disk and
/// hashed (a small file's fsync takes longer than its request on loopback).
const FILES_PER_REQUEST: usize = 4;

pub(crate) async fn pull(layout: &Layout, options: &Options, progress: &dyn Progress) -> Result<Report> {
    let started = Instant::now();
    let store = Store::connect(&options.remote)?;
    let key = store.manifest_key();
    let url = store.url(&key);
    let bytes = match store.s3.get(&key).await {
        Ok(result) => result.bytes().await.map_err(Error::store(&url))?,
        // A missing bucket is a wrong remote, not an empty one.
        Err(e @ object_store::Error::NotFound { .. }) if !e.to_string().contains("NoSuchBucket") => {
            return Err(Error::NoManifest { key: url });
        }
        Err(e) => return Err(Error::store(&url)(e)),
    };
    let manifest = Manifest::parse(&bytes, &url)?;

    // The local files that already hold the manifest's bytes need no download.
    progress.phase("sync: checking local files", Some(manifest.files.len() as u64));
    let reusable: Vec<bool> = stream::iter(&manifest.files)
        .map(|entry| async move {
            let local = layout.root.join(&entry.path);
            let same_size = std::fs::metadata(&local).is_ok_and(|m| m.is_file() && m.len() == entry.size);
            let same = same_size && sha256_file(local).await? == entry.sha256;
            progress.advance(1);
            Ok::<_, Error>(same)
        })
        .buffered(options.jobs.max(1))
        .try_collect()
        .await?;
    // One download per distinct content; the other paths with it are linked to the first.
    let mut downloads: BTreeMap<&str, Vec<&Entry>> = BTreeMap::new();
    for (entry, _) in manifest.files.iter().zip(&reusable).filter(|(_, reuse)| !**reuse) {
        downloads.entry(entry.sha256.as_str()).or_default().push(entry);
    }
    let mut report = Report {
        remote: options.remote.to_string(),
        files: manifest.files.len(),
        bytes: manifest.bytes(),
        transferred: downloads.values().map(|paths| paths[0].clone()).collect(),
        unchanged: reusable.iter().filter(|r| **r).count(),
        dry_run: options.dry_run,
        ..Report::default()
    };
    report.transferred_bytes = report.transferred.iter().map(|e| e.size).sum();
    let wanted: HashSet<&str> = manifest.files.iter().map(|e| e.path.as_str()).collect();
    report.removed =
        local_files(layout)?.into_iter().map(|f| f.path).filter(|p| !wanted.contains(p.as_str())).collect();
    if options.dry_run {
        report.seconds = started.elapsed().as_secs_f64();
        return Ok(report);
    }

    let staging = Staging::new(&layout.root)?;
    for (entry, _) in manifest.files.iter().zip(&reusable).filter(|(_, reuse)| **reuse) {
        staging.link(&layout.root.join(&entry.path), &entry.path)?;
    }
    let limits = Limits::new(options);
    progress.phase("sync: pulling", Some(report.transferred_bytes));
    stream::iter(downloads.values())
        .map(|paths| async {
            let first = paths[0];
            download(&store, &limits, progress, first, &staging.path(&first.path)).await?;
            for other in &paths[1..] {
                staging.link(&staging.path(&first.path), &other.path)?;
            }
            Ok::<_, Error>(())
        })
        .buffer_unordered(options.jobs.max(1) * FILES_PER_REQUEST)
        .try_collect::<()>()
        .await?;
    staging.swap_into(&layout.root)?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Downloads one object to `dest` and checks its sha256 against the manifest's.
async fn download(store: &Store, limits: &Limits, progress: &dyn Progress, entry: &Entry, dest: &Path) -> Result<()> {
    let key = store.object_key(&entry.sha256);
    let url = store.url(&key);
    let request = limits.request().await;
    let result = store.s3.get(&key).await.map_err(Error::store(&url))?;
    let mut file = BlockWriter::create(dest)?;
    let mut chunks = result.into_stream();
    let mut size = 0;
    while let Some(chunk) = chunks.try_next().await.map_err(Error::store(&url))? {
        limits.pay(chunk.len() as u64).await;
        file.write(&chunk).await?;
        size += chunk.len() as u64;
        progress.advance(chunk.len() as u64);
    }
    // Syncing to disk waits on the disk, not the network: the next request may start.
    drop(request);
    file.finish().await?;
    let actual = sha256_file(dest.to_owned()).await?;
    if actual != entry.sha256 || size != entry.size {
        return Err(Error::Corrupt {
            key: url,
            path: entry.path.clone(),
            expected: entry.sha256.clone(),
            actual,
            expected_size: entry.size,
            actual_size: size,
        });
    }
    Ok(())
}

/// A file written off the runtime a few MiB at a time (the chunks of a download are small).
#[derive(Debug)]
struct BlockWriter {
    path: PathBuf,
    file: Option<std::fs::File>,
    buffer: Vec<u8>,
}

impl BlockWriter {
    fn create(path: &Path) -> Result<Self> {
        let file = std::fs::File::create(path).map_err(Error::io(path))?;
        Ok(Self { path: path.to_owned(), file: Some(file), buffer: Vec::new() })
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= WRITE_BLOCK { self.flush(false).await } else { Ok(()) }
    }

    /// Writes what is buffered and syncs the file to disk.
    async fn finish(mut self) -> Result<()> {
        self.flush(true).await
    }

    async fn flush(&mut self, sync: bool) -> Result<()> {
        let (mut file, block, path) =
            (self.file.take().expect("the file is open"), std::mem::take(&mut self.buffer), self.path.clone());
        let file = blocking(move || {
            file.write_all(&block).map_err(Error::io(&path))?;
            if sync {
                file.sync_all().map_err(Error::io(&path))?;
            }
            Ok(file)
        })
        .await?;
        self.file = Some(file);
        Ok(())
    }
}

/// `<data>/.codi-sync/pull/`: the new stage directories until they are swapped in. It is
/// removed when dropped, so a failed pull leaves nothing behind.
#[derive(Debug)]
struct Staging {
    dir: PathBuf,
}

impl Staging {
    fn new(root: &Path) -> Result<Self> {
        let dir = crate::transfer::state_dir(root).join("pull");
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(Error::io(&dir))?;
        }
        std::fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
        Ok(Self { dir })
    }

    /// Where `relative` (a manifest path) is staged; its directory is created.
    fn path(&self, relative: &str) -> PathBuf {
        let path = self.dir.join(relative);
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        path
    }

    /// Stages `relative` as a hard link to `source` (a copy where links are not possible).
    fn link(&self, source: &Path, relative: &str) -> Result<()> {
        let dest = self.path(relative);
        std::fs::hard_link(source, &dest)
            .or_else(|_| std::fs::copy(source, &dest).map(|_| ()))
            .map_err(Error::io(&dest))
    }

    /// Swaps every stage directory: the live one is moved aside, the staged one (if the
    /// manifest has it) renamed into its place. A failed rename puts back what was moved.
    fn swap_into(self, root: &Path) -> Result<()> {
        let aside = self.dir.join(".old");
        std::fs::create_dir_all(&aside).map_err(Error::io(&aside))?;
        // (where a directory is now, where it was): what to rename back if a rename fails.
        let mut done: Vec<(PathBuf, PathBuf)> = Vec::new();
        let mut swap = || -> Result<()> {
            for stage in stage_names() {
                let (live, staged, old) = (root.join(&stage), self.dir.join(&stage), aside.join(&stage));
                if live.exists() {
                    std::fs::rename(&live, &old).map_err(Error::io(&live))?;
                    done.push((old, live.clone()));
                }
                if staged.exists() {
                    std::fs::rename(&staged, &live).map_err(Error::io(&live))?;
                    done.push((live, staged));
                }
            }
            Ok(())
        };
        let swapped = swap();
        if swapped.is_err() {
            for (now, was) in done.iter().rev() {
                let _ = std::fs::rename(now, was);
            }
        }
        swapped
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let dir = self.dir.clone();
        let _ = std::fs::remove_dir_all(&dir);
        if let Some(parent) = dir.parent() {
            let _ = std::fs::remove_dir(parent);
        }
    }
}
