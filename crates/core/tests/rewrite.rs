//! The rules-first candidates: every rule of `patterns/rules.yml` is rendered over every sample
//! project it applies to, and each result must re-parse, pass policy and be lint-clean at
//! warning level, by our rules and (where installed) by hadolint. Also: the catalog's validation
//! and what the renderer refuses.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use codi_core::analysis::Stack;
use codi_core::catalog::Catalog;
use codi_core::project::Project;
use codi_core::rewrite::{Facts, Rewrite, Ruleset, Templates, rewrite};
use codi_core::syntax::ParseOptions;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn catalog() -> (Catalog, Templates) {
    let (rules, templates) = codi_core::catalog::default_paths(&repo());
    let catalog = Catalog::load(&rules, Some(&templates)).unwrap_or_else(|e| panic!("{e}"));
    let compiled = Templates::load(&templates, &catalog).unwrap_or_else(|e| panic!("{e}"));
    (catalog, compiled)
}

fn samples() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(repo().join("data/samples"))
        .expect("data/samples")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn rewrite_all() -> Vec<Rewrite> {
    let (catalog, templates) = catalog();
    samples()
        .iter()
        .map(|dir| {
            let project = Project::load(dir, &ParseOptions::default()).unwrap_or_else(|e| panic!("{e}"));
            rewrite(&project, &catalog, &templates)
        })
        .collect()
}

/// hadolint's findings at warning level or above on `text`; `None` when hadolint is absent.
fn hadolint_warnings(text: &str) -> Option<Vec<String>> {
    let file = tempfile::Builder::new().suffix(".Dockerfile").tempfile().expect("temp file");
    std::fs::write(file.path(), text).expect("write candidate");
    let args = ["--no-color", "--no-fail", "-f", "json"].map(std::ffi::OsStr::new);
    let mut args = args.to_vec();
    args.push(file.path().as_os_str());
    let output = support::run_oracle("hadolint", &args)?;
    let findings: Vec<serde_json::Value> = serde_json::from_str(&output).expect("hadolint JSON");
    Some(
        findings
            .iter()
            .filter(|f| matches!(f["level"].as_str(), Some("error" | "warning")))
            .map(|f| format!("line {}: {} {}", f["line"], f["code"], f["message"]))
            .collect(),
    )
}

#[test]
fn every_rule_renders_valid_policy_clean_lint_clean_candidates_for_every_sample_it_matches() {
    let (catalog, _) = catalog();
    let results = rewrite_all();
    let mut rendered: BTreeMap<&str, usize> = BTreeMap::new();
    let mut hadolint_checked = 0;
    for result in &results {
        assert!(result.rejected.is_empty(), "{}: rejected candidates {:#?}", result.project, result.rejected);
        for candidate in &result.candidates {
            *rendered.entry(candidate.rule_id.as_str()).or_default() += 1;
            if let Some(warnings) = hadolint_warnings(&candidate.dockerfile) {
                assert!(warnings.is_empty(), "{} {}: hadolint {warnings:#?}", result.project, candidate.rule_id);
                hadolint_checked += 1;
            }
        }
    }
    let never: Vec<&str> =
        catalog.rules.iter().map(|r| r.id.as_str()).filter(|id| !rendered.contains_key(id)).collect();
    assert!(never.is_empty(), "rules no sample project exercises: {never:?}");
    let total: usize = rendered.values().sum();
    eprintln!(
        "{} rules rendered {total} candidates over {} sample projects, all parse-, policy- and lint-clean; \
         {hadolint_checked} also checked by hadolint",
        rendered.len(),
        results.len()
    );
}

#[test]
fn the_samples_range_from_clean_to_bad() {
    let results = rewrite_all();
    let with_violations = results.iter().filter(|r| !r.original_violations.is_empty()).count();
    let clean = results.iter().filter(|r| r.original_violations.is_empty() && r.original_findings.len() <= 1).count();
    let worst = results.iter().map(|r| r.original_findings.len()).max().unwrap_or_default();
    assert!(with_violations >= 20, "{with_violations} samples with policy violations");
    assert!(clean >= 3, "{clean} (nearly) clean samples");
    assert!(worst >= 10, "the worst sample has only {worst} findings");
}

#[test]
fn the_catalog_covers_the_stacks_and_the_samples_cover_the_catalog() {
    let (catalog, _) = catalog();
    assert!(catalog.rules.len() >= 14, "{} rules", catalog.rules.len());
    let stacks: BTreeSet<Stack> = catalog.rules.iter().map(|r| r.stack).collect();
    assert_eq!(stacks.len(), Stack::ALL.len(), "stacks with rules: {stacks:?}");
    let weights = catalog.llm_assist.ranking_weights;
    assert_eq!(
        (weights.size_reduction, weights.layer_reduction, weights.build_time, weights.policy_compliance),
        (0.40, 0.30, 0.20, 0.10)
    );
    assert!(catalog.llm_assist.promotions.is_empty());
    let results = rewrite_all();
    assert!(results.len() >= 30, "{} sample projects", results.len());
    let detected: BTreeSet<Stack> = results.iter().filter_map(|r| r.facts.stack).collect();
    assert_eq!(detected.len(), Stack::ALL.len(), "sample stacks: {detected:?}");
}

