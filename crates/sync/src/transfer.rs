//! What push and pull share: the runtime, the requests-in-flight limit, the rate limit, and
//! blocking file work off the runtime's threads.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

use crate::{Error, Options, Result};

/// The runtime a push or pull runs on: the requests are concurrent, the hashing is blocking.
pub(crate) fn runtime(options: &Options) -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.jobs.clamp(1, 4))
        .enable_all()
        .build()
        .map_err(Error::io("the async runtime"))
}

/// The limits every request goes through.
#[derive(Debug)]
pub(crate) struct Limits {
    requests: Semaphore,
    rate: Option<u64>,
    /// When the bytes sent so far are paid for at `rate`.
    paid_until: Mutex<Option<Instant>>,
}

impl Limits {
    pub(crate) fn new(options: &Options) -> Self {
        Self {
            requests: Semaphore::new(options.jobs.max(1)),
            rate: options.limit_rate.filter(|&r| r > 0),
            paid_until: Mutex::new(None),
        }
    }

    /// A place among the requests in flight.
    pub(crate) async fn request(&self) -> SemaphorePermit<'_> {
        self.requests.acquire().await.expect("the semaphore is never closed")
    }

    /// Waits until `bytes` more fit under the rate limit.
    pub(crate) async fn pay(&self, bytes: u64) {
        let Some(rate) = self.rate else { return };
        let until = {
            let mut paid = self.paid_until.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = Instant::now();
            let start = paid.filter(|&t| t > now).unwrap_or(now);
            let until = start + Duration::from_secs_f64(bytes as f64 / rate as f64);
            *paid = Some(until);
            until
        };
        tokio::time::sleep_until(until).await;
    }
}

/// sha256 of a file, off the runtime.
pub(crate) async fn sha256_file(path: PathBuf) -> Result<String> {
    blocking(move || codi_files::sha256_file(&path).map_err(Error::io(path))).await
}

/// `len` bytes of a file from `offset`, off the runtime.
pub(crate) async fn read_range(path: &Path, offset: u64, len: u64) -> Result<Vec<u8>> {
    let path = path.to_owned();
    blocking(move || {
        use std::io::{Read as _, Seek as _};
        let read = || -> std::io::Result<Vec<u8>> {
            let mut file = std::fs::File::open(&path)?;
            file.seek(std::io::SeekFrom::Start(offset))?;
            let mut bytes = vec![0; usize::try_from(len).map_err(std::io::Error::other)?];
            file.read_exact(&mut bytes)?;
            Ok(bytes)
        };
        read().map_err(Error::io(path))
    })
    .await
}

pub(crate) async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// `<data>/.codi-sync/`: what a push or pull has under way (uploads in progress, a pull's
/// staging), removed when nothing is.
pub(crate) fn state_dir(root: &Path) -> PathBuf {
    root.join(".codi-sync")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn the_rate_limit_spaces_transfers() {
        let options = Options { limit_rate: Some(1_000_000), ..Options::new("s3://b".parse().expect("remote")) };
        let limits = Limits::new(&options);
        let started = Instant::now();
        limits.pay(100_000).await;
        limits.pay(200_000).await;
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(2), "{elapsed:?}");
        let unlimited = Limits::new(&Options::new("s3://b".parse().expect("remote")));
        let started = Instant::now();
        unlimited.pay(u64::MAX).await;
        assert!(started.elapsed() < Duration::from_millis(100));
    }
}
