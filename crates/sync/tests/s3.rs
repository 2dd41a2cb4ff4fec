//! Push and pull against a real S3 server on loopback: `s3s-fs` (crates.io), which `.ci/run`
//! installs. Without it (on the PATH, or `$CODI_S3_SERVER`) these tests skip, unless
//! `CODI_REQUIRE_ORACLES=1`, where its absence fails them.

use std::collections::BTreeMap;
use std::path::Path;

use codi_dataset::Layout;
use codi_dataset::pipeline::Quiet;
use codi_sync::server::LocalServer;
use codi_sync::{Credentials, Error, Options, Remote, pull, push};

const BUCKET: &str = "codi-data";

struct Fixture {
    dir: tempfile::TempDir,
    server: LocalServer,
}

impl Fixture {
    /// A fresh server with one bucket; `None` (skip) without the binary.
    fn start() -> Option<Self> {
        let Some(binary) = LocalServer::find() else {
            let required = std::env::var_os("CODI_REQUIRE_ORACLES").is_some_and(|v| v == "1");
            assert!(!required, "oracle required (CODI_REQUIRE_ORACLES=1) but s3s-fs is not installed (.ci/run)");
            eprintln!("skipping: s3s-fs is not on the PATH (cargo install s3s-fs --features binary)");
            return None;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let server = LocalServer::start(&binary, &dir.path().join("s3"), &[BUCKET]).expect("s3s-fs starts");
        Some(Self { dir, server })
    }

    fn options(&self, prefix: &str) -> Options {
        Options::new(self.server.remote(BUCKET, prefix))
    }

    fn layout(&self, name: &str) -> Layout {
        Layout::new(self.dir.path().join(name))
    }
}

/// Bytes that do not repeat, of any length.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// A small data tree: stage outputs, a duplicate, an empty file, and files that are not synced.
fn write_tree(root: &Path) {
    let files: [(&str, Vec<u8>); 9] = [
        ("raw/manifest.parquet", noise(1, 70_000)),
        ("raw/files/ab/ab12.Dockerfile", b"FROM alpine:3.20\nRUN echo hi\n".to_vec()),
        ("raw/files/ab/ab12.meta.json", b"{}".to_vec()),
        ("labeled/labeled.parquet", noise(2, 30_000)),
        ("labeled/__meta__/rejects.parquet", Vec::new()),
        ("splits/train.parquet", noise(3, 5_000)),
        ("splits/val.parquet", noise(3, 5_000)),
        ("splits/.train.parquet.77.tmp", b"half-written".to_vec()),
        ("samples/app/Dockerfile", b"FROM scratch\n".to_vec()),
    ];
    for (path, bytes) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, bytes).expect("write");
    }
}

/// Every file under `dir`'s stage directories, with its bytes.
fn stage_files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, files: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, files);
            } else {
                let name = path.strip_prefix(root).expect("under root").to_string_lossy().replace('\\', "/");
                files.insert(name, std::fs::read(&path).expect("read"));
            }
        }
    }
    let mut files = BTreeMap::new();
    for stage in ["raw", "labeled", "curated", "pairs", "splits"] {
        walk(root, &root.join(stage), &mut files);
    }
    files
}

fn synced(files: BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    files.into_iter().filter(|(path, _)| !path.rsplit('/').next().is_some_and(|n| n.starts_with('.'))).collect()
}

#[test]
fn push_then_pull_into_an_empty_tree() {
    let Some(fx) = Fixture::start() else { return };
    let source = fx.layout("source");
    write_tree(&source.root);
    let options = fx.options("datasets/dev");

    let report = push(&source, &options, &Quiet).expect("push");
    assert_eq!(report.files, 7, "the stage outputs, without the temporary file or data/samples");
    assert_eq!(report.transferred.len(), 6, "train and val share one object");
    assert_eq!(report.remote, "s3://codi-data/datasets/dev");
    assert!(fx.server.object_file(BUCKET, "datasets/dev/manifest.json").is_file());

    let again = push(&source, &options, &Quiet).expect("second push");
    assert!(again.transferred.is_empty(), "nothing changed: {:?}", again.transferred);
    assert_eq!(again.unchanged, 7);

    let target = fx.layout("target");
    let pulled = pull(&target, &options, &Quiet).expect("pull");
    assert_eq!((pulled.files, pulled.transferred.len(), pulled.unchanged), (7, 6, 0));
    assert_eq!(stage_files(&target.root), synced(stage_files(&source.root)));
    assert!(!target.root.join(".codi-sync").exists(), "the staging directory is gone");

    // Pull again after local changes: only the changed file comes down, and a stage file that
    // the dataset does not have goes (the stage directories mirror the remote's).
    std::fs::write(target.root.join("labeled/labeled.parquet"), b"edited").expect("edit");
    std::fs::write(target.root.join("splits/extra.parquet"), b"local only").expect("extra");
    let repaired = pull(&target, &options, &Quiet).expect("pull again");
    assert_eq!(repaired.transferred.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(), ["labeled/labeled.parquet"]);
    assert_eq!(repaired.unchanged, 6);
    assert_eq!(repaired.removed, ["splits/extra.parquet"]);
    assert_eq!(stage_files(&target.root), synced(stage_files(&source.root)));

    // A dry run says what would go up and changes nothing remotely.
    let manifest = std::fs::read(fx.server.object_file(BUCKET, "datasets/dev/manifest.json")).expect("manifest");
    std::fs::write(source.root.join("splits/test.parquet"), noise(9, 100)).expect("new file");
    let plan = push(&source, &Options { dry_run: true, ..options.clone() }, &Quiet).expect("dry run");
    assert_eq!(plan.transferred.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(), ["splits/test.parquet"]);
    assert_eq!(std::fs::read(fx.server.object_file(BUCKET, "datasets/dev/manifest.json")).expect("manifest"), manifest);
}