/// What the analysis finds in each sample (stack, features, parameters and where they came
/// from, CMD rewrites): the inputs of every rule, kept as a snapshot.
#[test]
fn facts_of_the_sample_projects() {
    let results = rewrite_all();
    let facts: BTreeMap<&str, &Facts> = results.iter().map(|r| (r.project.as_str(), &r.facts)).collect();
    insta::assert_yaml_snapshot!("sample_facts", facts);
}

#[test]
fn rankings_of_the_sample_projects() {
    let results = rewrite_all();
    let ranking: BTreeMap<&str, Vec<String>> = results
        .iter()
        .map(|r| {
            let ranked = r.candidates.iter().map(|c| format!("{} {:+.3}", c.rule_id, c.deltas.score)).collect();
            (r.project.as_str(), ranked)
        })
        .collect();
    insta::assert_yaml_snapshot!("sample_rankings", ranking);
}

#[test]
fn a_ruleset_reuses_a_candidates_verdict_only_for_a_project_with_the_same_files() {
    let (rules, templates) = codi_core::catalog::default_paths(&repo());
    let ruleset = Ruleset::load(&rules, Some(&templates)).unwrap_or_else(|e| panic!("{e}"));
    let (catalog, compiled) = catalog();
    let json = |r: &Rewrite| serde_json::to_string(r).expect("rewrite JSON");
    for dir in samples() {
        let project = Project::load(&dir, &ParseOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        let fresh = json(&rewrite(&project, &catalog, &compiled));
        assert_eq!(json(&ruleset.rewrite(&project)), fresh, "{}: first rewrite", dir.display());
        assert_eq!(json(&ruleset.rewrite(&project)), fresh, "{}: remembered verdicts", dir.display());
    }
    // The same Dockerfile in a project of many more dependencies renders the same candidate
    // texts, whose images are larger: the first project's verdicts must not be served.
    let mut project =
        Project::load(&repo().join("data/samples/node-express-npm"), &ParseOptions::default()).expect("sample");
    let dependencies: Vec<String> = (0..40).map(|i| format!("\"dep{i}\": \"1.0.0\"")).collect();
    let manifest = format!("{{\"name\": \"app\", \"dependencies\": {{{}}}}}", dependencies.join(", "));
    project.files.manifests.insert("package.json".into(), manifest);
    let heavier = rewrite(&project, &catalog, &compiled);
    assert_eq!(json(&ruleset.rewrite(&project)), json(&heavier));
    let before = ruleset.rewrite(
        &Project::load(&repo().join("data/samples/node-express-npm"), &ParseOptions::default()).expect("sample"),
    );
    let size = |r: &Rewrite| r.candidates.first().map(|c| c.estimate.image_mb);
    assert!(size(&heavier) > size(&before), "{:?} vs {:?}", size(&heavier), size(&before));
}

#[test]
fn runtime_installs_and_package_scripts_become_a_direct_exec_command() {
    let results = rewrite_all();
    let facts = |name: &str| &results.iter().find(|r| r.project == name).expect("sample").facts;
    let worker = facts("node-worker-runtime-install");
    assert_eq!(worker.detected["start_command"], serde_json::json!(["node", "worker.js"]));
    assert!(worker.rewrites.contains(&"drop-runtime-installs".to_owned()), "{:?}", worker.rewrites);
    let express = facts("node-express-npm");
    assert_eq!(express.detected["start_command"], serde_json::json!(["node", "server.js"]));
    let django = facts("python-django-gunicorn");
    assert_eq!(
        django.detected["start_command"],
        serde_json::json!([
            "sh",
            "-c",
            "python manage.py migrate && exec gunicorn mysite.wsgi:application --bind 0.0.0.0:8000"
        ])
    );
    assert_eq!(django.detected["wsgi_module"], "mysite.wsgi");
}

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
}

const ONE_RULE: &str = r"schema_version: 1
rules:
  - id: node-test
    stack: node
    name: test
    description: test
    predicates: { files_all: [package.json] }
    template: node-test.Dockerfile.j2
    parameters:
      - { name: port, type: integer, default: 3000, description: port }
    rationale: test
llm_assist:
  ranking_weights: { size_reduction: 0.4, layer_reduction: 0.3, build_time: 0.2, policy_compliance: 0.1 }
  context_signals: {}
  promotions: []
";

