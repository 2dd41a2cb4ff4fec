//! `--real-builds`: building the original and the candidates with a reachable Docker engine and
//! measuring the images instead of estimating them.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use super::{Deltas, Estimate, Rejected, Rewrite};
use crate::catalog::Catalog;
use crate::project::Project;
use crate::{Error, Result};

/// A Docker engine that answered `docker info`.
#[derive(Debug)]
pub struct Engine {
    pub version: String,
}

impl Engine {
    /// Asks the engine for its version; the error says why there is none.
    pub fn connect() -> std::result::Result<Self, String> {
        let output = Command::new("docker")
            .args(["info", "--format", "{{.ServerVersion}}"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("docker: {e}"))?;
        let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if output.status.success() && !version.is_empty() {
            Ok(Self { version })
        } else {
            Err(format!("docker info: {}", last_line(&output)))
        }
    }

    /// Replaces the estimates of the original and of each candidate by measurements; a candidate
    /// that does not build is moved to the rejected list with Docker's error.
    pub fn measure(&self, project: &Project, result: &mut Rewrite, catalog: &Catalog) -> Result<()> {
        let context = &project.root;
        match build(context, &project.source)? {
            Ok(measured) => result.original = merge(&result.original, &measured),
            Err(error) => {
                return Err(Error::Docker {
                    context: context.clone(),
                    message: format!("the original does not build: {error}"),
                });
            }
        }
        let mut kept = Vec::new();
        for mut candidate in std::mem::take(&mut result.candidates) {
            match build(context, &candidate.dockerfile)? {
                Ok(measured) => {
                    candidate.estimate = merge(&candidate.estimate, &measured);
                    candidate.deltas =
                        Deltas::between(&result.original, &candidate.estimate, &catalog.llm_assist.ranking_weights);
                    kept.push(candidate);
                }
                Err(error) => result.rejected.push(Rejected {
                    rule_id: candidate.rule_id,
                    reasons: vec![format!("docker build (Docker {}) failed: {error}", self.version)],
                }),
            }
        }
        kept.sort_by(|a, b| b.deltas.score.total_cmp(&a.deltas.score));
        result.candidates = kept;
        Ok(())
    }
}

/// Builds `dockerfile` (given on standard input) in `context`: the image's size, layers and
/// build time, or the build's error. `--quiet` prints the image id alone on standard output.
fn build(context: &Path, dockerfile: &str) -> Result<std::result::Result<Measured, String>> {
    let failed = |what: &str, error: std::io::Error| Error::Docker {
        context: context.to_owned(),
        message: format!("{what}: {error}"),
    };
    let started = Instant::now();
    let mut child = Command::new("docker")
        .args(["build", "--quiet", "--file", "-"])
        .arg(context)
        .env("DOCKER_BUILDKIT", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed("starting docker build", e))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(dockerfile.as_bytes()).map_err(|e| failed("writing the Dockerfile to docker build", e))?;
    }
    let output = child.wait_with_output().map_err(|e| failed("waiting for docker build", e))?;
    let seconds = started.elapsed().as_secs_f64();
    if !output.status.success() {
        return Ok(Err(last_line(&output)));
    }
    let image = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let inspect = Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Size}} {{len .RootFS.Layers}}", &image])
        .output()
        .map_err(|e| failed("docker image inspect", e))?;
    let text = String::from_utf8_lossy(&inspect.stdout);
    let mut fields = text.split_whitespace().map(str::parse::<u64>);
    match (fields.next(), fields.next()) {
        (Some(Ok(bytes)), Some(Ok(layers))) => {
            Ok(Ok(Measured { mb: bytes as f64 / 1e6, layers: u32::try_from(layers).unwrap_or(u32::MAX), seconds }))
        }
        _ => Ok(Err(format!("docker image inspect {image}: {}", last_line(&inspect)))),
    }
}

struct Measured {
    mb: f64,
    layers: u32,
    seconds: f64,
}

/// The estimate with what was measured put in its place; the rebuild time stays an estimate.
fn merge(estimate: &Estimate, measured: &Measured) -> Estimate {
    Estimate {
        source: "measured",
        image_mb: (measured.mb * 10.0).round() / 10.0,
        layers: measured.layers,
        build_seconds: (measured.seconds * 10.0).round() / 10.0,
        ..estimate.clone()
    }
}

fn last_line(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no output").trim().to_owned()
}
