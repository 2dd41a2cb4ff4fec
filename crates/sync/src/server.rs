//! A local S3 server for `codi bench sync` and the tests: `s3s-fs` (crates.io; `.ci/run`
//! installs it) on a free loopback port, storing each object as a plain file under its root.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Credentials, Error, Remote, Result};

/// Names the server binary instead of `s3s-fs` on the PATH.
pub const SERVER_ENV: &str = "CODI_S3_SERVER";

/// A running `s3s-fs`, stopped when dropped.
#[derive(Debug)]
pub struct LocalServer {
    child: Child,
    root: PathBuf,
    endpoint: String,
    credentials: Credentials,
}

impl LocalServer {
    /// The server binary: `$CODI_S3_SERVER`, else `s3s-fs` on the PATH.
    pub fn find() -> Option<PathBuf> {
        if let Some(path) = std::env::var_os(SERVER_ENV).filter(|p| !p.is_empty()) {
            return Some(PathBuf::from(path));
        }
        std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join("s3s-fs")).find(|p| p.is_file())
    }

    /// Starts `binary` on a free loopback port, storing under `root` with one directory per
    /// bucket (created here), and waits until it accepts connections.
    pub fn start(binary: &Path, root: &Path, buckets: &[&str]) -> Result<Self> {
        for bucket in buckets {
            let dir = root.join(bucket);
            std::fs::create_dir_all(&dir).map_err(Error::io(dir))?;
        }
        let credentials =
            Credentials { access_key_id: "codi-local".into(), secret_access_key: "codi-local-secret".into() };
        let failed = |message: String| Error::Server { binary: binary.to_owned(), message };
        let mut last = String::new();
        // The port is free when asked, which another process may change before the server
        // binds it: a few tries.
        for _ in 0..3 {
            let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .and_then(|l| l.local_addr())
                .map_err(|e| failed(format!("no free port: {e}")))?
                .port();
            let mut child = Command::new(binary)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--access-key", &credentials.access_key_id, "--secret-key", &credentials.secret_access_key])
                .arg(root)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| failed(format!("cannot start it: {e}")))?;
            let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Some(status) = child.try_wait().map_err(|e| failed(e.to_string()))? {
                    let mut stderr = String::new();
                    if let Some(mut pipe) = child.stderr.take() {
                        let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
                    }
                    last = format!("it exited ({status}): {}", stderr.trim());
                    break;
                }
                if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                    // Its stderr stays open (unread: only a panic would write there).
                    return Ok(Self {
                        child,
                        root: root.to_owned(),
                        endpoint: format!("http://{address}"),
                        credentials,
                    });
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if last.is_empty() {
                let _ = child.kill();
                let _ = child.wait();
                last = format!("it did not listen on {address} within 20 s");
            }
        }
        Err(failed(last))
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// `s3://bucket/prefix` on this server, with its credentials.
    pub fn remote(&self, bucket: &str, prefix: &str) -> Remote {
        let url = if prefix.is_empty() { format!("s3://{bucket}") } else { format!("s3://{bucket}/{prefix}") };
        let mut remote: Remote = url.parse().expect("a bucket name and prefix of the caller's");
        remote.endpoint = Some(self.endpoint.clone());
        remote.region = Some("us-east-1".into());
        remote.credentials = Some(self.credentials.clone());
        remote
    }

    /// The file holding an object's bytes: `<root>/<bucket>/<key>`.
    pub fn object_file(&self, bucket: &str, key: &str) -> PathBuf {
        self.root.join(bucket).join(key)
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
