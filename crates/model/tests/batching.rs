//! Steps of different requests run as one forward give each what it gets alone: the server's
//! continuous batching must not change a score. On the default model (`make model`).

use std::path::Path;

use codi_model::{KvCache, Model, Quantize, Readout, Runner, Step, cpu, run_steps};

fn model() -> Option<Model> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(codi_model::DEFAULT_MODEL);
    if !path.is_file() {
        assert!(std::env::var_os("CODI_REQUIRE_ORACLES").is_none(), "{} is missing (make model)", path.display());
        eprintln!("skipped: {} is missing (run `make model`)", path.display());
        return None;
    }
    Some(Model::load_gguf(&path, Quantize::AsStored, &cpu()).expect("the default model loads"))
}

/// A prompt's cache, as a request's prefill leaves it.
fn prefilled(model: &Model, text: &str) -> KvCache {
    let ids = model.tokenizer.encode(text).expect("encodes");
    model
        .transformer
        .step(Step { ids: vec![ids], valid: None, cache: KvCache::default(), readout: Readout::Cache })
        .cache
}

#[test]
fn batched_steps_read_out_what_they_read_alone() {
    let Some(model) = model() else { return };
    let short = prefilled(&model, "FROM node:20");
    let long = prefilled(&model, "Rank these candidate Dockerfiles, rendered from the catalog's rules, best first.");
    let scoring = Step {
        ids: vec![vec![32, 33, 34], vec![35, 36, 0]],
        valid: Some(vec![vec![true; 3], vec![true, true, false]]),
        cache: long.repeat(2),
        readout: Readout::Logprobs(vec![vec![40, 41, 42], vec![43, 44]]),
    };
    let next = Step { ids: vec![vec![50]], valid: None, cache: short, readout: Readout::LastLogits };
    let alone: Vec<_> = [scoring.clone(), next.clone()].into_iter().map(|s| model.transformer.step(s)).collect();
    let together = run_steps(&model.transformer, vec![scoring, next]);
    for (a, b) in alone.iter().zip(&together) {
        assert_eq!(a.cache.len(), b.cache.len(), "each cache gets back exactly its own positions");
        for (x, y) in a.values.iter().flatten().zip(b.values.iter().flatten()) {
            assert!((x - y).abs() < 1e-4, "alone {x} batched {y}");
        }
        assert_eq!(
            a.values.iter().map(Vec::len).collect::<Vec<_>>(),
            b.values.iter().map(Vec::len).collect::<Vec<_>>()
        );
    }
    // The caches that come back continue exactly as the unbatched ones.
    let continue_with = |cache: KvCache| {
        model.transformer.step(Step { ids: vec![vec![60]], valid: None, cache, readout: Readout::LastLogits }).values
    };
    let (a, b) = (continue_with(alone[1].cache.clone()), continue_with(together[1].cache.clone()));
    assert!(a[0].iter().zip(&b[0]).all(|(x, y)| (x - y).abs() < 1e-4));
}
