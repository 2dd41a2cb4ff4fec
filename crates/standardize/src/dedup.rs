//! The second pass: exact and semantic duplicates, near-duplicate clusters, and the final
//! table with every row, kept or not, and the rejects.

use std::collections::HashMap;

use codi_dataset::pipeline::{Progress, Shard, StageFiles, Stats, write_rejects};
use codi_dataset::records::{CuratedRecord, Reject, id_key};
use codi_dataset::table::{TableReader, TableWriter};
use serde::Deserialize;

use crate::{Result, VERSION, minhash};

/// The columns the second pass decides on.
#[derive(Debug, Deserialize)]
struct Keys {
    id: String,
    exact_hash: String,
    semantic_hash: String,
    lsh_bands: Vec<u64>,
    filter_reason: Option<String>,
    group: Option<String>,
}

/// A duplicate key of a row, and the reason a duplicate is rejected with.
type Grouping = (fn(&Keys) -> u128, &'static str);

/// The second pass: duplicates, clusters, and the final table.
pub(crate) fn deduplicate_and_cluster(
    prepared: &StageFiles,
    curated: &StageFiles,
    progress: &dyn Progress,
) -> Result<Stats> {
    let started = std::time::Instant::now();
    let input = prepared.data(Shard::ALL);
    progress.phase("standardize: deduplicating and clustering", None);
    let mut keys: Vec<Keys> = Vec::new();
    let columns = ["id", "exact_hash", "semantic_hash", "lsh_bands", "filter_reason", "group"];
    for batch in TableReader::<Keys>::open(&input, Some(&columns))? {
        keys.extend(batch?);
    }
    let mut reasons: Vec<Option<String>> = keys.iter().map(|k| k.filter_reason.clone()).collect();
    let mut duplicate_of: Vec<Option<usize>> = vec![None; keys.len()];
    // Of each group of equal hashes the smallest id stays, whatever the input order.
    let groupings: [Grouping; 2] =
        [(|k| id_key(&k.exact_hash), "exact-duplicate"), (|k| id_key(&k.semantic_hash), "semantic-duplicate")];
    for (hash, reason) in groupings {
        let mut first: HashMap<u128, usize> = HashMap::new();
        for (i, k) in keys.iter().enumerate().filter(|(i, _)| reasons[*i].is_none()) {
            first
                .entry(hash(k))
                .and_modify(|j| {
                    if k.id < keys[*j].id {
                        *j = i;
                    }
                })
                .or_insert(i);
        }
        for (i, k) in keys.iter().enumerate() {
            if reasons[i].is_none()
                && let Some(&j) = first.get(&hash(k))
                && j != i
            {
                reasons[i] = Some(reason.to_owned());
                duplicate_of[i] = Some(j);
            }
        }
    }
    let bands: Vec<Vec<u64>> = keys
        .iter_mut()
        .zip(&reasons)
        .map(|(k, r)| if r.is_none() { std::mem::take(&mut k.lsh_bands) } else { Vec::new() })
        .collect();
    // A group joins its kept members into one cluster (a duplicate is in its original's).
    let groups: Vec<Option<u128>> = keys
        .iter()
        .zip(&reasons)
        .map(|(k, r)| if r.is_none() { k.group.as_deref().map(id_key) } else { None })
        .collect();
    let roots = minhash::components(&bands, &groups);
    drop((bands, groups));
    let mut cluster_id: HashMap<usize, usize> = HashMap::new();
    let mut cluster_size: HashMap<usize, u32> = HashMap::new();
    for (i, &root) in roots.iter().enumerate().filter(|(i, _)| reasons[*i].is_none()) {
        cluster_id
            .entry(root)
            .and_modify(|j| {
                if keys[i].id < keys[*j].id {
                    *j = i;
                }
            })
            .or_insert(i);
        *cluster_size.entry(root).or_default() += 1;
    }

    let mut stats = Stats::new("standardize", VERSION, Shard::ALL);
    let mut writer = TableWriter::<CuratedRecord>::create(&curated.data(Shard::ALL))?;
    let mut rejects = Vec::new();
    let mut index = 0;
    progress.phase("standardize: writing", Some(keys.len() as u64));
    for batch in TableReader::<CuratedRecord>::open(&input, None)? {
        for mut row in batch? {
            let i = index;
            index += 1;
            stats.input += 1;
            for redaction in &row.redactions {
                stats.add("redactions_by_kind", &redaction.kind, u64::from(redaction.count));
            }
            if let Some(reason) = &reasons[i] {
                let detail = duplicate_of[i].map_or_else(String::new, |j| format!("same as {}", keys[j].id));
                rejects.push(Reject {
                    id: row.id.clone(),
                    origin: format!("{}:{}", row.repo, row.path),
                    reason: reason.clone(),
                    detail,
                });
                stats.reject(reason);
                row.kept = false;
                row.filter_reason = Some(reason.clone());
            } else {
                let size = cluster_size[&roots[i]];
                row.cluster_id.clone_from(&keys[cluster_id[&roots[i]]].id);
                row.cluster_size = size;
                stats.output += 1;
                stats.count("by_stack", row.stack.as_deref().unwrap_or("unknown"));
                stats.count("by_license", &row.license);
                if size > 1 {
                    stats.count("near_duplicates", "rows_in_clusters");
                    if row.cluster_id == row.id {
                        stats.count("near_duplicates", "clusters");
                    }
                }
            }
            writer.push(row)?;
            progress.advance(1);
        }
    }
    writer.finish()?;
    write_rejects(&curated.rejects(Shard::ALL), rejects)?;
    stats.seconds = started.elapsed().as_secs_f64();
    Ok(stats)
}
