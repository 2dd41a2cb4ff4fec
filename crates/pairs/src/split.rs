//! Train/validation/test split of the pairs: stratified by stack, grouped so that every pair of
//! one near-duplicate cluster (and so of one source file) lands in the same split, and
//! deterministic. An incremental run keeps the assignments of the groups it has seen before.
//!
//! Per stack, groups already assigned keep their split; new groups are taken in the order of a
//! seeded hash of their id. The first goes to train and the second to test (when those have
//! none of the stack yet); each later one to the split furthest below its target share of the
//! stack's pairs.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use codi_dataset::Layout;
use codi_dataset::pipeline::{Progress, Shard, StageFiles, Stats, write_atomically};
use codi_dataset::records::{PairRecord, id_key};
use codi_dataset::table::{BATCH_ROWS, TableReader, TableWriter};
use serde::Deserialize;
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::{Error, Result};

pub const SPLITS: [&str; 3] = ["train", "val", "test"];

/// The splits a stack's first groups fill, in order (indices into [`SPLITS`]): train, then
/// test. Validation is left to the shares: it only has to hold some of the data.
const SPLITS_FILLED_FIRST: [usize; 2] = [0, 2];

#[derive(Debug, Clone)]
pub struct SplitOptions {
    /// `data/pairs`.
    pub pairs: PathBuf,
    /// `data/splits`.
    pub out: PathBuf,
    /// Shares of train, val and test; they must sum to 1.
    pub ratios: [f64; 3],
    pub seed: u64,
    /// Also write `__jsonl__/<split>.jsonl` (out of the way of the Parquet dataset's loaders).
    pub jsonl: bool,
    /// Forget previous assignments.
    pub full: bool,
}

impl SplitOptions {
    /// `pairs/` into `splits/` of `layout`, with the default ratios and seed.
    pub fn in_layout(layout: &Layout) -> Self {
        Self { pairs: layout.pairs(), out: layout.splits(), ..Self::default() }
    }
}

impl Default for SplitOptions {
    fn default() -> Self {
        Self {
            pairs: "data/pairs".into(),
            out: "data/splits".into(),
            ratios: [0.70, 0.15, 0.15],
            seed: 42,
            jsonl: false,
            full: false,
        }
    }
}

#[derive(Debug, Deserialize)]
struct Grouping {
    cluster_id: String,
    stack: String,
}

/// A cluster's pairs, counted per stack.
#[derive(Debug, Default)]
struct Group {
    /// (index in [`Stacks`], pairs). A cluster almost always has one stack: a short list, where
    /// a map per cluster would cost a B-tree node each (hundreds of MB at a million clusters).
    stacks: Vec<(u16, u32)>,
}

impl Group {
    fn add(&mut self, stack: u16) {
        match self.stacks.iter_mut().find(|(s, _)| *s == stack) {
            Some((_, pairs)) => *pairs += 1,
            None => self.stacks.push((stack, 1)),
        }
    }

    fn pairs(&self) -> u64 {
        self.stacks.iter().map(|&(_, pairs)| u64::from(pairs)).sum()
    }

    /// The stack most of its pairs are about (ties: the first by name).
    fn stack<'a>(&self, names: &'a Stacks) -> &'a str {
        self.stacks
            .iter()
            .map(|&(s, pairs)| (names.name(s), pairs))
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
            .map_or("", |(name, _)| name)
    }
}

/// The stacks' names, each stored once; a group refers to them by index.
#[derive(Debug, Default)]
struct Stacks(Vec<String>);

impl Stacks {
    fn index(&mut self, name: &str) -> u16 {
        let found = self.0.iter().position(|s| s == name).unwrap_or_else(|| {
            self.0.push(name.to_owned());
            self.0.len() - 1
        });
        u16::try_from(found).expect("fewer than 65,536 stacks")
    }

    fn name(&self, index: u16) -> &str {
        &self.0[usize::from(index)]
    }
}

/// The rows of a batch the split reads or writes: its reader and three writers hold about one
/// stage's batch together (pairs are the widest rows of the pipeline, ~5 KB each).
const BATCH_ROWS_OF_SPLIT: usize = BATCH_ROWS / 4;

/// Where `--jsonl` writes, under the splits folder: a `__` directory, which the Parquet
/// dataset's loaders pass over.
const JSONL_DIR: &str = "__jsonl__";

fn split_path(out: &Path, split: &str) -> PathBuf {
    out.join(format!("{split}.parquet"))
}

/// Calls `f(cluster key, split index)` for every row of the split files that exist.
fn for_each_assigned(out: &Path, mut f: impl FnMut(u128, usize)) -> Result<()> {
    #[derive(Deserialize)]
    struct Cluster {
        cluster_id: String,
    }
    for (index, split) in SPLITS.iter().enumerate() {
        let path = split_path(out, split);
        if !path.is_file() {
            continue;
        }
        for batch in TableReader::<Cluster>::open(&path, Some(&["cluster_id"]))? {
            for row in batch? {
                f(id_key(&row.cluster_id), index);
            }
        }
    }
    Ok(())
}

