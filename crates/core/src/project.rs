//! A project on disk: its Dockerfile, the files of its build context and the manifests that tell
//! the stack and its parameters.

use std::path::{Path, PathBuf};

use crate::analysis::ProjectFiles;
use crate::syntax::{Dockerfile, ParseOptions};
use crate::{Error, Result, read_dockerfile};

/// Manifests read in full (when small) because their content decides parameters.
pub const MANIFESTS: &[&str] = &[
    "package.json",
    ".nvmrc",
    ".node-version",
    "next.config.js",
    "next.config.mjs",
    "next.config.ts",
    "requirements.txt",
    "pyproject.toml",
    "Pipfile",
    ".python-version",
    "manage.py",
    "pom.xml",
    "build.gradle",
    "build.gradle.kts",
    "settings.gradle",
    "settings.gradle.kts",
    "go.mod",
    "Cargo.toml",
    "Gemfile",
    ".ruby-version",
    "config.ru",
    "composer.json",
    "tsconfig.json",
];
/// Lockfiles: their presence decides rules (and the package manager), not their text.
pub const LOCKFILES: &[&str] = &[
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "poetry.lock",
    "uv.lock",
    "Pipfile.lock",
    "Gemfile.lock",
    "composer.lock",
    "Cargo.lock",
    "go.sum",
    "gradle.lockfile",
    "packages.lock.json",
];
const MANIFEST_LIMIT: u64 = 256 * 1024;
const MAX_FILES: usize = 20_000;

#[derive(Debug, Clone)]
pub struct Project {
    /// The directory that is the build context.
    pub root: PathBuf,
    /// The Dockerfile, relative to `root`, its text and its tree.
    pub dockerfile_path: PathBuf,
    pub source: String,
    pub dockerfile: Dockerfile,
    /// Files of the build context (relative, `/`-separated, sorted) and the manifests' text.
    pub files: ProjectFiles,
    /// Bytes in the build context once `.dockerignore` is applied.
    pub context_bytes: u64,
}

impl Project {
    /// Loads a project from its directory, or from a Dockerfile path (the context is then the
    /// Dockerfile's directory).
    pub fn load(path: &Path, options: &ParseOptions) -> Result<Self> {
        let (root, dockerfile_path) = if path.is_dir() {
            let name =
                ["Dockerfile", "Containerfile"].into_iter().find(|n| path.join(n).is_file()).ok_or_else(|| {
                    Error::Project {
                        path: path.to_owned(),
                        message: "no Dockerfile or Containerfile in this directory".into(),
                    }
                })?;
            (path.to_owned(), PathBuf::from(name))
        } else {
            let root = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_owned();
            (root, PathBuf::from(path.file_name().unwrap_or_default()))
        };
        let path = root.join(&dockerfile_path);
        let dockerfile = read_dockerfile(&path, options)?;
        let source = std::fs::read_to_string(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
        let mut files = ProjectFiles::default();
        let mut context_bytes = 0;
        let walk = ignore::WalkBuilder::new(&root)
            .hidden(false)
            .git_ignore(false)
            .git_global(false)
            .git_exclude(false)
            .add_custom_ignore_filename(".dockerignore")
            .filter_entry(|e| e.file_name() != ".git")
            .build();
        for entry in walk {
            let entry = entry.map_err(|e| Error::Project { path: root.clone(), message: e.to_string() })?;
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                continue;
            }
            if files.paths.len() >= MAX_FILES {
                return Err(Error::Project {
                    path: root,
                    message: format!("more than {MAX_FILES} files in the build context"),
                });
            }
            let relative =
                entry.path().strip_prefix(&root).unwrap_or(entry.path()).to_string_lossy().replace('\\', "/");
            let size = entry.metadata().map_or(0, |m| m.len());
            context_bytes += size;
            let name = entry.file_name().to_string_lossy();
            let manifest = MANIFESTS.contains(&name.as_ref()) || name.ends_with(".csproj") || name.ends_with(".fsproj");
            if manifest && size <= MANIFEST_LIMIT && !relative.contains("node_modules/") {
                let io = |source| Error::Io { path: entry.path().to_owned(), source };
                files.manifests.insert(relative.clone(), std::fs::read_to_string(entry.path()).map_err(io)?);
            }
            files.paths.push(relative);
        }
        files.paths.sort();
        Ok(Self { root, dockerfile_path, source, dockerfile, files, context_bytes })
    }

    /// A project known only from records (a collected Dockerfile and the context files fetched
    /// with it), not from a directory.
    pub fn in_memory(name: &str, dockerfile_path: &str, source: &str, files: ProjectFiles, context_bytes: u64) -> Self {
        Self {
            root: PathBuf::from(name),
            dockerfile_path: PathBuf::from(dockerfile_path),
            source: source.to_owned(),
            dockerfile: crate::syntax::parse(source),
            files,
            context_bytes,
        }
    }

    /// The project's name: its directory's name, as given (a root such as `.` or `..`, which
    /// names none, is resolved first; an in-memory project's name is never looked up on disk).
    pub fn name(&self) -> String {
        let resolved = || self.root.canonicalize().ok()?.file_name().map(ToOwned::to_owned);
        let name = self.root.file_name().map(ToOwned::to_owned).or_else(resolved);
        name.map_or_else(|| "project".to_owned(), |n| n.to_string_lossy().into_owned())
    }

    pub fn has_file(&self, relative: &str) -> bool {
        self.files.paths.binary_search_by(|p| p.as_str().cmp(relative)).is_ok()
    }

    /// The text of a manifest at `relative`, if it was read.
    pub fn manifest(&self, relative: &str) -> Option<&str> {
        self.files.manifests.get(relative).map(String::as_str)
    }
}

/// `Dockerfile`, `Dockerfile.prod`, `api.Dockerfile`, `Containerfile` …, not `Dockerfile.j2`.
pub fn is_dockerfile_name(name: &str) -> bool {
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
