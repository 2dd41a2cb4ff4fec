//! Python: .python-version and requires-python, the requirements file and installer, the
//! application module, the WSGI/ASGI server, libraries the slim images lack.

use serde_json::Value;

use super::{Facts, SYSTEM_LIBS, base_tag_version, leading_version, minor, quoted_after, toml_value};
use crate::analysis::{Analysis, Framework};
use crate::project::Project;

impl Facts {
    pub(super) fn detect_python(&mut self, project: &Project, analysis: &Analysis) {
        let version = project.manifest(".python-version").and_then(leading_version).map(|v| minor(&v));
        self.set_if_absent("python_version", version, ".python-version");
        let requires = project
            .manifest("pyproject.toml")
            .and_then(|t| toml_value(t, "requires-python"))
            .and_then(|v| leading_version(&v))
            .map(|v| minor(&v));
        self.set_if_absent("python_version", requires, "pyproject.toml requires-python");
        self.set_if_absent(
            "python_version",
            base_tag_version(analysis, &["python"]).map(|v| minor(&v)),
            "the original base image",
        );
        // requirements.txt, else a production-looking requirements*.txt at the root.
        let for_production = |p: &&String| {
            p.starts_with("requirements")
                && p.ends_with(".txt")
                && !p.contains('/')
                && !["dev", "test"].iter().any(|d| p.contains(d))
        };
        let requirements = project
            .files
            .paths
            .iter()
            .find(|p| *p == "requirements.txt")
            .or_else(|| project.files.paths.iter().find(for_production));
        if let Some(requirements) = requirements {
            self.set("requirements_file", requirements.clone(), "the project's files");
        }
        let installer = if project.has_file("poetry.lock") {
            "poetry"
        } else if project.has_file("uv.lock") {
            "uv"
        } else {
            "pip"
        };
        if project.has_file("pyproject.toml") || project.has_file("requirements.txt") {
            self.set("python_installer", installer, "the project's lockfile");
        }
        // `app = FastAPI()` / `app = Flask(__name__)` in a module: its import path.
        let module = project.files.paths.iter().filter(|p| p.ends_with(".py") && !p.contains("test")).find(|p| {
            ["main.py", "app.py", "app/main.py", "src/main.py", "server.py", "api/main.py", "wsgi.py"]
                .contains(&p.as_str())
        });
        if let Some(module) = module {
            let import = module.trim_end_matches(".py").replace('/', ".");
            self.set("app_module", format!("{import}:app"), format!("{module} (the application module)"));
        }
        let dependencies = [
            self.detected.get("requirements_file").and_then(Value::as_str).unwrap_or("requirements.txt"),
            "pyproject.toml",
        ]
        .iter()
        .filter_map(|f| project.manifest(f))
        .flat_map(|t| t.lines().map(|l| l.trim().to_ascii_lowercase()))
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>();
        let declares = |name: &str| dependencies.iter().any(|l| l.trim_start_matches('"').starts_with(name));
        if !dependencies.is_empty() {
            let server = match self.framework {
                Some(Framework::Django | Framework::Flask) => Some("gunicorn"),
                Some(Framework::FastApi) => Some("uvicorn"),
                _ => None,
            };
            if let Some(server) = server {
                self.set("server_in_dependencies", declares(server), "the project's dependencies");
            }
            // Built against libpq or libmysqlclient, which the slim runtimes do not have.
            let needs_libs = (declares("psycopg2") && !declares("psycopg2-binary")) || declares("mysqlclient");
            if needs_libs {
                self.features.insert(SYSTEM_LIBS.into());
            }
        }
        if let Some(settings) = project.manifest("manage.py").and_then(|t| quoted_after(t, "DJANGO_SETTINGS_MODULE")) {
            let package = settings.trim_end_matches(".settings");
            self.set("wsgi_module", format!("{package}.wsgi"), "manage.py DJANGO_SETTINGS_MODULE");
        }
    }
}