/// Renders the single rule of `ONE_RULE` with `template` over a small Node project.
fn render_one(template: &str) -> Rewrite {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        &[
            ("rules.yml", ONE_RULE),
            ("templates/node-test.Dockerfile.j2", template),
            ("app/package.json", r#"{"name":"t","scripts":{"start":"node index.js"}}"#),
            ("app/package-lock.json", "{}"),
            ("app/Dockerfile", "FROM node:20\nCOPY . .\nRUN npm install\nCMD npm start\n"),
        ],
    );
    let catalog = Catalog::load(&dir.path().join("rules.yml"), Some(&dir.path().join("templates"))).expect("catalog");
    let templates = Templates::load(&dir.path().join("templates"), &catalog).expect("templates");
    let project = Project::load(&dir.path().join("app"), &ParseOptions::default()).expect("project");
    rewrite(&project, &catalog, &templates)
}

#[test]
fn a_shell_operator_in_copy_is_rejected_as_not_build_valid() {
    // What the Python prototype rendered: no builder accepts it.
    let result = render_one(
        "FROM node:20-slim\nWORKDIR /app\nCOPY package.json ./ || true\nUSER 1000\nCMD [\"node\", \"index.js\"]\n",
    );
    assert!(result.candidates.is_empty());
    let reasons = &result.rejected[0].reasons;
    assert!(reasons.iter().any(|r| r.contains("(build)") && r.contains("CD008")), "{reasons:#?}");
}

#[test]
fn policy_rejects_root_unpinned_remote_add_and_sudo() {
    let result =
        render_one("FROM node\nADD https://example.com/app.tgz /app/\nRUN sudo npm ci\nCMD [\"node\", \"index.js\"]\n");
    let reasons = result.rejected[0].reasons.join("\n");
    for check in ["(unpinned-base)", "(remote-add)", "(sudo)", "(root-user)"] {
        assert!(reasons.contains(check), "{check} missing from\n{reasons}");
    }
}

#[test]
fn an_undefined_template_variable_is_an_error_not_an_empty_string() {
    let result = render_one("FROM node:{{ node_version }}-slim\nUSER 1000\nCMD [\"node\", \"index.js\"]\n");
    assert!(result.candidates.is_empty());
    assert!(result.rejected[0].reasons[0].contains("undefined"), "{:?}", result.rejected[0].reasons);
}

#[test]
fn a_clean_template_becomes_a_candidate_with_a_diff_and_estimates() {
    let result = render_one(
        "FROM node:20-slim\nWORKDIR /app\nCOPY package.json package-lock.json ./\nRUN npm ci --omit=dev\nCOPY . .\nUSER 1000:1000\nEXPOSE {{ port }}\nCMD [\"node\", \"index.js\"]\n",
    );
    assert!(result.rejected.is_empty(), "{:?}", result.rejected);
    let candidate = &result.candidates[0];
    assert!(candidate.diff.starts_with("--- a/Dockerfile\n+++ b/Dockerfile\n"), "{}", candidate.diff);
    assert!(candidate.dockerfile.contains("EXPOSE 3000"));
    assert_eq!(candidate.estimate.source, "estimate");
    assert!(candidate.fixes.is_empty(), "the rule declares no fixes");
}

#[test]
fn catalog_problems_are_all_reported_with_their_yaml_path_and_line() {
    let text = r#"schema_version: 2
rules:
  - id: Bad_Id
    stack: cobol
    name: x
    description: x
    predicates: { files_all: [a], features_all: [no-such-feature], colour: red }
    template: missing.Dockerfile.j2
    parameters:
      - { name: port, type: integer, default: "eighty", description: p }
      - { name: cmd, type: argv, default: [], description: c }
      - { name: n, type: float, default: 1, description: n }
    fixes: [DL9999]
    rationale: x
    extra: true
  - id: dup
    stack: node
    name: x
    description: x
    template: t
    rationale: x
  - id: dup
    stack: node
    name: x
    description: x
    template: t
    rationale: x
cmd_rewrites:
  - { id: r, when: sometimes, action: explode, rationale: x }
llm_assist:
  ranking_weights: { size_reduction: 0.5, layer_reduction: 0.3, build_time: 0.2, policy_compliance: 1.5 }
  context_signals: { node: [a], fortran: [b] }
  promotions: []
"#;
    let dir = tempfile::tempdir().expect("tempdir");
    let problems = Catalog::parse(text, Some(dir.path())).expect_err("invalid catalog");
    let listed: Vec<String> = problems.iter().map(ToString::to_string).collect();
    let dir = regex::escape(&dir.path().display().to_string());
    insta::with_settings!({ filters => vec![(dir.as_str(), "[templates]")] }, {
        insta::assert_yaml_snapshot!("catalog_problems", listed);
    });
}

#[test]
fn catalog_syntax_errors_have_a_position() {
    let problems = Catalog::parse("rules: [\n  - id: x\n", None).expect_err("not YAML");
    assert_eq!(problems.len(), 1);
    assert!(problems[0].line >= 1, "{:?}", problems[0]);
}
