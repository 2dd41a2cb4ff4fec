//! The data pipeline on the schedulers of `deploy/`: the Kubernetes Indexed Jobs of
//! `deploy/k8s/data-prepare-job.yaml` and the Slurm arrays of `deploy/slurm/data-prepare.sbatch`,
//! run on this machine as the schedulers would run them (every shard its own process, all at
//! once, with the scheduler's environment variables, over one shared data folder), end in the
//! same tables, byte for byte, as one process (`codi data label`, `codi data prepare`). No cluster is here, so the manifest is
//! checked against Kubernetes' own schema offline (`kubernetes-validate`, which `.ci/run`
//! installs; without it that check skips, unless `CODI_REQUIRE_ORACLES=1`).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::fs::{PermissionsExt as _, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

const MANIFEST: &str = "deploy/k8s/data-prepare-job.yaml";
const SLURM_SCRIPT: &str = "deploy/slurm/data-prepare.sbatch";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A working directory as the image's `/app`: the rule catalogue, and the sample projects
/// collected into `data/raw`.
fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    symlink(repo().join("patterns"), dir.path().join("patterns")).expect("patterns");
    let samples = repo().join("data/samples");
    codi(dir.path(), [OsStr::new("data"), OsStr::new("collect"), OsStr::new("--local"), samples.as_os_str()]);
    dir
}

