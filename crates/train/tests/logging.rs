//! The run's TensorBoard event file, read by TensorBoard itself (the oracle), holds the same
//! scalars as `metrics.jsonl`. Skips when the `tensorboard` Python package is absent, unless
//! `CODI_REQUIRE_ORACLES` is set (CI installs it).

mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::AtomicBool;

use codi_model::cpu;
use codi_train::Trainer;

const READ_EVENTS: &str = "
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
acc = EventAccumulator(sys.argv[1])
acc.Reload()
print(json.dumps({tag: [[e.step, e.value] for e in acc.Scalars(tag)] for tag in acc.Tags()['scalars']}))
";

#[test]
fn tensorboard_reads_the_scalars_the_jsonl_copy_holds() {
    let has_tensorboard =
        Command::new("python3").args(["-c", "import tensorboard"]).status().is_ok_and(|s| s.success());
    if !has_tensorboard {
        assert!(std::env::var_os("CODI_REQUIRE_ORACLES").is_none(), "python3 with `tensorboard` is needed");
        eprintln!("skipped: no python3 with the tensorboard package");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = support::setup(dir.path());
    config.training.max_steps = 5;
    let mut trainer = Trainer::from_config(config, cpu()).expect("trainer");
    trainer.run(None, &AtomicBool::new(false), &mut |_| {}).expect("run");
    let logs = trainer.config().run_dir().join("logs");

    let output = Command::new("python3").args(["-c", READ_EVENTS]).arg(&logs).output().expect("python3");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let read: BTreeMap<String, Vec<(usize, f32)>> = serde_json::from_slice(&output.stdout).expect("json");

    let mut expected: BTreeMap<String, Vec<(usize, f32)>> = BTreeMap::new();
    let jsonl = std::fs::read_to_string(logs.join("metrics.jsonl")).expect("jsonl");
    for line in jsonl.lines() {
        let record: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line).expect("line");
        let step = record["step"].as_u64().expect("step") as usize;
        for (tag, value) in record.iter().filter(|(k, _)| *k != "step") {
            expected.entry(tag.clone()).or_default().push((step, value.as_f64().expect("number") as f32));
        }
    }
    for tag in ["train/loss", "train/lr", "train/grad_norm", "train/tokens_per_second", "val/loss"] {
        assert!(expected.contains_key(tag), "{tag} was not logged");
    }
    assert_eq!(read, expected);
}
