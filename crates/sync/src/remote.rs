//! Where a dataset lives remotely: `s3://bucket/prefix` on AWS S3 or any S3-compatible endpoint
//! (Cloudflare R2, a local server), and the object_store client that reaches it.
//!
//! Under the prefix, `manifest.json` names every file and `objects/<sha256>` holds its bytes.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as Key;
use object_store::{BackoffConfig, RetryConfig};

use crate::{Error, Result};

/// A bucket and prefix on an S3-compatible store, and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    pub bucket: String,
    /// The key prefix, without leading or trailing `/` (empty: the bucket's root).
    pub prefix: String,
    /// The S3 endpoint (`https://<account>.r2.cloudflarestorage.com`, `http://127.0.0.1:9000`);
    /// `None`: `AWS_ENDPOINT_URL`, else AWS itself.
    pub endpoint: Option<String>,
    /// `None`: `AWS_REGION` / `AWS_DEFAULT_REGION`, else `us-east-1` (R2 accepts it as `auto`).
    pub region: Option<String>,
    /// `None`: the environment's credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_SESSION_TOKEN`, or AWS's other providers).
    pub credentials: Option<Credentials>,
}

/// An access key pair given directly rather than through the environment.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("access_key_id", &self.access_key_id).finish_non_exhaustive()
    }
}

/// `s3://bucket/prefix`.
impl fmt::Display for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// Parses `s3://bucket[/prefix]`.
impl FromStr for Remote {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let invalid = |message: &str| Error::Remote { remote: text.to_owned(), message: message.to_owned() };
        let rest = text.strip_prefix("s3://").ok_or_else(|| invalid("expected s3://bucket/prefix"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() || !bucket.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')) {
            return Err(invalid("the bucket name must be letters, digits, `-`, `.` or `_`"));
        }
        let prefix = prefix.trim_matches('/');
        Key::parse(prefix).map_err(|e| invalid(&format!("the prefix is not a valid key: {e}")))?;
        Ok(Self {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            endpoint: None,
            region: None,
            credentials: None,
        })
    }
}

/// The client for one remote, and the keys of the dataset under its prefix.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    pub(crate) s3: Arc<AmazonS3>,
    pub(crate) remote: Remote,
}

impl Store {
    /// The client, configured from the environment, then from `remote`'s own fields.
    pub(crate) fn connect(remote: &Remote) -> Result<Self> {
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(&remote.bucket);
        if let Some(endpoint) = &remote.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(region) = &remote.region {
            builder = builder.with_region(region);
        }
        if let Some(credentials) = &remote.credentials {
            builder = builder
                .with_access_key_id(&credentials.access_key_id)
                .with_secret_access_key(&credentials.secret_access_key);
        }
        let endpoint = builder.get_config_value(&AmazonS3ConfigKey::Endpoint);
        if endpoint.is_some() && builder.get_config_value(&AmazonS3ConfigKey::AccessKeyId).is_none() {
            // AWS's instance-metadata fallback means nothing off AWS: say what is missing.
            return Err(Error::NoCredentials { remote: remote.to_string() });
        }
        if endpoint.as_deref().is_some_and(|e| e.starts_with("http://")) {
            builder = builder.with_allow_http(true);
        }
        // A few quick retries: a server that is down or refuses us should say so in seconds.
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(5),
                base: 2.0,
            },
            max_retries: 4,
            retry_timeout: Duration::from_mins(1),
        };
        let s3 = builder
            .with_retry(retry)
            .build()
            .map_err(|e| Error::Remote { remote: remote.to_string(), message: e.to_string() })?;
        Ok(Self { s3: Arc::new(s3), remote: remote.clone() })
    }

    /// `<prefix>/<relative>` as a key.
    pub(crate) fn key(&self, relative: &str) -> Key {
        if self.remote.prefix.is_empty() {
            Key::from(relative)
        } else {
            Key::from(format!("{}/{relative}", self.remote.prefix))
        }
    }

    pub(crate) fn manifest_key(&self) -> Key {
        self.key("manifest.json")
    }

    pub(crate) fn objects_prefix(&self) -> Key {
        self.key("objects")
    }

    pub(crate) fn object_key(&self, sha256: &str) -> Key {
        self.key(&format!("objects/{sha256}"))
    }

    /// A key as a URL, for messages: `s3://bucket/prefix/objects/…`.
    pub(crate) fn url(&self, key: &Key) -> String {
        format!("s3://{}/{key}", self.remote.bucket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_remotes() {
        let remote: Remote = "s3://codi-data/datasets/v1/".parse().expect("valid");
        assert_eq!((remote.bucket.as_str(), remote.prefix.as_str()), ("codi-data", "datasets/v1"));
        assert_eq!(remote.to_string(), "s3://codi-data/datasets/v1");
        let root: Remote = "s3://bucket".parse().expect("valid");
        assert_eq!((root.prefix.as_str(), root.to_string().as_str()), ("", "s3://bucket"));
        for bad in ["bucket/prefix", "s3://", "s3:///prefix", "s3://bucket/a//b", "s3://bu cket"] {
            assert!(bad.parse::<Remote>().is_err(), "{bad} is refused");
        }
    }
}
