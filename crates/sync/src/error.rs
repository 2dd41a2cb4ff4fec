//! The error type of codi-sync: each variant names the object key (`s3://bucket/prefix/…`) or
//! the local path it is about.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A local file or directory that cannot be read or written.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// A `--remote` that is not `s3://bucket[/prefix]`, or a store that cannot be configured.
    #[error("`{remote}`: {message}")]
    Remote { remote: String, message: String },
    /// No credentials for a non-AWS endpoint (R2, a local server).
    #[error(
        "{remote}: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (for R2: an API token's access key id and secret)"
    )]
    NoCredentials { remote: String },
    /// The server refused the credentials or their permissions (`code`: its S3 error code, such
    /// as `SignatureDoesNotMatch` or `InvalidAccessKeyId`).
    #[error(
        "{key}: access denied{}; check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, the bucket and the endpoint",
        code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default()
    )]
    Denied { key: String, code: Option<String>, cause: object_store::Error },
    /// Any other failure of a request. (`cause` is not a `source`: object_store's messages
    /// already carry their whole chain, which would print again below this one.)
    #[error("{key}: {cause}")]
    Store { key: String, cause: object_store::Error },
    /// Nothing was pushed to the remote, or no push has finished.
    #[error("{key}: no manifest (nothing was pushed here, or no push has finished)")]
    NoManifest { key: String },
    /// A manifest that cannot be used: unreadable, of another version, or naming unsafe paths.
    #[error("{key}: {message}")]
    Manifest { key: String, message: String },
    /// An object whose bytes are not the ones the manifest names; nothing local was replaced.
    #[error(
        "{key} (for {path}): sha256 {actual} ({actual_size} bytes), but the manifest says {expected} ({expected_size} bytes); the local tree is unchanged"
    )]
    Corrupt { key: String, path: String, expected: String, actual: String, expected_size: u64, actual_size: u64 },
    /// A push of a data directory without stage outputs (a wrong `--data`?): refused, since
    /// pulling that empty dataset would empty every tree it reaches.
    #[error("{}: no stage outputs to push (raw/, labeled/, curated/, pairs/, splits/ are empty or missing)", path.display())]
    Empty { path: PathBuf },
    /// A local file that changed while it was pushed.
    #[error("{}: changed while it was pushed; push again", path.display())]
    Changed { path: PathBuf },
    /// The local S3 server (benchmark, tests) did not start.
    #[error("{}: {message}", binary.display())]
    Server { binary: PathBuf, message: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }

    /// A request's error, about `key`: refused credentials get their own variant.
    pub(crate) fn store(key: impl Into<String>) -> impl FnOnce(object_store::Error) -> Self {
        let key = key.into();
        move |cause| {
            if is_denied(&cause) {
                let text = cause.to_string();
                let code = text
                    .split_once("<Code>")
                    .and_then(|(_, rest)| rest.split_once("</Code>"))
                    .map(|(c, _)| c.to_owned());
                Self::Denied { key, code, cause }
            } else {
                Self::Store { key, cause }
            }
        }
    }
}

/// Whether the server answered 401 or 403. Some requests (listing) report it only in their
/// message: object_store's status-carrying error type is private.
fn is_denied(error: &object_store::Error) -> bool {
    match error {
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. } => true,
        object_store::Error::Generic { .. } => {
            let text = error.to_string();
            ["status code: 401 ", "status code: 403 "].iter().any(|status| text.contains(status))
        }
        _ => false,
    }
}