/// Runs `codi ARGS…` in `dir` and asserts that it succeeds.
fn codi<'a>(dir: &Path, args: impl IntoIterator<Item = &'a OsStr>) {
    let args: Vec<&OsStr> = args.into_iter().collect();
    let output = Command::new(env!("CARGO_BIN_EXE_codi"))
        .args(&args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("codi runs");
    assert!(output.status.success(), "codi {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// Every Parquet file the chain leaves in the stage folders, by path under `data/`.
fn tables(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(dir: &Path, root: &Path, found: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).expect("stage folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, root, found);
            } else if path.extension().is_some_and(|ext| ext == "parquet") {
                let name = path.strip_prefix(root).expect("under data").display().to_string();
                found.insert(name, std::fs::read(&path).expect("table"));
            }
        }
    }
    let mut found = BTreeMap::new();
    for stage in ["labeled", "curated", "pairs", "splits"] {
        walk(&dir.join("data").join(stage), &dir.join("data"), &mut found);
    }
    found
}

/// The tables of one process over the samples: `codi data label`, then `codi data prepare`.
fn one_process() -> BTreeMap<String, Vec<u8>> {
    let dir = workdir();
    codi(dir.path(), ["data", "label"].map(OsStr::new));
    codi(dir.path(), ["data", "prepare"].map(OsStr::new));
    let tables = tables(dir.path());
    assert!(
        tables.contains_key("splits/train.parquet") && tables.contains_key("pairs/pairs.parquet"),
        "{:?}",
        tables.keys()
    );
    tables
}

fn assert_same_tables(scheduled: &BTreeMap<String, Vec<u8>>, direct: &BTreeMap<String, Vec<u8>>) {
    assert_eq!(scheduled.keys().collect::<Vec<_>>(), direct.keys().collect::<Vec<_>>(), "the same tables");
    let differing: Vec<&String> =
        scheduled.iter().filter(|(name, bytes)| direct[*name] != **bytes).map(|(name, _)| name).collect();
    assert!(differing.is_empty(), "tables that differ from one process's: {differing:?}");
}

fn manifest() -> Vec<Yaml> {
    let text = std::fs::read_to_string(repo().join(MANIFEST)).expect("manifest");
    YamlLoader::load_from_str(&text).expect("manifest is YAML")
}

fn strings(yaml: &Yaml) -> Vec<String> {
    yaml.as_vec().into_iter().flatten().map(|item| item.as_str().expect("a string").to_owned()).collect()
}

/// `$(NAME)` references expanded from `env`, as the kubelet expands a container's arguments.
fn expand(arg: &str, env: &[(&str, String)]) -> String {
    env.iter().fold(arg.to_owned(), |arg, (name, value)| arg.replace(&format!("$({name})"), value))
}

/// The Jobs, in the order of their `codi.dev/step` label.
fn jobs(manifest: &[Yaml]) -> Vec<&Yaml> {
    let step = |doc: &Yaml| doc["metadata"]["labels"]["codi.dev/step"].as_str().and_then(|s| s.parse::<u32>().ok());
    let mut jobs: Vec<&Yaml> = manifest.iter().filter(|doc| doc["kind"].as_str() == Some("Job")).collect();
    assert!(jobs.iter().all(|job| step(job).is_some()), "every Job has a numbered codi.dev/step");
    jobs.sort_by_key(|job| step(job));
    jobs
}

/// One pod of a Job, as the kubelet runs it: its init containers one after another, then its
/// container, each in the image's working directory with the data volume at `/app/data`.
fn run_pod(job: &Yaml, index: i64, dir: &Path) {
    let spec = &job["spec"]["template"]["spec"];
    let env = [("JOB_COMPLETION_INDEX", index.to_string())];
    let containers =
        spec["initContainers"].as_vec().into_iter().flatten().chain(spec["containers"].as_vec().expect("containers"));
    for container in containers {
        assert_eq!(strings(&container["command"]), ["codi"], "{container:?}");
        assert_eq!(container["workingDir"].as_str(), Some("/app"));
        assert_eq!(container["volumeMounts"][0]["mountPath"].as_str(), Some("/app/data"));
        let args: Vec<String> = strings(&container["args"]).iter().map(|arg| expand(arg, &env)).collect();
        let output = Command::new(env!("CARGO_BIN_EXE_codi"))
            .args(&args)
            .current_dir(dir)
            .env("JOB_COMPLETION_INDEX", index.to_string())
            .env("NO_COLOR", "1")
            .output()
            .expect("codi runs");
        assert!(output.status.success(), "pod {index}, codi {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }
}

/// Each sharded container's `--shard i/N` names the Job's completions as N, and all of them
/// run at once.
fn assert_shards_match_completions(job: &Yaml) {
    let spec = &job["spec"];
    let completions = spec["completions"].as_i64().expect("completions");
    let indexed = spec["completionMode"].as_str() == Some("Indexed");
    let pod = &spec["template"]["spec"];
    for container in
        pod["initContainers"].as_vec().into_iter().flatten().chain(pod["containers"].as_vec().expect("containers"))
    {
        let args = strings(&container["args"]);
        let shard = args.iter().position(|arg| arg == "--shard").map(|at| args[at + 1].as_str());
        match shard {
            Some(shard) => {
                assert!(indexed, "{args:?}: --shard in a Job that is not Indexed");
                assert_eq!(shard, format!("$(JOB_COMPLETION_INDEX)/{completions}"), "{args:?}");
                assert_eq!(spec["parallelism"].as_i64(), Some(completions));
            }
            None => assert_eq!(completions, 1, "{args:?}: a merge runs once"),
        }
    }
}

#[test]
fn the_kubernetes_jobs_end_in_the_tables_of_one_process() {
    let manifest = manifest();
    let dir = workdir();
    let jobs = jobs(&manifest);
    assert_eq!(jobs.len(), 4);
    for job in jobs {
        assert_shards_match_completions(job);
        let completions = job["spec"]["completions"].as_i64().expect("completions");
        let dir = dir.path();
        std::thread::scope(|scope| {
            for index in 0..completions {
                scope.spawn(move || run_pod(job, index, dir));
            }
        });
    }
    assert_same_tables(&tables(dir.path()), &one_process());
}

#[test]
fn the_manifest_mounts_one_shared_volume_and_runs_as_the_images_user() {
    let manifest = manifest();
    let claim = manifest.iter().find(|doc| doc["kind"].as_str() == Some("PersistentVolumeClaim")).expect("a claim");
    assert_eq!(strings(&claim["spec"]["accessModes"]), ["ReadWriteMany"], "every pod mounts it at once");
    let name = claim["metadata"]["name"].as_str().expect("name");
    let version = env!("CARGO_PKG_VERSION");
    for job in jobs(&manifest) {
        let pod = &job["spec"]["template"]["spec"];
        assert_eq!(pod["volumes"][0]["persistentVolumeClaim"]["claimName"].as_str(), Some(name));
        assert_eq!(pod["securityContext"]["runAsUser"].as_i64(), Some(65532), "deploy/Dockerfile's user");
        for container in
            pod["initContainers"].as_vec().into_iter().flatten().chain(pod["containers"].as_vec().expect("containers"))
        {
            assert_eq!(
                container["image"].as_str(),
                Some(format!("codi-serve:{version}").as_str()),
                "`make image`'s tag"
            );
        }
    }
}

#[test]
fn the_manifest_is_valid_kubernetes() {
    let output = match Command::new("kubernetes-validate")
        .args(["--strict", "--quiet"])
        .arg(repo().join(MANIFEST))
        .output()
    {
        Ok(output) => output,
        Err(error) => {
            let required = std::env::var_os("CODI_REQUIRE_ORACLES").is_some_and(|v| v == "1");
            assert!(!required, "oracle required (CODI_REQUIRE_ORACLES=1) but kubernetes-validate: {error} (.ci/run)");
            eprintln!("skipping: kubernetes-validate is not on the PATH (pip install kubernetes-validate)");
            return;
        }
    };
    let report = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && !report.contains("ERROR"), "{report}");
}

/// `sbatch` as far as the script uses it: it runs the job at once, an array's tasks
/// concurrently with Slurm's variables, refuses a dependency on a job that did not succeed, and
/// prints the id the way `--parsable` does (`id;cluster`).
const FAKE_SBATCH: &str = r#"#!/usr/bin/env bash
set -euo pipefail
state="$(dirname "$0")/jobs"
mkdir -p "$state"
array=""
while [[ "$1" == --* ]]; do
  case "$1" in
    --parsable) ;;
    --array=*) array="${1#--array=}" ;;
    --dependency=afterok:*)
      [[ -f "$state/${1#--dependency=afterok:}.ok" ]] || { echo "sbatch: ${1#*:} has not succeeded" >&2; exit 1; } ;;
    *) echo "sbatch: unexpected option $1" >&2; exit 1 ;;
  esac
  shift
