//! `codi data sync` end to end against a real S3 server on loopback (`s3s-fs`, which `.ci/run`
//! installs): a push killed midway and resumed, and the messages people read. Without the
//! server these tests skip, unless `CODI_REQUIRE_ORACLES=1`.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use codi_sync::server::LocalServer;

const BUCKET: &str = "codi-data";

fn server(root: &Path) -> Option<LocalServer> {
    let Some(binary) = LocalServer::find() else {
        let required = std::env::var_os("CODI_REQUIRE_ORACLES").is_some_and(|v| v == "1");
        assert!(!required, "oracle required (CODI_REQUIRE_ORACLES=1) but s3s-fs is not installed (.ci/run)");
        eprintln!("skipping: s3s-fs is not on the PATH (cargo install s3s-fs --features binary)");
        return None;
    };
    Some(LocalServer::start(&binary, root, &[BUCKET]).expect("s3s-fs starts"))
}

/// `codi data sync <verb> …` with the server's endpoint, credentials from the environment.
fn sync(server: &LocalServer, secret: &str, verb: &str, data: &Path, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_codi"));
    command
        .args(["data", "sync", verb, "--remote", &format!("s3://{BUCKET}/datasets/dev")])
        .args(["--endpoint", server.endpoint(), "--data"])
        .arg(data)
        .args(extra)
        .env("AWS_ACCESS_KEY_ID", &server.credentials().access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("NO_COLOR", "1");
    command
}

fn run(mut command: Command) -> (Output, String) {
    let output = command.output().expect("codi runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stderr)
}

/// Bytes that do not repeat.
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x2545_F491_4F6C_DD1D_u64;
    (0..len.div_ceil(8))
        .flat_map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()
        })
        .take(len)
        .collect()
}

/// The parts recorded for the upload in progress, per `.codi-sync/uploads.json`.
fn recorded_parts(data: &Path) -> usize {
    let Ok(bytes) = std::fs::read(data.join(".codi-sync/uploads.json")) else { return 0 };
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&bytes) else { return 0 };
    json["uploads"]
        .as_object()
        .map_or(0, |u| u.values().map(|u| u["parts"].as_object().map_or(0, serde_json::Map::len)).sum())
}

#[test]
fn a_killed_push_resumes_from_its_recorded_parts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(server) = server(&dir.path().join("s3")) else { return };
    let secret = server.credentials().secret_access_key.clone();
    let data = dir.path().join("data");
    let big = noise((5 << 20) * 4 + 4321);
    std::fs::create_dir_all(data.join("pairs")).expect("mkdir");
    std::fs::create_dir_all(data.join("splits")).expect("mkdir");
    std::fs::write(data.join("pairs/pairs.parquet"), &big).expect("write");
    std::fs::write(data.join("splits/train.parquet"), b"train rows").expect("write");

    // 5 parts of 5 MiB at 5 MiB/s: the first lands after a second, the last after five.
    let mut child = sync(&server, &secret, "push", &data, &["--limit-rate", "5M", "--part-size", "5"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("codi starts");
    let deadline = Instant::now() + Duration::from_mins(1);
    while recorded_parts(&data) == 0 {
        assert!(child.try_wait().expect("status").is_none(), "the push ended before any part landed");
        assert!(Instant::now() < deadline, "no part recorded within 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("kill");
    child.wait().expect("reaped");
    let recorded = recorded_parts(&data);
    assert!((1..5).contains(&recorded), "killed midway: {recorded} of 5 parts");
    assert!(
        !server.object_file(BUCKET, "datasets/dev/manifest.json").exists(),
        "a reader sees no dataset until a push finishes"
    );

    let (output, stderr) = run(sync(&server, &secret, "push", &data, &["--part-size", "5"]));
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("resumed {recorded} parts")), "{stderr}");
    assert!(stderr.contains("2 files (21.0 MB), 1 sent (21.0 MB), 1 unchanged"), "{stderr}");
    assert!(!data.join(".codi-sync").exists(), "nothing is left in progress");

    let pulled = dir.path().join("pulled");
    let (output, stderr) = run(sync(&server, &secret, "pull", &pulled, &[]));
    assert!(output.status.success(), "{stderr}");
    assert!(std::fs::read(pulled.join("pairs/pairs.parquet")).expect("pulled") == big);
    assert_eq!(std::fs::read(pulled.join("splits/train.parquet")).expect("pulled"), b"train rows");

    // Nothing changed: nothing is sent, and a dry run lists nothing.
    let (output, stderr) = run(sync(&server, &secret, "push", &data, &["--dry-run"]));
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("(dry run): 2 files (21.0 MB), 0 sent (0.0 MB), 2 unchanged"), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "");
}

#[test]
fn wrong_credentials_and_bad_remotes_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(server) = server(&dir.path().join("s3")) else { return };
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("splits")).expect("mkdir");
    std::fs::write(data.join("splits/train.parquet"), b"rows").expect("write");

    let (output, stderr) = run(sync(&server, "not-the-secret", "push", &data, &[]));
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr,
        "codi: error: s3://codi-data/datasets/dev/objects: access denied (SignatureDoesNotMatch); \
         check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, the bucket and the endpoint\n",
        "one line, naming the key and what to check"
    );

    let (output, stderr) = run(sync(&server, "not-the-secret", "pull", &dir.path().join("pulled"), &[]));
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("s3://codi-data/datasets/dev/manifest.json: access denied"), "{stderr}");

    let secret = server.credentials().secret_access_key.clone();
    let (output, stderr) = run(sync(&server, &secret, "pull", &dir.path().join("pulled"), &[]));
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("manifest.json: no manifest (nothing was pushed here, or no push has finished)"),
        "{stderr}"
    );

    let mut bad = Command::new(env!("CARGO_BIN_EXE_codi"));
    bad.args(["data", "sync", "push", "--remote", "bucket/prefix"]);
    let (output, stderr) = run(bad);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("expected s3://bucket/prefix"), "{stderr}");
}
