//! codi-synthesize: many distinct, realistic projects from each sample project (`codi data
//! synthesize`), written into `data/raw` as collected records, for the stages after collect.
//!
//! A variant is its seed with a seeded draw of [edits](mutations): another package manager and
//! lockfile, other base-image versions (the manifests follow), another project name, entry
//! file, port or working directory, and the smells real Dockerfiles have (a copy of everything
//! before the install, system packages installed carelessly, the other command form, no USER,
//! ADD, MAINTAINER). Each variant must parse and differ from its seed and from the variants
//! before it in its syntax tree (as standardize compares them), so none is a duplicate.
//!
//! Every record of a seed (the seed itself and its variants) has the seed as its split
//! [group](codi_dataset::records::RawRecord::group): standardize makes the group one cluster,
//! so no variant of a test project is trained on. The output is the same for the same samples,
//! count and seed.

mod lines;
mod mutations;
mod rng;
mod tree;

use std::path::{Path, PathBuf};

use codi_collect::{RawStore, Run, manifests, scripts};
use codi_core::syntax::parse;
use codi_dataset::pipeline::{Part, Progress, Shard, Stats};
use codi_dataset::records::{RawRecord, SYNTHETIC_SOURCE};
use xxhash_rust::xxh3::xxh3_64_with_seed;

pub use tree::{DOCKERFILE, Tree};

/// Bumped when the same samples, count and seed give other variants.
pub const VERSION: &str = "synthesize-2";

/// Draws per variant asked for before a seed is given up on (its edits are too few to make
/// more distinct variants).
const DRAWS_PER_VARIANT: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Collect(#[from] codi_collect::Error),
    #[error("seed project {}: {message}", path.display())]
    Seed { path: PathBuf, message: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Clone)]
pub struct Options {
    /// Sample projects: each directory under it with a Dockerfile is a seed.
    pub samples: PathBuf,
    /// `data/raw`.
    pub raw: PathBuf,
    /// Variants per seed, besides the seed itself.
    pub variants: usize,
    pub seed: u64,
}

/// A sample project.
#[derive(Debug, Clone)]
pub struct Seed {
    /// Its directory's name.
    pub name: String,
    pub tree: Tree,
}

/// One synthesized project.
#[derive(Debug, Clone)]
pub struct Variant {
    /// 1, 2, … in the order drawn.
    pub index: usize,
    pub tree: Tree,
    /// The edits it was made with, in order.
    pub mutations: Vec<&'static str>,
}

/// The seeds under `samples`: its subdirectories with a Dockerfile, by name.
pub fn seeds(samples: &Path) -> Result<Vec<Seed>> {
    let entries =
        std::fs::read_dir(samples).map_err(|e| Error::Seed { path: samples.to_owned(), message: e.to_string() })?;
    let mut seeds = Vec::new();
    for entry in entries {
        let dir = entry.map_err(|e| Error::Seed { path: samples.to_owned(), message: e.to_string() })?.path();
        if dir.join(DOCKERFILE).is_file() {
            let name = dir.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            seeds.push(Seed { name, tree: Tree::read(&dir)? });
        }
    }
    seeds.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(seeds)
}

/// Up to `count` variants of `seed`, each distinct from the seed and the others in its
/// Dockerfile's syntax tree, and each parsing cleanly; the same for the same `rng_seed`.
pub fn variants(seed: &Seed, count: usize, rng_seed: u64) -> Vec<Variant> {
    let fingerprint = |text: &str| codi_standardize::semantic_hash(&parse(&codi_standardize::normalize(text)));
    let mut seen = std::collections::HashSet::from([fingerprint(seed.tree.dockerfile())]);
    let stream = xxh3_64_with_seed(seed.name.as_bytes(), rng_seed);
    let mut out = Vec::new();
    for draw in 0..count * DRAWS_PER_VARIANT {
        if out.len() == count {
            break;
        }
        let mut rng = rng::Rng::new(stream.wrapping_add(draw as u64));
        let mut tree = seed.tree.clone();
        let mut applied = Vec::new();
        for mutation in mutations::MUTATIONS {
            if rng.chance(mutation.probability) && (mutation.apply)(&mut tree, &mut rng) {
                applied.push(mutation.name);
            }
        }
        if parse(tree.dockerfile()).diagnostics.is_empty() && seen.insert(fingerprint(tree.dockerfile())) {
            out.push(Variant { index: out.len() + 1, tree, mutations: applied });
        }
    }
    out
}

/// Writes every seed and `options.variants` variants of each into the raw store, each record
/// grouped by its seed; stats and rejects go to `__meta__/stats-synthesize.json` beside
/// collect's.
pub fn run(options: &Options, progress: &dyn Progress) -> Result<Stats> {
    let seeds = seeds(&options.samples)?;
    let store = RawStore::open(&options.raw)?;
    let mut run = Run::with_part(store, "synthesize", Shard::ALL, Part::Named("synthesize".into()));
    run.stats.fingerprint = format!("{VERSION} variants={} seed={}", options.variants, options.seed);
    let license = codi_collect::detect_license(&options.samples);
    let fetched_at = codi_collect::timestamp();
    progress.phase("synthesize: variants", Some(seeds.len() as u64));
    for seed in &seeds {
        let made = variants(seed, options.variants, options.seed);
        run.stats.add("variants_by_seed", &seed.name, made.len() as u64);
        if made.len() < options.variants {
            run.stats.add("seeds_short_of_variants", &seed.name, (options.variants - made.len()) as u64);
        }
        let group = format!("{SYNTHETIC_SOURCE}/{}", seed.name);
        let original = Variant { index: 0, tree: seed.tree.clone(), mutations: Vec::new() };
        for variant in std::iter::once(original).chain(made) {
            for mutation in &variant.mutations {
                run.stats.count("mutations", mutation);
            }
            let path = match variant.index {
                0 => format!("{}/{DOCKERFILE}", seed.name),
                n => format!("{}/v{n:03}/{DOCKERFILE}", seed.name),
            };
            let record = |id: String, content: String| RawRecord {
                id,
                source: SYNTHETIC_SOURCE.into(),
                repo: group.clone(),
                path: path.clone(),
                git_ref: String::new(),
                url: format!("{SYNTHETIC_SOURCE}:{path}?seed={}&edits={}", options.seed, variant.mutations.join(",")),
                license: license.clone(),
                fetched_at: fetched_at.clone(),
                bytes: content.len() as u64,
                content,
                stack_hint: None,
                related: Vec::new(),
                group: Some(group.clone()),
            };
            let mut tree = variant.tree;
            let bytes = tree.dockerfile().as_bytes().to_vec();
            run.admit(&path, &bytes, record, |content| {
                let mut related = manifests(&mut tree);
                related.extend(scripts(&parse(content), &mut tree));
                related
            })?;
        }
        progress.advance(1);
    }
    Ok(run.finish()?)
}
