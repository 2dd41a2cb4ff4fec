//! Push: hash the stage outputs, upload the objects the remote lacks (large ones in parts,
//! resumable), then the manifest.
//!
//! Resume: a multipart upload's id and each part's ETag are recorded in
//! `<data>/.codi-sync/uploads.json` as the parts land. A later push of the same content (same
//! sha256, so the same object key) and part size carries on with that upload id, sending only
//! the parts not recorded, and completes it; if the server no longer knows the upload, it starts
//! that file over. Recorded uploads that no longer match any file to push are aborted.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use codi_dataset::Layout;
use codi_dataset::pipeline::Progress;
use futures_util::{StreamExt as _, TryStreamExt as _, stream};
use object_store::multipart::{MultipartStore as _, PartId};
use object_store::path::Path as Key;
use object_store::{ObjectStore as _, ObjectStoreExt as _};
use serde::{Deserialize, Serialize};

use crate::manifest::{LocalFile, local_files};
use crate::remote::Store;
use crate::transfer::{Limits, blocking, read_range, sha256_file};
use crate::{Entry, Error, Manifest, Options, Report, Result};

/// Parts of one file in flight at once (the requests limit applies on top).
const PARTS_IN_FLIGHT: usize = 4;

/// A local file with its digest, and when it was last modified (a multipart upload checks the
/// file did not change under it).
#[derive(Debug, Clone)]
struct Hashed {
    file: LocalFile,
    sha256: String,
    modified: Option<SystemTime>,
}

pub(crate) async fn push(layout: &Layout, options: &Options, progress: &dyn Progress) -> Result<Report> {
    let started = Instant::now();
    let store = Store::connect(&options.remote)?;
    // The listing first: wrong credentials or a wrong bucket fail before any hashing.
    let objects = store.objects_prefix();
    let present: HashMap<String, u64> = store
        .s3
        .list(Some(&objects))
        .map_ok(|meta| (meta.location.filename().unwrap_or_default().to_owned(), meta.size))
        .try_collect()
        .await
        .map_err(Error::store(store.url(&objects)))?;

    let files = local_files(layout)?;
    if files.is_empty() {
        return Err(Error::Empty { path: layout.root.clone() });
    }
    progress.phase("sync: hashing", Some(files.len() as u64));
    let hashed: Vec<Hashed> = stream::iter(files)
        .map(|file| async move {
            let modified = std::fs::metadata(&file.local).and_then(|m| m.modified()).ok();
            let sha256 = sha256_file(file.local.clone()).await?;
            progress.advance(1);
            Ok::<_, Error>(Hashed { file, sha256, modified })
        })
        .buffered(options.jobs.max(1))
        .try_collect()
        .await?;
    let manifest = Manifest::new(
        hashed
            .iter()
            .map(|h| Entry { path: h.file.path.clone(), size: h.file.size, sha256: h.sha256.clone() })
            .collect(),
    );

    // One upload per distinct content that the remote lacks (or holds at another size).
    let mut seen = HashSet::new();
    let missing: Vec<&Hashed> = hashed
        .iter()
        .filter(|h| seen.insert(h.sha256.as_str()) && present.get(&h.sha256) != Some(&h.file.size))
        .collect();
    let mut report = Report {
        remote: options.remote.to_string(),
        files: manifest.files.len(),
        bytes: manifest.bytes(),
        transferred: missing
            .iter()
            .map(|h| Entry { path: h.file.path.clone(), size: h.file.size, sha256: h.sha256.clone() })
            .collect(),
        dry_run: options.dry_run,
        ..Report::default()
    };
    report.transferred_bytes = report.transferred.iter().map(|e| e.size).sum();
    let sent: HashSet<&str> = missing.iter().map(|h| h.sha256.as_str()).collect();
    report.unchanged = hashed.iter().filter(|h| !sent.contains(h.sha256.as_str())).count();
    if options.dry_run {
        report.seconds = started.elapsed().as_secs_f64();
        return Ok(report);
    }

    let pusher = Pusher {
        store: &store,
        options,
        limits: Limits::new(options),
        progress,
        uploads: Mutex::new(Uploads::load(&uploads_path(layout))?),
        uploads_path: uploads_path(layout),
        resumed_parts: AtomicUsize::new(0),
    };
    progress.phase("sync: pushing", Some(report.transferred_bytes));
    stream::iter(&missing).map(|h| pusher.upload(h)).buffer_unordered(options.jobs.max(1)).try_collect::<()>().await?;
    let keep: HashSet<String> = missing.iter().map(|h| store.url(&store.object_key(&h.sha256))).collect();
    pusher.abort_stale(&keep).await?;

    // Last: the manifest, which makes the new objects the dataset.
    let key = store.manifest_key();
    let json = serde_json::to_vec_pretty(&manifest).expect("a manifest serializes");
    store.s3.put(&key, Bytes::from(json).into()).await.map_err(Error::store(store.url(&key)))?;
    report.resumed_parts = pusher.resumed_parts.load(Ordering::Relaxed);
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// `<data>/.codi-sync/uploads.json`: multipart uploads in progress.
fn uploads_path(layout: &Layout) -> PathBuf {
    crate::transfer::state_dir(&layout.root).join("uploads.json")
}

/// The multipart uploads a push has begun and not completed, by object URL.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Uploads {
    uploads: BTreeMap<String, Upload>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Upload {
    /// The endpoint it was begun at (`None`: the environment's or AWS).
    endpoint: Option<String>,
    id: String,
    size: u64,
    part_size: u64,
    /// Part index → the ETag the server returned for it.
    parts: BTreeMap<usize, String>,
}

impl Uploads {
    fn load(path: &Path) -> Result<Self> {
        match std::fs::read(path) {
            // An unreadable record only costs re-sending: start afresh.
            Ok(bytes) => Ok(serde_json::from_slice(&bytes).unwrap_or_default()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(Error::io(path)(e)),
        }
    }

    fn save(&self, path: &Path) -> Result<()> {
        if self.uploads.is_empty() {
            return match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(path)(e)),
                _ => {
                    // `.codi-sync/` itself goes too once nothing is in it.
                    let _ = path.parent().map(std::fs::remove_dir);
                    Ok(())
                }
            };
        }
        let json = serde_json::to_vec_pretty(self).expect("the uploads serialize");
        codi_files::write_atomically(path, &json).map_err(Error::io(path))
    }
}

