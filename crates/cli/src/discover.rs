//! Finding Dockerfiles: the paths given on the command line, and under directories every file
//! whose name says it is one (`.gitignore` is respected).

use std::path::PathBuf;

use anyhow::{Context, Result};

/// `Dockerfile`, `Dockerfile.prod`, `api.Dockerfile`, `Containerfile` …, not `Dockerfile.j2`.
pub(crate) fn is_dockerfile_name(name: &str) -> bool {
    const NOT_DOCKERFILES: &[&str] = &[
        ".dockerignore",
        ".md",
        ".txt",
        ".template",
        ".tmpl",
        ".tpl",
        ".j2",
        ".jinja",
        ".jinja2",
        ".erb",
        ".in",
        ".sh",
        ".py",
        ".json",
        ".yaml",
        ".yml",
        ".orig",
        ".bak",
        ".swp",
        ".snap",
    ];
    let named = name == "Dockerfile"
        || name == "Containerfile"
        || name.starts_with("Dockerfile.")
        || name.starts_with("Containerfile.")
        || name.ends_with(".Dockerfile")
        || name.ends_with(".dockerfile")
        || name.ends_with(".Containerfile");
    named && !NOT_DOCKERFILES.iter().any(|ext| name.ends_with(ext))
}

/// Files to lint, sorted and without duplicates. A path given explicitly is always included.
pub(crate) fn dockerfiles(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for path in paths {
        if path.is_dir() {
            for entry in ignore::WalkBuilder::new(path).build() {
                let entry = entry.with_context(|| format!("walking {}", path.display()))?;
                let name = entry.file_name().to_string_lossy();
                if entry.file_type().is_some_and(|t| t.is_file()) && is_dockerfile_name(&name) {
                    found.push(entry.into_path());
                }
            }
        } else if path.as_os_str() == "-" || path.exists() {
            found.push(path.clone());
        } else {
            anyhow::bail!("{}: no such file or directory", path.display());
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::is_dockerfile_name;

    #[test]
    fn dockerfile_names() {
        for name in ["Dockerfile", "Dockerfile.prod", "api.Dockerfile", "x.dockerfile", "Containerfile"] {
            assert!(is_dockerfile_name(name), "{name}");
        }
        for name in ["Dockerfile.j2", "Dockerfile.template", "README.md", ".dockerignore", "dockerfile-lint.sh"] {
            assert!(!is_dockerfile_name(name), "{name}");
        }
    }
}
