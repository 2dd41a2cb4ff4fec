//! `codi data extract`: the scripts each collected Dockerfile copies and runs.

use std::path::Path;
use std::time::Instant;

use codi_core::syntax::parse;
use codi_dataset::pipeline::{Part, Progress, Shard, Stats, write_rejects};
use codi_dataset::records::{Reject, SYNTHETIC_SOURCE};

use crate::context::scripts;
use crate::{RawStore, Result, VERSION, github, local};

/// `codi data extract`: adds to every stored record the scripts its Dockerfile copies and runs,
/// read from the local tree it came from (GitHub records: through `client`), missing ones
/// recorded as missing. Rewrites the manifest.
pub fn extract(raw: &Path, mut github: Option<&mut github::Client>, progress: &dyn Progress) -> Result<Stats> {
    let store = RawStore::open(raw)?;
    let started = Instant::now();
    let mut stats = Stats::new("extract", VERSION, Shard::ALL);
    let ids = store.ids()?;
    progress.phase("extract: scripts", Some(ids.len() as u64));
    let mut rejects = Vec::new();
    for id in ids {
        let mut record = store.get(&id)?;
        stats.input += 1;
        if record.source == SYNTHETIC_SOURCE {
            // A synthesized project's scripts were recorded when it was made, from the project
            // itself: there is no tree to read them from.
            stats.count("scripts", "recorded-at-synthesis");
            stats.output += 1;
            progress.advance(1);
            continue;
        }
        let file = parse(&record.content);
        let found = match (record.source.as_str(), &mut github) {
            ("local", _) => local::context_of(&record).map(|dir| scripts(&file, &mut local::LocalContext::new(dir))),
            ("github", Some(client)) => {
                let dir = record.path.rsplit_once('/').map_or("", |(dir, _)| dir).to_owned();
                let mut context =
                    github::RepoContext { client, repo: record.repo.clone(), commit: record.git_ref.clone(), dir };
                Some(scripts(&file, &mut context))
            }
            _ => None,
        };
        if let Some(found) = found {
            record.related.retain(|r| r.role != "script");
            for script in &found {
                stats.count("scripts", &script.status);
            }
            record.related.extend(found);
            store.put(&record)?;
            stats.output += 1;
        } else {
            let reason = if record.source == "github" { "no-github-client" } else { "no-context" };
            stats.reject(reason);
            rejects.push(Reject {
                id: record.id.clone(),
                origin: record.url.clone(),
                reason: reason.into(),
                detail: String::new(),
            });
        }
        progress.advance(1);
    }
    let rows = store.write_manifest()?;
    stats.add("manifest", "rows", rows);
    let files = store.files();
    let part = Part::Named("extract".into());
    write_rejects(&files.rejects(part.clone()), rejects)?;
    stats.seconds = started.elapsed().as_secs_f64();
    stats.write(&files.stats(part))?;
    Ok(stats)
}
