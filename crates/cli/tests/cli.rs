//! The `codi` binary end to end: output (snapshots), exit statuses, and the generated docs.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::default_model;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Runs `codi` in `dir`, so that paths in its output are short and stable.
fn codi_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_codi"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("codi runs")
}

fn codi(args: &[&str]) -> Output {
    codi_in(&fixtures(), args)
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 stdout")
}

#[test]
fn lint_tty_report_and_exit_status() {
    let out = codi(&["lint", "node-app/Dockerfile"]);
    assert_eq!(out.status.code(), Some(1), "warnings fail at the default threshold (info)");
    insta::assert_snapshot!(stdout(&out));
    assert_eq!(codi(&["lint", "--no-fail", "node-app/Dockerfile"]).status.code(), Some(0));
    assert_eq!(codi(&["lint", "-t", "error", "node-app/Dockerfile"]).status.code(), Some(0));
    assert_eq!(codi(&["lint", "clean/Dockerfile"]).status.code(), Some(0));
}

#[test]
fn lint_json_is_hadolint_shaped() {
    let out = codi(&[
        "lint",
        "--format",
        "json",
        "--ignore",
        "CD006",
        "--ignore",
        "install-after-source-copy",
        "node-app/Dockerfile",
    ]);
    let records: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("JSON array");
    assert!(!records.iter().any(|r| r["code"] == "CD006" || r["code"] == "CD001"), "--ignore by code and by name");
    insta::assert_json_snapshot!(records);
}

#[test]
fn lint_sarif_names_its_rules() {
    let out = codi(&["lint", "--format", "sarif", "node-app/Dockerfile"]);
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).expect("SARIF JSON");
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().expect("results");
    assert!(
        results
            .iter()
            .all(|r| r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "node-app/Dockerfile")
    );
}

#[test]
fn lint_walks_directories_and_reads_stdin() {
    let out = codi(&["lint", "--format", "json", "--no-fail", "."]);
    let records: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("JSON");
    let files: std::collections::BTreeSet<&str> = records.iter().filter_map(|r| r["file"].as_str()).collect();
    assert_eq!(files.into_iter().collect::<Vec<_>>(), ["node-app/Dockerfile"], "clean/Dockerfile has no findings");
    let mut child = Command::new(env!("CARGO_BIN_EXE_codi"))
        .args(["lint", "--format", "json", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), b"FROM ubuntu\n").expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(stdout(&out).contains("DL3006"));
}

