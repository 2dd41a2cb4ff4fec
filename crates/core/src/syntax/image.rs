//! Image references (`[registry/]path[:tag][@digest]`), validated against the grammar of
//! github.com/distribution/reference, which is what BuildKit applies to `FROM`.

use std::fmt;

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ImageRef {
    /// `ghcr.io`, `localhost:5000`; `None` means Docker Hub.
    pub registry: Option<String>,
    /// Repository path, e.g. `library/python` is written `python`.
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parses and validates a fully expanded reference.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("image reference is empty".into());
        }
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => {
                validate_digest(digest)?;
                (rest, Some(digest.to_owned()))
            }
            None => (text, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag {
            validate_tag(tag)?;
        }
        let (registry, path) = split_registry(name);
        if let Some(registry) = registry {
            validate_registry(registry)?;
        }
        validate_path(path)?;
        Ok(Self { registry: registry.map(str::to_owned), path: path.to_owned(), tag: tag.map(str::to_owned), digest })
    }

    /// The last path component: `python` for `docker.io/library/python:3.12`.
    pub fn family(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    pub fn is_scratch(&self) -> bool {
        self.registry.is_none() && self.path == "scratch"
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(registry) = &self.registry {
            write!(f, "{registry}/")?;
        }
        f.write_str(&self.path)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// The first component is a registry when it has a `.` or `:`, or is `localhost`, or has capitals.
fn split_registry(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':']) || first == "localhost" || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

fn validate_registry(registry: &str) -> Result<(), String> {
    let (host, port) = match registry.rsplit_once(':') {
        Some((host, port)) if !registry.starts_with('[') || host.ends_with(']') => (host, Some(port)),
        _ => (registry, None),
    };
    if let Some(port) = port
        && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!("invalid registry port {port:?}"));
    }
    let ipv6 = host.starts_with('[') && host.ends_with(']');
    let valid_host = ipv6
        || host.split('.').all(|c| {
            !c.is_empty()
                && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !c.starts_with('-')
                && !c.ends_with('-')
        });
    if valid_host { Ok(()) } else { Err(format!("invalid registry host {host:?}")) }
}

fn validate_path(path: &str) -> Result<(), String> {
    if path.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!("repository name {path:?} must be lowercase"));
    }
    for component in path.split('/') {
        if !is_path_component(component) {
            return Err(format!("invalid repository name component {component:?}"));
        }
    }
    Ok(())
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn is_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let sep_start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[sep_start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

/// `[\w][\w.-]{0,127}`
fn validate_tag(tag: &str) -> Result<(), String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut chars = tag.chars();
    let ok = tag.len() <= 128 && chars.next().is_some_and(word) && chars.all(|c| word(c) || c == '.' || c == '-');
    if ok { Ok(()) } else { Err(format!("invalid tag {tag:?}")) }
}

/// `algorithm:hex` with at least 32 hex digits.
fn validate_digest(digest: &str) -> Result<(), String> {
    let ok = digest.split_once(':').is_some_and(|(algorithm, hex)| {
        algorithm.starts_with(|c: char| c.is_ascii_alphabetic())
            && algorithm.chars().all(|c| c.is_ascii_alphanumeric() || "+.-_".contains(c))
            && hex.len() >= 32
            && hex.bytes().all(|b| b.is_ascii_hexdigit())
    });
    if ok { Ok(()) } else { Err(format!("invalid digest {digest:?}")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_registry_tag_and_digest() {
        let r = ImageRef::parse("localhost:5000/team/app:1.2-alpine").expect("valid");
        assert_eq!(r.registry.as_deref(), Some("localhost:5000"));
        assert_eq!((r.path.as_str(), r.tag.as_deref(), r.family()), ("team/app", Some("1.2-alpine"), "app"));
        let digest = format!("python@sha256:{}", "a".repeat(64));
        let r = ImageRef::parse(&digest).expect("valid");
        assert_eq!((r.tag, r.digest.map(|d| d.len())), (None, Some(71)));
        assert_eq!(ImageRef::parse("mcr.microsoft.com/dotnet/sdk:8.0").expect("valid").family(), "sdk");
    }

    #[test]
    fn rejects_what_the_builder_rejects() {
        let bad = format!("spack/rockylinux8:sha256:{}", "c".repeat(64));
        assert!(ImageRef::parse(&bad).is_err());
        assert!(ImageRef::parse("Ubuntu:22.04").is_err());
        assert!(ImageRef::parse("alpine:").is_err());
        assert!(ImageRef::parse("alpine@sha256:abc").is_err());
        assert!(ImageRef::parse("a--b_c__d.e:1").is_ok());
        assert!(ImageRef::parse("a..b").is_err());
    }
}
