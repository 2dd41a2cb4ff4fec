//! Promotions land in the real catalog without touching anything else in it.

use std::path::Path;

use codi_core::catalog::{Catalog, Promotion, append_promotions, default_paths, rules_version};

#[test]
fn a_promotion_changes_only_the_promotions_block_of_rules_yml() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let (catalog, templates) = default_paths(&root);
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("rules.yml");
    std::fs::copy(&catalog, &copy).expect("copy the catalog");
    let promotion = Promotion {
        id: "LLM-PROMO-20261201-NODE".into(),
        rule_id: "node-npm-multistage".into(),
        adapter_version: "smollm2-135m-codi@0.1.0".into(),
        promoted_at: "2026-12-01T12:00:00Z".into(),
        metrics: serde_json::json!({"eval_run": "20261201_1200", "eval_report": "eval/reports/llm_eval.html#20261201_1200",
                                    "sample_size": 68, "win_rate": 0.61, "ci95": [0.52, 0.7]}),
    };
    append_promotions(&copy, Some(&templates), std::slice::from_ref(&promotion)).expect("append");

    let before = std::fs::read_to_string(&catalog).expect("original");
    let after = std::fs::read_to_string(&copy).expect("edited");
    let outside = |text: &str| -> Vec<String> {
        let mut lines = Vec::new();
        let mut inside = false;
        for line in text.lines() {
            if line.trim_start().starts_with("promotions:") {
                inside = true;
                lines.push("  promotions: <block>".to_owned());
                continue;
            }
            inside &= line.starts_with("    ");
            if !inside {
                lines.push(line.to_owned());
            }
        }
        lines
    };
    assert_eq!(outside(&before), outside(&after), "every line outside the promotions block is unchanged");
    let loaded = Catalog::load(&copy, Some(&templates)).expect("the edited catalog validates");
    assert_eq!(loaded.llm_assist.promotions, std::slice::from_ref(&promotion));
    let again =
        append_promotions(&copy, Some(&templates), std::slice::from_ref(&promotion)).expect_err("the same id twice");
    assert!(again.to_string().contains("already there"), "{again}");
    assert_eq!(std::fs::read_to_string(&copy).expect("unchanged"), after, "a refused edit writes nothing");

    // A promotion leaves the catalog's version as it was; any other edit changes it.
    let version = |path: &Path| rules_version(path).expect("a version");
    assert_eq!(version(&catalog), version(&copy));
    std::fs::write(&copy, after.replacen("llm_assist:", "# reviewed\nllm_assist:", 1)).expect("edit");
    assert_ne!(version(&catalog), version(&copy));
}