#[test]
fn bad_invocations_exit_2_with_a_reason() {
    let out = codi(&["lint", "--ignore", "DL9999", "clean/Dockerfile"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown rule \"DL9999\""));
    let out = codi(&["lint", "missing/Dockerfile"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing/Dockerfile: no such file"));
    let out = codi(&["lint", "--max-bytes", "10", "clean/Dockerfile"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("over the 10 byte limit"));
}

#[test]
fn lint_writes_its_report_atomically() {
    let dir = tempfile::tempdir().expect("temp dir");
    let report = dir.path().join("reports/lint.json");
    let out =
        codi(&["lint", "--no-fail", "--format", "json", "-o", report.to_str().expect("path"), "node-app/Dockerfile"]);
    assert_eq!(out.status.code(), Some(0));
    let written: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("JSON");
    assert!(!written.is_empty());
    let leftovers: Vec<_> = std::fs::read_dir(report.parent().expect("dir"))
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary files left behind");
}

#[test]
fn rules_json_lists_every_rule_with_its_doc() {
    let out = codi(&["rules", "--format", "json"]);
    let rules: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(rules.len(), codi_core::lint::all_rules().len());
    for rule in &rules {
        for field in ["code", "hadolint_code", "severity", "doc"] {
            assert!(rule.get(field).is_some(), "{rule}: {field}");
        }
        let hadolint = rule["code"].as_str().is_some_and(|c| c.starts_with("DL"));
        assert_eq!(rule["hadolint_code"].is_null(), !hadolint);
    }
    insta::assert_snapshot!(stdout(&codi(&["rules", "DL3008"])));
}

#[test]
fn docs_rules_md_is_up_to_date() {
    let generated = stdout(&codi(&["rules", "--format", "markdown"]));
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/rules.md");
    let committed = std::fs::read_to_string(&docs).unwrap_or_default();
    assert!(committed == generated, "docs/rules.md is stale: run `make docs`");
}

#[test]
fn parse_prints_the_canonical_form() {
    let out = codi(&["parse", "--format", "dockerfile", "clean/Dockerfile"]);
    assert_eq!(out.status.code(), Some(0));
    insta::assert_snapshot!(stdout(&out));
    let json: serde_json::Value =
        serde_json::from_slice(&codi(&["parse", "clean/Dockerfile"]).stdout).expect("tree JSON");
    assert_eq!(json["instructions"][0]["kind"]["keyword"], "FROM");
    assert_eq!(json["instructions"][0]["span"]["start"]["line"], 2);
}

#[test]
fn analyze_a_project_directory() {
    let out = codi(&["analyze", "--format", "json", "node-app"]);
    assert_eq!(out.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["stack"]["stack"], "node");
    assert_eq!(report["stack"]["framework"], "nextjs", "from package.json");
    assert_eq!(report["stack"]["package_manager"], "npm");
    assert_eq!(report["command"]["form"], "shell");
    insta::assert_snapshot!(stdout(&codi(&["analyze", "node-app"])));
}

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/samples")
}

fn codi_on_samples(args: &[&str]) -> Output {
    codi_in(&samples(), args)
}

fn sample_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(samples())
        .expect("data/samples")
        .map(|e| e.expect("entry"))
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn analyze_every_sample_project() {
    let mut report = String::new();
    for name in sample_names() {
        let out = codi_on_samples(&["analyze", &name]);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        report.push_str(&stdout(&out));
        report.push('\n');
    }
    insta::assert_snapshot!(report);
}

#[test]
fn rewrite_every_sample_project() {
    let out_dir = tempfile::tempdir().expect("tempdir");
    let out_arg = out_dir.path().display().to_string();
    let mut args = vec!["rewrite", "--catalog", "../../patterns/rules.yml", "--out", &out_arg];
    let names = sample_names();
    args.extend(names.iter().map(String::as_str));
    let out = codi_on_samples(&args);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let summary = stdout(&out).replace(&out_arg, "[out]");
    insta::assert_snapshot!("rewrite_summary", summary);
    for name in &names {
        let dir = out_dir.path().join(name);
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("rewrite.json")).expect("rewrite.json"))
                .expect("JSON");
        assert!(dir.join("report.md").is_file());
        for (rank, candidate) in report["candidates"].as_array().expect("candidates").iter().enumerate() {
            let stem = format!("{}-{}", rank + 1, candidate["rule_id"].as_str().expect("rule id"));
            let written =
                std::fs::read_to_string(dir.join("candidates").join(format!("{stem}.Dockerfile"))).expect("candidate");
            assert_eq!(written, candidate["dockerfile"].as_str().expect("text"));
            assert!(dir.join("candidates").join(format!("{stem}.diff")).is_file());
        }
    }
    let report = std::fs::read_to_string(out_dir.path().join("node-express-npm/report.md")).expect("report");
    insta::assert_snapshot!("rewrite_report_node_express_npm", report);
}

#[test]
fn rewrite_real_builds_says_when_there_is_no_docker_and_falls_back_to_estimates() {
    let out_dir = tempfile::tempdir().expect("tempdir");
    let empty_path = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_codi"))
        .args(["rewrite", "--real-builds", "--catalog", "../../patterns/rules.yml", "--format", "json", "--out"])
        .arg(out_dir.path())
        .arg("go-http-cmd")
        .current_dir(samples())
        .env("PATH", empty_path.path())
        .output()
        .expect("codi runs");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no Docker engine reachable"));
    let results: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(results[0]["original"]["source"], "estimate");
    assert_eq!(results[0]["candidates"][0]["estimate"]["source"], "estimate");
}

#[test]
fn rewrite_with_a_broken_catalog_lists_every_problem_and_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = dir.path().join("rules.yml");
    std::fs::write(&catalog, "schema_version: 1\nrules:\n  - id: x\n    stack: cobol\nllm_assist: {}\n")
        .expect("write");
    std::fs::create_dir(dir.path().join("templates")).expect("mkdir");
    let out = codi_on_samples(&["rewrite", "--catalog", &catalog.display().to_string(), "go-http-cmd"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr).replace(&dir.path().display().to_string(), "[dir]");
    insta::assert_snapshot!("rewrite_broken_catalog", stderr);
}