#[test]
fn large_files_go_up_in_parts_and_come_back_whole() {
    let Some(fx) = Fixture::start() else { return };
    let source = fx.layout("source");
    let big = noise(4, (11 << 20) + 123);
    std::fs::create_dir_all(source.pairs()).expect("mkdir");
    std::fs::write(source.pairs().join("pairs.parquet"), &big).expect("write");
    let options = Options { part_size: 5 << 20, ..fx.options("") };
    let report = push(&source, &options, &Quiet).expect("push");
    assert_eq!(report.transferred_bytes, big.len() as u64);
    assert!(!source.root.join(".codi-sync/uploads.json").exists(), "no upload is left in progress");

    let target = fx.layout("target");
    pull(&target, &options, &Quiet).expect("pull");
    assert!(std::fs::read(target.pairs().join("pairs.parquet")).expect("pulled") == big);
}

#[test]
fn a_corrupted_object_is_named_and_nothing_local_changes() {
    let Some(fx) = Fixture::start() else { return };
    let source = fx.layout("source");
    write_tree(&source.root);
    let options = fx.options("ds");
    push(&source, &options, &Quiet).expect("push");

    let sha256 = codi_files::sha256_file(&source.labeled().join("labeled.parquet")).expect("hash");
    let object = fx.server.object_file(BUCKET, &format!("ds/objects/{sha256}"));
    let mut bytes = std::fs::read(&object).expect("object");
    bytes[1000] ^= 0xff;
    std::fs::write(&object, &bytes).expect("corrupt it");

    let target = fx.layout("target");
    std::fs::create_dir_all(target.labeled()).expect("mkdir");
    std::fs::write(target.labeled().join("labeled.parquet"), b"the local version").expect("write");
    let before = stage_files(&target.root);
    let error = pull(&target, &options, &Quiet).expect_err("the corruption is found");
    let Error::Corrupt { key, path, expected, actual, .. } = &error else { panic!("{error}") };
    assert_eq!(key, &format!("s3://{BUCKET}/ds/objects/{sha256}"));
    assert_eq!((path.as_str(), expected), ("labeled/labeled.parquet", &sha256));
    assert_eq!(actual, &codi_files::sha256_hex(&bytes));
    let message = error.to_string();
    assert!(message.contains(key) && message.contains("local tree is unchanged"), "{message}");
    assert_eq!(stage_files(&target.root), before, "nothing local was replaced");
    assert!(!target.root.join(".codi-sync").exists());
}

#[test]
fn wrong_credentials_and_missing_datasets_are_clear_errors() {
    let Some(fx) = Fixture::start() else { return };
    let source = fx.layout("source");
    write_tree(&source.root);
    let mut remote: Remote = fx.server.remote(BUCKET, "ds");
    remote.credentials = Some(Credentials { access_key_id: "codi-local".into(), secret_access_key: "wrong".into() });
    let options = Options::new(remote);
    for result in [push(&source, &options, &Quiet), pull(&fx.layout("target"), &options, &Quiet)] {
        let error = result.expect_err("refused");
        assert!(matches!(error, Error::Denied { .. }), "{error}");
        let message = error.to_string();
        assert!(message.contains("access denied") && message.contains("AWS_SECRET_ACCESS_KEY"), "{message}");
        assert!(message.contains("s3://codi-data/ds/"), "{message}");
    }
    assert!(!fx.layout("target").root.exists(), "a refused pull writes nothing");

    let error = pull(&fx.layout("target"), &fx.options("nothing-here"), &Quiet).expect_err("no dataset");
    assert!(matches!(error, Error::NoManifest { .. }), "{error}");
    assert!(error.to_string().contains("s3://codi-data/nothing-here/manifest.json"), "{error}");

    // An empty data directory (a wrong --data) is not pushed: pulling it would empty trees.
    let error = push(&fx.layout("empty"), &fx.options("ds"), &Quiet).expect_err("nothing to push");
    assert!(matches!(error, Error::Empty { .. }), "{error}");

    let mut anonymous = fx.server.remote(BUCKET, "ds");
    anonymous.credentials = None;
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
        let error = push(&source, &Options::new(anonymous), &Quiet).expect_err("no credentials");
        assert!(error.to_string().contains("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"), "{error}");
    }
}