/// Previous assignments: cluster key → split index.
fn previous_assignments(out: &Path) -> Result<HashMap<u128, usize>> {
    let mut assigned = HashMap::new();
    for_each_assigned(out, |key, index| {
        assigned.insert(key, index);
    })?;
    Ok(assigned)
}

/// Assigns every group to a split.
fn assign(
    groups: &HashMap<u128, Group>,
    stacks: &Stacks,
    keep: &HashMap<u128, usize>,
    ratios: [f64; 3],
    seed: u64,
) -> HashMap<u128, usize> {
    let mut by_stack: BTreeMap<&str, Vec<u128>> = BTreeMap::new();
    for (key, group) in groups {
        by_stack.entry(group.stack(stacks)).or_default().push(*key);
    }
    let mut assignment = HashMap::new();
    for keys in by_stack.values() {
        let mut counts = [0u64; 3];
        let mut members = [0usize; 3];
        let mut new = Vec::new();
        for key in keys {
            match keep.get(key) {
                Some(&split) => {
                    counts[split] += groups[key].pairs();
                    members[split] += 1;
                    assignment.insert(*key, split);
                }
                None => new.push(*key),
            }
        }
        new.sort_by_key(|key| (xxh3_64_with_seed(&key.to_le_bytes(), seed), *key));
        for key in new {
            let pairs = groups[&key].pairs();
            let total = (counts.iter().sum::<u64>() + pairs) as f64;
            let deficit = |s: usize| ratios[s] * total - counts[s] as f64;
            // A stack's first two groups go to train and test: a stack of few large groups (a
            // seed project and its variants) is still tested, where shares alone would put its
            // first groups all in train.
            let empty = SPLITS_FILLED_FIRST.into_iter().find(|&s| members[s] == 0 && ratios[s] > 0.0);
            let split = empty.unwrap_or_else(|| {
                (0..3).max_by(|&a, &b| deficit(a).total_cmp(&deficit(b)).then(b.cmp(&a))).unwrap_or(0)
            });
            counts[split] += pairs;
            members[split] += 1;
            assignment.insert(key, split);
        }
    }
    assignment
}

/// Writes `data/splits/{train,val,test}.parquet` (and JSONL copies when asked) and the stats.
pub fn split(options: &SplitOptions, progress: &dyn Progress) -> Result<Stats> {
    let started = std::time::Instant::now();
    let sum: f64 = options.ratios.iter().sum();
    if (sum - 1.0).abs() > 1e-9 || options.ratios.iter().any(|r| *r < 0.0) {
        return Err(Error::Options(format!("split ratios {:?} must be non-negative and sum to 1", options.ratios)));
    }
    let pairs = StageFiles::new(&options.pairs, "pairs");
    pairs.upgrade()?;
    let inputs = pairs.data_parts();
    if inputs.is_empty() {
        return Err(Error::Options(format!("no pairs in {}: run `codi data pairs` first", options.pairs.display())));
    }
    progress.phase("split: grouping", None);
    let mut groups: HashMap<u128, Group> = HashMap::new();
    let mut stacks = Stacks::default();
    for part in &inputs {
        for batch in TableReader::<Grouping>::open(part, Some(&["cluster_id", "stack"]))? {
            for row in batch? {
                groups.entry(id_key(&row.cluster_id)).or_default().add(stacks.index(&row.stack));
            }
        }
    }
    let keep = if options.full { HashMap::new() } else { previous_assignments(&options.out)? };
    let assignment = assign(&groups, &stacks, &keep, options.ratios, options.seed);

    let fingerprint = format!("split-2 ratios={:?} seed={}", options.ratios, options.seed);
    let mut stats = Stats::new("split", &fingerprint, Shard::ALL);
    let mut writers = SPLITS
        .iter()
        .map(|s| TableWriter::<PairRecord>::with_batch_rows(&split_path(&options.out, s), BATCH_ROWS_OF_SPLIT))
        .collect::<Result<Vec<_>, _>>()?;
    let mut jsonl: Vec<Vec<u8>> = vec![Vec::new(); 3];
    progress.phase("split: writing", Some(groups.values().map(Group::pairs).sum()));
    let mut seen = std::collections::HashSet::new();
    for part in &inputs {
        for batch in TableReader::<PairRecord>::with_batch_rows(part, None, BATCH_ROWS_OF_SPLIT)? {
            for row in batch? {
                // A pair in both the canonical table and a shard part is written once.
                if !seen.insert(id_key(&row.pair_id)) {
                    continue;
                }
                stats.input += 1;
                let split = assignment[&id_key(&row.cluster_id)];
                stats.count(&format!("{}_by_stack", SPLITS[split]), &row.stack);
                stats.count(&format!("{}_by_task", SPLITS[split]), &row.task);
                stats.count("by_split", SPLITS[split]);
                if options.jsonl {
                    serde_json::to_writer(&mut jsonl[split], &row).map_err(|e| Error::Options(e.to_string()))?;
                    jsonl[split].push(b'\n');
                }
                writers[split].push(row)?;
                stats.output += 1;
                progress.advance(1);
            }
        }
    }
    for writer in writers {
        writer.finish()?;
    }
    if options.jsonl {
        for (split, lines) in SPLITS.iter().zip(jsonl) {
            write_atomically(&options.out.join(JSONL_DIR).join(format!("{split}.jsonl")), &lines)?;
        }
    }
    let crossing = clusters_in_several_splits(&options.out)?;
    stats.add("leakage", "clusters_in_several_splits", crossing);
    stats.add("groups", "total", groups.len() as u64);
    stats.add("groups", "kept_from_previous_run", keep.keys().filter(|k| groups.contains_key(k)).count() as u64);
    stats.seconds = started.elapsed().as_secs_f64();
    // The three tables are `train`, `val` and `test`; the stats go where every stage's do.
    stats.write(&StageFiles::new(&options.out, "splits").stats(Shard::ALL))?;
    Ok(stats)
}