#[test]
fn the_data_pipeline_runs_from_the_command_line() {
    let data = tempfile::tempdir().expect("tempdir");
    let data_arg = data.path().display().to_string();
    let raw = format!("{data_arg}/raw");
    let labeled = format!("{data_arg}/labeled");
    let steps: [&[&str]; 4] = [
        &["data", "collect", "--local", "node-express-npm", "--out", &raw],
        &["data", "extract", "--raw", &raw],
        &["data", "label", "--raw", &raw, "--out", &labeled],
        &["data", "prepare", "--data", &data_arg, "--catalog", "../../patterns/rules.yml", "--jsonl"],
    ];
    let mut log = String::new();
    for step in steps {
        let out = codi_on_samples(step);
        assert_eq!(out.status.code(), Some(0), "{step:?}: {}", String::from_utf8_lossy(&out.stderr));
        log.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    for stage in ["collect: 1 in, 1 out", "label: 1 in, 1 out", "standardize: 1 in, 1 out", "pairs: 1 in, 1 out"] {
        assert!(log.contains(stage), "{stage} missing from\n{log}");
    }
    for split in ["train", "val", "test"] {
        assert!(data.path().join(format!("splits/{split}.parquet")).is_file());
        assert!(data.path().join(format!("splits/__jsonl__/{split}.jsonl")).is_file());
    }
}

#[test]
fn data_commands_explain_bad_arguments() {
    let out = codi_on_samples(&["data", "label", "--shard", "3/2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("the index must be below the count"));
    let out = codi_on_samples(&["data", "collect", "--out", "/nonexistent/raw"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--local DIR or --github"));
    let out = codi_on_samples(&["data", "label", "--raw", "/nonexistent/raw", "--out", "/nonexistent/labeled"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("run the previous stage first"));
}

#[test]
fn data_collect_dry_run_prints_the_plan() {
    let out = Command::new(env!("CARGO_BIN_EXE_codi"))
        .args(["data", "collect", "--github", "--dry-run", "--stack", "go", "--stack", "rust", "--max-files", "50"])
        .env_remove("GITHUB_TOKEN")
        .output()
        .expect("codi runs");
    assert_eq!(out.status.code(), Some(0));
    insta::assert_snapshot!(stdout(&out));
}

#[test]
fn generate_chat_with_the_default_model() {
    let Some(model) = default_model() else { return };
    let model = model.to_str().expect("UTF-8 path");
    let chat =
        ["generate", "--model", model, "--chat", "What is a Dockerfile? Answer in one sentence.", "--max-tokens", "24"];
    let out = codi(&[&chat[..], &["--json"]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let mut report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    report.as_object_mut().expect("object").retain(|key, _| !matches!(key.as_str(), "seconds" | "model"));
    insta::assert_json_snapshot!(report);

    // Streaming text equals the JSON text; sampling is reproducible from its seed.
    let streamed = codi(&chat);
    assert_eq!(stdout(&streamed).trim_end(), report["text"].as_str().expect("text"));
    let sampled = |seed: &str| {
        stdout(&codi(&[
            "generate",
            "--model",
            model,
            "--prompt",
            "FROM",
            "--max-tokens",
            "12",
            "--temperature",
            "0.9",
            "--top-p",
            "0.9",
            "--seed",
            seed,
        ]))
    };
    assert_eq!(sampled("3"), sampled("3"));

    let cache = tempfile::tempdir().expect("tempdir");
    let missing = Command::new(env!("CARGO_BIN_EXE_codi"))
        .args(["generate", "--model", "no/such-model", "--prompt", "x"])
        .env("HF_HUB_CACHE", cache.path())
        .env("HF_ENDPOINT", "http://127.0.0.1:9")
        .output()
        .expect("codi runs");
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("not in the local Hugging Face cache"));
}

/// `run.yaml` in `dir`: one step on one `rewrite` row (the shortest task), validated on the test
/// split's two — the whole training path in well under a minute — into `adapters/cli-test`.
fn write_tiny_run(dir: &Path, model: &Path, splits: &Path) {
    let config = format!(
        "model:\n  base: {}\n  adapter_name: cli-test\ntraining:\n  max_steps: 1\n  gradient_accumulation: 1\n\
         data:\n  train: {}\n  val: {}\n  tasks: [rewrite]\noutput:\n  adapters: adapters\n  runs: runs\n",
        model.display(),
        splits.join("train.parquet").display(),
        splits.join("test.parquet").display()
    );
    std::fs::write(dir.join("run.yaml"), config).expect("config");
}

/// Splits made from every sample project by the data commands, in `data`.
fn sample_splits(data: &Path) -> PathBuf {
    let data_arg = data.display().to_string();
    let (raw, labeled) = (format!("{data_arg}/raw"), format!("{data_arg}/labeled"));
    let steps: [&[&str]; 4] = [
        &["data", "collect", "--local", ".", "--out", &raw],
        &["data", "extract", "--raw", &raw],
        &["data", "label", "--raw", &raw, "--out", &labeled],
        &["data", "prepare", "--data", &data_arg, "--catalog", "../../patterns/rules.yml"],
    ];
    for step in steps {
        let out = codi_on_samples(step);
        assert_eq!(out.status.code(), Some(0), "{step:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    data.join("splits")
}

#[test]
fn train_dry_run_train_and_verify_with_the_default_model() {
    let Some(model) = default_model() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let splits = sample_splits(&dir.path().join("data"));
    write_tiny_run(dir.path(), &model, &splits);
    let redact = |text: &str| text.replace(&dir.path().display().to_string(), "[dir]");
    let codi_here = |args: &[&str]| codi_in(dir.path(), args);

    let dry = codi_here(&["train", "--config", "run.yaml", "--dry-run"]);
    assert_eq!(dry.status.code(), Some(0), "{}", String::from_utf8_lossy(&dry.stderr));
    insta::assert_snapshot!("train_dry_run", redact(&stdout(&dry)));

    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../patterns/rules.yml");
    let run = codi_here(&["train", "--config", "run.yaml", "--rules", rules.to_str().expect("UTF-8 path")]);
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(stdout(&run).contains("adapter: adapters/cli-test (420 tensors, 4884480 parameters, verified)"));
    let read_json = |file: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(dir.path().join("adapters/cli-test").join(file)).expect(file))
            .expect(file)
    };
    // PEFT resolves the base by its hub id; the metadata keeps the local file trained on.
    let adapter_config = read_json("adapter_config.json");
    assert_eq!(adapter_config["base_model_name_or_path"], "HuggingFaceTB/SmolLM2-135M-Instruct");
    let metadata = read_json("metadata.json");
    assert_eq!(metadata["base_model"]["path"].as_str(), model.to_str());
    let metrics = &metadata["metrics"];
    let val: Vec<f64> = metrics["val_losses"]
        .as_array()
        .expect("val curve")
        .iter()
        .map(|point| point[1].as_f64().expect("loss"))
        .collect();
    assert!(val.len() == 2 && val[1] < val[0], "val loss at steps 0 and 1 should fall: {val:?}");
    assert!(metrics["train_loss"].is_f64() && metrics["tokens_per_second"].as_f64() > Some(0.0), "{metrics}");

    let model_arg = model.to_str().expect("UTF-8 path");
    let verify = codi_here(&["adapter", "verify", "adapters/cli-test", "--base", model_arg]);
    assert_eq!(verify.status.code(), Some(0), "{}", String::from_utf8_lossy(&verify.stderr));
    insta::assert_snapshot!("adapter_verify_ok", redact(&stdout(&verify)));

    // An adapter as PEFT writes it, without metadata.json: verified, with a warning.
    let peft = dir.path().join("peft-adapter");
    std::fs::create_dir_all(&peft).expect("mkdir");
    for file in ["adapter_model.safetensors", "adapter_config.json"] {
        std::fs::copy(dir.path().join("adapters/cli-test").join(file), peft.join(file)).expect("copy");
    }
    let peft_verify = codi_here(&["adapter", "verify", "peft-adapter", "--base", model_arg]);
    assert_eq!(peft_verify.status.code(), Some(0), "{}", String::from_utf8_lossy(&peft_verify.stderr));
    insta::assert_snapshot!("adapter_verify_peft", redact(&stdout(&peft_verify)));
    // `generate` applies it with the same warning; a missing adapter is an error, not the base alone.
    let generate = |adapter: &str| {
        codi_here(&["generate", "--model", model_arg, "--adapter", adapter, "--prompt", "FROM", "--max-tokens", "4"])
    };
    let with_peft = generate("peft-adapter");
    assert_eq!(with_peft.status.code(), Some(0), "{}", String::from_utf8_lossy(&with_peft.stderr));
    assert!(String::from_utf8_lossy(&with_peft.stderr).contains("warning: metadata.json: absent"));
    let missing = generate("no-such-adapter");
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no-such-adapter: not a directory"));

    let weights = dir.path().join("adapters/cli-test/adapter_model.safetensors");
    let mut bytes = std::fs::read(&weights).expect("weights");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&weights, bytes).expect("tamper");
    let tampered = codi_here(&["adapter", "verify", "adapters/cli-test"]);
    assert_eq!(tampered.status.code(), Some(1));
    // The digests depend on the trained bits, which the thread count may change.
    insta::with_settings!({ filters => vec![(r"sha256:[0-9a-f]{64}", "sha256:[hex]")] }, {
        insta::assert_snapshot!("adapter_verify_tampered", redact(&stdout(&tampered)));
    });
}

/// `codi eval` on the sample test split with the default model and a one-step adapter: the run
/// store, the report, the JSON summary and determinism; then the promotion gate (refusing the
/// real run, promoting a run where the adapter wins), lineage with every hash, and the nightly
/// check catching a regression.
#[test]
fn eval_promote_lineage_and_nightly_with_the_default_model() {
    let Some(model) = default_model() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    sample_splits(&root.join("data"));
    write_tiny_run(root, &model, &root.join("data/splits"));
    // A catalog of our own to promote into, its templates beside it.
    let patterns = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../patterns");
    std::fs::create_dir_all(root.join("patterns/templates")).expect("mkdir");
    std::fs::copy(patterns.join("rules.yml"), root.join("patterns/rules.yml")).expect("copy");
    for entry in std::fs::read_dir(patterns.join("templates")).expect("templates") {
        let path = entry.expect("entry").path();
        std::fs::copy(&path, root.join("patterns/templates").join(path.file_name().expect("name"))).expect("copy");
    }
    let codi_here = |args: &[&str]| codi_in(root, args);
    let train = codi_here(&["train", "--config", "run.yaml"]);
    assert_eq!(train.status.code(), Some(0), "{}", String::from_utf8_lossy(&train.stderr));
    let config = format!(
        "base: {}\nadapters: [adapters/cli-test]\nassist:\n  max_explain_tokens: 48\n  max_parameter_tokens: 48\n\
         statistics:\n  resamples: 200\ngate:\n  min_stack_examples: 1\n",
        model.display()
    );
    std::fs::write(root.join("eval.yaml"), config).expect("config");

    let eval = || {
        let out = codi_here(&["eval", "--config", "eval.yaml", "--format", "json"]);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let summary: codi_eval::Summary = serde_json::from_slice(&out.stdout).expect("the JSON summary");
        summary
    };
    let first = eval();
    assert_eq!(first.systems, ["rules-only", "base", "cli-test@0.1.0"]);
    assert_eq!(
        first.tasks.keys().collect::<Vec<_>>(),
        ["explain", "rank", "rewrite"],
        "every stack has a seed in the sample test split, and rank pairs with it"
    );
    let f1 = &first.tasks["explain"]["rules-only"]["code_f1"];
    assert!(f1.ci95[0] <= f1.value && f1.value <= f1.ci95[1]);
    assert!(first.comparisons.contains_key("cli-test@0.1.0_vs_base"));
    let run_dir = root.join(&first.run_dir);
    for file in ["results.json", "examples.jsonl", "config.yaml"] {
        assert!(run_dir.join(file).is_file(), "{file}");
    }
    let report = std::fs::read_to_string(root.join("eval/reports/llm_eval.html")).expect("the report");
    assert!(report.contains(&format!("id=\"{}\"", first.run_id)));

    // Two runs of one configuration agree on everything but times.
    let second = eval();
    assert_ne!(first.run_id, second.run_id);
    let timeless = |run_dir: &Path| {
        let mut results: serde_json::Value =
            serde_json::from_slice(&std::fs::read(root.join(run_dir).join("results.json")).expect("results"))
                .expect("JSON");
        for key in ["run_id", "created_at", "timing"] {
            results.as_object_mut().expect("an object").remove(key);
        }
        results
    };
    assert_eq!(timeless(&first.run_dir), timeless(&second.run_dir));

    // The real one-step adapter does not pass the gate; the catalog is left as it was.
    let catalog = std::fs::read_to_string(root.join("patterns/rules.yml")).expect("catalog");
    let dry = codi_here(&["promote", "--config", "eval.yaml", "--run", &first.run_id, "--dry-run"]);
    let dry_out = stdout(&dry);
    assert!(dry_out.contains("beats the base on"), "{dry_out}");
    assert_eq!(std::fs::read_to_string(root.join("patterns/rules.yml")).expect("catalog"), catalog);

    // A run where the adapter answers every example right and the base none passes it.
    let winning = fabricate_winning_run(&root.join("eval/runs"), &first.run_id);
    let promote = codi_here(&["promote", "--config", "eval.yaml", "--run", &winning]);
    let promote_out = stdout(&promote);
    assert_eq!(promote.status.code(), Some(0), "{promote_out}{}", String::from_utf8_lossy(&promote.stderr));
    let promoted = std::fs::read_to_string(root.join("patterns/rules.yml")).expect("catalog");
    assert_eq!(outside_promotions(&promoted), outside_promotions(&catalog), "only the promotions block changes");
    let id = promote_out.lines().find_map(|l| l.strip_prefix("promoted: ")).expect("a promotion").split(' ').next();
    let id = id.expect("its id").to_owned();
    assert!(id.starts_with("LLM-PROMO-") && promoted.contains(&id), "{promote_out}");
    let again = codi_here(&["promote", "--config", "eval.yaml", "--run", &winning, "--dry-run"]);
    assert_eq!(again.status.code(), Some(1), "promoted already: {}", stdout(&again));
    assert!(stdout(&again).contains("is already in"), "{}", stdout(&again));

    // The chain from the promotion down to the data holds, and breaks where a file changes.
    let lineage = codi_here(&["lineage", "--config", "eval.yaml", &id]);
    assert_eq!(lineage.status.code(), Some(0), "{}", stdout(&lineage));
    assert!(stdout(&lineage).contains("intact"));

    // Nightly: the promoted adapter evaluated again falls short of the made-up run.
    let nightly = codi_here(&["eval", "--config", "eval.yaml", "--nightly"]);
    assert_eq!(nightly.status.code(), Some(1), "{}{}", stdout(&nightly), String::from_utf8_lossy(&nightly.stderr));
    assert!(stdout(&nightly).contains("REGRESSION"), "{}", stdout(&nightly));

    let test_split = root.join("data/splits/test.parquet");
    let mut bytes = std::fs::read(&test_split).expect("split");
    bytes.push(0);
    std::fs::write(&test_split, bytes).expect("tamper");
    let broken = codi_here(&["lineage", "--config", "eval.yaml", &first.run_id]);
    assert_eq!(broken.status.code(), Some(1));
    assert!(stdout(&broken).contains("BROKEN") && stdout(&broken).contains("test split"), "{}", stdout(&broken));
}

/// A copy of run `id` in which the adapter scores 1 and the base 0 on every primary score.
fn fabricate_winning_run(runs: &Path, id: &str) -> String {
    use codi_eval::results::{ExampleRecord, Results};
    let winning = "20990101_0000";
    let (from, to) = (runs.join(id), runs.join(winning));
    std::fs::create_dir_all(&to).expect("mkdir");
    std::fs::copy(from.join("config.yaml"), to.join("config.yaml")).expect("config");
    let primary = |task: &str| codi_eval::metrics::primary(task.parse().expect("a task"));
    let text = std::fs::read_to_string(from.join("examples.jsonl")).expect("examples");
    let mut lines = String::new();
    for line in text.lines() {
        let mut record: ExampleRecord = serde_json::from_str(line).expect("an example");
        let metric = primary(&record.task);
        for (system, value) in [("cli-test@0.1.0", 1.0), ("base", 0.0)] {
            record.outputs.get_mut(system).expect("answered").scores.insert(metric.into(), value);
        }
        lines.push_str(&serde_json::to_string(&record).expect("JSON"));
        lines.push('\n');
    }
    std::fs::write(to.join("examples.jsonl"), lines).expect("examples");
    let mut results: Results =
        serde_json::from_slice(&std::fs::read(from.join("results.json")).expect("results")).expect("results");
    results.run_id = winning.into();
    for (task, figures) in &mut results.tasks {
        let adapter = figures.systems.get_mut("cli-test@0.1.0").expect("the adapter");
        let estimate = adapter.overall.get_mut(primary(task)).expect("its primary score");
        (estimate.value, estimate.ci95) = (1.0, [1.0, 1.0]);
    }
    std::fs::write(to.join("results.json"), serde_json::to_vec(&results).expect("JSON")).expect("results");
    winning.into()
}

/// The catalog's text without its `llm_assist.promotions` block.
fn outside_promotions(catalog: &str) -> String {
    let mut inside = false;
    let mut kept = String::new();
    for line in catalog.lines() {
        if line.starts_with("  promotions:") {
            inside = true;
            continue;
        }
        if inside && (line.starts_with("    ") || line.starts_with("  -")) {
            continue;
        }
        inside = false;
        kept.push_str(line);
        kept.push('\n');
    }
    kept
}