done
id=$((100 + $(find "$state" -name '*.ok' | wc -l)))
script="$1"
shift
export SLURM_JOB_ID="$id"
if [[ -n "$array" ]]; then
  first="${array%-*}" last="${array#*-}" pids=()
  for ((task = first; task <= last; task++)); do
    SLURM_ARRAY_JOB_ID="$id" SLURM_ARRAY_TASK_ID="$task" SLURM_ARRAY_TASK_COUNT="$((last - first + 1))" \
      bash "$script" "$@" >"$state/$id-$task.out" 2>&1 &
    pids+=("$!")
  done
  for pid in "${pids[@]}"; do wait "$pid" || { cat "$state/$id"-*.out >&2; exit 1; }; done
else
  bash "$script" "$@" >"$state/$id.out" 2>&1 || { cat "$state/$id.out" >&2; exit 1; }
fi
touch "$state/$id.ok"
echo "$id;test"
"#;

#[test]
fn the_slurm_arrays_end_in_the_tables_of_one_process() {
    let dir = workdir();
    let bin = tempfile::tempdir().expect("tempdir");
    symlink(env!("CARGO_BIN_EXE_codi"), bin.path().join("codi")).expect("codi on the PATH");
    let sbatch = bin.path().join("sbatch");
    std::fs::write(&sbatch, FAKE_SBATCH).expect("sbatch");
    std::fs::set_permissions(&sbatch, std::fs::Permissions::from_mode(0o755)).expect("sbatch is executable");
    let path = std::env::join_paths(
        std::iter::once(bin.path().to_owned())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .expect("PATH");
    let output = Command::new(repo().join(SLURM_SCRIPT))
        .current_dir(dir.path())
        .env("PATH", path)
        .env("CODI_SHARDS", "3")
        .env_remove("SLURM_JOB_ID")
        .env("NO_COLOR", "1")
        .output()
        .expect("the script runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(stdout.trim(), "submitted: label-shards 100, curate 101, pairs-shards 102, prepare 103");
    assert_same_tables(&tables(dir.path()), &one_process());
}

#[test]
fn the_slurm_script_refuses_a_sharded_step_outside_an_array_and_an_unknown_step() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |step: &str| {
        Command::new(repo().join(SLURM_SCRIPT))
            .arg(step)
            .current_dir(dir.path())
            .env("SLURM_JOB_ID", "7")
            .env_remove("SLURM_ARRAY_TASK_ID")
            .output()
            .expect("runs")
    };
    let outside = run("pairs-shards");
    assert_eq!(outside.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&outside.stderr).contains("runs as a job array"));
    let unknown = run("split");
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown step 'split'"));
}
