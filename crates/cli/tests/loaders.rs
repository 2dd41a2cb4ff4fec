//! Every stage folder of `codi data prepare` loads as-is as one dataset in the tools people
//! point at a folder: duckdb's `read_parquet('<stage>/*.parquet')`, pyarrow's and pandas'
//! dataset readers, and Hugging Face `datasets` (`load_dataset("parquet", data_dir=…)`, which
//! finds the train/val/test splits by name). Each reads every row of the folder's tables and
//! nothing else (stats and rejects are under `__meta__/`, JSONL under `__jsonl__/`), and every
//! table of a folder has one schema. The tools come from `.ci/run`; without them the test skips,
//! unless `CODI_REQUIRE_ORACLES=1`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use codi_dataset::Layout;
use codi_dataset::pipeline::Stats;

/// Loads each folder given on the command line with each tool and prints, per folder, the rows
/// each one read (HF `datasets`: per split) as one JSON object.
const LOAD: &str = r#"
import json, os, sys
import duckdb, pandas, pyarrow.dataset, pyarrow.parquet, datasets

datasets.disable_progress_bars()
loaded = {}
for folder in sys.argv[1:]:
    tables = sorted(os.path.join(folder, name) for name in os.listdir(folder) if name.endswith(".parquet"))
    schemas = {str(pyarrow.parquet.read_schema(table)) for table in tables}
    assert len(schemas) == 1, f"{folder}: {len(schemas)} schemas among {tables}"
    hf = datasets.load_dataset("parquet", data_dir=folder, cache_dir=os.environ["CACHE"])
    loaded[os.path.basename(folder)] = {
        "duckdb": duckdb.sql(f"SELECT count(*) FROM read_parquet('{folder}/*.parquet')").fetchall()[0][0],
        "pyarrow": pyarrow.dataset.dataset(folder, format="parquet").count_rows(),
        "pandas": len(pandas.read_parquet(folder)),
        "datasets": {split: rows.num_rows for split, rows in hf.items()},
    }
print(json.dumps(loaded))
"#;

#[derive(Debug, serde::Deserialize)]
struct Loaded {
    duckdb: u64,
    pyarrow: u64,
    pandas: u64,
    datasets: BTreeMap<String, u64>,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn codi(dir: &Path, args: &[&str]) {
    let output = Command::new(env!("CARGO_BIN_EXE_codi"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("codi runs");
    assert!(output.status.success(), "codi {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

fn python_has_the_loaders() -> bool {
    let probe = Command::new("python3").args(["-c", "import duckdb, pandas, pyarrow, datasets"]).output();
    let present = probe.is_ok_and(|output| output.status.success());
    let required = std::env::var_os("CODI_REQUIRE_ORACLES").is_some_and(|v| v == "1");
    assert!(
        present || !required,
        "oracle required (CODI_REQUIRE_ORACLES=1) but python3 lacks duckdb, pandas, pyarrow or datasets (.ci/run)"
    );
    if !present {
        eprintln!("skipping: python3 with duckdb, pandas, pyarrow and datasets is needed");
    }
    present
}

/// The rows of the tables at the top of a stage folder, by codi's own reader.
fn rows_in(folder: &Path) -> u64 {
    std::fs::read_dir(folder)
        .expect("stage folder")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "parquet"))
        .map(|table| codi_dataset::table::row_count(&table).expect("row count"))
        .sum()
}

#[test]
fn every_stage_folder_loads_in_duckdb_pyarrow_pandas_and_hf_datasets() {
    if !python_has_the_loaders() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink(repo().join("patterns"), dir.path().join("patterns")).expect("patterns");
    let samples = repo().join("data/samples");
    codi(dir.path(), &["data", "collect", "--local", samples.to_str().expect("UTF-8 path")]);
    codi(dir.path(), &["data", "label"]);
    codi(dir.path(), &["data", "prepare", "--jsonl"]);
    let data = Layout::new(dir.path().join("data"));
    let folders = [data.raw(), data.labeled(), data.curated(), data.pairs(), data.splits()];

    let output = Command::new("python3")
        .arg("-c")
        .arg(LOAD)
        .args(&folders)
        .env("CACHE", dir.path().join("hf-cache"))
        .env("HF_HUB_OFFLINE", "1")
        .env("HF_DATASETS_OFFLINE", "1")
        .output()
        .expect("python3 runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let loaded: BTreeMap<String, Loaded> = serde_json::from_slice(&output.stdout).expect("one JSON object");

    for folder in &folders {
        let name = folder.file_name().expect("name").to_str().expect("UTF-8");
        let rows = rows_in(folder);
        let by = &loaded[name];
        assert!(rows > 0, "{name}: no rows");
        assert_eq!((by.duckdb, by.pyarrow, by.pandas), (rows, rows, rows), "{name}");
        assert_eq!(by.datasets.values().sum::<u64>(), rows, "{name}: {:?}", by.datasets);
    }
    // The splits are the dataset's splits, with the rows the split stage counted.
    let split_stats = Stats::read(&data.splits().join("__meta__/stats.json")).expect("split stats");
    let by_split: BTreeMap<String, u64> = split_stats.counts["by_split"].clone().into_iter().collect();
    let named = |hf: &str| loaded["splits"].datasets.get(hf).copied().unwrap_or(0);
    for (split, hf) in [("train", "train"), ("val", "validation"), ("test", "test")] {
        assert_eq!(named(hf), by_split.get(split).copied().unwrap_or(0), "{split}: {:?}", loaded["splits"].datasets);
    }
    // The pairs stage's folder holds the pairs it counted (feedback pairs, when there are runs,
    // beside them in the same schema).
    let pairs_stats = Stats::read(&data.pairs().join("__meta__/stats.json")).expect("pairs stats");
    assert_eq!(loaded["pairs"].duckdb, pairs_stats.counts["pairs_by_task"].values().sum::<u64>());
    assert!(data.splits().join("__jsonl__/train.jsonl").is_file(), "the JSONL beside, out of the loaders' way");
}