struct Pusher<'a> {
    store: &'a Store,
    options: &'a Options,
    limits: Limits,
    progress: &'a dyn Progress,
    uploads: Mutex<Uploads>,
    uploads_path: PathBuf,
    resumed_parts: AtomicUsize,
}

impl Pusher<'_> {
    async fn upload(&self, hashed: &Hashed) -> Result<()> {
        if hashed.file.size <= self.part_size() { self.put_whole(hashed).await } else { self.put_parts(hashed).await }
    }

    fn part_size(&self) -> u64 {
        self.options.part_size.max(crate::MIN_PART_SIZE)
    }

    async fn put_whole(&self, hashed: &Hashed) -> Result<()> {
        let key = self.store.object_key(&hashed.sha256);
        let _request = self.limits.request().await;
        let local = hashed.file.local.clone();
        let (bytes, sha256) = blocking(move || {
            let bytes = std::fs::read(&local).map_err(Error::io(&local))?;
            let sha256 = codi_files::sha256_hex(&bytes);
            Ok((bytes, sha256))
        })
        .await?;
        if sha256 != hashed.sha256 {
            return Err(Error::Changed { path: hashed.file.local.clone() });
        }
        self.limits.pay(hashed.file.size).await;
        self.store.s3.put(&key, Bytes::from(bytes).into()).await.map_err(Error::store(self.store.url(&key)))?;
        self.progress.advance(hashed.file.size);
        Ok(())
    }

    /// A multipart upload: the recorded one for this object if there is one, else a new one.
    async fn put_parts(&self, hashed: &Hashed) -> Result<()> {
        let key = self.store.object_key(&hashed.sha256);
        let url = self.store.url(&key);
        let recorded = self.lock().get(&url).cloned().filter(|u| {
            u.endpoint == self.options.remote.endpoint && u.size == hashed.file.size && u.part_size == self.part_size()
        });
        if let Some(upload) = recorded {
            match self.finish(hashed, &key, &url, upload).await {
                // The server no longer knows the upload (aborted, expired): start over.
                Err(Error::Store { cause: object_store::Error::NotFound { .. }, .. }) => {}
                done => return done,
            }
        }
        let upload_id = self.store.s3.create_multipart(&key).await.map_err(Error::store(&url))?;
        let upload = Upload {
            endpoint: self.options.remote.endpoint.clone(),
            id: upload_id,
            size: hashed.file.size,
            part_size: self.part_size(),
            parts: BTreeMap::new(),
        };
        self.record(|uploads| {
            uploads.insert(url.clone(), upload.clone());
        })?;
        self.finish(hashed, &key, &url, upload).await
    }

    /// Sends the parts `upload` lacks, then completes it.
    async fn finish(&self, hashed: &Hashed, key: &Key, url: &str, upload: Upload) -> Result<()> {
        let size = hashed.file.size;
        let count = size.div_ceil(upload.part_size) as usize;
        let part_len = |index: usize| upload.part_size.min(size - index as u64 * upload.part_size);
        let done: u64 = upload.parts.keys().map(|&i| part_len(i)).sum();
        self.progress.advance(done);
        let id = &upload.id;
        stream::iter((0..count).filter(|i| !upload.parts.contains_key(i)))
            .map(|index| async move {
                let _request = self.limits.request().await;
                let len = part_len(index);
                let bytes = read_range(&hashed.file.local, index as u64 * upload.part_size, len).await?;
                self.limits.pay(len).await;
                let part = self
                    .store
                    .s3
                    .put_part(key, id, index, Bytes::from(bytes).into())
                    .await
                    .map_err(Error::store(url))?;
                self.record(|uploads| {
                    if let Some(upload) = uploads.uploads.get_mut(url) {
                        upload.parts.insert(index, part.content_id);
                    }
                })?;
                self.progress.advance(len);
                Ok::<_, Error>(())
            })
            .buffer_unordered(PARTS_IN_FLIGHT)
            .try_collect::<()>()
            .await?;
        let parts: Vec<PartId> = self
            .lock()
            .get(url)
            .map_or_else(Vec::new, |u| u.parts.values().map(|etag| PartId { content_id: etag.clone() }).collect());
        self.store.s3.complete_multipart(key, id, parts).await.map_err(Error::store(url))?;
        self.record(|uploads| {
            uploads.uploads.remove(url);
        })?;
        self.resumed_parts.fetch_add(upload.parts.len(), Ordering::Relaxed);
        let now = std::fs::metadata(&hashed.file.local).map_err(Error::io(&hashed.file.local))?;
        if now.len() != size || now.modified().ok() != hashed.modified {
            // The object may hold a mix of old and new bytes under the old digest's name.
            let _ = self.store.s3.delete(key).await;
            return Err(Error::Changed { path: hashed.file.local.clone() });
        }
        Ok(())
    }

    /// Aborts the recorded uploads of this remote that no file needs any more (their files
    /// changed since), so the server drops their parts.
    async fn abort_stale(&self, keep: &HashSet<String>) -> Result<()> {
        let prefix = format!("{}/", self.store.url(&self.store.objects_prefix()));
        let stale: Vec<(String, Upload)> = self
            .lock()
            .uploads
            .iter()
            .filter(|(url, u)| {
                url.starts_with(&prefix) && u.endpoint == self.options.remote.endpoint && !keep.contains(*url)
            })
            .map(|(url, u)| (url.clone(), u.clone()))
            .collect();
        for (url, upload) in stale {
            let sha256 = url.rsplit('/').next().unwrap_or_default();
            // Best effort: the server may have dropped it already.
            let _ = self.store.s3.abort_multipart(&self.store.object_key(sha256), &upload.id).await;
            self.record(|uploads| {
                uploads.uploads.remove(&url);
            })?;
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Uploads> {
        self.uploads.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Changes the record and writes it before the next part starts counting on it.
    fn record(&self, change: impl FnOnce(&mut Uploads)) -> Result<()> {
        let mut uploads = self.lock();
        change(&mut uploads);
        uploads.save(&self.uploads_path)
    }
}

impl Uploads {
    fn get(&self, url: &str) -> Option<&Upload> {
        self.uploads.get(url)
    }

    fn insert(&mut self, url: String, upload: Upload) {
        self.uploads.insert(url, upload);
    }
}