/// How many clusters have pairs in more than one split file (0 unless something is wrong).
pub fn clusters_in_several_splits(out: &Path) -> Result<u64> {
    let mut first: HashMap<u128, usize> = HashMap::new();
    let mut crossing = std::collections::HashSet::new();
    for_each_assigned(out, |key, index| {
        if *first.entry(key).or_insert(index) != index {
            crossing.insert(key);
        }
    })?;
    Ok(crossing.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(n: u64, stack: &str, stacks: &mut Stacks) -> HashMap<u128, Group> {
        let stack = stacks.index(stack);
        (0..n)
            .map(|i| {
                let mut group = Group::default();
                (0..=i % 3).for_each(|_| group.add(stack));
                (u128::from(i) * 7919, group)
            })
            .collect()
    }

    #[test]
    fn a_group_is_of_the_stack_most_of_its_pairs_are_about() {
        let mut stacks = Stacks::default();
        let [python, go, node] = ["python", "go", "node"].map(|name| stacks.index(name));
        let mut group = Group::default();
        for stack in [python, go, node, go] {
            group.add(stack);
        }
        assert_eq!((group.stack(&stacks), group.pairs()), ("go", 4));
        group.add(python);
        assert_eq!(group.stack(&stacks), "go");
        group.add(node);
        assert_eq!(group.stack(&stacks), "go", "ties go to the first by name");
        assert_eq!(stacks.index("go"), go);
    }

    #[test]
    fn shares_follow_the_ratios_per_stack_and_are_deterministic() {
        let mut stacks = Stacks::default();
        let mut all = groups(1000, "node", &mut stacks);
        all.extend(groups(200, "go", &mut stacks).into_iter().map(|(k, g)| (k + 1, g)));
        let a = assign(&all, &stacks, &HashMap::new(), [0.7, 0.15, 0.15], 42);
        assert_eq!(a, assign(&all, &stacks, &HashMap::new(), [0.7, 0.15, 0.15], 42));
        for stack in ["node", "go"] {
            let mut counts = [0u64; 3];
            for (key, group) in all.iter().filter(|(_, g)| g.stack(&stacks) == stack) {
                counts[a[key]] += group.pairs();
            }
            let total: u64 = counts.iter().sum();
            assert!((counts[0] as f64 / total as f64 - 0.7).abs() < 0.02, "{stack}: {counts:?}");
            assert!((counts[1] as f64 / total as f64 - 0.15).abs() < 0.02, "{stack}: {counts:?}");
        }
    }

    #[test]
    fn a_stack_of_few_groups_is_in_train_and_test_first() {
        let mut stacks = Stacks::default();
        let rust = stacks.index("rust");
        let two: HashMap<u128, Group> = [1, 2]
            .into_iter()
            .map(|key| {
                let mut group = Group::default();
                group.add(rust);
                (key, group)
            })
            .collect();
        let sorted = |ratios| {
            let mut splits: Vec<usize> = assign(&two, &stacks, &HashMap::new(), ratios, 42).into_values().collect();
            splits.sort_unstable();
            splits
        };
        assert_eq!(sorted([0.7, 0.15, 0.15]), [0, 2], "one train, one test");
        assert_eq!(sorted([1.0, 0.0, 0.0]), [0, 0], "a split of no share gets no group");
    }

    #[test]
    fn previous_assignments_are_kept() {
        let mut stacks = Stacks::default();
        let all = groups(100, "python", &mut stacks);
        let first = assign(&all, &stacks, &HashMap::new(), [0.7, 0.15, 0.15], 42);
        let mut more = all;
        more.extend(groups(50, "python", &mut stacks).into_iter().map(|(k, g)| (k + 3, g)));
        let second = assign(&more, &stacks, &first, [0.7, 0.15, 0.15], 7);
        assert!(first.iter().all(|(k, s)| second[k] == *s));
    }
}
