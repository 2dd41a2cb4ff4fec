//! `RUN --mount=type=cache,target=/root/.cache,…` values.

use serde::Serialize;

/// One `--mount` of a RUN instruction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    /// `bind` (the default), `cache`, `tmpfs`, `secret` or `ssh`.
    pub kind: String,
    pub target: Option<String>,
    pub source: Option<String>,
    /// The stage or image a bind or cache mount reads from.
    pub from: Option<String>,
    pub id: Option<String>,
}

impl Mount {
    /// Parses a `--mount` flag value. Unknown keys are ignored, as a linter should.
    pub fn parse(value: &str) -> Self {
        let mut mount = Self { kind: "bind".into(), target: None, source: None, from: None, id: None };
        for field in value.split(',') {
            let (key, val) = field.split_once('=').unwrap_or((field, ""));
            let val = val.trim_matches(['"', '\'']).to_owned();
            match key.trim().to_ascii_lowercase().as_str() {
                "type" => mount.kind = val,
                "target" | "dst" | "destination" => mount.target = Some(val),
                "source" | "src" => mount.source = Some(val),
                "from" => mount.from = Some(val),
                "id" => mount.id = Some(val),
                _ => {}
            }
        }
        mount
    }

    /// A cache or tmpfs mount: what the RUN writes under its target is not committed to the
    /// image, so clean-up rules (hadolint's `hasCacheOrTmpfsMountWith`) treat both alike.
    pub fn is_cache_or_tmpfs(&self) -> bool {
        matches!(self.kind.as_str(), "cache" | "tmpfs")
    }
}

#[cfg(test)]
mod tests {
    use super::Mount;

    #[test]
    fn parses_fields() {
        let m = Mount::parse("type=cache,id=pip,target=/root/.cache/pip,sharing=locked");
        assert!(m.is_cache_or_tmpfs());
        assert_eq!((m.target.as_deref(), m.id.as_deref()), (Some("/root/.cache/pip"), Some("pip")));
        assert!(Mount::parse("type=tmpfs,target=/var/lib/apt/lists").is_cache_or_tmpfs());
        let m = Mount::parse("source=go.sum,dst=/src/go.sum");
        assert_eq!(
            (m.kind.as_str(), m.source.as_deref(), m.target.as_deref()),
            ("bind", Some("go.sum"), Some("/src/go.sum"))
        );
    }
}
